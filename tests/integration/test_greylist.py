# SPDX-License-Identifier: Apache-2.0
"""[greylist] against a live ternd: the MX answers a triplet's first attempt with
450 4.2.0 and takes the retry once the delay has passed (smtplib, and Postfix
from Debian delivering through its queue, which retries on its own), per
recipient within one transaction, with VERP-style senders folded into one
triplet; submission is never greylisted; the records live in the store, so a
restarted ternd remembers a passed triplet. Runs on sqlite, or PostgreSQL under
TERN_TEST_STORE=postgres."""
import shutil
import smtplib
import time

from conftest import metric
from postfix_fixture import Postfix, postfix_root, require_postfix
from store_view import inbox
from test_smtp import DOMAIN, PASSWORD, Raw, start_filtering_server

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
DELAY = 2  # seconds: the shortest the config allows is 1


def start(ternd_factory, roles=(("mx", "smtp"),), restart=False, auto_allow=0):
    extra = (f"\n[greylist]\nenabled = true\ndelay_seconds = {DELAY}\n"
             f"auto_allow_clients = {auto_allow}\n")
    return start_filtering_server(ternd_factory, roles, extra, restart)


def message(sender, subject):
    return f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()


def attempt(port, sender, rcpts, subject="hi"):
    """{recipient: (code, text)} of the refused ones; the message goes to the rest."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        try:
            return client.sendmail(sender, rcpts, message(sender, subject))
        except smtplib.SMTPRecipientsRefused as e:
            return e.recipients


def greylist_counts(ports):
    return {result: metric(ports["http"], "tern_greylist_total", role="smtp", result=result)
            for result in ("pass", "defer", "error")}


def test_first_attempt_is_deferred_and_the_retry_after_the_delay_passes(ternd_factory):
    server, ports = start(ternd_factory)
    refused = attempt(ports["mx"], "carol@remote.example", [ALICE])
    assert refused == {ALICE: (450, f"4.2.0 greylisted, try again in {DELAY} seconds".encode())}
    # Too early: still deferred, with what is left of the delay.
    again = attempt(ports["mx"], "carol@remote.example", [ALICE])
    assert again[ALICE][0] == 450
    assert inbox(server, ALICE) == []
    time.sleep(DELAY + 0.5)
    assert attempt(ports["mx"], "carol@remote.example", [ALICE]) == {}
    assert len(inbox(server, ALICE)) == 1
    # Passed triplets keep passing.
    assert attempt(ports["mx"], "carol@remote.example", [ALICE], "second") == {}
    assert greylist_counts(ports) == {"pass": 2, "defer": 2, "error": 0}


def test_each_recipient_is_its_own_triplet_and_verp_senders_fold(ternd_factory):
    server, ports = start(ternd_factory)
    assert ALICE in attempt(ports["mx"], "list+123@lists.example", [ALICE])
    time.sleep(DELAY + 0.5)
    # Alice's triplet passes (another bounce address of the same list: digits
    # fold, the +tag goes), Bob's is new: the message goes to Alice only, and
    # Bob's RCPT gets 450 in the same transaction.
    refused = attempt(ports["mx"], "list+456@lists.example", [ALICE, BOB])
    assert list(refused) == [BOB] and refused[BOB][0] == 450
    assert len(inbox(server, ALICE)) == 1 and inbox(server, BOB) == []
    # The unknown user still gets 550: greylisting asks only about real recipients.
    c = Raw(ports["mx"])
    c.reply()
    c.send("EHLO client.example\r\n")
    c.reply()
    c.send(f"MAIL FROM:<x@remote.example>\r\nRCPT TO:<nobody@{DOMAIN}>\r\nQUIT\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 550, 221]


def test_submission_is_not_greylisted_and_records_survive_a_restart(ternd_factory):
    server, ports = start(ternd_factory, roles=(("mx", "smtp"), ("submission", "submission")))
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30) as client:
        client.login(ALICE, PASSWORD)
        assert client.sendmail(ALICE, [BOB], message(ALICE, "internal")) == {}
    assert len(inbox(server, BOB)) == 1
    assert ALICE in attempt(ports["mx"], "carol@remote.example", [ALICE])
    time.sleep(DELAY + 0.5)
    assert attempt(ports["mx"], "carol@remote.example", [ALICE]) == {}
    server.stop()
    server, ports = start(ternd_factory, restart=True)
    assert attempt(ports["mx"], "carol@remote.example", [ALICE], "after restart") == {}
    assert len(inbox(server, ALICE)) == 2


def test_clients_that_passed_often_pass_at_once(ternd_factory):
    server, ports = start(ternd_factory, auto_allow=1)
    assert ALICE in attempt(ports["mx"], "carol@remote.example", [ALICE])
    time.sleep(DELAY + 0.5)
    assert attempt(ports["mx"], "carol@remote.example", [ALICE]) == {}
    # One passed triplet from 127.0.0.0/24: a new sender passes at once.
    assert attempt(ports["mx"], "dave@elsewhere.example", [BOB]) == {}
    assert len(inbox(server, BOB)) == 1


def test_postfix_retries_through_its_queue_and_gets_through(ternd_factory):
    # A real MTA as the greylisted client: Postfix from Debian relays the
    # domain to tern's MX, gets 450 at RCPT, keeps the message in its deferred
    # queue and retries on its own (backoff shortened to seconds).
    require_postfix()
    server, ports = start(ternd_factory)
    root = postfix_root()
    postfix = Postfix(root / "postfix", f"""
mydestination =
relay_domains = {DOMAIN}
relay_transport = smtp:[127.0.0.1]:{ports["mx"]}
relay_recipient_maps =
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
smtp_tls_security_level = none
""")
    postfix.start()
    try:
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as client:
            assert client.sendmail("carol@remote.example", [ALICE],
                                   message("carol@remote.example", "via postfix")) == {}
        deadline = time.monotonic() + 60
        flushed = False
        while time.monotonic() < deadline and not inbox(server, ALICE):
            # Under CI load Postfix has twice left the deferred message alone
            # for over 60 s after "skipped, still being delivered" (its qmgr,
            # not the greylist: the retry is what is tested here). After the
            # backoff's worth and more, a queue run is asked for once.
            if not flushed and time.monotonic() > deadline - 45:
                postfix.postfix("flush")
                flushed = True
            time.sleep(0.3)
        log = postfix.log()
        assert len(inbox(server, ALICE)) == 1, log
        assert "450 4.2.0 greylisted" in log and "status=deferred" in log, log
        assert "status=sent (250 2.0.0" in log, log
    finally:
        postfix.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_trusted_networks_are_not_greylisted(ternd_factory):
    extra = (f"\n[greylist]\nenabled = true\ndelay_seconds = {DELAY}\n"
             "[smtp]\ntrusted_networks = [\"127.0.0.0/8\"]\n")
    server, ports = start_filtering_server(ternd_factory, (("mx", "smtp"),), extra)
    assert attempt(ports["mx"], "carol@remote.example", [ALICE]) == {}
    assert len(inbox(server, ALICE)) == 1
    assert greylist_counts(ports) == {"pass": 0, "defer": 0, "error": 0}
