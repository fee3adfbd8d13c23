# SPDX-License-Identifier: Apache-2.0
"""`tern import maildir` and `tern export maildir` against Dovecot. After an import
of the Maildir Dovecot itself wrote, tern serves every mailbox as Dovecot serves
the same files: the same UIDVALIDITY, UIDs, flags, keywords, INTERNALDATEs, sizes
and bytes, and the same subscriptions; a file Dovecot never listed (dropped into
new/) gets the next UID on both. After an export, Dovecot serves the tree as tern
serves the account, and importing it into another account gives the same again.
Runs against the private Dovecot of dovecot_fixture.py."""
import imaplib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import TERN
from dovecot_fixture import DOVECOT, MAIL_GROUP, MAIL_USER, Dovecot
from imap_dovecot_scenarios import DOVECOT_CONF, HAND_MADE, crlf
from test_imap import ALICE
from test_smtp import PASSWORD, provision, start_mail_server

DOVECOT_PASSWORD = "dove pass"
# (mailbox, flags, INTERNALDATE, message)
MAIL = [
    ("INBOX", r"(\Seen $Forwarded custom1)", '"06-Nov-2023 10:00:00 +0100"', HAND_MADE[0]),
    ("INBOX", r"(\Flagged \Answered \Draft)", '"07-Nov-2023 08:30:00 -0500"', HAND_MADE[1]),
    ("INBOX", r"(\Deleted)", '"01-Jan-2024 00:00:00 +0000"', b"Subject: gone\r\n\r\nsoon\r\n"),
    ("Lists/tern", r"(custom2 \Seen)", '"08-Nov-2023 17:45:10 +0000"', HAND_MADE[2]),
    ("Lists/tern", None, '"09-Nov-2023 12:00:00 +0000"', b"Subject: two\r\n\r\nsecond\r\n"),
    ("Caf&AOk-", None, '"10-Nov-2023 07:00:00 +0000"', b"Subject: caf\xc3\xa9\r\n\r\nx\r\n"),
    ("Sent", r"(\Seen)", '"11-Nov-2023 07:00:00 +0000"', b"Subject: sent\r\n\r\nmine\r\n"),
]
NEW_FILE = b"From: late@example.net\nSubject: delivered after Dovecot looked\n\nlf only\n"
FETCH = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"


def dovecot_maildir(dovecot, user):
    return dovecot.root / "mail" / user


def snapshot(client, mailbox):
    """What a caching client keys on, for one mailbox: STATUS and every message."""
    typ, status = client.status(f'"{mailbox}"', "(MESSAGES UIDNEXT UIDVALIDITY)")
    assert typ == "OK", (mailbox, status)
    values = dict(re.findall(rb"(MESSAGES|UIDNEXT|UIDVALIDITY) (\d+)", status[0]))
    typ, _ = client.select(f'"{mailbox}"', readonly=True)
    assert typ == "OK"
    typ, data = client.uid("FETCH", "1:*", FETCH)
    assert typ == "OK"
    messages = []
    for part in data:
        if not isinstance(part, tuple):
            continue
        meta = part[0].decode()
        flags = sorted(f for f in re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()
                       if f != "\\Recent")
        messages.append((re.search(r"UID (\d+)", meta).group(1), flags,
                         re.search(r'INTERNALDATE "([^"]+)"', meta).group(1),
                         re.search(r"RFC822.SIZE (\d+)", meta).group(1), part[1]))
    client.close()
    return values, sorted(messages)


def subscribed(client):
    typ, data = client.lsub('""', "*")
    assert typ == "OK"
    return sorted(re.search(rb' "?([^"]*)"?$', line).group(1) for line in data if line)


def require_dovecot():
    """Skips without Dovecot, except in CI (CI=true), where its absence is a failure."""
    if not Path(DOVECOT).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but dovecot is not installed (scripts/install-deps)")
        pytest.skip("dovecot is not installed (scripts/install-deps installs dovecot-imapd)")


@pytest.fixture
def dovecot():
    require_dovecot()
    d = Dovecot(users={ALICE: DOVECOT_PASSWORD}, extra=DOVECOT_CONF)
    yield d
    d.stop()


def test_import_maildir_keeps_what_dovecot_served(ternd_factory, dovecot, tmp_path):
    server, ports = start_mail_server(ternd_factory, [("imap", "imap", "starttls")])
    provision(server, users=("alice",))

    d = imaplib.IMAP4("127.0.0.1", dovecot.port)
    d.login(ALICE, DOVECOT_PASSWORD)
    for mailbox in ("Lists/tern", "Caf&AOk-"):
        assert d.create(f'"{mailbox}"')[0] == "OK"
    assert d.subscribe('"Lists/tern"')[0] == "OK"
    for mailbox, flags, date, message in MAIL:
        assert d.append(f'"{mailbox}"', flags, date, crlf(message))[0] == "OK"
    d.logout()
    # A message another program delivered after Dovecot last looked: not in
    # dovecot-uidlist; both servers give it the next UID.
    maildir = dovecot_maildir(dovecot, ALICE)
    late = maildir / "new" / "1700000000.M1P1.otherhost"
    late.write_bytes(NEW_FILE)
    os.utime(late, (1700000000, 1700000000))

    result = subprocess.run([str(TERN), "-c", str(server.config), "import", "maildir", ALICE,
                             str(maildir)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "imported 8 messages into 4 mailboxes" in result.stdout

    d = imaplib.IMAP4("127.0.0.1", dovecot.port)
    d.login(ALICE, DOVECOT_PASSWORD)
    t = imaplib.IMAP4("127.0.0.1", ports["imap"])
    t.login(ALICE, PASSWORD)
    for mailbox in ("INBOX", "Lists/tern", "Caf&AOk-", "Sent"):
        ours, theirs = snapshot(t, mailbox), snapshot(d, mailbox)
        assert ours == theirs, mailbox
    inbox = snapshot(t, "INBOX")[1]
    assert len(inbox) == 4 and inbox[-1][3] == str(len(NEW_FILE.replace(b"\n", b"\r\n")))
    assert subscribed(t) == subscribed(d)
    d.logout()
    t.logout()

    # Once imported, the mailboxes hold mail: a second import refuses.
    again = subprocess.run([str(TERN), "-c", str(server.config), "import", "maildir", ALICE,
                            str(maildir)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 1
    assert 'mailbox "INBOX"' in again.stderr


def test_export_maildir_is_served_by_dovecot_and_imports_back(ternd_factory, dovecot, tmp_path):
    server, ports = start_mail_server(ternd_factory, [("imap", "imap", "starttls")])
    provision(server, users=("alice", "bob"))
    t = imaplib.IMAP4("127.0.0.1", ports["imap"])
    t.login(ALICE, PASSWORD)
    for mailbox in ("Lists/tern", "Caf&AOk-", "v1.2"):
        assert t.create(f'"{mailbox}"')[0] == "OK"
    assert t.subscribe('"Lists/tern"')[0] == "OK"
    for mailbox, flags, date, message in MAIL:
        assert t.append(f'"{mailbox}"', flags, date, crlf(message))[0] == "OK"
    t.logout()

    exported = tmp_path / "export"
    result = subprocess.run([str(TERN), "-c", str(server.config), "export", "maildir", ALICE,
                             str(exported)], capture_output=True, text=True, timeout=120)
    # "v1.2" has Maildir++'s separator in it: reported and left out, the rest written.
    assert result.returncode == 1, result.stderr
    assert '"v1.2" cannot be a Maildir++ folder name' in result.stderr
    # INBOX, the five special-use mailboxes, Lists (CREATE made it), Lists/tern, Café.
    assert "exported 7 messages in 9 mailboxes" in result.stdout
    assert not (exported / ".v1.2").exists()

    # Dovecot serves the exported tree as tern serves the account.
    home = dovecot_maildir(dovecot, ALICE)
    shutil.copytree(exported, home)
    subprocess.run(["chown", "-R", f"{MAIL_USER}:{MAIL_GROUP}", str(home)], check=True)
    d = imaplib.IMAP4("127.0.0.1", dovecot.port)
    d.login(ALICE, DOVECOT_PASSWORD)
    t = imaplib.IMAP4("127.0.0.1", ports["imap"])
    t.login(ALICE, PASSWORD)
    for mailbox in ("INBOX", "Lists/tern", "Caf&AOk-", "Sent"):
        assert snapshot(t, mailbox) == snapshot(d, mailbox), mailbox
    assert subscribed(d) == [s for s in subscribed(t) if s != b"v1.2"]
    d.logout()

    # And back: importing the export into another account gives the same mailboxes.
    result = subprocess.run([str(TERN), "-c", str(server.config), "import", "maildir",
                             f"bob@{ALICE.split('@')[1]}", str(exported)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    b = imaplib.IMAP4("127.0.0.1", ports["imap"])
    b.login(f"bob@{ALICE.split('@')[1]}", PASSWORD)
    for mailbox in ("INBOX", "Lists/tern", "Caf&AOk-", "Sent"):
        assert snapshot(b, mailbox) == snapshot(t, mailbox), mailbox
    b.logout()
    t.logout()


MBOX_MAIL = [
    (r"(\Seen $Forwarded custom1)", '"06-Nov-2023 10:00:00 +0100"',
     b"Subject: a\r\n\r\nbody\r\nFrom here, not a separator\r\n\r\n>From quoted stays\r\n"),
    (r"(\Flagged \Answered \Draft \Deleted)", '"07-Nov-2023 08:30:00 -0500"', HAND_MADE[1]),
    (None, '"08-Nov-2023 17:45:10 +0000"',
     b"Subject: ends blank\r\n\r\nlast line then a blank one\r\n\r\n"),
    (r"(\Seen)", '"01-Jan-2024 00:00:00 +0000"', HAND_MADE[0]),
]


@pytest.fixture
def dovecot_mbox():
    require_dovecot()
    d = Dovecot(users={ALICE: DOVECOT_PASSWORD},
                extra="mail_location = mbox:%h/mail:INBOX=%h/mail/inbox\n")
    yield d
    d.stop()


def test_import_mbox_that_dovecot_wrote(ternd_factory, dovecot_mbox, tmp_path):
    """Dovecot's mbox (mboxcl2: Content-Length, nothing quoted, its status fields)
    imports to what Dovecot serves from it, UIDVALIDITY aside."""
    server, ports = start_mail_server(ternd_factory, [("imap", "imap", "starttls")])
    provision(server, users=("alice",))
    d = imaplib.IMAP4("127.0.0.1", dovecot_mbox.port)
    d.login(ALICE, DOVECOT_PASSWORD)
    assert d.create("Work")[0] == "OK"
    for flags, date, message in MBOX_MAIL:
        assert d.append("Work", flags, date, crlf(message))[0] == "OK"
    theirs = snapshot(d, "Work")
    d.logout()
    mbox = dovecot_mbox.root / "home" / ALICE / "mail" / "Work"
    assert b"Content-Length:" in mbox.read_bytes()

    result = subprocess.run([str(TERN), "-c", str(server.config), "import", "mbox", ALICE,
                             str(mbox), "Work"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "imported 4 messages into Work" in result.stdout
    t = imaplib.IMAP4("127.0.0.1", ports["imap"])
    t.login(ALICE, PASSWORD)
    ours = snapshot(t, "Work")
    t.logout()
    for side in (ours, theirs):
        del side[0][b"UIDVALIDITY"]
    assert ours == theirs


def test_import_mbox_of_google_takeout_and_thunderbird(ternd_factory, tmp_path):
    """mboxrd (Takeout): ">From " unquoted once; X-Mozilla-Status flags
    (Thunderbird); both status fields left out; a file that is no mbox refused."""
    server, ports = start_mail_server(ternd_factory, [("imap", "imap", "starttls")])
    provision(server, users=("alice",))
    mbox = tmp_path / "All mail Including Spam and Trash.mbox"
    mbox.write_bytes(
        b"From 1784529@xxx Wed Mar 13 12:59:19 +0000 2024\n"
        b"X-GM-THRID: 1793\nX-Gmail-Labels: Inbox,Opened\n"
        b"From: a@example.org\nSubject: takeout\n\n"
        b"body\n>From quoted in mboxrd\n>>From twice\nFrom the middle of a line\n\n"
        b"From 1784530@xxx Thu Mar 14 08:00:00 +0000 2024\n"
        b"X-Mozilla-Status: 0005\nX-Mozilla-Keys: $label1\nSubject: second\n\nhi\n\n")
    result = subprocess.run([str(TERN), "-c", str(server.config), "import", "mbox", ALICE,
                             str(mbox), "Takeout"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    t = imaplib.IMAP4("127.0.0.1", ports["imap"])
    t.login(ALICE, PASSWORD)
    _, messages = snapshot(t, "Takeout")
    t.logout()
    assert [(m[1], m[2]) for m in messages] == [
        ([], "13-Mar-2024 12:59:19 +0000"),
        (["$label1", "\\Flagged", "\\Seen"], "14-Mar-2024 08:00:00 +0000")]
    assert messages[0][4] == (
        b"X-GM-THRID: 1793\r\nX-Gmail-Labels: Inbox,Opened\r\nFrom: a@example.org\r\n"
        b"Subject: takeout\r\n\r\nbody\r\nFrom quoted in mboxrd\r\n>From twice\r\n"
        b"From the middle of a line\r\n")
    assert messages[1][4] == b"Subject: second\r\n\r\nhi\r\n"

    # "inbox" in any case is the INBOX (RFC 9051 §5.1), not a new mailbox.
    one = tmp_path / "one.mbox"
    one.write_bytes(b"From a@b Thu Nov  9 10:00:00 2023\nSubject: to the inbox\n\nx\n")
    result = subprocess.run([str(TERN), "-c", str(server.config), "import", "mbox", ALICE,
                             str(one), "inbox"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "imported 1 messages into INBOX" in result.stdout

    not_mbox = tmp_path / "notes.txt"
    not_mbox.write_bytes(b"Subject: no From line\n\nhello\n")
    refused = subprocess.run([str(TERN), "-c", str(server.config), "import", "mbox", ALICE,
                              str(not_mbox)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "no mbox file" in refused.stderr


def test_export_mbox_is_served_by_dovecot_and_imports_back(ternd_factory, dovecot_mbox,
                                                           tmp_path):
    """`tern export mbox` writes what Dovecot's mbox storage reads as tern serves
    the mailbox, and `tern import mbox` reads it back."""
    server, ports = start_mail_server(ternd_factory, [("imap", "imap", "starttls")])
    provision(server, users=("alice", "bob"))
    t = imaplib.IMAP4("127.0.0.1", ports["imap"])
    t.login(ALICE, PASSWORD)
    assert t.create("Work")[0] == "OK"
    for flags, date, message in MBOX_MAIL:
        assert t.append("Work", flags, date, crlf(message))[0] == "OK"
    ours = snapshot(t, "Work")
    t.logout()

    exported = tmp_path / "Work.mbox"
    result = subprocess.run([str(TERN), "-c", str(server.config), "export", "mbox", ALICE,
                             "Work", str(exported)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "exported 4 messages of Work" in result.stdout
    again = subprocess.run([str(TERN), "-c", str(server.config), "export", "mbox", ALICE,
                            "Work", str(exported)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "must not exist" in again.stderr

    home = dovecot_mbox.root / "home" / ALICE / "mail"
    home.mkdir(parents=True)
    shutil.copy(exported, home / "Work")
    subprocess.run(["chown", "-R", f"{MAIL_USER}:{MAIL_GROUP}", str(dovecot_mbox.root / "home")],
                   check=True)
    d = imaplib.IMAP4("127.0.0.1", dovecot_mbox.port)
    d.login(ALICE, DOVECOT_PASSWORD)
    theirs = snapshot(d, "Work")
    d.logout()
    bob = f"bob@{ALICE.split('@')[1]}"
    result = subprocess.run([str(TERN), "-c", str(server.config), "import", "mbox", bob,
                             str(exported), "Work"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    b = imaplib.IMAP4("127.0.0.1", ports["imap"])
    b.login(bob, PASSWORD)
    back = snapshot(b, "Work")
    b.logout()
    # X-IMAPbase and X-UID give Dovecot the same UIDVALIDITY and UIDs. Dovecot's
    # UIDNEXT comes out one higher after its first sync of the file, which a
    # UIDNEXT may (it only has to be above every UID, RFC 9051 §2.3.1.1).
    assert theirs[1] == ours[1]
    assert theirs[0][b"UIDVALIDITY"] == ours[0][b"UIDVALIDITY"]
    assert theirs[0][b"MESSAGES"] == ours[0][b"MESSAGES"]
    assert int(theirs[0][b"UIDNEXT"]) >= int(ours[0][b"UIDNEXT"])
    # An import appends: the UIDs are bob's next ones (here the same), the
    # UIDVALIDITY bob's mailbox's.
    for side in (ours, back):
        del side[0][b"UIDVALIDITY"]
    assert back == ours
