# SPDX-License-Identifier: Apache-2.0
"""ARC sealing when tern forwards (RFC 8617 §5.1, issue #8): a message signed by
dkimpy reaches the MX for an alias whose destination is remote; the copy tern
forwards through its queue to Postfix's smtp-sink carries an ARC Set (AAR with our
Authentication-Results, AMS, AS) sealed with the example.org [[dkim]] key, and
dkimpy's ARC verifier (python3-dkim, an independent implementation) accepts the
chain. A message that arrives already sealed (dkimpy as the first sealer) leaves
with the chain extended by i=2, cv=pass."""
import re

import pytest

from dns_server import dns_server  # noqa: F401  (pytest fixture)
from postfix_fixture import free_port
from test_dkim_interop import dkim, need_dkimpy  # noqa: F401  (dkimpy, skip without it)
from test_mailauth_inbound import HELO, HOSTNAME, ed25519_key, message, send, sign
from test_mailauth_inbound import zones as sender_zones
from test_mailauth_signing import dkim_entries, keygen
from test_outbound import SmtpSink, wait_until
from test_smtp import DOMAIN, provision, start_mail_server


def strip_sink_fields(dumped):
    """smtp-sink -d writes its own X-Client-*/X-*-Args lines above the message."""
    lines = dumped.replace(b"\r\n", b"\n").split(b"\n")
    while lines and re.match(rb"X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):",
                             lines[0]):
        lines.pop(0)
    return b"\r\n".join(lines)


def txt(name, text):
    """A zone-file TXT line, split into 255-octet character-strings."""
    return f"{name} TXT " + " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))


@pytest.fixture
def forwarding(ternd_factory, dns_server, tmp_path):  # noqa: F811
    seed, sender_record = ed25519_key()
    keys = tmp_path / "keys"
    keys.mkdir()
    arc_key, arc_record = keygen(keys, "arc", "rsa")
    # A mailing list's sealing key (ARC is rsa-sha256 only, RFC 8617 §4.1.3).
    list_key, list_record = keygen(keys, "list", "rsa")
    all_zones = sender_zones(sender_record)
    all_zones[DOMAIN] = [txt("arc._domainkey", arc_record), txt("list._domainkey", list_record)]
    dns = dns_server(all_zones)
    sink_port = free_port()
    sink = SmtpSink(f"127.0.0.1:{sink_port}")
    config = f"""
[dns]
servers = ["127.0.0.1:{dns.port}"]
timeout_ms = 3000

[queue]
retry_schedule_seconds = "1"
poll_interval_ms = 100

[[transport]]
domain = "remote.test"
route = "smtp:[127.0.0.1]:{sink_port}"
""" + dkim_entries([(DOMAIN, "arc", arc_key, True)])
    server, ports = start_mail_server(ternd_factory, [("mx", "smtp", "none")], config)
    provision(server, aliases=[(f"info@{DOMAIN}", "carol@remote.test")])
    records = {f"arc._domainkey.{DOMAIN}.": arc_record,
               f"list._domainkey.{DOMAIN}.": list_record,
               "ed._domainkey.sender.test.": sender_record}

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return records.get(name if name.endswith(".") else name + ".", "").encode()

    yield ports, seed, sink, dnsfunc, list_key
    sink.close()


def forwarded_copy(sink):
    [dumped] = wait_until(sink.messages, what="the forwarded copy at the sink")
    return strip_sink_fields(dumped)


def test_forwarded_copy_is_arc_sealed_and_dkimpy_verifies_it(forwarding):
    ports, seed, sink, dnsfunc, _ = forwarding
    raw = sign(message("Ann <ann@sender.test>", "forwarded"), seed)
    assert send(ports["mx"], "ann@sender.test", raw, rcpt=f"info@{DOMAIN}") == {}
    forwarded = forwarded_copy(sink)
    # The sink's own Received: field comes first; then our ARC Set.
    # (tags in the sorted, unfolded form dkimpy and the ValiMail suite use)
    assert re.search(rb"\A(?:Received: .*?\r\n(?=\S))?ARC-Seal: a=rsa-sha256; b=[^;]+; cv=none; "
                     rb"d=example.org; i=1; s=arc;", forwarded, re.S), forwarded[:300]
    cv, results, comment = dkim.arc_verify(forwarded, dnsfunc=dnsfunc)
    assert cv == dkim.CV_Pass, (cv, results, comment, forwarded[:2000])
    # The AAR carries what the MX found, under our authserv-id.
    aar = re.search(rb"^ARC-Authentication-Results: (.*?)(?=\r\n\S)", forwarded, re.M | re.S)
    assert aar, forwarded[:1500]
    aar = re.sub(rb"\s+", b" ", aar.group(1)).decode()
    assert aar.startswith(f"i=1; {HOSTNAME};"), aar
    for part in ("spf=pass smtp.mailfrom=sender.test", f"spf=pass smtp.helo={HELO}",
                 "dkim=pass header.d=sender.test", "dmarc=pass header.from=sender.test"):
        assert part in aar, aar
    # The original DKIM signature still verifies at the next hop.
    assert dkim.verify(forwarded, dnsfunc=dnsfunc)
    # A changed copy breaks the seal: the check above can fail.
    cv, _, _ = dkim.arc_verify(forwarded.replace(b"figures", b"invoice"), dnsfunc=dnsfunc)
    assert cv == dkim.CV_Fail


def test_an_incoming_chain_is_extended_with_cv_pass(forwarding):
    ports, seed, sink, dnsfunc, list_key = forwarding
    first = (b"Authentication-Results: lists.example.org; dkim=pass header.d=sender.test\r\n"
             + sign(message("Ann <ann@sender.test>", "via-list"), seed))
    set_fields = dkim.arc_sign(first, b"list", DOMAIN.encode(), list_key.read_bytes(),
                               b"lists.example.org")
    sealed = b"".join(set_fields) + first
    assert dkim.arc_verify(sealed, dnsfunc=dnsfunc)[0] == dkim.CV_Pass
    assert send(ports["mx"], "ann@sender.test", sealed, rcpt=f"info@{DOMAIN}") == {}
    forwarded = forwarded_copy(sink)
    assert re.search(rb"\A(?:Received: .*?\r\n(?=\S))?ARC-Seal: a=rsa-sha256; b=[^;]+; cv=pass; "
                     rb"d=example.org; i=2; s=arc;", forwarded, re.S), forwarded[:300]
    assert b"arc=pass" in forwarded.split(b"ARC-Seal: i=1", 1)[0], forwarded[:2000]
    cv, results, comment = dkim.arc_verify(forwarded, dnsfunc=dnsfunc)
    assert cv == dkim.CV_Pass, (cv, results, comment)
    assert len(results) == 2, results
