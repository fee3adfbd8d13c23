# SPDX-License-Identifier: Apache-2.0
"""SASLprep (RFC 4013) on every password login, against a live ternd: a password
with a soft hyphen, non-ASCII spaces and a compatibility character is set with
`tern user add` and logs in over IMAP LOGIN, SMTP AUTH PLAIN and POP3 USER/PASS
both as typed and in its prepared form; SCRAM-SHA-256 works with the prepared form
(the client normalises, RFC 5802 §2.2); `tern user add` refuses what SASLprep
refuses; a failed non-ASCII login counts once in the brute-force throttle."""
import base64
import imaplib
import poplib
import smtplib
import ssl
import stringprep
import subprocess
import unicodedata

import pytest

from conftest import TERN
from test_smtp import DOMAIN, start_mail_server

ALICE = f"alice@{DOMAIN}"
# U+00AD SOFT HYPHEN (mapped to nothing), U+00A0 and U+2003 (non-ASCII spaces,
# mapped to SPACE), U+2168 ROMAN NUMERAL NINE (NFKC: "IX").
TYPED = "c\u00adorrect\u00a0horse\u2003\u2168"
PREPARED = "correct horse IX"


def independent_saslprep(text):
    """RFC 4013 §2.1-2.2 with Python's own RFC 3454 tables (stringprep) and
    Unicode 3.2 NFKC: an implementation independent of tern's (ICU)."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else "" if stringprep.in_table_b1(c) else c
                     for c in text)
    return unicodedata.ucd_3_2_0.normalize("NFKC", mapped)


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tern(config, *args, password):
    """Runs the tern CLI with `password` on stdin as UTF-8 bytes, whatever the locale."""
    return subprocess.run([str(TERN), "-c", str(config), *args, "--password-stdin"],
                          input=password.encode("utf-8") + b"\n", capture_output=True,
                          timeout=120)


@pytest.fixture
def mail(ternd_factory):
    server, ports = start_mail_server(
        ternd_factory, [("imap", "imap", "starttls"), ("submission", "submission", "starttls"),
                        ("pop3", "pop3", "starttls")],
        "failures_before_delay = 3\nfailures_before_block = 3\nblock_seconds = 60\nmax_delay_seconds = 1\n")
    subprocess.run([str(TERN), "-c", str(server.config), "domain", "add", DOMAIN], check=True,
                   capture_output=True, timeout=120)
    added = tern(server.config, "user", "add", ALICE, password=TYPED)
    assert added.returncode == 0, added.stderr
    return server, ports


def imap_login(port, password):
    """IMAP LOGIN with the password as a literal (bytes, RFC 9051 §4.3), which
    imaplib sends when `literal` is set. Returns the tagged status."""
    client = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    client.starttls(ssl_context=tls_context())
    client.literal = password.encode("utf-8")
    try:
        typ, _ = client._simple_command("LOGIN", client._quote(ALICE))
    except imaplib.IMAP4.error:
        typ = "NO"
    client.shutdown()
    return typ


def smtp_auth_plain(port, password, user=ALICE):
    """SMTP AUTH PLAIN (RFC 4616 §2: NUL authcid NUL passwd, UTF-8). smtplib's own
    auth() encodes the response as ASCII, so the command is sent with docmd."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.starttls(context=tls_context())
        client.ehlo("client.example")
        assert "PLAIN" in client.esmtp_features["auth"].split()
        response = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8"))
        code, _ = client.docmd("AUTH", "PLAIN " + response.decode())
        return code


def pop3_user_pass(port, password, user=ALICE):
    client = poplib.POP3("127.0.0.1", port, timeout=30)
    client.stls(context=tls_context())
    # RFC 6856 §2: UTF-8 in USER and PASS only after the UTF8 command.
    client.utf8()
    client.user(user)
    try:
        return client.pass_(password).startswith(b"+OK")  # poplib sends UTF-8
    except poplib.error_proto as e:
        assert b"[AUTH]" in e.args[0], e.args[0]
        return False
    finally:
        client.quit()


def test_independent_saslprep_agrees_on_the_fixture():
    assert independent_saslprep(TYPED) == PREPARED


def test_typed_and_prepared_passwords_log_in_over_imap_smtp_and_pop3(mail):
    server, ports = mail
    for password in (TYPED, PREPARED):
        assert tern(server.config, "auth", "test", ALICE, password=password).returncode == 0
        assert imap_login(ports["imap"], password) == "OK", password
        assert smtp_auth_plain(ports["submission"], password) == 235, password
        assert pop3_user_pass(ports["pop3"], password), password


def test_a_wrong_non_ascii_password_fails_and_counts_once(mail):
    server, ports = mail
    # failures_before_block = 3: were the raw-byte fallback to count a second
    # failure, the second wrong attempt would block the address.
    wrong = "c\u00adorrect\u00a0horse\u2003\u2167"  # VIII, not IX
    assert tern(server.config, "auth", "test", ALICE, password=wrong).returncode != 0
    assert imap_login(ports["imap"], wrong) == "NO"
    assert smtp_auth_plain(ports["submission"], wrong) == 535
    assert imap_login(ports["imap"], TYPED) == "OK"


def test_user_names_are_prepared_and_refused_ones_fail_like_wrong_passwords(mail):
    _, ports = mail
    # RFC 4616 §2: the authcid is prepared too ("al<U+00AD>ice" is alice).
    assert smtp_auth_plain(ports["submission"], PREPARED, user=f"al\u00adice@{DOMAIN}") == 235
    assert pop3_user_pass(ports["pop3"], TYPED, user=f"\uff41lice@{DOMAIN}")
    # A name SASLprep refuses (RFC 4013 §2.4 bidi) gets the wrong-password answer.
    assert smtp_auth_plain(ports["submission"], PREPARED, user=f"\u0627\u0031@{DOMAIN}") == 535
    assert not pop3_user_pass(ports["pop3"], PREPARED, user=f"\u0627\u0031@{DOMAIN}")


def test_scram_sha256_with_a_non_ascii_password(mail):
    from test_pop3 import scram_login
    _, ports = mail
    client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    client.stls(context=tls_context())
    # The client normalises (RFC 5802 §2.2); scram_login does not, so it is given
    # the prepared form, computed here independently of tern.
    assert scram_login(client, independent_saslprep(TYPED)).startswith(b"+OK")
    client.quit()
    client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    client.stls(context=tls_context())
    with pytest.raises(poplib.error_proto):
        scram_login(client, independent_saslprep(TYPED) + "x")
    client.quit()


@pytest.mark.parametrize("password, why", [
    ("bell\x07ringer", "prohibited"),          # RFC 4013 §2.3, C.2.1
    ("\u0627\u0031", "right-to-left"),         # RFC 4013 §2.4
    ("x\u0237", "unassigned"),                 # RFC 4013 §2.5 (stored strings)
    ("\u00ad\u00ad", "empty"),                 # nothing left after mapping
])
def test_user_add_and_passwd_refuse_what_saslprep_refuses(mail, password, why):
    server, _ = mail
    added = tern(server.config, "user", "add", f"bob@{DOMAIN}", password=password)
    assert added.returncode != 0
    assert why in added.stderr.decode(), added.stderr
    changed = tern(server.config, "user", "passwd", ALICE, password=password)
    assert changed.returncode != 0
    assert why in changed.stderr.decode(), changed.stderr
    # ... and the old password still works.
    assert pop3_user_pass(mail[1]["pop3"], PREPARED)
