# SPDX-License-Identifier: Apache-2.0
"""IMAP (issue #5) protocol levels and the later features, against a live ternd with
Python's imaplib and raw sockets: ENABLE IMAP4rev2 (ESEARCH answers, no \\Recent),
\\Recent for IMAP4rev1 sessions (one session per message, EXAMINE claims nothing),
MULTIAPPEND (all or nothing, APPENDUID set), QUOTA, SEARCH on decoded text and the
[imap] config section."""
import imaplib
import re
import socket
import time

from conftest import tern_cli
from test_imap import ALICE, MESSAGES, connect, imap  # noqa: F401 (imap is a fixture)
from test_smtp import PASSWORD, provision, start_mail_server


def untagged(client, name):
    return [d.decode() if isinstance(d, bytes) else d
            for d in client.untagged_responses.pop(name, [])]


def raw_session(ports):
    """A logged-in plain socket for commands imaplib cannot send (MULTIAPPEND)."""
    s = socket.create_connection(("127.0.0.1", ports["imap"]), timeout=30)
    f = s.makefile("rwb", buffering=0)
    assert f.readline().startswith(b"* OK")
    f.write(f'a0 LOGIN {ALICE} "{PASSWORD}"\r\n'.encode())
    assert f.readline().startswith(b"a0 OK")
    return s, f


def read_until_tagged(f, tag):
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line)
        if line.startswith(tag.encode() + b" "):
            return lines


def test_imap4rev2_session_and_rev1_session_side_by_side(imap):
    _, ports = imap
    rev2 = connect(ports, tls="none")
    rev2.login(ALICE, PASSWORD)
    assert "IMAP4REV2" in rev2.capabilities and "IMAP4REV1" in rev2.capabilities
    typ, data = rev2.enable("IMAP4rev2")
    assert typ == "OK" and untagged(rev2, "ENABLED") == ["IMAP4rev2"]
    typ, data = rev2.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    # RFC 9051 App. E: no RECENT response; SELECT sends the mailbox's LIST.
    assert "RECENT" not in rev2.untagged_responses
    assert untagged(rev2, "LIST") == ['(\\HasNoChildren) "/" "INBOX"']
    typ, data = rev2.fetch("1:*", "(FLAGS)")
    assert all(b"\\Recent" not in d for d in data)
    # SEARCH answers ESEARCH (RFC 9051 §6.4.4).
    typ, data = rev2._simple_command("UID", "SEARCH", "ALL")
    assert typ == "OK"
    esearch = untagged(rev2, "ESEARCH")
    assert len(esearch) == 1 and re.fullmatch(r'\(TAG "\w+"\) UID ALL 1:2', esearch[0])
    typ, data = rev2._simple_command("SEARCH", "SUBJECT", "nothing-like-this")
    assert re.fullmatch(r'\(TAG "\w+"\)', untagged(rev2, "ESEARCH")[0])
    assert "SEARCH" not in rev2.untagged_responses

    # The rev2 session took no message as recent: a rev1 SELECT gets both, and
    # a second rev1 SELECT none (RFC 3501 §2.3.2).
    first = connect(ports, tls="none")
    first.login(ALICE, PASSWORD)
    first.select("INBOX")
    assert untagged(first, "RECENT") == ["2"]
    typ, data = first.fetch("1", "(FLAGS)")
    assert b"\\Recent" in data[0]
    typ, data = first.search(None, "RECENT")
    assert data == [b"1 2"]
    second = connect(ports, tls="none")
    second.login(ALICE, PASSWORD)
    typ, data = second.status("INBOX", "(RECENT MESSAGES)")
    assert data == [b'"INBOX" (RECENT 0 MESSAGES 2)']
    second.select("INBOX")
    assert untagged(second, "RECENT") == ["0"]
    typ, data = second.search(None, "OLD")
    assert data == [b"1 2"]

    # New mail from another process (tern deliver): the first session to look
    # claims it; EXAMINE shows it without claiming.
    tern_cli(imap[0].config, "deliver", ALICE, input=MESSAGES[0])
    examiner = connect(ports, tls="none")
    examiner.login(ALICE, PASSWORD)
    examiner.select("INBOX", readonly=True)
    assert untagged(examiner, "RECENT") == ["1"]
    second.noop()
    assert untagged(second, "EXISTS")[-1] == "3" and untagged(second, "RECENT") == ["1"]
    first.noop()
    assert untagged(first, "EXISTS")[-1] == "3" and untagged(first, "RECENT") == ["2"]
    typ, data = second.search(None, "NEW")
    assert data == [b"3"]
    for c in (rev2, first, second, examiner):
        c.logout()


def test_multiappend_all_or_nothing(imap):
    server, ports = imap
    s, f = raw_session(ports)
    one = b"Subject: multi one\r\n\r\nfirst\r\n"
    two = b"Subject: multi two\r\n\r\nsecond\r\n"
    f.write(b"a1 APPEND Drafts (\\Seen) {%d+}\r\n%s (\\Flagged) {%d+}\r\n%s\r\n"
            % (len(one), one, len(two), two))
    lines = read_until_tagged(f, "a1")
    m = re.match(rb"a1 OK \[APPENDUID (\d+) 1:2\]", lines[-1])
    assert m, lines
    # A synchronizing literal for the second message gets its own continuation.
    f.write(b"a2 APPEND Drafts {%d}\r\n" % len(one))
    assert f.readline().startswith(b"+")
    f.write(one + b" {%d}\r\n" % len(two))
    assert f.readline().startswith(b"+")
    f.write(two + b"\r\n")
    assert re.match(rb"a2 OK \[APPENDUID \d+ 3:4\]", read_until_tagged(f, "a2")[-1])

    c = connect(ports, tls="none")
    c.login(ALICE, PASSWORD)
    c.select("Drafts", readonly=True)
    typ, data = c.fetch("1:2", "(FLAGS BODY.PEEK[])")
    assert data[0][1] == one and data[2][1] == two
    assert b"\\Seen" in data[0][0] and b"\\Flagged" in data[2][0]

    # Over quota at the second message: nothing of the command stays.
    tern_cli(server.config, "user", "quota", ALICE, "2K")
    big = b"Subject: big\r\n\r\n" + b"x" * 4000 + b"\r\n"
    f.write(b"a3 APPEND Drafts {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(one), one, len(big), big))
    assert read_until_tagged(f, "a3")[-1].startswith(b"a3 NO [OVERQUOTA]")
    typ, data = c.status("Drafts", "(MESSAGES)")
    assert data == [b'"Drafts" (MESSAGES 4)']
    c.logout()
    f.write(b"a4 LOGOUT\r\n")
    read_until_tagged(f, "a4")
    s.close()


def test_quota_as_imaplib_reads_it(imap):
    """QUOTA (RFC 9208) on the sqlite store: the limit `tern user quota` sets while
    ternd runs, the usage the store counts, DELETED-STORAGE and OVERQUOTA."""
    server, ports = imap
    c = connect(ports, tls="none")
    c.login(ALICE, PASSWORD)
    typ, data = c.capability()  # imaplib keeps the capabilities it saw before login
    capabilities = data[0].split()
    assert {b"QUOTA", b"QUOTA=RES-STORAGE"} <= set(capabilities)
    assert b"QUOTASET" not in capabilities
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK" and data == [[b'"INBOX" ""'], [b'"" ()']]

    typ, data = c.status("INBOX", "(SIZE)")
    size = int(re.search(rb"SIZE (\d+)", data[0]).group(1))
    tern_cli(server.config, "user", "quota", ALICE, "10K")
    typ, data = c.getquota('""')
    assert typ == "OK" and data == [b'"" (STORAGE %d 10)' % ((size + 1023) // 1024)]

    c.select("INBOX")
    typ, data = c.fetch("1", "(RFC822.SIZE)")
    first = int(re.search(rb"RFC822.SIZE (\d+)", data[0]).group(1))
    c.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = c.status("INBOX", "(DELETED DELETED-STORAGE)")
    assert data == [b'"INBOX" (DELETED 1 DELETED-STORAGE %d)' % first]

    # Full to the byte: the next message is refused, and the refusal says why.
    tern_cli(server.config, "user", "quota", ALICE, str(size))
    typ, data = c.append("INBOX", None, None, b"Subject: more\r\n\r\nbody\r\n")
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    c.expunge()
    typ, data = c.append("INBOX", None, None, b"Subject: more\r\n\r\nbody\r\n")
    assert typ == "OK", data
    c.logout()


def test_imap_config_section_is_wired(ternd_factory, tmp_path, certs):
    extra = ("[imap]\nmax_connections_per_ip = 2\nmax_append_bytes = 4096\n"
             "max_multiappend_bytes = 1048576\nmax_line_bytes = 2048\nidle_poll_ms = 200\n"
             "preauth_timeout_seconds = 10\n")
    server, ports = start_mail_server(ternd_factory, [("imap", "imap", "none")], extra=extra)
    provision(server)
    connected = time.monotonic()
    held = [socket.create_connection(("127.0.0.1", ports["imap"]), timeout=30) for _ in range(2)]
    for s in held:
        assert s.makefile("rb").readline().startswith(b"* OK")
    third = socket.create_connection(("127.0.0.1", ports["imap"]), timeout=30)
    f = third.makefile("rb")
    assert f.readline() == b"* BYE too many connections from your address\r\n"
    assert f.readline() == b""
    third.close()
    held.pop().close()

    # The server notices the close asynchronously: retry until the slot is free.
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", ports["imap"]), timeout=30)
        f = s.makefile("rwb", buffering=0)
        if f.readline().startswith(b"* OK"):
            break
        s.close()
        time.sleep(0.1)
    else:
        raise AssertionError("the per-IP slot was never released")
    f.write(f'a0 LOGIN {ALICE} "{PASSWORD}"\r\n'.encode())
    assert f.readline().startswith(b"a0 OK")
    f.write(b"a1 CAPABILITY\r\n")
    assert b" APPENDLIMIT=4096" in read_until_tagged(f, "a1")[0]
    f.write(b"a2 APPEND INBOX {5000}\r\n")
    assert f.readline().startswith(b"a2 BAD [TOOBIG]")
    f.write(b"a3 NOOP " + b"x" * 3000 + b"\r\n")
    assert f.readline().startswith(b"* BYE")
    s.close()
    # The pre-auth timeout (10 s): the idle unauthenticated connection is closed.
    assert held[0].makefile("rb").readline().startswith(b"* BYE")
    assert 9 < time.monotonic() - connected < 30
    held[0].close()


def test_imap_config_errors_name_file_line_and_key(tmp_path, certs):
    from test_config_errors import config_with, error_line, run_ternd
    cfg = config_with(tmp_path, certs, extra="[imap]\nidle_timeout_seconds = 60\n")
    line = error_line(run_ternd(cfg))
    lineno = next(i for i, l in enumerate(cfg.read_text().splitlines(), 1)
                  if l.startswith("idle_timeout_seconds"))
    assert f"tern.toml:{lineno}: imap.idle_timeout_seconds: expected an integer from 1800" in line


def test_search_matches_decoded_text(imap):
    _, ports = imap
    c = connect(ports, tls="none")
    c.login(ALICE, PASSWORD)
    c.select("INBOX", readonly=True)

    def search(*criteria, literal=None):
        if literal is not None:
            c.literal = literal.encode()
        typ, data = c.uid("SEARCH", *criteria)
        assert typ == "OK", data
        return data[0].split()

    # MESSAGES[1]: Subject =?utf-8?q?gr=C3=BC=C3=9Fe?=, body "Grüße aus Köln" (8bit).
    assert search("CHARSET", "UTF-8", "SUBJECT", literal="GRÜSSE") == [b"2"]
    assert search("SUBJECT", '"gr=C3=BC"') == []
    assert search("CHARSET", "UTF-8", "BODY", literal="köln") == [b"2"]
    assert search("TEXT", '"FIRST BODY"') == [b"1"]
    assert search("FROM", "bob") == [b"1"]
    typ, data = c.uid("SEARCH", "CHARSET", "KOI8-R", "BODY", "x")
    assert typ == "NO" and data[0].startswith(b"[BADCHARSET (UTF-8 US-ASCII)]"), data
    c.logout()
