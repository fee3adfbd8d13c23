# SPDX-License-Identifier: Apache-2.0
"""LMTP (RFC 2033) against a live ternd, over TCP and over a UNIX socket: per-recipient
replies over a raw socket, and Postfix from Debian using tern as its LMTP transport
(relay_transport over TCP, mailbox_transport over the UNIX socket)."""
import grp
import imaplib
import os
import shutil
import signal
import smtplib
import socket
import tempfile
import time
from pathlib import Path

import pytest

from postfix_fixture import Postfix, postfix_root, require_postfix
from store_view import inbox
from test_smtp import AUTH_FAST, DOMAIN, PASSWORD, Raw, provision, start_mail_server


@pytest.fixture
def lmtp(ternd_factory):
    server, ports = start_mail_server(ternd_factory, [("lmtp", "lmtp", "none")])
    provision(server)
    tern_quota(server, f"bob@{DOMAIN}", "1K")
    return server, ports["lmtp"]


def tern_quota(server, address, size):
    from conftest import tern_cli
    tern_cli(server.config, "user", "quota", address, size)


def test_per_recipient_replies(lmtp):
    server, port = lmtp
    c = Raw(port)
    assert c.reply() == (220, ["mail.example.test LMTP tern"])
    c.send("EHLO c\r\n")
    assert c.reply()[0] == 500  # RFC 2033 §4.1: LHLO only
    c.send("LHLO relay.example\r\n")
    code, caps = c.reply()
    assert code == 250 and "PIPELINING" in caps and "AUTH" not in " ".join(caps)
    body = "Subject: big\r\n\r\n" + ("x" * 78 + "\r\n") * 25
    c.send("MAIL FROM:<a@remote.example>\r\n"
           f"RCPT TO:<alice@{DOMAIN}>\r\nRCPT TO:<nobody@{DOMAIN}>\r\nRCPT TO:<bob@{DOMAIN}>\r\n"
           f"DATA\r\n{body}.\r\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 550, 250, 354]
    # One reply per accepted recipient, in RCPT order: alice delivered, bob over quota
    # (the message alone exceeds his 1 KiB quota: 552 5.2.2, the hard limit).
    first = c.reply()
    second = c.reply()
    assert first[0] == 250 and first[1][0].startswith("2.0.0 Ok: delivered as")
    assert second == (552, ["5.2.2 message larger than the mailbox quota"])
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1
    assert inbox(server, f"bob@{DOMAIN}") == []
    c.send("QUIT\r\n")
    assert c.reply()[0] == 221


# tern as the next hop for a relay domain, over TCP.
RELAY_TO_TCP = """
mydestination =
relay_domains = {domain}
relay_transport = lmtp:inet:127.0.0.1:{lmtp_port}
relay_recipient_maps =
"""

# tern as the mailbox delivery agent of a local domain, over a UNIX socket: the
# setup Postfix documents for Dovecot (lmtp:unix:private/dovecot-lmtp).
MAILBOX_TO_UNIX = """
mydestination = {domain}
local_recipient_maps =
mailbox_transport = lmtp:unix:{socket}
"""


def send_through_postfix(server, postfix, message, fetch=inbox):
    """alice and nobody through Postfix; waits for alice's copy and the bounce for
    nobody (alice is the sender, so it comes back to her through LMTP too), read
    with fetch(server, address)."""
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as client:
        refused = client.sendmail(f"alice@{DOMAIN}", [f"alice@{DOMAIN}", f"nobody@{DOMAIN}"],
                                  message)
        assert refused == {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(fetch(server, f"alice@{DOMAIN}")) >= 2:
            break
        time.sleep(0.2)
    log = postfix.log()
    messages = fetch(server, f"alice@{DOMAIN}")
    assert len(messages) == 2, log
    stored, bounce = messages
    # tern's LMTP answered per recipient: alice 250, nobody 550 5.1.1 (at RCPT),
    # and Postfix bounced only nobody, to alice.
    assert "to=<alice@example.org>" in log and "status=sent (250 2.0.0" in log, log
    assert "to=<nobody@example.org>" in log and "dsn=5.1.1, status=bounced" in log, log
    assert b"nobody@example.org" in bounce and b"MAILER-DAEMON" in bounce
    return stored, log


def test_postfix_delivers_through_lmtp(lmtp):
    require_postfix()
    server, lmtp_port = lmtp
    root = postfix_root()
    postfix = Postfix(root / "postfix", RELAY_TO_TCP.format(domain=DOMAIN, lmtp_port=lmtp_port))
    postfix.start()
    try:
        stored, _ = send_through_postfix(server, postfix, b"Subject: via postfix\r\n\r\nhello\r\n")
        assert b"Subject: via postfix" in stored
        assert b"with LMTP" in stored
    finally:
        postfix.stop()
        shutil.rmtree(root, ignore_errors=True)


# ---- LMTP on a UNIX socket ----

class RawUnix(Raw):
    """Raw's line-oriented client over a UNIX stream socket."""

    def __init__(self, path, timeout=20):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""


def unix_listeners(socket_path, mode="0660", group=None):
    """A unix-socket LMTP listener plus plain IMAP (to read the mail back) and TCP
    LMTP (a port for start_mail_server to wait on)."""
    out = f"""
[[listener]]
name = "lmtp-unix"
role = "lmtp"
address = "unix:{socket_path}"
socket_mode = "{mode}"
"""
    if group:
        out += f'socket_group = "{group}"\n'
    for name, role in (("imap", "imap"), ("lmtp", "lmtp")):
        out += f'\n[[listener]]\nname = "{name}"\nrole = "{role}"\naddress = "127.0.0.1:0"\n'
    return out


def start_unix_server(ternd_factory, socket_path, **kwargs):
    server = ternd_factory(unix_listeners(socket_path, **kwargs), extra=AUTH_FAST)
    server.wait_listening("lmtp")
    server.wait_for_log(r"listening.*lmtp-unix|lmtp-unix.*listening")
    provision(server)
    return server


@pytest.fixture
def socket_dir():
    # Short (sun_path holds 107 bytes) and searchable by Postfix's lmtp process.
    root = Path(tempfile.mkdtemp(prefix="tern-lmtp-"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def imap_fetch_all(server, address):
    """Every INBOX message of `address` over IMAP (plain, loopback), as bytes."""
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    try:
        client.login(address, PASSWORD)
        client.select("INBOX", readonly=True)
        _, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
        return [part[1] for part in data if isinstance(part, tuple)]
    except imaplib.IMAP4.error:
        return []  # an empty INBOX: "1:*" names no message
    finally:
        client.logout()


def test_unix_socket_gives_per_recipient_replies_and_a_local_received(ternd_factory, socket_dir):
    path = socket_dir / "lmtp.sock"
    server = start_unix_server(ternd_factory, path, mode="0600")
    assert (os.stat(path).st_mode & 0o7777) == 0o600
    tern_quota(server, f"bob@{DOMAIN}", "1K")
    c = RawUnix(path)
    assert c.reply() == (220, ["mail.example.test LMTP tern"])
    c.send("LHLO relay.example.test\r\n")
    code, caps = c.reply()
    assert code == 250 and "PIPELINING" in caps and "STARTTLS" not in caps
    body = "Subject: over unix\r\n\r\n" + ("y" * 78 + "\r\n") * 25
    c.send("MAIL FROM:<a@remote.example>\r\n"
           f"RCPT TO:<alice@{DOMAIN}>\r\nRCPT TO:<nobody@{DOMAIN}>\r\nRCPT TO:<bob@{DOMAIN}>\r\n"
           f"DATA\r\n{body}.\r\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 550, 250, 354]
    first, second = c.reply(), c.reply()
    assert first[0] == 250 and first[1][0].startswith("2.0.0 Ok: delivered as")
    assert second == (552, ["5.2.2 message larger than the mailbox quota"])
    c.send("QUIT\r\n")
    assert c.reply()[0] == 221
    [stored] = imap_fetch_all(server, f"alice@{DOMAIN}")
    assert imap_fetch_all(server, f"bob@{DOMAIN}") == []
    # No client address on a UNIX socket: "from <LHLO name> by ...", no TCP-info.
    received = stored.split(b"\r\n")[0]
    assert received.startswith(b"Received: from relay.example.test by mail.example.test with LMTP"), stored
    assert b"[" not in received
    assert stored.endswith(body.encode())
    # The session's log line names the local peer by its credentials.
    server.wait_for_log(r'"peer":"local".*"uid":"%d"' % os.getuid())
    # A SIGHUP reload keeps the socket (and its mode).
    server.signal(signal.SIGHUP)
    server.wait_for_log(r'"reloaded"|reloaded')
    again = RawUnix(path)
    assert again.reply()[0] == 220
    again.close()
    assert (os.stat(path).st_mode & 0o7777) == 0o600
    # A clean stop removes the socket file.
    assert server.stop() == 0, "\n".join(server.lines[-120:])
    assert not path.exists()


def test_unix_socket_stale_file_is_replaced_and_a_regular_file_refused(ternd_factory, socket_dir):
    path = socket_dir / "lmtp.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # bound, never listened: what a killed ternd leaves behind
    server = start_unix_server(ternd_factory, path)
    c = RawUnix(path)
    assert c.reply()[0] == 220
    c.close()
    assert server.stop() == 0

    path.write_text("not a socket")
    refused = ternd_factory(unix_listeners(path), extra=AUTH_FAST, name="again.toml")
    assert refused.proc.wait(30) != 0
    refused.wait_for_log(r"bind unix:%s: exists and is not a socket" % path)
    assert path.read_text() == "not a socket"


def test_postfix_delivers_through_lmtp_on_a_unix_socket(ternd_factory):
    require_postfix()
    root = postfix_root()
    # Debian's master.cf runs lmtp chrooted in the queue directory, so the socket
    # lives there, as Dovecot's does: Postfix names it relative to the chroot.
    postfix = Postfix(root / "postfix", MAILBOX_TO_UNIX.format(domain=DOMAIN,
                                                               socket="private/tern-lmtp"))
    message = (b"From: Alice <alice@example.org>\r\nTo: alice@example.org\r\n"
               b"Date: Fri, 27 Nov 2026 12:00:00 +0000\r\n"
               b"Message-ID: <unix-socket-1@example.org>\r\nSubject: via postfix over unix\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"\r\nhello over a unix socket\r\n\r\n.leading dot\r\n")
    try:
        postfix.start()
        path = root / "postfix" / "queue" / "private" / "tern-lmtp"
        # Postfix's lmtp client runs as the postfix user: group access is enough.
        server = start_unix_server(ternd_factory, path, group="postfix")
        st = os.stat(path)
        assert (st.st_mode & 0o777) == 0o660 and st.st_gid == grp.getgrnam("postfix").gr_gid
        stored, log = send_through_postfix(server, postfix, message, fetch=imap_fetch_all)
        assert "private/tern-lmtp" in log, log
        # tern's Received: names Postfix's LHLO host and no address; the message
        # Postfix passed on follows it unchanged.
        assert stored.startswith(b"Received: from relay.example.test by mail.example.test with LMTP")
        assert stored.endswith(message), stored
    finally:
        postfix.stop()
        shutil.rmtree(root, ignore_errors=True)
