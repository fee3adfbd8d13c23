# SPDX-License-Identifier: Apache-2.0
"""Outbound delivery to a full Postfix (issue #7): a private Postfix instance
(postfix_fixture.py) is the MX of pf.test, which Knot (dns_server.py) points at
127.0.0.11; tern's [outbound] mx_port is Postfix's smtpd port. Postfix delivers pf.test
with virtual(8) into Maildirs and rejects unknown users at RCPT (550 5.1.1); its own
bounces and DSNs for sender.test go back to the sending ternd's MX on 127.0.0.12.

Scenarios: STARTTLS delivery byte for byte with the envelope sender kept, a 5.1.1
bounce parsed as RFC 3464, a 450 deferral lifted by `postfix reload` (delivered once),
8BITMIME/SMTPUTF8 delivered intact, downgraded to quoted-printable and refused with a
5.6.7 DSN, and NOTIFY=SUCCESS/ORCPT answered by Postfix's own success DSN.
"""
import shutil
import smtplib
import time
from pathlib import Path

import pytest

from conftest import make_certificate
from dns_server import dns_server  # noqa: F401,F811  (pytest fixture)
from postfix_fixture import Postfix, postfix_root, require_postfix
from test_outbound import (SENDER_IP, Site, delivery_status, free_port_on, listener,
                           outbound_section, parse, queue_section, wait_until)
from test_smtp import PASSWORD
from test_submission import tls_context

POSTFIX_IP = "127.0.0.11"
SENDER_MX_IP = "127.0.0.12"
NOBODY = 65534  # virtual(8) delivers as this uid/gid (static:65534 below)

MAILBOXES = {"bob@pf.test": "pf.test/bob/", "later@pf.test": "pf.test/later/",
             "jörg@pf.test": "pf.test/joerg/"}

ROUTING = """
mydestination =
virtual_mailbox_domains = pf.test
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/conf/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{uid}
virtual_minimum_uid = 100
smtputf8_enable = yes
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_recipient_restrictions = check_recipient_access texthash:{root}/conf/access,
    permit_mynetworks, reject_unauth_destination
transport_maps = texthash:{root}/conf/transport
"""


class PostfixMx(Postfix):
    """Postfix as mx.pf.test, with virtual(8) Maildirs and a recipient access map."""

    def __init__(self, root: Path, port, sender_mx_port):
        cert, key = make_certificate(root / "tls", cn="mx.pf.test")
        super().__init__(root / "postfix", ROUTING.format(root=root / "postfix", uid=NOBODY,
                                                          cert=cert, key=key),
                         address=POSTFIX_IP, port=port, hostname="mx.pf.test")
        mail = self.root / "mail"
        mail.mkdir()
        shutil.chown(mail, NOBODY, NOBODY)
        (self.conf / "vmailbox").write_text(
            "".join(f"{address} {path}\n" for address, path in MAILBOXES.items()))
        (self.conf / "transport").write_text(f"sender.test smtp:[{SENDER_MX_IP}]:{sender_mx_port}\n")
        self.set_access("")

    def set_access(self, lines):
        (self.conf / "access").write_text(lines)

    def maildir(self, address):
        """The messages delivered to `address`, oldest first (Maildir new/)."""
        new = self.root / "mail" / MAILBOXES[address] / "new"
        if not new.exists():
            return []
        files = sorted(new.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.read_bytes() for p in files]


@pytest.fixture
def world(tmp_path, dns_server):
    require_postfix()
    mx_port = free_port_on([POSTFIX_IP, SENDER_MX_IP])
    dns = dns_server({
        "pf.test": ["@ MX 10 mx", f"mx A {POSTFIX_IP}"],
        "sender.test": ["@ MX 10 mx", f"mx A {SENDER_MX_IP}"],
    })
    root = postfix_root()
    postfix = PostfixMx(root, mx_port, mx_port)
    sites = []

    def sender():
        s = Site(tmp_path, "sender", "mail.sender.test",
                 listener("submission", "submission", f"{SENDER_IP}:0", "starttls") +
                 listener("mx", "smtp", f"{SENDER_MX_IP}:{mx_port}"),
                 queue_section() + outbound_section(dns.port, mx_port))
        s.add_user("alice@sender.test")
        sites.append(s)
        s.start()
        s.port("mx")
        return s

    try:
        postfix.start()
        yield type("World", (), dict(postfix=postfix, sender=staticmethod(sender)))
    finally:
        for s in sites:
            s.stop()
        postfix.stop()
        shutil.rmtree(root, ignore_errors=True)


def message(subject, to="bob@pf.test", headers=b"", body=None):
    body = body if body is not None else f"body of {subject}\r\n".encode()
    return (f"From: alice@sender.test\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Fri, 27 Nov 2026 12:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@sender.test>\r\n"
            ).encode() + headers + b"\r\n" + body


def submit(site, recipients, raw, mail_options=(), rcpt_options=()):
    """Submits raw bytes as alice over STARTTLS + AUTH (smtplib would re-encode a str)."""
    with smtplib.SMTP(SENDER_IP, site.port("submission"), timeout=30) as client:
        client.starttls(context=tls_context())
        client.login("alice@sender.test", PASSWORD)
        refused = client.sendmail("alice@sender.test", recipients, raw,
                                  mail_options=list(mail_options), rcpt_options=list(rcpt_options))
        assert not refused


def split_postfix_prefix(delivered):
    """(Return-Path value, Postfix's Received: field, the rest) of a Maildir file.
    virtual(8) prepends Return-Path:, X-Original-To: and Delivered-To:, smtpd its
    Received:."""
    lines = delivered.split(b"\n")
    assert lines[0].startswith(b"Return-Path: "), delivered[:300]
    assert lines[1].startswith(b"X-Original-To: "), delivered[:300]
    assert lines[2].startswith(b"Delivered-To: "), delivered[:300]
    assert lines[3].startswith(b"Received: from "), delivered[:300]
    end = 4
    while lines[end][:1] in (b" ", b"\t"):
        end += 1
    return lines[0][len(b"Return-Path: "):], b"\n".join(lines[3:end]), b"\n".join(lines[end:])


def assert_relayed_intact(rest, submitted):
    """What tern sent is the submitted message behind tern's own trace fields, unchanged
    (Maildir stores LF line ends)."""
    original = submitted.replace(b"\r\n", b"\n")
    assert rest.endswith(original), rest
    trace = rest[:-len(original)]
    assert trace.startswith(b"Received: from ") and b"by mail.sender.test" in trace, trace


def test_starttls_delivery_into_postfix_maildir_byte_for_byte(world):
    a = world.sender()
    raw = message("to postfix", body=b"line one\r\n.leading dot\r\n\r\nlast line\r\n")
    submit(a, ["bob@pf.test"], raw)
    [delivered] = wait_until(lambda: world.postfix.maildir("bob@pf.test"),
                             what="delivery into Postfix's Maildir", site=a)
    return_path, received, rest = split_postfix_prefix(delivered)
    assert return_path == b"<alice@sender.test>"
    # Postfix's Received: names tern's EHLO host and the TLS session it negotiated.
    assert b"from mail.sender.test" in received, received
    assert b"by mx.pf.test (Postfix) with ESMTPS" in received, received
    assert b"(using TLSv1." in received, received
    assert_relayed_intact(rest, raw)
    log = world.postfix.log()
    assert "TLS connection established from" in log, log
    assert "from=<alice@sender.test>" in log and "status=sent (delivered to maildir)" in log, log
    wait_until(lambda: "queue is empty" in a.queue(), what="an empty queue", site=a)


def test_unknown_recipient_bounces_with_postfix_reply_in_the_dsn(world):
    a = world.sender()
    submit(a, ["nobody@pf.test"], message("to nobody", to="nobody@pf.test"))
    got = wait_until(lambda: a.inbox("alice@sender.test"), what="the bounce", site=a)
    assert len(got) == 1
    report, recipients = delivery_status(got[0])
    assert report["From"].addresses[0].addr_spec == "MAILER-DAEMON@mail.sender.test"
    [rcpt] = recipients
    assert rcpt["Final-Recipient"].lower() == "rfc822; nobody@pf.test"
    assert rcpt["Action"] == "failed"
    assert rcpt["Status"] == "5.1.1"
    assert rcpt["Remote-MTA"] == "dns; mx.pf.test"
    # Postfix's own words, as smtpd logged them in its reject line.
    diagnostic = " ".join(rcpt["Diagnostic-Code"].split())
    assert diagnostic.startswith("smtp; 550 5.1.1 <nobody@pf.test>: Recipient address rejected"), diagnostic
    assert "User unknown in virtual mailbox table" in diagnostic
    assert "Recipient address rejected: User unknown in virtual mailbox table" in world.postfix.log()
    assert world.postfix.maildir("bob@pf.test") == []
    assert "queue is empty" in a.queue()


def test_deferral_then_acceptance_after_reload_delivers_once(world):
    world.postfix.set_access("later@pf.test 450 4.2.0 not yet, try later\n")
    world.postfix.reload()
    a = world.sender()
    raw = message("retried", to="later@pf.test")
    submit(a, ["later@pf.test"], raw)
    wait_until(lambda: "(450 4.2.0 <later@pf.test>" in a.queue(), what="a deferral with Postfix's 450", site=a)
    assert world.postfix.maildir("later@pf.test") == []
    world.postfix.set_access("")
    world.postfix.reload()
    wait_until(lambda: "queue is empty" in a.queue(), timeout=90, what="delivery after retry",
               site=a)
    time.sleep(1)  # a duplicate would land by now: the queue entry is gone
    delivered = world.postfix.maildir("later@pf.test")
    assert len(delivered) == 1, delivered
    assert_relayed_intact(split_postfix_prefix(delivered[0])[2], raw)
    log = world.postfix.log()
    assert log.count("to=<later@pf.test>, relay=virtual") == 1, log
    assert "450 4.2.0 <later@pf.test>: Recipient address rejected: not yet" in log, log


UTF8_BODY = "Grüße aus Köln — ünïcödé\r\n".encode()
EIGHT_BIT = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" \
            b"Content-Transfer-Encoding: 8bit\r\n"


def test_8bitmime_and_smtputf8_intact_downgraded_and_refused(world):
    postfix = world.postfix
    a = world.sender()
    # 1. Postfix announces 8BITMIME and SMTPUTF8: both pass through untouched.
    raw = message("utf8 envelope", to="jörg@pf.test", headers=EIGHT_BIT, body=UTF8_BODY)
    submit(a, ["jörg@pf.test"], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    [delivered] = wait_until(lambda: postfix.maildir("jörg@pf.test"),
                             what="the SMTPUTF8 delivery", site=a)
    _, received, rest = split_postfix_prefix(delivered)
    assert b"with UTF8SMTPS" in received, received  # tern said MAIL FROM ... SMTPUTF8
    assert_relayed_intact(rest, raw)
    assert "to=<jörg@pf.test>" in postfix.log()

    # 2. Without 8BITMIME the body is re-encoded as quoted-printable (RFC 6152 §3).
    # A restart, not a reload: tern's cached session to the old smtpd must not
    # carry on with the old EHLO answer.
    postfix.set_main(smtpd_discard_ehlo_keywords="8bitmime", restart=True)
    raw = message("downgraded", headers=EIGHT_BIT, body=UTF8_BODY)
    submit(a, ["bob@pf.test"], raw, mail_options=["BODY=8BITMIME"])
    [delivered] = wait_until(lambda: postfix.maildir("bob@pf.test"),
                             what="the downgraded delivery", site=a)
    assert "discarding EHLO keywords: 8BITMIME" in postfix.log()
    rest = split_postfix_prefix(delivered)[2]
    assert all(byte < 0x80 for byte in rest), rest
    parsed = parse(rest)
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_payload(decode=True) == UTF8_BODY.replace(b"\r\n", b"\n")
    assert parsed["Subject"] == "downgraded"

    # 3. Without SMTPUTF8 a UTF-8 envelope cannot go: a 5.6.7 DSN (RFC 6531 §3.5).
    postfix.set_main(smtpd_discard_ehlo_keywords="smtputf8", restart=True)
    submit(a, ["jörg@pf.test"], message("no smtputf8", to="jörg@pf.test"),
           mail_options=["SMTPUTF8"])
    got = wait_until(lambda: a.inbox("alice@sender.test"), what="the 5.6.7 DSN", site=a)
    # A UTF-8 address is reported in message/global-delivery-status (RFC 6533 §6).
    report = parse(got[0])
    assert report.get_content_type() == "multipart/report"
    status = list(report.iter_parts())[1]
    assert status.get_content_type() == "message/global-delivery-status"
    fields = got[0].decode("utf-8").split("message/global-delivery-status", 1)[1]
    assert "Final-Recipient: utf-8; jörg@pf.test" in fields, fields
    assert "Action: failed" in fields and "Status: 5.6.7" in fields, fields
    assert len(postfix.maildir("jörg@pf.test")) == 1  # only the first message
    assert "queue is empty" in a.queue()


def test_dsn_parameters_reach_postfix_and_its_success_dsn_returns(world):
    a = world.sender()
    raw = message("please confirm")
    submit(a, ["bob@pf.test"], raw, mail_options=["RET=HDRS", "ENVID=confirm-1"],
           rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob-original@pf.test"])
    wait_until(lambda: world.postfix.maildir("bob@pf.test"), what="delivery", site=a)
    # Postfix's bounce daemon sends "delivered" to alice through tern's MX.
    wait_until(lambda: "sender delivery status notification" in world.postfix.log(),
               what="Postfix's success notification", site=a)
    got = wait_until(lambda: a.inbox("alice@sender.test"), timeout=90,
                     what="Postfix's success DSN at alice", site=a)
    time.sleep(2)  # tern's own "relayed" notice, were it wrongly sent, lands by now
    got = a.inbox("alice@sender.test")
    assert len(got) == 1, got
    report, recipients = delivery_status(got[0])
    assert report["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.pf.test"
    [rcpt] = recipients
    assert rcpt["Action"] == "delivered"
    assert rcpt["Status"].startswith("2.")
    assert rcpt["Final-Recipient"].lower() == "rfc822; bob@pf.test"
    assert rcpt["Original-Recipient"].lower().replace(" ", "") == "rfc822;bob-original@pf.test"
    per_message = list(report.iter_parts())[1].get_payload()[0]
    assert per_message["Original-Envelope-Id"] == "confirm-1"
    assert per_message["Reporting-MTA"] == "dns; mx.pf.test"
    # RET=HDRS: Postfix returned the headers only.
    returned = list(report.iter_parts())[2]
    assert returned.get_content_type() == "text/rfc822-headers"
    assert "Subject: please confirm" in returned.get_content()
    assert "body of please confirm" not in got[0].decode(errors="replace")
    assert "queue is empty" in a.queue()
