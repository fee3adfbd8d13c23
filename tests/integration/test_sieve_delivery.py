# SPDX-License-Identifier: Apache-2.0
"""Sieve at delivery against a live ternd: a script put with `tern sieve put
--activate` decides where mail arriving over SMTP (the MX port) and LMTP goes —
fileinto with flags and :create, seen by an IMAP client; discard; redirect and
vacation going to the outbound queue (redirects with the original sender,
replies from the null sender, once per sender); a sub-address reaching the
script as the envelope "to"; a runtime error keeping the message. Runs on
sqlite, or PostgreSQL under TERN_TEST_STORE=postgres, like the other tests."""
import imaplib
import smtplib

import pytest

from conftest import tern_cli
from store_view import inbox, mailbox_messages, queue_entries
from test_smtp import DEFER_REMOTE, DOMAIN, PASSWORD, Raw, provision, start_mail_server

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"

FILTER = """\
require ["fileinto", "imap4flags", "mailbox", "envelope", "subaddress", "variables"];
if header :contains "list-id" "<tern.lists.example>" {
  fileinto :create :flags ["\\\\Seen", "$List"] "Lists/tern";
  stop;
}
if envelope :detail :matches "to" "*" {
  if string :is "${1}" "" { keep; stop; }
  fileinto :create "Tags/${1}";
  stop;
}
if header :contains "subject" "spam offer" { discard; stop; }
if address :is "from" "boss@remote.example" { addflag "\\\\Flagged"; }
"""


@pytest.fixture
def mail(ternd_factory):
    server, ports = start_mail_server(
        ternd_factory, [("smtp", "smtp", "none"), ("lmtp", "lmtp", "none"), ("imap", "imap", "none")],
        extra=DEFER_REMOTE)
    provision(server)
    return server, ports


def activate(server, user, text, name="main"):
    tern_cli(server.config, "sieve", "put", user, name, "-", "--activate", input=text)


def send(port, rcpt, message, sender="carol@remote.example"):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(sender, [rcpt], message.encode())


def message(subject, extra="", sender="carol@remote.example"):
    return (f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(subject))}@remote.example>\r\n{extra}\r\nbody\r\n")


def test_a_script_files_flags_and_discards(mail):
    server, ports = mail
    activate(server, ALICE, FILTER)
    send(ports["smtp"], ALICE, message("release 1.0", "List-Id: Tern <tern.lists.example>\r\n"))
    send(ports["smtp"], f"alice+invoices@{DOMAIN}", message("your invoice"))
    send(ports["smtp"], ALICE, message("a spam offer"))
    send(ports["smtp"], ALICE, message("see me", sender="boss@remote.example"))
    send(ports["smtp"], BOB, message("bob has no script"))

    assert len(mailbox_messages(server, ALICE, "Lists/tern")) == 1
    assert len(mailbox_messages(server, ALICE, "Tags/invoices")) == 1
    assert [m for m in inbox(server, ALICE) if b"spam offer" in m] == []
    assert len(inbox(server, ALICE)) == 1  # the boss's message
    assert len(inbox(server, BOB)) == 1

    # An IMAP client sees the mailboxes :create made, and the flags.
    imap = imaplib.IMAP4("127.0.0.1", ports["imap"])
    imap.login(ALICE, PASSWORD)
    status, boxes = imap.list()
    names = b"\n".join(boxes)
    assert b'"Lists/tern"' in names and b'"Tags/invoices"' in names, names
    imap.select('"Lists/tern"')
    _, data = imap.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0] and b"$List" in data[0], data
    imap.select("INBOX")
    _, data = imap.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"\\Flagged" in data[0][0] and b"see me" in data[0][1], data
    imap.logout()


def test_redirect_and_vacation_go_to_the_queue(mail):
    server, ports = mail
    activate(server, ALICE, 'require "copy";\nredirect :copy "alice@remote.example";\n')
    activate(server, BOB, 'require "vacation";\nvacation :days 1 :subject "Away" "Back soon.";\n')
    send(ports["smtp"], ALICE, message("for alice"))
    bob_message = message("for bob").replace(f"To: {ALICE}", f"To: {BOB}")
    send(ports["smtp"], BOB, bob_message)
    send(ports["smtp"], BOB, bob_message.replace("for bob", "again"))  # no second reply

    assert len(inbox(server, ALICE)) == 1  # :copy keeps it too
    assert len(inbox(server, BOB)) == 2  # vacation keeps the message
    entries = queue_entries(server)
    redirects = [e for e in entries if e["recipients"][0]["address"] == "alice@remote.example"]
    replies = [e for e in entries if e["recipients"][0]["address"] == "carol@remote.example"]
    assert len(redirects) == 1 and len(replies) == 1, entries
    assert redirects[0]["sender"] == "carol@remote.example"
    assert replies[0]["sender"] in ("", "<>")
    assert replies[0]["recipients"][0]["notify"] == "NEVER"
    shown = tern_cli(server.config, "queue", "show", str(replies[0]["id"])).stdout
    assert "Subject: Away" in shown and "Auto-Submitted: auto-replied" in shown, shown
    shown = tern_cli(server.config, "queue", "show", str(redirects[0]["id"])).stdout
    assert f"X-Sieve-Redirected-From: {ALICE}" in shown, shown


def test_lmtp_runs_the_script_and_a_runtime_error_keeps_the_message(mail):
    server, ports = mail
    # Five redirects: over the limit of four, a runtime error; the message is kept.
    many = "".join(f'redirect "r{i}@remote.example";\n' for i in range(5))
    activate(server, ALICE, many)
    activate(server, BOB, 'require "fileinto";\nfileinto "Nowhere";\n')
    c = Raw(ports["lmtp"])
    assert c.reply()[0] == 220
    c.send("LHLO relay.example\r\n")
    assert c.reply()[0] == 250
    c.send(f"MAIL FROM:<carol@remote.example>\r\nRCPT TO:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\n"
           f"DATA\r\n{message('over lmtp')}.\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    assert [c.reply()[0] for _ in range(2)] == [250, 250]  # one reply per recipient
    c.send("QUIT\r\n")
    assert len(inbox(server, ALICE)) == 1
    # fileinto a mailbox that does not exist (without :create) keeps it in the INBOX.
    assert len(inbox(server, BOB)) == 1
    assert queue_entries(server) == []


def test_copies_into_two_mailboxes_of_one_account_share_one_append(mail):
    server, ports = mail
    activate(server, ALICE, 'require ["fileinto", "copy", "mailbox"];\n'
                            'fileinto :copy :create "Copies";\n')
    for n in range(3):
        send(ports["smtp"], ALICE, message(f"copy {n}"))
    # The implicit keep and the :copy: each message in both, numbered in each.
    assert [uid for uid, _ in mailbox_messages(server, ALICE, "Copies")] == [1, 2, 3]
    assert [uid for uid, _ in mailbox_messages(server, ALICE)] == [1, 2, 3]
    imap = imaplib.IMAP4("127.0.0.1", ports["imap"])
    imap.login(ALICE, PASSWORD)
    _, data = imap.status("Copies", "(MESSAGES UIDNEXT)")
    assert b"MESSAGES 3" in data[0] and b"UIDNEXT 4" in data[0], data
    imap.logout()
