# SPDX-License-Identifier: Apache-2.0
"""[[milter]] against real filters from Debian: clamav-milter (over the private
clamd of clamd_fixture.py), OpenDKIM and rspamd's proxy.

clamav-milter exercises the verdicts and the header changes: it refuses an
infected message with its own reply, or quarantines it (the MX delivers it to
Junk, submission refuses it), or discards it, and with AddHeader Replace it
changes or adds X-Virus-Scanned and X-Virus-Status. OpenDKIM signs what an
authenticated user submits ({auth_type}); dkimpy verifies the signature with the
public key OpenDKIM's own opendkim-genkey wrote. rspamd negotiates every action
and refuses GTUBE. A filter that cannot be reached defers, refuses or is passed
over, per on_failure. What no Debian filter here does (per-recipient refusals
under LMTP, recipient and sender changes) runs against a scripted filter."""
import os
import shutil
import smtplib
import socket
import struct
import subprocess
import threading
import time

import dkim
import pytest

from clamd_fixture import MARKER, Clamd, require_clamd
from conftest import metric
from processes import stop_process
from store_view import inbox, mailbox_messages
from test_smtp import DOMAIN, PASSWORD, Raw, start_filtering_server

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
SELECTOR = "milter"


def require(program, package):
    """Skips without `program`, except in CI (CI=true), where its absence fails."""
    if shutil.which(program) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{program} is not installed (scripts/install-deps: {package})")
        pytest.skip(f"{program} is not installed ({package})")


def wait_for_socket(path, process, what):
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(path))
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


class Filter:
    def __init__(self, argv, socket_path, what):
        self.socket = socket_path
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_socket(socket_path, self.process, what)

    def stop(self):
        stop_process(self.process)


def clamav_milter(directory, clamd, on_infected):
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    sock = directory / "milter.sock"
    conf = directory / "clamav-milter.conf"
    conf.write_text(f"MilterSocket unix:{sock}\nMilterSocketMode 666\n"
                    f"ClamdSocket unix:{clamd.socket}\nOnInfected {on_infected}\nOnFail Defer\n"
                    "AddHeader Replace\nForeground yes\n"
                    f"LogFile {directory / 'clamav-milter.log'}\n"
                    f"PidFile {directory / 'clamav-milter.pid'}\n")
    return Filter(["clamav-milter", "-c", str(conf)], sock, "clamav-milter")


def opendkim(directory):
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    subprocess.run(["opendkim-genkey", "-D", str(directory), "-d", DOMAIN, "-s", SELECTOR],
                   check=True)
    sock = directory / "opendkim.sock"
    conf = directory / "opendkim.conf"
    # InternalHosts names no loopback address: only an authenticated client's mail
    # ({auth_type}) is signed, what arrives unauthenticated is verified. Simple
    # canonicalization: the signature holds only if tern writes the fields
    # byte for byte as OpenDKIM was told them.
    conf.write_text(f"Syslog no\nMode sv\nDomain {DOMAIN}\nSelector {SELECTOR}\n"
                    f"KeyFile {directory / (SELECTOR + '.private')}\n"
                    f"Socket local:{sock}\nUMask 000\nBackground no\n"
                    f"PidFile {directory / 'opendkim.pid'}\nInternalHosts 192.0.2.1\n"
                    "Canonicalization simple/simple\nUserID root\n"
                    # The key lies under pytest's tmp dir, below a world-writable /tmp.
                    "RequireSafeKeys false\n")
    txt = (directory / f"{SELECTOR}.txt").read_text()
    # "milter._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=MIIB..." )"
    record = "".join(part for part in txt.split('"')[1::2])
    peer = Filter(["opendkim", "-f", "-x", str(conf)], sock, "opendkim")
    peer.record = record.encode()
    return peer


RSPAMD_CONF = """.include "$CONFDIR/common.conf"
options {{
  pidfile = "$RUNDIR/rspamd.pid";
  .include "$CONFDIR/options.inc"
  dns {{ nameserver = ["127.0.0.1:9"]; timeout = 0.3s; retransmits = 1; }}
}}
logging {{ type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }}
worker "rspamd_proxy" {{
  bind_socket = "{socket} mode=0666";
  milter = yes;
  timeout = 120s;
  upstream "local" {{ default = yes; self_scan = yes; }}
  count = 1;
  reject_message = "Spam message rejected";
}}
"""


def rspamd(directory):
    """rspamd's proxy worker in milter mode, scanning itself (self_scan), with
    Debian's rules; DNS goes nowhere (no lists, no internet)."""
    for sub in ("db", "run", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    sock = directory / "milter.sock"
    conf = directory / "rspamd.conf"
    conf.write_text(RSPAMD_CONF.format(socket=sock))
    argv = ["rspamd", "-f", "-i", "-u", "root", "-g", "root", "-c", str(conf)] + [
        f"--var={name}={directory / sub}"
        for name, sub in (("DBDIR", "db"), ("RUNDIR", "run"), ("LOGDIR", "log"))]
    peer = Filter(argv, sock, "rspamd")
    # The socket is bound before the worker has loaded its rules.
    log = directory / "log" / "rspamd.log"
    deadline = time.monotonic() + 120
    while not (log.exists() and "hyperscan" in log.read_text()):
        if peer.process.poll() is not None or time.monotonic() > deadline:
            peer.stop()
            raise RuntimeError("rspamd did not load its rules")
        time.sleep(0.2)
    return peer


@pytest.fixture(scope="module")
def clamd(tmp_path_factory):
    require_clamd()
    require("clamav-milter", "clamav-milter")
    peer = Clamd(tmp_path_factory.mktemp("clamd"))
    yield peer
    peer.stop()


@pytest.fixture
def filters(tmp_path):
    started = []

    def start(factory, *args):
        peer = factory(tmp_path / f"filter{len(started)}", *args)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def milter(address, **keys):
    out = f'\n[[milter]]\naddress = "{address}"\n'
    for key, value in keys.items():
        out += f"{key} = {value}\n"
    return out


def start(ternd_factory, extra, roles=("smtp",)):
    return start_filtering_server(ternd_factory, [(role, role) for role in roles], extra)


def message(body, subject="hello", sender="carol@remote.example", to=ALICE):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@remote.example>\r\n\r\n{body}\r\n")


def send(port, raw, rcpts=(ALICE,), sender="carol@remote.example", login=None):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        if login:
            client.login(login, PASSWORD)
        return client.sendmail(sender, list(rcpts), raw.encode())


def refused(port, raw, **kwargs):
    with pytest.raises(smtplib.SMTPDataError) as info:
        send(port, raw, **kwargs)
    return info.value.smtp_code, info.value.smtp_error.decode()


def outcomes(ports, role, result):
    return metric(ports["http"], "tern_milter_messages_total", role=role, result=result)


def header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode()


def test_clamav_milter_refuses_infected_mail_and_tags_clean_mail(ternd_factory, clamd, filters):
    peer = filters(clamav_milter, clamd, "Reject")
    server, ports = start(ternd_factory, milter(f"unix:{peer.socket}", name='"clamav"'))
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=60) as client:
        # A forged status from the sender is replaced (AddHeader Replace: a header
        # change).
        assert client.sendmail("carol@remote.example", [ALICE], message("numbers", "clean").replace(
            "Subject:", "X-Virus-Status: Infected (forged)\r\nSubject:").encode()) == {}
        # The second message of the session goes over the same filter connection.
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.sendmail("carol@remote.example", [ALICE],
                            message(f"look {MARKER} here", "infected").encode())
        code, text = info.value.smtp_code, info.value.smtp_error.decode()
    assert code == 550 and text.startswith("5.7.1"), (code, text)
    [stored] = inbox(server, ALICE)
    head = header_block(stored)
    assert "X-Virus-Status: Clean" in head
    assert "forged" not in head
    assert "X-Virus-Scanned: clamav-milter" in head
    # Our Received: stays the first field; the filter's fields follow the client's.
    assert head.startswith("Received: from ")
    assert outcomes(ports, "smtp", "pass") == 1
    assert outcomes(ports, "smtp", "reject") == 1
    server.wait_for_log("milter refused the message")


def test_quarantine_goes_to_junk_on_the_mx_and_is_refused_on_submission(ternd_factory, clamd,
                                                                        filters):
    peer = filters(clamav_milter, clamd, "Quarantine")
    server, ports = start(ternd_factory, milter(f"unix:{peer.socket}"),
                          roles=("smtp", "submission"))
    assert send(ports["smtp"], message(f"held {MARKER}", "held")) == {}
    assert inbox(server, ALICE) == []
    [(_, junk)] = mailbox_messages(server, ALICE, "Junk")
    assert b"held" in junk
    code, text = refused(ports["submission"], message(MARKER, "outgoing", ALICE, BOB),
                         rcpts=(BOB,), sender=ALICE, login=ALICE)
    assert code == 550 and text.startswith("5.7.1 message held by a filter"), (code, text)
    assert inbox(server, BOB) == [] and mailbox_messages(server, BOB, "Junk") == []
    assert outcomes(ports, "smtp", "quarantine") == 1
    server.wait_for_log("milter quarantined the message")


def test_discarded_messages_are_acknowledged_and_dropped(ternd_factory, clamd, filters):
    peer = filters(clamav_milter, clamd, "Blackhole")
    server, ports = start(ternd_factory, milter(f"unix:{peer.socket}"))
    assert send(ports["smtp"], message(f"gone {MARKER}", "gone")) == {}
    assert send(ports["smtp"], message("kept", "kept")) == {}
    [kept] = inbox(server, ALICE)
    assert b"Subject: kept" in kept
    assert mailbox_messages(server, ALICE, "Junk") == []
    assert outcomes(ports, "smtp", "discard") == 1


def test_opendkim_signs_what_authenticated_users_submit(ternd_factory, filters):
    require("opendkim", "opendkim")
    require("opendkim-genkey", "opendkim-tools")
    peer = filters(opendkim)
    # Two filters in a row: the second sees what the first left (here, nothing to
    # change) and a filter that is gone is passed over with on_failure = "accept".
    extra = (milter(f"unix:{peer.socket}", name='"opendkim"', roles='["submission", "smtp"]') +
             milter("unix:/nonexistent/milter.sock", name='"gone"', on_failure='"accept"',
                    roles='["submission", "smtp"]'))
    server, ports = start(ternd_factory, extra, roles=("smtp", "submission"))
    raw = message("signed by opendkim", "signed", ALICE, BOB)
    assert send(ports["submission"], raw, rcpts=(BOB,), sender=ALICE, login=ALICE) == {}
    [stored] = inbox(server, BOB)
    assert "DKIM-Signature:" in header_block(stored)

    def txt(name, timeout=5):
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return peer.record

    # Our Received: field is above the signature and not signed; dkimpy checks
    # the rest, body included.
    assert dkim.verify(stored, dnsfunc=txt), stored[:2000]
    # Unauthenticated mail over the MX is not signed.
    assert send(ports["smtp"], message("from outside", "unsigned")) == {}
    [outside] = inbox(server, ALICE)
    assert "DKIM-Signature:" not in header_block(outside)
    server.wait_for_log("milter failed, message goes on without it")


@pytest.mark.parametrize("on_failure,code", [("tempfail", 451), ("reject", 550)])
def test_an_unreachable_filter_defers_or_refuses(ternd_factory, tmp_path, on_failure, code):
    server, ports = start(ternd_factory,
                          milter(f"unix:{tmp_path}/none.sock", on_failure=f'"{on_failure}"'))
    got, text = refused(ports["smtp"], message("body", "any"))
    assert got == code, text
    assert inbox(server, ALICE) == []
    assert outcomes(ports, "smtp", "error") == 1


def packet(letter, data=b""):
    return struct.pack(">I", len(data) + 1) + letter + data


class ScriptedFilter:
    """A filter of our own for what the Debian filters here do not do: it asks
    for `actions`, refuses the recipient `refuse` at RCPT (550 with its own
    text), and at the end of the body sends `end` (modifications) and adds a
    header."""

    def __init__(self, directory, refuse=None, actions=0x01, end=b"", hang_up=False):
        self.socket = directory / "scripted.sock"
        self.refuse = refuse
        self.actions = actions
        self.end = end
        self.hang_up = hang_up  # close the connection after each message, as an idle timeout
        self.connections = 0
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(self.socket))
        self.listener.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            # A thread each: tern keeps a connection per SMTP session.
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    @staticmethod
    def read(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def session(self, conn):
        with conn:
            self.serve_session(conn)

    def serve_session(self, conn):
        try:
            while True:
                (n,) = struct.unpack(">I", self.read(conn, 4))
                body = self.read(conn, n)
                letter, data = body[:1], body[1:]
                if letter == b"O":
                    conn.sendall(packet(b"O", struct.pack(">III", 6, self.actions, 0)))
                elif letter == b"R":
                    if self.refuse and data.startswith(f"<{self.refuse}>".encode()):
                        conn.sendall(packet(b"y", b"550 5.7.1 not for this one\0"))
                    else:
                        conn.sendall(packet(b"c"))
                elif letter == b"E":
                    conn.sendall(self.end + packet(b"h", b"X-Scripted\0seen\0") + packet(b"c"))
                    if self.hang_up:
                        return
                elif letter == b"Q":
                    return
                elif letter not in (b"D", b"A"):  # macros and abort are not answered
                    conn.sendall(packet(b"c"))
        except (EOFError, OSError):
            return

    def stop(self):
        self.listener.close()


def test_lmtp_answers_recipients_a_filter_refused_and_delivers_the_rest(ternd_factory,
                                                                        tmp_path):
    scripted = ScriptedFilter(tmp_path, refuse=ALICE)
    try:
        server, ports = start(ternd_factory,
                              milter(f"unix:{scripted.socket}", roles='["lmtp", "smtp"]'),
                              roles=("lmtp", "smtp"))
        c = Raw(ports["lmtp"])
        c.reply()
        c.send("LHLO relay.example\r\n")
        c.reply()
        c.send(f"MAIL FROM:<a@remote.example>\r\nRCPT TO:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\n"
               f"DATA\r\n{message('both', 'both', to=BOB)}.\r\n")
        replies = [c.reply() for _ in range(6)]
        assert [r[0] for r in replies] == [250, 250, 250, 354, 550, 250], replies
        assert replies[4][1] == ["5.7.1 not for this one"]
        assert inbox(server, ALICE) == []
        [stored] = inbox(server, BOB)
        assert "X-Scripted: seen" in header_block(stored)
        # Over SMTP one reply answers for all: the refusal, and nothing is stored.
        code, text = refused(ports["smtp"], message("again", "again"), rcpts=(ALICE, BOB))
        assert (code, text) == (550, "5.7.1 not for this one")
        assert len(inbox(server, BOB)) == 1
    finally:
        scripted.stop()


@pytest.mark.parametrize("hang_up", [False, True])
def test_one_filter_connection_serves_a_session(ternd_factory, tmp_path, hang_up):
    # As Postfix: the messages of one SMTP session share the filter's connection
    # (ABORT, then MAIL); a filter that closed it meanwhile gets a new one and
    # the message goes through all the same.
    scripted = ScriptedFilter(tmp_path, hang_up=hang_up)
    try:
        server, ports = start(ternd_factory, milter(f"unix:{scripted.socket}"))
        with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=60) as client:
            for n in range(3):
                assert client.sendmail("carol@remote.example", [ALICE],
                                       message(f"number {n}", f"m{n}").encode()) == {}
        assert send(ports["smtp"], message("another session", "m3")) == {}
        stored = inbox(server, ALICE)
        assert len(stored) == 4 and all("X-Scripted: seen" in header_block(m) for m in stored)
        assert scripted.connections == (4 if hang_up else 2)
        assert outcomes(ports, "smtp", "pass") == 4
    finally:
        scripted.stop()


def test_a_filter_can_change_the_envelope(ternd_factory, tmp_path):
    # Alice out, Bob and an outside archive in, and a new sender, as a filter
    # rerouting mail would (SMFIF_DELRCPT, ADDRCPT, ADDRCPT_PAR, CHGFROM).
    end = (packet(b"-", f"<{ALICE}>\0".encode()) + packet(b"+", f"<{BOB}>\0".encode()) +
           packet(b"2", b"<archive@remote.example>\0NOTIFY=NEVER\0") +
           packet(b"+", b"<nobody@" + DOMAIN.encode() + b">\0") +
           packet(b"e", b"<bounces@remote.example>\0"))
    scripted = ScriptedFilter(tmp_path, actions=0x01 | 0x04 | 0x08 | 0x40 | 0x80, end=end)
    try:
        server, ports = start(ternd_factory, milter(f"unix:{scripted.socket}"))
        assert send(ports["smtp"], message("rerouted", "rerouted")) == {}
        assert inbox(server, ALICE) == []
        [stored] = inbox(server, BOB)
        assert "X-Scripted: seen" in header_block(stored)
        # The MX relays what a filter added (the filter is configuration), from
        # the sender the filter set: the queue takes it, the outside domain does
        # not exist, and the bounce goes to that sender. The unknown local user
        # is left out.
        server.wait_for_log(r'"msg":"smtp message".*"from":"<bounces@remote.example>"'
                            r'.*"recipients":"2"')
        server.wait_for_log(r'"msg":"queue recipient".*"to":"archive@remote.example"')
        server.wait_for_log(r'"msg":"queue recipient".*"to":"bounces@remote.example"')
        server.wait_for_log("milter added a recipient tern cannot take, ignored")
    finally:
        scripted.stop()


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def test_rspamd_refuses_gtube_and_passes_ordinary_mail(ternd_factory, filters):
    require("rspamd", "rspamd")
    peer = filters(rspamd)
    server, ports = start(ternd_factory, milter(f"unix:{peer.socket}", name='"rspamd"',
                                                timeout_seconds=60))
    code, text = refused(ports["smtp"], message(f"buy now {GTUBE}", "spam"))
    assert (code, text) == (554, "5.7.1 Gtube pattern")
    body = "Hello Alice,\r\n\r\nthe minutes of Tuesday's meeting are below.\r\n"
    assert send(ports["smtp"], message(body, "minutes")) == {}
    [stored] = inbox(server, ALICE)
    assert b"minutes of Tuesday" in stored
    assert outcomes(ports, "smtp", "reject") == 1
    assert outcomes(ports, "smtp", "pass") == 1
