# SPDX-License-Identifier: Apache-2.0
"""[antivirus] against a real clamd from Debian (clamav-daemon). clamd runs with a
signature database of its own, one body signature written here, so no freshclam
download is needed: a message carrying the marker (in the body, or inside a
base64 attachment that clamd must decode) is refused with 554 5.7.1 over the
MX, submission and LMTP (per recipient), and nothing of it is stored. Failures
are tested against the real peer too: clamd gone (a socket nobody listens on),
and clamd refusing a stream over its StreamMaxLength, which defer (451) or
deliver per on_failure; a message over max_message_bytes is not scanned."""
import base64
import smtplib
import socket
import struct

import pytest

from clamd_fixture import MARKER, VIRUS, Clamd, require_clamd
from conftest import metric
from store_view import inbox
from test_smtp import DOMAIN, PASSWORD, Raw, start_filtering_server

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"

@pytest.fixture(scope="module")
def clamd(tmp_path_factory):
    require_clamd()
    peer = Clamd(tmp_path_factory.mktemp("clamd"))
    yield peer
    peer.stop()


def antivirus(address, **keys):
    out = f'\n[antivirus]\nclamd = "{address}"\n'
    for key, value in keys.items():
        out += f"{key} = {value}\n"
    return out


def start(ternd_factory, extra, roles=("smtp",), restart=False):
    return start_filtering_server(ternd_factory, [(role, role) for role in roles], extra, restart)


def message(body, subject="hello", sender="Carol <carol@remote.example>"):
    return (f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@remote.example>\r\n\r\n{body}\r\n")


def with_attachment(payload):
    encoded = base64.encodebytes(payload).decode().replace("\n", "\r\n")
    return (f"From: carol@remote.example\r\nTo: {ALICE}\r\nSubject: invoice\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            "--b1\r\nContent-Type: application/octet-stream\r\n"
            "Content-Disposition: attachment; filename=invoice.bin\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--b1--\r\n")


def send(port, raw, rcpts=(ALICE,)):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        return client.sendmail("carol@remote.example", list(rcpts), raw.encode())


def refused(port, raw, rcpts=(ALICE,)):
    with pytest.raises(smtplib.SMTPDataError) as info:
        send(port, raw, rcpts)
    return info.value.smtp_code, info.value.smtp_error.decode()


def scans(ports, role, result):
    return metric(ports["http"], "tern_antivirus_scans_total", role=role, result=result)


def test_mx_refuses_infected_messages_and_delivers_clean_ones(ternd_factory, clamd):
    server, ports = start(ternd_factory, antivirus(f"unix:{clamd.socket}"))
    assert send(ports["smtp"], message("quarterly numbers attached", "clean")) == {}
    code, text = refused(ports["smtp"], message(f"look at this {MARKER} now", "plain virus"))
    assert (code, text) == (554, f"5.7.1 message refused: virus found ({VIRUS})")
    # The marker inside a base64 attachment: clamd decodes the MIME parts.
    payload = b"\x00\x01binary " + MARKER.encode() + b" trailer" * 50
    code, text = refused(ports["smtp"], with_attachment(payload))
    assert code == 554 and VIRUS in text
    messages = inbox(server, ALICE)
    assert len(messages) == 1 and b"quarterly numbers" in messages[0]
    assert scans(ports, "smtp", "clean") == 1
    assert scans(ports, "smtp", "infected") == 2
    server.wait_for_log("antivirus: virus found, message refused")


def test_submission_scans_over_tcp(ternd_factory, clamd):
    server, ports = start(ternd_factory, antivirus(f"127.0.0.1:{clamd.port}"),
                          roles=("submission",))
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=60) as client:
        client.login(ALICE, PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.sendmail(ALICE, [BOB], message(MARKER, "outgoing", ALICE).encode())
        assert info.value.smtp_code == 554
        assert client.sendmail(ALICE, [BOB], message("fine", "outgoing clean", ALICE).encode()) == {}
    assert len(inbox(server, BOB)) == 1
    assert scans(ports, "submission", "infected") == 1


def test_lmtp_is_scanned_only_when_listed_and_answers_each_recipient(ternd_factory, clamd):
    # By default LMTP is not scanned: the MTA in front is expected to have done it.
    server, ports = start(ternd_factory, antivirus(f"unix:{clamd.socket}"), roles=("lmtp",))
    c = Raw(ports["lmtp"])
    c.reply()
    c.send("LHLO relay.example\r\n")
    c.reply()
    c.send(f"MAIL FROM:<a@remote.example>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n"
           f"{message(MARKER, 'unscanned')}.\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 354, 250]
    assert len(inbox(server, ALICE)) == 1
    server.stop()

    server, ports = start(ternd_factory, antivirus(f"unix:{clamd.socket}", roles='["lmtp"]'),
                          roles=("lmtp",), restart=True)
    c = Raw(ports["lmtp"])
    c.reply()
    c.send("LHLO relay.example\r\n")
    c.reply()
    c.send(f"MAIL FROM:<a@remote.example>\r\nRCPT TO:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\nDATA\r\n"
           f"{message(MARKER, 'scanned')}.\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    # RFC 2033 §4.2: one reply per recipient, both refusals.
    replies = [c.reply() for _ in range(2)]
    assert replies == [(554, [f"5.7.1 message refused: virus found ({VIRUS})"])] * 2
    assert len(inbox(server, ALICE)) == 1 and inbox(server, BOB) == []


def test_clamd_unreachable_defers_or_accepts(ternd_factory, tmp_path):
    nowhere = tmp_path / "no-clamd.sock"
    server, ports = start(ternd_factory, antivirus(f"unix:{nowhere}", timeout_seconds=2))
    code, text = refused(ports["smtp"], message("anything", "deferred"))
    assert (code, text) == (451, "4.3.0 virus scan unavailable, try again later")
    assert inbox(server, ALICE) == []
    assert scans(ports, "smtp", "error") == 1
    server.wait_for_log("antivirus: scan failed, message deferred")
    server.stop()

    server, ports = start(ternd_factory, antivirus(f"unix:{nowhere}", on_failure='"accept"'),
                          restart=True)
    assert send(ports["smtp"], message("anything", "accepted")) == {}
    assert len(inbox(server, ALICE)) == 1
    server.wait_for_log("antivirus: scan failed, message delivered unscanned")


def test_over_clamds_stream_limit_is_a_failure_not_clean(ternd_factory, tmp_path):
    # clamd answers "INSTREAM size limit exceeded. ERROR" and closes before it
    # has read the whole stream: tern must read that reply, not take silence as
    # clean, and defer.
    require_clamd()
    small = Clamd(tmp_path / "clamd-small", stream_max="1M")
    try:
        server, ports = start(ternd_factory, antivirus(f"unix:{small.socket}"))
        big = message(("clean line of text " * 4 + "\r\n") * 30000, "big")  # ~2.4 MB
        code, _ = refused(ports["smtp"], big)
        assert code == 451
        assert inbox(server, ALICE) == []
        server.wait_for_log("INSTREAM size limit exceeded")
    finally:
        small.stop()


def test_messages_over_max_message_bytes_are_not_scanned(ternd_factory, clamd):
    server, ports = start(ternd_factory,
                          antivirus(f"unix:{clamd.socket}", max_message_bytes=2048))
    # As clamav-milter's MaxFileSize: too large to scan means delivered unscanned,
    # even carrying the marker (clamd would have found it).
    assert send(ports["smtp"], message(MARKER + ("\r\n" + "x" * 76) * 50, "large")) == {}
    code, _ = refused(ports["smtp"], message(MARKER, "small"))
    assert code == 554
    assert len(inbox(server, ALICE)) == 1
    assert scans(ports, "smtp", "skipped") == 1
    assert scans(ports, "smtp", "infected") == 1


def test_clamd_reply_format_is_what_the_parser_expects(clamd):
    # The replies src/clamd/clamd_test.cpp pins, taken from this clamd.
    def instream(data):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(clamd.socket)
            s.sendall(b"zINSTREAM\0" + struct.pack(">I", len(data)) + data + struct.pack(">I", 0))
            return s.recv(256)

    assert instream(b"nothing to see") == b"stream: OK\0"
    assert instream(MARKER.encode()) == f"stream: {VIRUS} FOUND\0".encode()
