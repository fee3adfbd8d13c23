# SPDX-License-Identifier: Apache-2.0
"""ManageSieve (RFC 5804) against a live ternd with real clients: python3-sievelib's
managesieve client and sieve-connect over STARTTLS; a script uploaded over
ManageSieve is the one delivery runs; the same command sequence sent raw to ternd
and to Pigeonhole's managesieved (dovecot_fixture.py) gives the same answers once
the human-readable texts are set aside; and bad input gets clear NO or BYE
answers. Runs on sqlite, or PostgreSQL under TERN_TEST_STORE=postgres."""
import base64
import re
import shutil
import smtplib
import socket
import subprocess

import pytest

from dovecot_fixture import DOVECOT, Dovecot
from store_view import inbox, mailbox_messages
from test_smtp import DEFER_REMOTE, DOMAIN, PASSWORD, provision, start_mail_server

ALICE = f"alice@{DOMAIN}"
SIEVE_CONNECT = shutil.which("sieve-connect")

FILTER = """\
require ["fileinto", "mailbox"];
if header :contains "list-id" "<tern.lists.example>" {
  fileinto :create "Lists/tern";
  stop;
}
"""


@pytest.fixture
def sieve(ternd_factory, certs):
    server, ports = start_mail_server(
        ternd_factory,
        [("sieve", "managesieve", "starttls"), ("sieve-plain", "managesieve", "none"),
         ("smtp", "smtp", "none")],
        "failures_before_delay = 5\nfailures_before_block = 8\nblock_seconds = 60\n"
        "max_delay_seconds = 1\n" + DEFER_REMOTE)
    provision(server)
    return server, ports, certs[0]


def sievelib_client(port):
    try:
        from sievelib.managesieve import Client
    except ImportError:
        pytest.skip("python3-sievelib is not installed (scripts/install-deps)")
    return Client("127.0.0.1", port)


class Raw:
    """A ManageSieve client over a raw socket: sends lines, reads responses with
    their literals ({N}) inlined as quoted strings."""

    def __init__(self, port, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed; unread: %r" % self.buf)
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def block(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def item(self):
        """One response line; a literal becomes a quoted string with \\ escapes."""
        out = b""
        line = self.line()
        while (m := re.search(rb"\{(\d+)\+?\}$", line)) is not None:
            data = self.block(int(m.group(1)))
            quoted = b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
            out += line[:m.start()] + quoted
            line = self.line()
        return (out + line).decode(errors="replace")

    def response(self):
        """(data lines, final line) of one command's answer."""
        lines = []
        while True:
            item = self.item()
            if re.match(r"(?i)(OK|NO|BYE)\b", item):
                return lines, item
            lines.append(item)

    def command(self, text):
        self.send(text + "\r\n")
        return self.response()

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def literal(text):
    data = text.encode()
    return "{%d+}\r\n%s" % (len(data), text)


# ----- python3-sievelib

def test_sievelib_manages_scripts_over_starttls(sieve):
    server, ports, _ = sieve
    client = sievelib_client(ports["sieve"])
    assert client.connect(ALICE, PASSWORD, starttls=True, authmech="PLAIN"), client.errmsg
    assert client.get_implementation() == "tern"
    assert "fileinto" in client.get_sieve_capabilities()
    assert client.listscripts() == (None, [])
    assert client.havespace("main", 2000)
    assert not client.havespace("main", 2 * 1024 * 1024)
    assert client.errcode == b"QUOTA/MAXSIZE"

    assert client.putscript("main", FILTER), client.errmsg
    # PUTSCRIPT of a script that does not compile: NO with the line of the error.
    assert not client.putscript("broken", "keep;\nfrobnicate;\n")
    assert client.errmsg.startswith(b"line 2: "), client.errmsg
    assert client.checkscript("keep;\n")
    assert not client.checkscript('require "reject";\n')
    assert client.errmsg.startswith(b"line 1: "), client.errmsg

    assert client.setactive("main")
    assert client.listscripts() == ("main", [])
    assert client.getscript("main") == FILTER
    assert client.renamescript("main", "filters")
    assert client.listscripts() == ("filters", [])
    assert client.putscript("spare", "keep;\n")
    # The active script cannot be deleted (RFC 5804 §2.10).
    assert not client.deletescript("filters")
    assert client.errcode == b"ACTIVE"
    assert not client.deletescript("nope")
    assert client.errcode == b"NONEXISTENT"
    assert not client.renamescript("spare", "filters")
    assert client.errcode == b"ALREADYEXISTS"
    assert client.deletescript("spare")
    assert client.setactive("")
    assert client.listscripts() == (None, ["filters"])
    assert client.deletescript("filters")
    assert client.listscripts() == (None, [])
    client.logout()


def test_sievelib_wrong_password_is_refused(sieve):
    _, ports, _ = sieve
    client = sievelib_client(ports["sieve"])
    assert not client.connect(ALICE, "wrong", starttls=True, authmech="PLAIN")


# ----- sieve-connect

def run_sieve_connect(port, cafile, *args):
    if SIEVE_CONNECT is None:
        pytest.skip("sieve-connect is not installed (scripts/install-deps)")
    # The test certificate is self-signed, for 127.0.0.1: it is its own CA.
    cmd = [SIEVE_CONNECT, "--nosrv", "--server", "127.0.0.1", "--port", str(port),
           "--user", ALICE, "--authmech", "PLAIN", "--passwordfd", "0",
           "--tlscafile", str(cafile), *args]
    result = subprocess.run(cmd, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{cmd}: {result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_sieve_connect_uploads_lists_activates_and_downloads(sieve, tmp_path):
    server, ports, cert = sieve
    local = tmp_path / "filters.sieve"
    local.write_text(FILTER)
    run_sieve_connect(ports["sieve"], cert, "--upload", "--localsieve", str(local),
                      "--remotesieve", "filters")
    run_sieve_connect(ports["sieve"], cert, "--activate", "--remotesieve", "filters")
    listing = run_sieve_connect(ports["sieve"], cert, "--list")
    assert re.search(r"filters\s+<- active", listing) or "filters" in listing, listing
    downloaded = tmp_path / "back.sieve"
    run_sieve_connect(ports["sieve"], cert, "--download", "--remotesieve", "filters",
                      "--localsieve", str(downloaded))
    assert downloaded.read_text() == FILTER
    # --exec runs several commands in one session.
    commands = tmp_path / "commands"
    commands.write_text("put " + str(local) + " second\nlist\ndelete second\n")
    out = run_sieve_connect(ports["sieve"], cert, "--exec", str(commands))
    assert "second" in out, out
    client = sievelib_client(ports["sieve"])
    assert client.connect(ALICE, PASSWORD, starttls=True, authmech="PLAIN")
    assert client.listscripts() == ("filters", [])
    client.logout()


# ----- delivery runs what ManageSieve stored

def test_a_script_uploaded_over_managesieve_files_delivered_mail(sieve):
    server, ports, _ = sieve
    client = sievelib_client(ports["sieve"])
    assert client.connect(ALICE, PASSWORD, starttls=True, authmech="PLAIN")
    assert client.putscript("lists", FILTER)
    assert client.setactive("lists")
    client.logout()
    message = (f"From: carol@remote.example\r\nTo: {ALICE}\r\nSubject: release\r\n"
               "List-Id: Tern <tern.lists.example>\r\nMessage-ID: <ms1@remote.example>\r\n\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30) as smtp:
        smtp.sendmail("carol@remote.example", [ALICE], message.encode())
        smtp.sendmail("carol@remote.example", [ALICE],
                      message.replace("List-Id: Tern <tern.lists.example>\r\n", "")
                      .replace("ms1@", "ms2@").encode())
    assert len(mailbox_messages(server, ALICE, "Lists/tern")) == 1
    assert len(inbox(server, ALICE)) == 1
    # Deactivated over ManageSieve: the next message stays in the INBOX.
    client = sievelib_client(ports["sieve"])
    assert client.connect(ALICE, PASSWORD, starttls=True, authmech="PLAIN")
    assert client.setactive("")
    client.logout()
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30) as smtp:
        smtp.sendmail("carol@remote.example", [ALICE], message.replace("ms1@", "ms3@").encode())
    assert len(mailbox_messages(server, ALICE, "Lists/tern")) == 1
    assert len(inbox(server, ALICE)) == 2


# ----- differential: the same commands to Pigeonhole's managesieved

VALID = 'require "fileinto";\r\nif header :contains "subject" "x" {\r\n  fileinto "A";\r\n}\r\n'
SYNTAX_ERROR = "keep;\r\nif true {\r\n"
UNKNOWN_EXTENSION = 'require "x-no-such-extension";\r\nkeep;\r\n'


def sequence(user, password):
    """The commands of the differential test, sent one at a time."""
    return [
        "CAPABILITY",
        "LISTSCRIPTS",
        f'AUTHENTICATE "PLAIN" "{plain(user, "wrong")}"',
        f'AUTHENTICATE "PLAIN" "{plain(user, password)}"',
        f'AUTHENTICATE "PLAIN" "{plain(user, password)}"',
        "LISTSCRIPTS",
        'HAVESPACE "a" 100',
        'HAVESPACE "a" 99999999',
        'PUTSCRIPT "a" ' + literal(VALID),
        'PUTSCRIPT "b" ' + literal(SYNTAX_ERROR),
        'PUTSCRIPT "c" ' + literal(UNKNOWN_EXTENSION),
        "CHECKSCRIPT " + literal(VALID),
        "CHECKSCRIPT " + literal(SYNTAX_ERROR),
        'GETSCRIPT "a"',
        'GETSCRIPT "zz"',
        'SETACTIVE "zz"',
        'SETACTIVE "a"',
        "LISTSCRIPTS",
        'PUTSCRIPT "b" {6}\r\nkeep;\n',  # a synchronizing literal: read without a continuation
        'RENAMESCRIPT "b" "a"',
        'RENAMESCRIPT "zz" "q"',
        'RENAMESCRIPT "a" "main"',
        "LISTSCRIPTS",
        'DELETESCRIPT "main"',
        'DELETESCRIPT "zz"',
        'SETACTIVE ""',
        'DELETESCRIPT "main"',
        "LISTSCRIPTS",
        "NOOP",
        'NOOP "tag-42"',
        "FROBNICATE",
        "LOGOUT",
    ]


QUOTED = r'"(?:[^"\\]|\\.)*"'


def normalise(lines, final):
    """Keeps what a client acts on: the status and response code of the final line,
    script data lines as sent. The capability listing is reduced to the
    capabilities both must send; the human-readable texts are dropped."""
    m = re.match(r"(?i)(OK|NO|BYE)(?: \(((?:[^)\"]|" + QUOTED + r")*)\))?(?: (" + QUOTED + r"))?$",
                 final)
    assert m, final
    status = m.group(1).upper()
    code = m.group(2)
    out = [f"{status} ({code})" if code else status]
    names = [re.match(r"\"([^\"]*)\"", l).group(1).upper() for l in lines
             if re.match(r'^"[A-Za-z-]+"( "[^"]*")?$', l)] if lines else []
    if names and "IMPLEMENTATION" in names:
        return ["<capabilities: " + " ".join(sorted({"IMPLEMENTATION", "SIEVE", "VERSION"} &
                                                     set(names))) + ">"] + out
    if lines and all(re.match(r'^"[^"]*"( ACTIVE)?$', l) for l in lines):
        lines = sorted(lines)  # LISTSCRIPTS: the order is the server's (RFC 5804 §2.7)
    return lines + out


def transcript(port, user, password):
    c = Raw(port)
    greeting = normalise(*c.response())
    out = [("<greeting>", greeting)]
    for command in sequence(user, password):
        c.send(command + "\r\n")
        out.append((command.split("\r\n")[0], normalise(*c.response())))
    assert c.closed()
    return out


@pytest.fixture
def pigeonhole():
    if not shutil.which(DOVECOT) or not shutil.which("/usr/lib/dovecot/managesieve"):
        pytest.skip("dovecot-managesieved is not installed (scripts/install-deps)")
    dovecot = Dovecot(users={ALICE: PASSWORD}, managesieve=True)
    yield dovecot
    dovecot.stop()


def test_answers_match_pigeonhole(sieve, pigeonhole):
    """The differences, and why:
    - Texts: every human-readable string is dropped (RFC 5804 §1.2: clients must not
      parse them); compile errors are both "line N: ..." but worded differently.
    - Capabilities (only IMPLEMENTATION, SIEVE and VERSION, required by §1.7, are
      compared): the values of IMPLEMENTATION, SIEVE (Pigeonhole has more
      extensions, e.g. reject, include, enotify) and SASL (tern offers
      SCRAM-SHA-256 and LOGIN too); Pigeonhole sends NOTIFY (enotify), tern does
      not; tern sends MAXREDIRECTS before login too, and UNAUTHENTICATE (§2.14.1)
      and OWNER (§1.7, after login), which Pigeonhole does not.
    - PUTSCRIPT of an empty script: Pigeonhole stores it, tern refuses it (§2.6: "A
      script of zero length SHOULD be disallowed"); checked separately below.
    - Timing: Pigeonhole delays a failed AUTHENTICATE by about 2 s; tern's delay is
      the shared auth throttle's, which starts after several failures.
    """
    server, ports, _ = sieve
    ours = transcript(ports["sieve-plain"], ALICE, PASSWORD)
    theirs = transcript(pigeonhole.sieve_port, ALICE, PASSWORD)
    differences = [(cmd, a, b) for (cmd, a), (_, b) in zip(ours, theirs) if a != b]
    assert not differences, "\n".join(f"{cmd}\n  tern:       {a}\n  pigeonhole: {b}"
                                      for cmd, a, b in differences)
    # The one documented difference.
    for port, expected in ((ports["sieve-plain"], "NO"), (pigeonhole.sieve_port, "OK")):
        c = Raw(port)
        c.response()
        assert c.command(f'AUTHENTICATE "PLAIN" "{plain(ALICE, PASSWORD)}"')[1].startswith("OK")
        assert c.command('PUTSCRIPT "empty" ""')[1].startswith(expected)
        c.command("LOGOUT")


# ----- bad input

def test_bad_input_gets_clear_answers(sieve):
    _, ports, _ = sieve
    c = Raw(ports["sieve-plain"])
    lines, final = c.response()
    assert final.startswith("OK") and '"STARTTLS"' not in lines
    # Commands before authentication.
    for command in ("LISTSCRIPTS", 'PUTSCRIPT "a" "keep;"', 'GETSCRIPT "a"', "UNAUTHENTICATE"):
        assert c.command(command)[1].startswith("NO"), command
    # An over-long line: NO, and the session goes on.
    assert c.command("NOOP \"" + "x" * 100000 + "\"")[1].startswith('NO "Line too long"')
    # A literal too large before login: NO, its data skipped.
    assert c.command("NOOP {40000+}\r\n" + "y" * 40000)[1].startswith('NO "Literal too large"')
    assert c.command("NOOP")[1] == 'OK "NOOP completed"'
    # Binary garbage.
    c.send(b"\x00\xff\xfe garbage \x01\r\n")
    assert c.response()[1].startswith("NO")
    assert c.command("NOOP")[1] == 'OK "NOOP completed"'
    # A huge literal announcement is not waited for: BYE, and the server closes.
    c.send("PUTSCRIPT \"a\" {4294967295+}\r\n")
    assert c.response()[1].startswith("BYE")
    assert c.closed()

    # After login, a script over 1 MiB: NO (QUOTA/MAXSIZE), the session survives.
    c = Raw(ports["sieve-plain"])
    c.response()
    assert c.command(f'AUTHENTICATE "PLAIN" "{plain(ALICE, PASSWORD)}"')[1].startswith("OK")
    big = "#" * (2 * 1024 * 1024) + "\r\nkeep;\r\n"
    assert c.command('PUTSCRIPT "big" ' + literal(big))[1].startswith("NO (QUOTA/MAXSIZE)")
    assert c.command("LISTSCRIPTS") == ([], 'OK "Listscripts completed"')

    # Too many bad commands: BYE.
    c = Raw(ports["sieve-plain"])
    c.response()
    for _ in range(10):
        assert c.command("BOGUS")[1].startswith("NO")
    assert c.response()[1] == 'BYE "Too many invalid commands"'
    assert c.closed()


def test_plaintext_needs_starttls_when_loopback_is_not_trusted(ternd_factory, certs):
    server, ports = start_mail_server(
        ternd_factory, [("sieve", "managesieve", "starttls")],
        "allow_plaintext_on_loopback = false\n")
    provision(server)
    c = Raw(ports["sieve"])
    lines, _ = c.response()
    assert '"SASL" "SCRAM-SHA-256"' in lines and '"STARTTLS"' in lines, lines
    _, final = c.command(f'AUTHENTICATE "PLAIN" "{plain(ALICE, PASSWORD)}"')
    assert final.startswith("NO (ENCRYPT-NEEDED)"), final
    client = sievelib_client(ports["sieve"])
    assert client.connect(ALICE, PASSWORD, starttls=True, authmech="PLAIN"), client.errmsg
    client.logout()
