# SPDX-License-Identifier: Apache-2.0
"""MX (role smtp) against a live ternd with real clients: Python smtplib, swaks and
raw sockets for what clients will not send (BDAT, smuggling, STARTTLS injection).
The helpers here are shared by the other SMTP, submission and LMTP test files."""
import os
import shutil
import socket
import ssl
import smtplib
import subprocess
import time

import pytest

from conftest import TERN, tern_cli
# Mailboxes and the queue are read through the tern CLI, the same on sqlite and
# postgres (TERN_TEST_STORE=postgres); the other SMTP suites import them from here.
from store_view import inbox, queue_rows  # noqa: F401 (re-exported)

DOMAIN = "example.org"
PASSWORD = "correct horse"

# Cheap password hashing so provisioning and AUTH stay fast under ASan.
AUTH_FAST = """
[auth]
argon2_memory_kib = 1024
argon2_iterations = 1
"""


# The queue scheduler runs in every ternd: without this, mail queued to
# remote.example meets NXDOMAIN and bounces at once (a DSN to the sender, then the
# entry goes), racing any test that reads the queue. Nothing listens on port 1, so
# the entry stays deferred (connection refused is a temporary failure) and the
# queue holds what the SMTP session put there, for as long as the test runs.
DEFER_REMOTE = """
[[transport]]
domain = "remote.example"
route = "smtp:[127.0.0.1]:1"
"""


def listeners(*specs):
    """specs: (name, role, tls) tuples; every listener on 127.0.0.1 port 0."""
    out = ""
    for name, role, tls in specs:
        out += f'\n[[listener]]\nname = "{name}"\nrole = "{role}"\naddress = "127.0.0.1:0"\n'
        if tls != "none":
            out += f'tls = "{tls}"\n'
    return out


def start_mail_server(ternd_factory, specs, extra=""):
    server = ternd_factory(listeners(*specs), extra=AUTH_FAST + extra)
    ports = {name: server.wait_listening(name) for name, _, _ in specs}
    return server, ports


def start_filtering_server(ternd_factory, roles, extra, restart=False):
    """A ternd with the (name, role) listeners of `roles` (no TLS) and an HTTP
    listener for /metrics, provisioned; `restart`: on the data of the test's
    previous ternd (stopped), whose accounts exist already."""
    specs = [(name, role, "none") for name, role in roles] + [("http", "http", "none")]
    server, ports = start_mail_server(ternd_factory, specs, extra=extra)
    if not restart:
        provision(server)
    return server, ports


def provision(server, users=("alice", "bob"), quota=None, aliases=()):
    tern_cli(server.config, "domain", "add", DOMAIN)
    for user in users:
        args = ["user", "add", f"{user}@{DOMAIN}", "--password-stdin"]
        if quota:
            args += ["--quota", str(quota)]
        tern_cli(server.config, *args, input=PASSWORD + "\n")
    for source, destination in aliases:
        tern_cli(server.config, "alias", "add", source, destination)


def require_swaks():
    """Skips without swaks, except in CI (CI=true), where its absence is a failure."""
    if shutil.which("swaks") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("swaks is not installed (scripts/install-deps)")
        pytest.skip("swaks is not installed")


class Raw:
    """A line-oriented SMTP client over a raw socket."""

    def __init__(self, port, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; unread: %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode()

    def reply(self):
        """One (possibly multi-line) reply: (code, [texts])."""
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return int(lines[0][:3]), [l[4:] for l in lines]

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def close(self):
        self.sock.close()


@pytest.fixture
def mx(ternd_factory):
    server, ports = start_mail_server(ternd_factory, [("smtp", "smtp", "starttls")], DEFER_REMOTE)
    provision(server, aliases=[(f"info@{DOMAIN}", f"alice@{DOMAIN}"),
                               (f"info@{DOMAIN}", "carol@remote.example")])
    return server, ports["smtp"]


def test_smtplib_delivers_to_inbox_with_received(mx):
    server, port = mx
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        code, caps = client.ehlo("client.example")
        assert code == 250
        for keyword in (b"PIPELINING", b"SIZE 26214400", b"8BITMIME", b"SMTPUTF8",
                        b"ENHANCEDSTATUSCODES", b"CHUNKING", b"BINARYMIME", b"DSN", b"STARTTLS"):
            assert keyword in caps.split(b"\n")
        assert b"AUTH" not in caps  # MX never authenticates
        refused = client.sendmail("sender@remote.example",
                                  [f"alice@{DOMAIN}", f"Bob+news@{DOMAIN}"],
                                  b"Subject: hello\r\n\r\n.leading dot\r\nbody\r\n")
        assert refused == {}
    [alice] = inbox(server, f"alice@{DOMAIN}")
    [bob] = inbox(server, f"bob@{DOMAIN}")
    assert alice == bob
    assert alice.startswith(b"Received: from client.example ([127.0.0.1])")
    assert b"by mail.example.test with ESMTP id" in alice
    assert alice.endswith(b"Subject: hello\r\n\r\n.leading dot\r\nbody\r\n")


def test_mailbox_cat_reads_any_mailbox_and_refuses_what_does_not_exist(mx):
    # The test suites' window on the store (store_view.py): exact bytes in
    # `git cat-file --batch` frames, any mailbox, clear failures.
    server, port = mx
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for n in (1, 2):
            client.sendmail("sender@remote.example", [f"alice@{DOMAIN}"],
                            b"Subject: m%d\r\n\r\n\r\n" % n)
    out = subprocess.run([str(TERN), "-c", str(server.config), "mailbox", "cat", f"Alice@{DOMAIN}"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = inbox(server, f"alice@{DOMAIN}")
    assert out.stdout == (b"1 %d\n%s\n2 %d\n%s\n" % (len(first), first, len(second), second))
    assert first.endswith(b"Subject: m1\r\n\r\n\r\n")
    assert tern_cli(server.config, "mailbox", "cat", f"alice@{DOMAIN}", "Trash").stdout == ""
    for args, code, message in (
            ((f"nobody@{DOMAIN}",), 1, f"no such user nobody@{DOMAIN}"),
            ((f"alice@{DOMAIN}", "Nope"), 1, f'alice@{DOMAIN} has no mailbox "Nope"'),
            (("not an address",), 1, ""),
            ((), 2, "cat ADDRESS [MAILBOX]"),
            ((f"alice@{DOMAIN}", "INBOX", "extra"), 2, "cat ADDRESS [MAILBOX]")):
        failed = tern_cli(server.config, "mailbox", "cat", *args, check=False)
        assert failed.returncode == code and failed.stdout == "", (args, failed)
        assert message in failed.stderr, (args, failed.stderr)
    assert tern_cli(server.config, "mailbox", "list", check=False).returncode == 2


def test_unknown_users_and_relaying_are_refused(mx):
    _, port = mx
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.mail("sender@remote.example")
        assert client.rcpt(f"nobody@{DOMAIN}")[0] == 550
        code, text = client.rcpt("victim@elsewhere.example")
        assert (code, text) == (550, b"5.7.1 relay access denied")
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("sender@remote.example", ["x@elsewhere.example"], b"x\r\n")


def test_alias_forward_is_queued_with_dsn_parameters(mx):
    server, port = mx
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.sendmail("sender@remote.example", [f"info@{DOMAIN}"], b"Subject: fw\r\n\r\nx\r\n",
                        mail_options=["RET=HDRS", "ENVID=abc"], rcpt_options=["NOTIFY=FAILURE,DELAY"])
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1
    assert queue_rows(server) == [("carol@remote.example", "FAILURE,DELAY", f"rfc822;info@{DOMAIN}")]


def test_smtputf8_and_bdat_over_a_raw_socket(mx):
    server, port = mx
    c = Raw(port)
    assert c.reply()[0] == 220
    c.send("EHLO client.example\r\n")
    assert c.reply()[0] == 250
    # RFC 6531: a UTF-8 sender needs SMTPUTF8; with it the transaction goes through.
    c.send("MAIL FROM:<jörg@remote.example>\r\n".encode())
    assert c.reply()[0] == 550
    c.send("MAIL FROM:<jörg@remote.example> SMTPUTF8 BODY=BINARYMIME\r\n".encode())
    assert c.reply()[0] == 250
    c.send(f"RCPT TO:<alice@{DOMAIN}>\r\n")
    assert c.reply()[0] == 250
    part1 = "Subject: grüße\r\n\r\n".encode()
    part2 = b"binary\x00data\r\n"
    # RFC 3030: chunks pipelined back to back; each gets its own reply.
    c.send(b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert c.reply() == (250, [f"2.0.0 {len(part1)} octets received"])
    code, text = c.reply()
    assert code == 250, text
    c.send("QUIT\r\n")
    assert c.reply()[0] == 221
    [stored] = inbox(server, f"alice@{DOMAIN}")
    assert b"with UTF8SMTP" in stored
    assert stored.endswith(part1 + part2)


def test_smuggling_payloads_never_end_data(mx):
    server, port = mx
    c = Raw(port)
    c.reply()
    c.send("EHLO c\r\nMAIL FROM:<a@remote.example>\r\n"
           f"RCPT TO:<alice@{DOMAIN}>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    # <LF>.<LF> and <CR>.<CR> followed by a smuggled transaction, then the real end.
    c.send("Subject: one\r\n\r\nx\n.\nMAIL FROM:<evil@remote.example>\r\n"
           f"RCPT TO:<bob@{DOMAIN}>\r\nDATA\r\nsmuggled\r\n\r.\r\r\n.\r\n")
    code, text = c.reply()
    assert code == 550 and "bare <CR> or <LF>" in text[0]
    c.send("NOOP\r\n")
    assert c.reply()[0] == 250
    assert inbox(server, f"alice@{DOMAIN}") == []
    assert inbox(server, f"bob@{DOMAIN}") == []
    # A bare LF in a command line ends the session (Postfix smtpd_forbid_bare_newline).
    c.send("NOOP\n")
    assert c.reply()[0] == 521
    assert c.closed()


def test_starttls_discards_pipelined_commands(mx):
    _, port = mx
    c = Raw(port)
    c.reply()
    c.send("EHLO c\r\n")
    c.reply()
    # RFC 3207 §4.2: what follows STARTTLS in the same packet is plaintext injected
    # before the handshake and must not run inside the TLS session.
    c.send("STARTTLS\r\nMAIL FROM:<injected@remote.example>\r\n")
    assert c.reply() == (220, ["2.0.0 Ready to start TLS"])
    c.starttls()
    c.send("MAIL FROM:<a@remote.example>\r\n")
    assert c.reply() == (503, ["5.5.1 send HELO/EHLO first"])
    c.send("EHLO c\r\n")
    code, caps = c.reply()
    assert "STARTTLS" not in caps and "REQUIRETLS" in caps
    c.send("MAIL FROM:<a@remote.example> REQUIRETLS\r\n")
    assert c.reply()[0] == 250


def test_limits_of_rfc5321(ternd_factory):
    server, ports = start_mail_server(
        ternd_factory, [("smtp", "smtp", "none")],
        "[smtp]\nmax_recipients = 100\nmax_message_bytes = 2048\nmax_errors = 5\n")
    provision(server)
    c = Raw(ports["smtp"])
    c.reply()
    c.send("EHLO c\r\nMAIL FROM:<a@remote.example> SIZE=4096\r\n")
    c.reply()
    assert c.reply() == (552, ["5.3.4 message size exceeds fixed maximum message size"])
    c.send("MAIL FROM:<a@remote.example>\r\n" +
           "".join(f"RCPT TO:<alice+{i}@{DOMAIN}>\r\n" for i in range(101)))
    replies = [c.reply()[0] for _ in range(102)]
    assert replies[:101] == [250] * 101 and replies[101] == 452
    c.send("RSET\r\n" + "NOOP " + "x" * 5000 + "\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 500
    for _ in range(2):
        c.send("BOGUS\r\n")
        assert c.reply()[0] == 500
    # The fifth error (552, 500, 500, 500, 500) ends the session.
    c.send("BOGUS\r\n")
    assert c.reply()[0] == 500
    assert c.reply()[0] == 421
    assert c.closed()


def test_swaks_pipelining_starttls_and_bdat(mx):
    require_swaks()
    server, port = mx
    base = ["swaks", "--server", f"127.0.0.1:{port}", "--from", "sender@remote.example",
            "--to", f"alice@{DOMAIN}", "--timeout", "30"]
    out = subprocess.run(base + ["--pipeline", "--header", "Subject: piped"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 Ok: queued as" in out.stdout
    out = subprocess.run(base + ["--tls", "--header", "Subject: tls"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "220 2.0.0 Ready to start TLS" in out.stdout
    # swaks has no BDAT, so BDAT goes over a raw socket, pipelined in one write.
    body = "Subject: bdat\r\n\r\nx\r\n"
    script = (f"EHLO raw\r\nMAIL FROM:<sender@remote.example>\r\nRCPT TO:<alice@{DOMAIN}>\r\n"
              f"BDAT {len(body)} LAST\r\n{body}QUIT\r\n")
    raw = Raw(port)
    raw.reply()
    raw.send(script)
    codes = [raw.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 250, 250, 221]
    subjects = [m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in inbox(server, f"alice@{DOMAIN}")]
    assert subjects == [b"piped", b"tls", b"bdat"]
    stored = inbox(server, f"alice@{DOMAIN}")[1]
    assert b"with ESMTPS" in stored and b"TLSv1.3" in stored


def test_per_ip_message_rate_limit(ternd_factory):
    server, ports = start_mail_server(ternd_factory, [("smtp", "smtp", "none")],
                                      "[smtp]\nmessages_per_ip_per_minute = 2\n")
    provision(server)
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30) as client:
        for _ in range(2):
            client.sendmail("a@remote.example", [f"alice@{DOMAIN}"], b"x\r\n")
        code, text = client.mail("a@remote.example")
        assert (code, text) == (450, b"4.7.1 too many messages from your address, slow down")
    assert len(inbox(server, f"alice@{DOMAIN}")) == 2


def test_per_ip_connection_rate_limit(ternd_factory):
    server, ports = start_mail_server(ternd_factory, [("smtp", "smtp", "none")],
                                      "[smtp]\nconnections_per_ip_per_minute = 1\n")
    first = Raw(ports["smtp"])
    assert first.reply()[0] == 220
    second = Raw(ports["smtp"])
    code, text = second.reply()
    assert code == 421 and "too many connections" in text[0]
    assert second.closed()


def test_idle_client_gets_421_after_the_command_timeout(ternd_factory):
    # RFC 5321 §4.5.3.2.7 asks for 5 minutes; the config allows 10 s for tests.
    server, ports = start_mail_server(ternd_factory, [("smtp", "smtp", "none")],
                                      "[smtp]\ncommand_timeout_seconds = 10\n")
    c = Raw(ports["smtp"], timeout=30)
    assert c.reply()[0] == 220
    c.send("EHLO c\r\n")
    c.reply()
    started = time.monotonic()
    code, text = c.reply()
    assert (code, text) == (421, ["4.4.2 mail.example.test timeout exceeded"])
    assert 9 <= time.monotonic() - started <= 25
    assert c.closed()
