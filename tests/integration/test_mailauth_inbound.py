# SPDX-License-Identifier: Apache-2.0
"""Inbound mail authentication on the MX (issue #8): Knot on loopback serves SPF,
DKIM, DMARC and PTR records; messages signed by dkimpy (python3-dkim, an
independent implementation) arrive by smtplib; each stored message carries ONE
Authentication-Results field (RFC 8601) with spf (MAIL FROM and HELO), dkim,
dmarc, arc and iprev; a DMARC p=reject failure gets 550 5.7.1, p=quarantine lands
in the \\Junk mailbox (read back over IMAP), and a forged field claiming our
authserv-id is removed. A zone that never answers shows the deadline:
dns_timeout_seconds later the message is accepted with temperror results."""
import base64
import imaplib
import os
import re
import smtplib
import time

import pytest

from dns_server import dns_server  # noqa: F401  (pytest fixture)
from test_dkim_interop import dkim, need_dkimpy  # noqa: F401  (dkimpy, skip without it)
from test_smtp import DOMAIN, PASSWORD, inbox, provision, start_mail_server

try:
    import nacl.signing
except ImportError:  # pragma: no cover - need_dkimpy skips first
    nacl = None

ALICE = f"alice@{DOMAIN}"
HOSTNAME = "mail.example.test"  # the fixtures' server.hostname, our authserv-id
HELO = "client.sender.test"


def ed25519_key():
    seed = os.urandom(32)
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    return base64.b64encode(seed), "v=DKIM1; k=ed25519; p=" + base64.b64encode(public).decode()


def zones(dkim_record):
    """127.0.0.1 is client.sender.test (FCrDNS passes) and may send for sender.test
    and plain.test; strict.test and quar.test allow nobody. walk.test publishes only
    an organizational policy with np= (RFC 9989), and news.walk.test exists. The
    "test" and "org" zones are empty: the DMARC tree walk (RFC 9989 §4.10) asks
    _dmarc.test and _dmarc.org, which Knot must answer NXDOMAIN rather than REFUSED
    (a refusal is a temporary failure, and DMARC would end in temperror)."""
    return {
        "test": [],
        "org": [],
        "walk.test": ["_dmarc TXT \"v=DMARC1; p=none; sp=none; np=reject\"",
                      "news A 192.0.2.7"],
        "sender.test": ["@ TXT \"v=spf1 ip4:127.0.0.1 -all\"",
                        "client A 127.0.0.1",
                        "client TXT \"v=spf1 a -all\"",
                        f"ed._domainkey TXT \"{dkim_record}\"",
                        "_dmarc TXT \"v=DMARC1; p=reject\""],
        "plain.test": ["@ TXT \"v=spf1 ip4:127.0.0.1 -all\""],
        "strict.test": ["@ TXT \"v=spf1 ip4:192.0.2.1 -all\"",
                        "_dmarc TXT \"v=DMARC1; p=reject\""],
        "quar.test": ["@ TXT \"v=spf1 -all\"",
                      "_dmarc TXT \"v=DMARC1; p=quarantine\""],
        "127.in-addr.arpa": ["1.0.0 PTR client.sender.test."],
    }


def message(from_addr, subject, extra=b""):
    return extra + (f"From: {from_addr}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
                    f"Date: Fri, 27 Nov 2026 19:00:00 +0000\r\n"
                    f"Message-ID: <{subject}@sender.test>\r\n"
                    "\r\nHello Alice,\r\nthe figures are attached.\r\n").encode()


def sign(raw, seed):
    return dkim.sign(raw, b"ed", b"sender.test", seed,
                     signature_algorithm=b"ed25519-sha256") + raw


def send(port, mail_from, raw, rcpt=ALICE):
    with smtplib.SMTP("127.0.0.1", port, local_hostname=HELO, timeout=120) as client:
        return client.sendmail(mail_from, [rcpt], raw)


def auth_results(stored):
    """The Authentication-Results fields of the header, unfolded."""
    header = stored.split(b"\r\n\r\n", 1)[0]
    fields = re.findall(rb"^Authentication-Results:(.*?)(?=\r\n\S|\Z)", header, re.M | re.S)
    return [re.sub(rb"\r\n[ \t]+", b" ", f).decode().strip() for f in fields]


def server_with_dns(ternd_factory, dns, extra=""):
    config = f"""
[dns]
servers = ["127.0.0.1:{dns.port}"]
timeout_ms = 3000
{extra}"""
    return start_mail_server(ternd_factory, [("mx", "smtp", "none"), ("imap", "imap", "none")],
                             config)


@pytest.fixture
def world(ternd_factory, dns_server):  # noqa: F811
    seed, record = ed25519_key()
    dns = dns_server(zones(record))
    server, ports = server_with_dns(ternd_factory, dns)
    provision(server)
    return server, ports, seed


def test_pass_results_in_one_field_and_forged_fields_are_removed(world):
    server, ports, seed = world
    forged = (f"Authentication-Results: {HOSTNAME}; dkim=pass header.d=bank.example "
              "(forged)\r\nAuthentication-Results: relay.elsewhere.example; spf=pass\r\n").encode()
    raw = sign(message("Ann <ann@sender.test>", "pass"), seed)
    assert send(ports["mx"], "bounces@sender.test", forged + raw) == {}
    [stored] = inbox(server, ALICE)
    assert b"(forged)" not in stored, stored
    fields = auth_results(stored)
    ours = [f for f in fields if f.startswith(HOSTNAME + ";")]
    assert len(ours) == 1, fields
    assert "relay.elsewhere.example; spf=pass" in fields  # others' fields stay
    ar = ours[0]
    for part in ("spf=pass smtp.mailfrom=sender.test",
                 f"spf=pass smtp.helo={HELO}",
                 "dkim=pass header.d=sender.test header.s=ed header.a=ed25519-sha256 header.b=",
                 "dmarc=pass header.from=sender.test policy.dmarc=reject",
                 "arc=none smtp.remote-ip=127.0.0.1",
                 "iprev=pass policy.iprev=127.0.0.1"):
        assert part in ar, ar
    # header.b names the signature: the first 8 characters of its b= value.
    b_value = re.search(rb"\bb=([^;]+)", stored.split(b"DKIM-Signature:", 1)[1]).group(1)
    b_value = re.sub(rb"\s+", b"", b_value).decode()
    # A pvalue with a tspecial ("/" is one, and base64 has it) is a quoted-string
    # (RFC 8601 §2.2, RFC 2045 §5.1): about one signature in eight.
    b8 = b_value[:8]
    expected = f'"{b8}"' if "/" in b8 else b8
    assert re.search(rf"header\.b={re.escape(expected)}(?:[;\s]|$)", ar), (ar, b_value)
    # The field sits right under our Received: field.
    assert stored.startswith(b"Received: from ")
    assert re.match(rb"Received: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*Authentication-Results: "
                    + HOSTNAME.encode(), stored), stored[:400]


def test_fail_none_and_dmarc_reject(world):
    server, ports, seed = world
    # Signed, then changed in transit, from an address SPF refuses: everything
    # fails, and sender.test says p=reject.
    tampered = sign(message("ann@sender.test", "tampered"), seed).replace(b"figures", b"invoice")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(ports["mx"], "x@strict.test", tampered)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 "), refused.value.smtp_error
    assert b"DMARC policy of sender.test" in refused.value.smtp_error
    assert inbox(server, ALICE) == []

    # The same tampered message from an address SPF allows: SPF aligns, DMARC passes.
    assert send(ports["mx"], "ann@sender.test", tampered) == {}
    [stored] = inbox(server, ALICE)
    [ar] = [f for f in auth_results(stored) if f.startswith(HOSTNAME)]
    assert "dkim=fail" in ar and "header.d=sender.test" in ar, ar
    assert "spf=pass smtp.mailfrom=sender.test" in ar, ar
    assert "dmarc=pass header.from=sender.test" in ar, ar

    # Unsigned, no DMARC record: dkim=none, dmarc=none.
    assert send(ports["mx"], "news@plain.test", message("news@plain.test", "plain")) == {}
    [ar] = [f for f in auth_results(inbox(server, ALICE)[1]) if f.startswith(HOSTNAME)]
    assert "spf=pass smtp.mailfrom=plain.test" in ar, ar
    assert "dkim=none" in ar, ar
    assert "dmarc=none" in ar and "header.from=plain.test" in ar, ar
    assert "policy.dmarc" not in ar, ar


def test_quarantine_lands_in_junk(world):
    server, ports, _ = world
    assert send(ports["mx"], "x@quar.test", message("promo@quar.test", "quarantined")) == {}
    assert inbox(server, ALICE) == []
    imap = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30)
    try:
        imap.login(ALICE, PASSWORD)
        status, boxes = imap.list()
        assert status == "OK"
        junk = [b for b in boxes if b"\\Junk" in b]
        assert junk, boxes
        name = junk[0].rsplit(b" ", 1)[1].strip(b'"').decode()
        status, count = imap.select(name, readonly=True)
        assert status == "OK" and count == [b"1"], count
        status, data = imap.fetch("1", "(BODY.PEEK[HEADER])")
        header = data[0][1]
        assert b"Subject: quarantined" in header
        [ar] = [f for f in auth_results(header + b"\r\n") if f.startswith(HOSTNAME)]
        assert "spf=fail smtp.mailfrom=quar.test" in ar, ar
        assert "dmarc=fail header.from=quar.test policy.dmarc=quarantine" in ar, ar
        assert imap.select("INBOX", readonly=True)[1] == [b"0"]
    finally:
        imap.logout()


def test_tree_walk_finds_the_organizational_policy(world):
    """RFC 9989 §4.10: a subdomain without a record of its own inherits its
    organizational domain's policy, and relaxed alignment compares the
    organizational domains the walks find."""
    server, ports, seed = world
    # Signed by d=sender.test, From: news.sender.test, sent from an address SPF
    # refuses: the walk from news.sender.test finds sender.test's p=reject, and
    # the DKIM identifier's walk ends at the same organizational domain.
    signed = sign(message("ann@news.sender.test", "walked"), seed)
    assert send(ports["mx"], "x@strict.test", signed) == {}
    [stored] = inbox(server, ALICE)
    [ar] = [f for f in auth_results(stored) if f.startswith(HOSTNAME)]
    assert "dkim=pass header.d=sender.test" in ar, ar
    assert "dmarc=pass header.from=news.sender.test policy.dmarc=reject" in ar, ar

    # Unsigned from the same subdomain: the inherited p=reject rejects it.
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(ports["mx"], "x@strict.test", message("ann@news.sender.test", "inherited"))
    assert refused.value.smtp_code == 550
    assert b"DMARC policy of sender.test" in refused.value.smtp_error, refused.value.smtp_error

    # np=: ghost.walk.test does not exist (NXDOMAIN), news.walk.test does (sp=none).
    with pytest.raises(smtplib.SMTPDataError) as ghost:
        send(ports["mx"], "x@strict.test", message("ann@ghost.walk.test", "ghost"))
    assert ghost.value.smtp_code == 550
    assert b"DMARC policy of walk.test" in ghost.value.smtp_error, ghost.value.smtp_error
    assert send(ports["mx"], "x@strict.test", message("ann@news.walk.test", "existing")) == {}
    [_, existing] = inbox(server, ALICE)
    [ar] = [f for f in auth_results(existing) if f.startswith(HOSTNAME)]
    assert "dmarc=fail header.from=news.walk.test policy.dmarc=none" in ar, ar


def test_verify_inbound_off_adds_nothing_but_still_strips(ternd_factory, dns_server):  # noqa: F811
    _, record = ed25519_key()
    dns = dns_server(zones(record))
    server, ports = server_with_dns(ternd_factory, dns, "\n[mailauth]\nverify_inbound = false\n")
    provision(server)
    forged = f"Authentication-Results: {HOSTNAME}; dmarc=pass (forged)\r\n".encode()
    assert send(ports["mx"], "x@strict.test",
                forged + message("ann@sender.test", "unchecked")) == {}
    [stored] = inbox(server, ALICE)
    assert b"Authentication-Results" not in stored, stored


def test_deadline_gives_temperror_not_a_hang(ternd_factory, tmp_path):
    """A DNS server that never answers: one overall deadline, then temperror (and
    no reject: a DNS outage must not bounce mail)."""
    import socket
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        config = f"""
[dns]
servers = ["127.0.0.1:{port}"]
timeout_ms = 60000

[mailauth]
dns_timeout_seconds = 2
"""
        server, ports = start_mail_server(ternd_factory, [("mx", "smtp", "none")], config)
        provision(server)
        started = time.monotonic()
        assert send(ports["mx"], "x@strict.test", message("ann@sender.test", "slow")) == {}
        elapsed = time.monotonic() - started
        assert 1.5 <= elapsed < 30, elapsed
        [stored] = inbox(server, ALICE)
        [ar] = [f for f in auth_results(stored) if f.startswith(HOSTNAME)]
        # (unbound answers 127.0.0.1's PTR from its built-in localhost zone, so
        # iprev is the one method that does not wait.)
        assert re.search(r"spf=temperror [^;]*smtp\.mailfrom=strict\.test", ar), ar
        assert re.search(r"dmarc=temperror [^;]*header\.from=sender\.test", ar), ar
    finally:
        silent.close()
