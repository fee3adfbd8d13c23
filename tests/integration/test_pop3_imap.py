# SPDX-License-Identifier: Apache-2.0
"""POP3 and IMAP on one mailbox: a POP3 QUIT's deletions reach an IMAP session
(issue #6: deletions at QUIT are visible to IMAP sessions)."""
import imaplib
import time

from conftest import tern_cli
from test_pop3 import ALICE, login, sample_messages, tls_context
from test_smtp import PASSWORD, provision, start_mail_server


def test_pop3_deletions_at_quit_are_expunges_for_imap(ternd_factory):
    server, ports = start_mail_server(
        ternd_factory, [("pop3", "pop3", "starttls"), ("imaps", "imap", "implicit")])
    provision(server)
    for message in sample_messages():
        tern_cli(server.config, "deliver", ALICE, input=message)

    imap = imaplib.IMAP4_SSL("127.0.0.1", ports["imaps"], ssl_context=tls_context())
    imap.login(ALICE, PASSWORD)
    status, data = imap.select("INBOX")
    assert status == "OK" and data == [b"3"]
    subjects_before = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")

    pop = login(ports["pop3"], stls=True)
    pop.dele(2)
    # Not yet: RFC 1939 §6 removes messages only in the UPDATE state.
    imap.noop()
    assert imap.fetch("1:*", "(UID)")[1] and len(imap.fetch("1:*", "(UID)")[1]) == 3
    pop.quit()

    # The IMAP session learns of it at its next command (RFC 9051 §7.4.1).
    deadline = time.monotonic() + 10
    expunged = []
    while time.monotonic() < deadline and not expunged:
        imap.noop()
        expunged = imap.response("EXPUNGE")[1] or []
        expunged = [e for e in expunged if e]
        if not expunged:
            time.sleep(0.1)
    assert expunged == [b"2"], expunged
    status, data = imap.select("INBOX")
    assert data == [b"2"]
    uids = imap.uid("SEARCH", "ALL")[1][0].split()
    assert uids == [b"1", b"3"]
    assert subjects_before[0] == "OK"
    imap.logout()
