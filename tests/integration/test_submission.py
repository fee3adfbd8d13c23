# SPDX-License-Identifier: Apache-2.0
"""Submission (587 STARTTLS, 465 implicit TLS) against a live ternd: AUTH with
smtplib and swaks, the sender policy, local delivery plus the outbound queue, and
the brute-force throttle."""
import smtplib
import ssl
import subprocess

import pytest

from store_view import inbox, queue_entries, queue_rows
from test_smtp import (DEFER_REMOTE, DOMAIN, PASSWORD, Raw, provision, require_swaks,
                       start_mail_server)

ALICE = f"alice@{DOMAIN}"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def submission(ternd_factory):
    # Plaintext AUTH on loopback off, so the TLS rules apply to these 127.0.0.1 tests.
    server, ports = start_mail_server(
        ternd_factory, [("submission", "submission", "starttls"),
                        ("submissions", "submission", "implicit")],
        "\nallow_plaintext_on_loopback = false\nfailures_before_delay = 2\n"
        "failures_before_block = 3\nblock_seconds = 60\nmax_delay_seconds = 1\n"
        # Queued mail to remote.example stays deferred, so the tests can read it.
        + DEFER_REMOTE)
    provision(server, aliases=[(f"sales@{DOMAIN}", ALICE)])
    return server, ports


def test_auth_is_required_and_offered_only_after_starttls(submission):
    _, ports = submission
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30) as client:
        client.ehlo("client.example")
        assert not client.has_extn("auth")
        assert client.mail(ALICE) == (530, b"5.7.0 authentication required")
        client.rset()
        assert client.docmd("AUTH", "PLAIN")[0] == 538
        client.starttls(context=tls_context())
        client.ehlo("client.example")
        mechanisms = client.esmtp_features["auth"].split()
        assert mechanisms == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_send_local_and_remote_after_auth(submission, mechanism):
    server, ports = submission
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.ehlo("client.example")
        client.user, client.password = ALICE, PASSWORD
        code, _ = client.auth(mechanism, getattr(client, "auth_" + mechanism.lower()),
                              initial_response_ok=mechanism == "PLAIN")
        assert code == 235
        refused = client.sendmail(
            ALICE, [f"bob@{DOMAIN}", "dave@remote.example"],
            f"From: Alice <{ALICE}>\r\nSubject: hi\r\n\r\nbody\r\n".encode(),
            rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
        assert refused == {}
    [stored] = inbox(server, f"bob@{DOMAIN}")
    assert b"with ESMTPSA" in stored
    assert queue_rows(server) == [("dave@remote.example", "SUCCESS,FAILURE", "rfc822;dave@remote.example")]


def test_requiretls_is_offered_inside_tls_and_queued(submission):
    # RFC 8689 §4.1: REQUIRETLS only after STARTTLS; the queued entry carries it
    # so the transport insists on a DNSSEC-validated MX and a verified TLS session.
    server, ports = submission
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30) as client:
        client.ehlo("client.example")
        assert not client.has_extn("requiretls")
        client.starttls(context=tls_context())
        client.ehlo("client.example")
        assert client.has_extn("requiretls")
        client.login(ALICE, PASSWORD)
        refused = client.sendmail(ALICE, ["erin@remote.example"],
                                  f"From: {ALICE}\r\nSubject: secret\r\n\r\nbody\r\n".encode(),
                                  mail_options=["REQUIRETLS"])
        assert refused == {}
    [entry] = [e for e in queue_entries(server)
               if [r["address"] for r in e["recipients"]] == ["erin@remote.example"]]
    assert "REQUIRETLS" in entry["envelope"]


def test_implicit_tls_and_sender_policy(submission):
    server, ports = submission
    with smtplib.SMTP_SSL("127.0.0.1", ports["submissions"], timeout=30,
                          context=tls_context()) as client:
        client.ehlo("client.example")
        assert not client.has_extn("starttls")
        client.login(ALICE, PASSWORD)
        # Someone else's address, in MAIL FROM or in From:.
        assert client.mail(f"bob@{DOMAIN}")[0] == 553
        client.rset()
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(ALICE, [f"bob@{DOMAIN}"],
                            f"From: bob@{DOMAIN}\r\n\r\nspoof\r\n".encode())
        assert refused.value.smtp_code == 553
        # An alias of hers and a sub-address are hers.
        client.sendmail(f"sales@{DOMAIN}", [f"bob@{DOMAIN}"],
                        f"From: sales@{DOMAIN}\r\n\r\nok\r\n".encode())
        client.sendmail(f"alice+lists@{DOMAIN}", [f"bob@{DOMAIN}"],
                        f"From: {ALICE}\r\n\r\nok\r\n".encode())
    assert len(inbox(server, f"bob@{DOMAIN}")) == 2


def test_wrong_passwords_slow_down_then_block(submission):
    _, ports = submission
    with smtplib.SMTP_SSL("127.0.0.1", ports["submissions"], timeout=60,
                          context=tls_context()) as client:
        client.ehlo("client.example")

        def attempt(password):
            # One AUTH PLAIN (login() would try every mechanism in turn).
            client.user, client.password = ALICE, password
            try:
                return client.auth("PLAIN", client.auth_plain)[0]
            except smtplib.SMTPAuthenticationError as e:
                return e.smtp_code

        assert [attempt("wrong") for _ in range(3)] == [535, 535, 535]
        # Blocked now: even the right password is refused without being checked.
        assert attempt(PASSWORD) == 454


def test_swaks_auth_over_starttls(submission):
    require_swaks()
    server, ports = submission
    for mechanism in ("PLAIN", "LOGIN"):
        out = subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{ports['submission']}", "--tls", "--auth", mechanism,
             "--auth-user", ALICE, "--auth-password", PASSWORD, "--from", ALICE,
             "--to", f"bob@{DOMAIN}", "--header", f"From: {ALICE}", "--timeout", "30"],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "235 2.7.0 Authentication successful" in out.stdout
    assert len(inbox(server, f"bob@{DOMAIN}")) == 2


def test_auth_cancel_and_bad_base64(submission):
    _, ports = submission
    c = Raw(ports["submission"])
    c.reply()
    c.send("EHLO c\r\nSTARTTLS\r\n")
    c.reply()
    c.reply()
    c.starttls()
    c.send("EHLO c\r\nAUTH LOGIN\r\n")
    c.reply()
    assert c.reply()[0] == 334
    c.send("*\r\n")
    assert c.reply() == (501, ["5.0.0 authentication cancelled"])
    c.send("AUTH PLAIN\r\n")
    assert c.reply()[0] == 334
    c.send("not base64!\r\n")
    assert c.reply() == (501, ["5.5.2 cannot decode response"])
    c.send("AUTH CRAM-MD5\r\n")
    assert c.reply()[0] == 504


class ScramOverSmtp:
    """Lets test_pop3.scram_login (an independent RFC 5802 client) speak SMTP AUTH:
    334 challenges look like POP3's "+ ", 235 like "+OK"."""

    def __init__(self, smtp):
        self.smtp = smtp

    def _shortcmd(self, line):
        code, text = self.smtp.docmd(line)
        if code == 334:
            return b"+ " + text
        if code == 235:
            return b"+OK " + text
        raise smtplib.SMTPAuthenticationError(code, text)


def test_scram_sha256_and_plus_with_tls_unique(submission):
    from test_pop3 import scram_login
    server, ports = submission
    ctx = tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # Python gives tls-unique only for TLS 1.2
    with smtplib.SMTP_SSL("127.0.0.1", ports["submissions"], timeout=30, context=ctx) as client:
        client.ehlo("client.example")
        assert client.esmtp_features["auth"].split()[:2] == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
        binding = client.sock.get_channel_binding("tls-unique")
        assert scram_login(ScramOverSmtp(client), PASSWORD, binding).startswith(b"+OK")
        client.sendmail(ALICE, [f"bob@{DOMAIN}"], f"From: {ALICE}\r\n\r\nscram\r\n".encode())
    with smtplib.SMTP_SSL("127.0.0.1", ports["submissions"], timeout=30, context=ctx) as client:
        client.ehlo("client.example")
        assert scram_login(ScramOverSmtp(client), PASSWORD).startswith(b"+OK")
    with smtplib.SMTP_SSL("127.0.0.1", ports["submissions"], timeout=30, context=ctx) as client:
        client.ehlo("client.example")
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            scram_login(ScramOverSmtp(client), PASSWORD, b"\0" * 12)  # another channel
        assert refused.value.smtp_code == 535
    assert len(inbox(server, f"bob@{DOMAIN}")) == 1
