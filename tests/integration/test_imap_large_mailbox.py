# SPDX-License-Identifier: Apache-2.0
"""IMAP FETCH, SEARCH, SORT and THREAD on a mailbox larger than one store chunk (issue #5,
benchmark (b)). The handlers read entries and message summaries
(MailStore::message_summaries) 1,024 messages at a time; these tests check the
answers across chunk borders, for sparse sets, for old-style keys (SENTON reads
the message) and after another session expunged messages, against what the
appended messages say. Runs over the sqlite store (the ternd fixture's default)."""
import base64
import os
import re
import socket
import sqlite3
import time

import pytest

from conftest import Ternd
from test_imap import ALICE, MESSAGES, imap  # noqa: F401 (imap is a fixture)
from test_smtp import PASSWORD

COUNT = 2100  # two full chunks of 1,024 and a partial third
FIRST_UID = len(MESSAGES) + 1  # the fixture delivers MESSAGES first


def make(i):
    """Message i: every 97th subject has "Zebra", every 89th body "QUOKKA" (every
    fifth message is multipart with a base64 text part, so BODY must search the
    decoded text); every tenth starts a thread the next nine refer to."""
    subject = f"note {i}" + (" Zebra crossing" if i % 97 == 0 else "")
    text = f"line {i}\r\n" + ("a QUOKKA here\r\n" if i % 89 == 0 else "")
    head = (f"From: Sender {i} <s{i}@example.org>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
            f"Date: Tue, {1 + i % 28} Nov 2023 10:00:00 +0000\r\n"
            f"Message-ID: <m{i}@example.org>\r\n")
    if i % 10:
        head += f"References: <m{i - i % 10}@example.org>\r\n"
    if i % 5 == 0:
        encoded = base64.b64encode(text.encode()).decode()
        return (head + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n").encode()
    return (head + "\r\n" + text).encode()


class Session:
    """A plain socket session that reads whole responses, literals included."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""
        self.n = 0
        assert self.line().startswith(b"* OK")
        self.command(f'LOGIN {ALICE} "{PASSWORD}"')

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            assert chunk, "connection closed"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, text):
        """Sends `text`; returns the untagged lines (literals inlined) after OK."""
        self.n += 1
        tag = f"t{self.n}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        lines = []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}$", line)
            while m:
                size = int(m.group(1))
                while len(self.buf) < size:
                    chunk = self.sock.recv(1 << 16)
                    assert chunk, "connection closed"
                    self.buf += chunk
                line += self.buf[:size]
                self.buf = self.buf[size:]
                rest = self.line()
                line += rest
                m = re.search(rb"\{(\d+)\}$", rest)
            if line.startswith(tag + b" "):
                assert line.startswith(tag + b" OK"), (text, line)
                return [x.decode() for x in lines]
            lines.append(line)

    def append_all(self, messages):
        """APPENDs with LITERAL+ (RFC 7888), 32 in flight; every third \\Seen."""
        pending = []
        for i, m in enumerate(messages):
            self.n += 1
            tag = f"a{self.n}".encode()
            flags = "(\\Seen)" if i % 3 == 0 else "()"
            self.sock.sendall(tag + f" APPEND INBOX {flags} {{{len(m)}+}}\r\n".encode() + m +
                              b"\r\n")
            pending.append(tag)
            while len(pending) > 32 or (i == len(messages) - 1 and pending):
                line = self.line()
                if line.startswith(pending[0] + b" "):
                    assert b" OK" in line, line
                    pending.pop(0)

    def search(self, criteria):
        found = [x for x in self.command(criteria) if x.startswith("* SEARCH")]
        assert len(found) == 1, found
        return [int(n) for n in found[0].split()[2:]]


@pytest.fixture
def big(imap):  # noqa: F811 (the fixture of test_imap)
    _, ports = imap
    s = Session(ports["imap"])
    s.append_all([make(i) for i in range(COUNT)])
    s.command("SELECT INBOX")
    return ports, s


def uid_of(i):
    return FIRST_UID + i


def test_search_header_and_text_keys_across_chunks(big):
    _, s = big
    zebra = [uid_of(i) for i in range(COUNT) if i % 97 == 0]
    quokka = [uid_of(i) for i in range(COUNT) if i % 89 == 0]
    assert s.search('UID SEARCH SUBJECT "zebra"') == zebra
    assert s.search('UID SEARCH BODY "quokka"') == quokka
    assert s.search('UID SEARCH TEXT "zebra"') == zebra
    assert s.search('UID SEARCH OR SUBJECT "zebra" BODY "quokka"') == sorted(set(zebra + quokka))
    # Flags from the entries and fields from the summaries in one key.
    unseen = [uid_of(i) for i in range(COUNT) if i % 97 == 0 and i % 3 != 0]
    assert s.search('UID SEARCH UNSEEN SUBJECT "zebra"') == unseen
    assert s.search('UID SEARCH FROM "s1500@example.org"') == [uid_of(1500)]
    assert s.search('UID SEARCH HEADER Message-ID "<m2099@"') == [uid_of(2099)]
    # SEARCH answers message sequence numbers: the fixture's two come first.
    assert s.search('SEARCH SUBJECT "note 1025 "') == []
    assert s.search('SEARCH SUBJECT "note 1025"') == [len(MESSAGES) + 1026]
    # SENTON reads the Date field of every message (not a summary part).
    assert len(s.search("UID SEARCH SENTON 5-Nov-2023")) == len(
        [i for i in range(COUNT) if 1 + i % 28 == 5])


def test_fetch_envelope_and_structure_across_chunks_and_sparse_sets(big):
    _, s = big
    lines = s.command("FETCH 1:* (ENVELOPE)")
    assert len(lines) == COUNT + len(MESSAGES)
    subjects = {}
    for line in lines:
        m = re.match(r'\* (\d+) FETCH \(ENVELOPE \((?:NIL|"[^"]*") "([^"]*)"', line)
        assert m, line
        subjects[int(m.group(1))] = m.group(2)
    for i in (0, 1021, 1022, 1023, 2045, 2046, COUNT - 1):
        assert subjects[len(MESSAGES) + 1 + i] == (f"note {i}" +
                                                   (" Zebra crossing" if i % 97 == 0 else ""))
    # A sparse set: each batch reads only the summaries of the messages asked for.
    lines = s.command("FETCH 5,1030,2001:2003 (UID ENVELOPE BODYSTRUCTURE)")
    assert [int(x.split()[1]) for x in lines] == [5, 1030, 2001, 2002, 2003]
    i = 2003 - len(MESSAGES) - 1  # multipart (i % 5 == 0)
    assert f'UID {uid_of(i)} ' in lines[4] and f'"note {i}"' in lines[4]
    assert '("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "BASE64" 16 0' in lines[4].upper()
    assert '"note 1998"' in lines[2] and '"BASE64"' not in lines[2].upper()
    # BODY[] needs the message itself as well as the stored facts.
    lines = s.command(f"UID FETCH {uid_of(10)} (BODY.PEEK[1] ENVELOPE)")
    assert len(lines) == 1
    assert base64.b64encode(b"line 10\r\n").decode() in lines[0]


def test_search_and_fetch_after_another_session_expunged(big):
    ports, s = big
    other = Session(ports["imap"])
    other.command("SELECT INBOX")
    gone = [uid_of(i) for i in (0, 97, 1021, 1022, 2037)]
    other.command("UID STORE " + ",".join(map(str, gone)) + " +FLAGS.SILENT (\\Deleted)")
    other.command("EXPUNGE")
    # Not yet announced here: the expunged messages no longer match, MSNs hold.
    zebra = [uid_of(i) for i in range(COUNT) if i % 97 == 0 and uid_of(i) not in gone]
    assert s.search('UID SEARCH SUBJECT "zebra"') == zebra
    lines = s.command("FETCH 1:* (ENVELOPE)")
    fetched = [x for x in lines if " FETCH (ENVELOPE " in x]
    assert len(fetched) == COUNT + len(MESSAGES) - len(gone)
    s.command("NOOP")
    assert s.search('UID SEARCH SUBJECT "zebra"') == zebra
    # Four of the expunged came before message 1023.
    assert s.search('SEARCH SUBJECT "note 1023"') == [len(MESSAGES) + 1 + 1023 - 4]


def test_sort_and_thread_across_chunks(big):
    """SORT and THREAD read the ENVELOPEs chunk by chunk, and REFERENCES each
    message's References field: the orders and threads are what the messages say."""
    _, s = big
    day = {uid_of(i): 1 + i % 28 for i in range(COUNT)}
    by_date = sorted(day, key=lambda uid: (day[uid], uid))  # MSN order is UID order
    started = time.monotonic()
    lines = [x for x in s.command(f"UID SORT (DATE) UTF-8 UID {FIRST_UID}:*")
             if x.startswith("* SORT")]
    sort_seconds = time.monotonic() - started
    assert [int(n) for n in lines[0].split()[2:]] == by_date
    lines = [x for x in s.command(f"UID SORT (REVERSE FROM) UTF-8 UID {FIRST_UID}:*")
             if x.startswith("* SORT")]
    assert [int(n) for n in lines[0].split()[2:]] == sorted(
        day, key=lambda uid: (f"S{uid - FIRST_UID}", -uid), reverse=True)
    # A thread per ten messages: the first the root, the other nine its children.
    threads = []
    for first in range(0, COUNT, 10):
        root = uid_of(first)
        kids = sorted((uid_of(i) for i in range(first + 1, min(first + 10, COUNT))),
                      key=lambda uid: (day[uid], uid))
        threads.append(((day[root], root), f"({root} " + "".join(f"({k})" for k in kids) + ")"))
    expected = "".join(text for _, text in sorted(threads))
    started = time.monotonic()
    lines = [x for x in s.command(f"UID THREAD REFERENCES UTF-8 UID {FIRST_UID}:*")
             if x.startswith("* THREAD")]
    thread_seconds = time.monotonic() - started
    assert lines == ["* THREAD " + expected]
    print(f"{COUNT} messages: UID SORT (DATE) {sort_seconds:.2f} s, "
          f"UID THREAD REFERENCES {thread_seconds:.2f} s (ASan build)")


ORDER_QUERIES = [
    "UID SORT (DATE) UTF-8 ALL",
    "UID SORT (REVERSE FROM) UTF-8 ALL",
    "UID SORT (SUBJECT DISPLAYFROM) UTF-8 ALL",
    "UID SORT (CC TO REVERSE DISPLAYTO SIZE) UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
    "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
]


def order_answers(s):
    return {q: [x for x in s.command(q) if x.startswith(("* SORT", "* THREAD"))]
            for q in ORDER_QUERIES}


def test_sort_and_thread_of_messages_stored_without_order_keys(imap, big):  # noqa: F811
    """Delivery stores each message's order keys beside its ENVELOPE, and SORT and
    THREAD read them. A store written before them has NULL there: then the keys
    are derived from the ENVELOPE and, for REFERENCES, the message, and every
    answer is the same."""
    if os.environ.get("TERN_TEST_STORE") == "postgres":
        pytest.skip("edits the sqlite store directly")
    server, _ = imap
    _, s = big
    with_keys = order_answers(s)
    server.stop()
    db = sqlite3.connect(server.config.parent / "data" / "store" / "tern.db")
    try:
        stored = db.execute("SELECT count(*) FROM message_envelopes "
                            "WHERE order_keys IS NOT NULL").fetchone()[0]
        assert stored == COUNT + len(MESSAGES)
        db.execute("UPDATE message_envelopes SET order_keys = NULL")
        db.commit()
    finally:
        db.close()
    again = Ternd(server.config)
    try:
        derived = Session(again.wait_listening("imap"))
        derived.command("SELECT INBOX")
        assert order_answers(derived) == with_keys
    finally:
        again.stop()
