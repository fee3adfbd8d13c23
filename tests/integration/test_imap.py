# SPDX-License-Identifier: Apache-2.0
"""IMAP (issue #5) against a live ternd with Python's imaplib: LOGIN and AUTHENTICATE
PLAIN, STARTTLS and implicit TLS, SELECT, FETCH of every item against what
`tern deliver` stored, STORE, SEARCH, COPY/MOVE with COPYUID, APPEND with APPENDUID,
EXPUNGE, and IDLE woken by a second session."""
import imaplib
import re
import socket
import time
import zlib

import pytest

from conftest import tern_cli
from test_pop3 import tls_context  # unverified TLS to the test certificate
from test_smtp import DOMAIN, PASSWORD, provision, start_mail_server

ALICE = f"alice@{DOMAIN}"

MESSAGES = [
    (f"From: Bob <bob@{DOMAIN}>\r\nTo: {ALICE}\r\nSubject: hello imap\r\n"
     "Date: Mon, 6 Nov 2023 10:00:00 +0000\r\nMessage-ID: <one@example.org>\r\n\r\n"
     "first body line\r\n"),
    (f"From: carol@{DOMAIN}\r\nTo: {ALICE}\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n"
     "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
     "--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
     "Grüße aus Köln\r\n--XX\r\nContent-Type: application/octet-stream\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--XX--\r\n"),
]


@pytest.fixture
def imap(ternd_factory):
    server, ports = start_mail_server(
        ternd_factory, [("imap", "imap", "starttls"), ("imaps", "imap", "implicit")])
    provision(server)
    for m in MESSAGES:
        tern_cli(server.config, "deliver", ALICE, input=m)
    return server, ports


def meta(data):
    """The non-literal parts of an imaplib FETCH answer, joined."""
    return b"".join(part[0] if isinstance(part, tuple) else part for part in data)


def connect(ports, tls="starttls"):
    if tls == "implicit":
        client = imaplib.IMAP4_SSL("127.0.0.1", ports["imaps"], ssl_context=tls_context(),
                                   timeout=30)
    else:
        client = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30)
        if tls == "starttls":
            client.starttls(ssl_context=tls_context())
    return client


def test_capabilities_and_login_paths(imap):
    _, ports = imap
    c = connect(ports, tls="none")
    assert "STARTTLS" in c.capabilities and "IMAP4REV1" in c.capabilities
    # Loopback may log in without TLS ([auth] allow_plaintext_on_loopback).
    assert c.login(ALICE, PASSWORD)[0] == "OK"
    typ, data = c.capability()
    caps = data[0].decode().split()
    for cap in ("UIDPLUS", "MOVE", "IDLE", "NAMESPACE", "UNSELECT", "BINARY", "CONDSTORE",
                "QRESYNC", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
                "UTF8=ACCEPT", "COMPRESS=DEFLATE", "QUOTA", "QUOTA=RES-STORAGE",
                "SORT", "SORT=DISPLAY", "ESORT", "PREVIEW", "WITHIN", "THREAD=ORDEREDSUBJECT",
                "THREAD=REFERENCES", "SAVEDATE", "OBJECTID"):
        assert cap in caps
    assert "IMAP4rev1" in caps and "IMAP4rev2" in caps
    # Nothing announced that is not implemented yet.
    assert "MULTIAPPEND" in caps
    c.logout()

    c = connect(ports, tls="starttls")
    with pytest.raises(imaplib.IMAP4.error):
        c.login(ALICE, "wrong")
    c.logout()

    c = connect(ports, tls="implicit")
    typ, _ = c.authenticate("PLAIN", lambda _: f"\0{ALICE}\0{PASSWORD}".encode())
    assert typ == "OK"
    assert c.select("INBOX")[1] == [b"2"]
    c.logout()


def test_fetch_items_match_what_was_delivered(imap):
    _, ports = imap
    c = connect(ports)
    c.login(ALICE, PASSWORD)
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    for i, raw in enumerate(MESSAGES, start=1):
        typ, data = c.fetch(str(i), "(BODY.PEEK[] RFC822.SIZE UID)")
        assert typ == "OK"
        assert data[0][1] == raw.encode()
        assert f"RFC822.SIZE {len(raw.encode())}".encode() in meta(data)
        assert f"UID {i}".encode() in meta(data)
    typ, data = c.fetch("1", "(ENVELOPE INTERNALDATE FLAGS)")
    line = data[0].decode()
    assert '"hello imap"' in line and '("Bob" NIL "bob" "example.org")' in line
    assert "<one@example.org>" in line and "INTERNALDATE" in line
    assert "FLAGS (\\Recent)" in line  # the first session to select INBOX
    typ, data = c.fetch("2", "(BODYSTRUCTURE)")
    assert b'"mixed"' in data[0] and b'"boundary" "XX"' in data[0]
    typ, data = c.fetch("2", "(BODY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2])")
    assert data[0][1] == "Grüße aus Köln".encode()
    assert data[1][1] == b"\x00\x01\x02\x03"
    assert b"BINARY.SIZE[2] 4" in meta(data)
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<0.5>)")
    assert data[0][1] == b"Subject: hello imap\r\n\r\n"
    assert data[1][1] == b"first"
    # Without PEEK, \Seen is set and reported.
    typ, data = c.fetch("1", "(BODY[TEXT])")
    assert b"\\Seen" in meta(data)
    c.logout()


def test_store_search_copy_move_append_expunge(imap):
    _, ports = imap
    c = connect(ports)
    c.login(ALICE, PASSWORD)
    c.select("INBOX")
    typ, data = c.store("1", "+FLAGS", "(\\Flagged $Work)")
    assert typ == "OK" and b"\\Flagged" in data[0] and b"$Work" in data[0]
    assert c.search(None, "FLAGGED")[1] == [b"1"]
    assert c.search(None, "KEYWORD", "$Work")[1] == [b"1"]
    assert c.uid("SEARCH", "SUBJECT", "imap")[1] == [b"1"]
    assert c.search(None, "OR", "FROM", "carol", "SENTON", "6-Nov-2023")[1] == [b"1 2"]
    assert c.search(None, "LARGER", "300")[1] == [b"2"]

    typ, data = c.uid("COPY", "1:2", "Archive")
    assert typ == "OK"
    assert re.search(rb"^\d+ 1:2 1:2$", c.response("COPYUID")[1][0])
    typ, data = c.status("Archive", "(MESSAGES UIDNEXT)")
    assert b"MESSAGES 2" in data[0] and b"UIDNEXT 3" in data[0]

    typ, data = c.uid("MOVE", "2", "Trash")
    assert typ == "OK"
    assert c.select("INBOX")[1] == [b"1"]

    msg = b"From: me@example.org\r\nSubject: appended\r\n\r\nbody\r\n"
    typ, data = c.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(time.time()), msg)
    assert typ == "OK" and re.search(rb"APPENDUID \d+ 1", data[0])
    c.select("Drafts")
    assert c.fetch("1", "(BODY.PEEK[])")[1][0][1] == msg

    c.select("INBOX")
    c.store("1", "+FLAGS", "\\Deleted")
    typ, data = c.expunge()
    assert typ == "OK" and data == [b"1"]
    assert c.select("INBOX")[1] == [b"0"]
    c.logout()


def test_condstore_over_sqlite(imap):
    _, ports = imap
    c = connect(ports)
    c.login(ALICE, PASSWORD)
    assert c.enable("CONDSTORE")[0] == "OK" and c.response("ENABLED")[1] == [b"CONDSTORE"]
    typ, data = c.select("INBOX")
    assert typ == "OK"
    highest = int(c.response("HIGHESTMODSEQ")[1][0])
    typ, data = c.fetch("1:*", "(MODSEQ)")
    modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", d).group(1)) for d in data]
    assert max(modseqs) == highest
    typ, data = c.store("1", "+FLAGS", "(\\Seen)")
    assert re.search(rb"MODSEQ \((\d+)\)", data[0])
    typ, data = c.fetch("1:*", f"(FLAGS) (CHANGEDSINCE {highest})")
    assert len(data) == 1 and data[0].startswith(b"1 ")
    typ, data = c._simple_command("STORE", "2", f"(UNCHANGEDSINCE {min(modseqs) - 1})",
                                  "+FLAGS", "(\\Flagged)")
    assert typ == "OK" and c.response("MODIFIED")[1] == [b"2"]
    c.logout()


def test_idle_is_woken_by_another_session(imap):
    _, ports = imap
    watcher = socket.create_connection(("127.0.0.1", ports["imap"]), timeout=10)
    f = watcher.makefile("rwb", buffering=0)

    def send(line):
        f.write(line.encode() + b"\r\n")

    def read_until(prefix):
        lines = []
        while True:
            line = f.readline()
            assert line, "connection closed"
            lines.append(line)
            if line.startswith(prefix):
                return lines

    read_until(b"* OK")
    send(f'a LOGIN {ALICE} "{PASSWORD}"')
    read_until(b"a OK")
    send("b SELECT INBOX")
    read_until(b"b OK")
    send("c IDLE")
    read_until(b"+ ")

    other = connect(ports)
    other.login(ALICE, PASSWORD)
    other.select("INBOX")
    started = time.monotonic()
    other.append("INBOX", None, None, b"Subject: new\r\n\r\nnew\r\n")
    lines = read_until(b"* 3 EXISTS")
    assert time.monotonic() - started < 1.5
    other.store("1", "+FLAGS", "\\Deleted")
    other.expunge()
    lines = read_until(b"* 1 EXPUNGE")
    send("DONE")
    read_until(b"c OK")
    send("d LOGOUT")
    read_until(b"d OK")
    other.logout()
    watcher.close()


def test_bad_input_gets_protocol_errors(imap):
    _, ports = imap
    s = socket.create_connection(("127.0.0.1", ports["imap"]), timeout=10)
    f = s.makefile("rwb", buffering=0)
    assert f.readline().startswith(b"* OK")
    f.write(b"a1 FETCH 1 FLAGS\r\n")
    assert f.readline() == b"a1 BAD FETCH: log in first\r\n"
    f.write(b"a2 LOGIN {99999999}\r\n")
    assert f.readline().startswith(b"a2 BAD [TOOBIG]")
    f.write(b"x" * 70000 + b"\r\n")
    assert f.readline().startswith(b"* BYE")
    assert f.readline() == b""
    s.close()


def test_compress_deflate_over_tls(imap):
    _, ports = imap
    raw = socket.create_connection(("127.0.0.1", ports["imaps"]), timeout=10)
    s = tls_context().wrap_socket(raw)
    f = s.makefile("rwb", buffering=0)
    assert f.readline().startswith(b"* OK")
    f.write(f'a LOGIN {ALICE} "{PASSWORD}"\r\n'.encode())
    assert f.readline().startswith(b"a OK")
    f.write(b"b COMPRESS DEFLATE\r\n")
    assert f.readline() == b"b OK DEFLATE active\r\n"
    deflate = zlib.compressobj(wbits=-15)
    inflate = zlib.decompressobj(wbits=-15)

    def send(line):
        s.sendall(deflate.compress(line.encode() + b"\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))

    received = b""

    def read_until(marker):
        nonlocal received
        while marker not in received:
            chunk = s.recv(65536)
            assert chunk, "connection closed"
            received += inflate.decompress(chunk)
        head, _, received = received.partition(marker)
        return head + marker

    send("c SELECT INBOX")
    assert b"* 2 EXISTS" in read_until(b"c OK")
    send("d FETCH 1 BODY.PEEK[]")
    out = read_until(b"d OK FETCH completed\r\n")
    assert MESSAGES[0].encode() in out
    send("e COMPRESS DEFLATE")
    assert b"e NO [COMPRESSIONACTIVE]" in read_until(b"\r\n")
    send("f LOGOUT")
    assert b"f OK" in read_until(b"f OK LOGOUT completed\r\n")
    s.close()


class ScramClient:
    """The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) for imaplib.authenticate:
    called with each decoded server challenge, returns the next client message."""

    def __init__(self, user, password):
        import base64
        import os
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.step = 0
        self.server_signature = None

    def __call__(self, challenge):
        import base64
        import hashlib
        import hmac
        self.step += 1
        if self.step == 1:
            self.first_bare = f"n={self.user},r={self.nonce}"
            return ("n,," + self.first_bare).encode()
        if self.step == 2:
            server_first = challenge.decode()
            attrs = dict(part.split("=", 1) for part in server_first.split(","))
            assert attrs["r"].startswith(self.nonce)
            salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                         base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = hmac.new(salted, b"Client Key", "sha256").digest()
            stored_key = hashlib.sha256(client_key).digest()
            without_proof = f"c={base64.b64encode(b'n,,').decode()},r={attrs['r']}"
            auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
            signature = hmac.new(stored_key, auth_message, "sha256").digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            server_key = hmac.new(salted, b"Server Key", "sha256").digest()
            self.server_signature = hmac.new(server_key, auth_message, "sha256").digest()
            return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()
        assert challenge.decode() == "v=" + __import__("base64").b64encode(
            self.server_signature).decode()
        return b""


def test_authenticate_scram_sha256(imap):
    _, ports = imap
    c = connect(ports, tls="implicit")
    assert "AUTH=SCRAM-SHA-256" in c.capabilities
    assert c.authenticate("SCRAM-SHA-256", ScramClient(ALICE, PASSWORD))[0] == "OK"
    assert c.select("INBOX")[1] == [b"2"]
    c.logout()
    c = connect(ports, tls="implicit")
    with pytest.raises(imaplib.IMAP4.error):
        c.authenticate("SCRAM-SHA-256", ScramClient(ALICE, "not the password"))
    c.logout()
