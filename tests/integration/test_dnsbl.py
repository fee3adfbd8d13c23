# SPDX-License-Identifier: Apache-2.0
"""[dnsbl] against a live ternd and a real DNS server (Knot, dns_server.py) serving
the lists: the MX refuses every RCPT of a listed client with Postfix's
reject_rbl_client reply (the list's TXT reason included), weights add up to the threshold and allowlists
subtract (postscreen_dnsbl_sites syntax), answer patterns filter, the lists'
error codes (127.255.255.x) and a list that does not answer never block, and
submission (an authenticated client) is not looked up. The client is
127.0.0.1, so the lists name 1.0.0.127 (RFC 5782 §2.1)."""
import smtplib

import pytest

from conftest import metric
from dns_server import dns_server  # noqa: F401  (pytest fixture)
from store_view import inbox
from test_smtp import DOMAIN, PASSWORD, Raw, start_filtering_server

ALICE = f"alice@{DOMAIN}"
CLIENT = "1.0.0.127"  # 127.0.0.1 reversed

ZONES = {
    "bl.test": [f"{CLIENT} A 127.0.0.2", "2.0.0.127 A 127.0.0.2",
                f'{CLIENT} TXT "Listed by bl.test, see " "https://bl.test/q?127.0.0.1"'],
    "weight.test": [f"{CLIENT} A 127.0.0.4"],
    "wl.test": [f"{CLIENT} A 127.0.10.2"],
    "err.test": [f"{CLIENT} A 127.255.255.254"],
    "clean.test": ["2.0.0.127 A 127.0.0.2"],
}


def start(ternd_factory, dns, sites, threshold=1, roles=(("mx", "smtp"),), restart=False):
    """A ternd using `dns`'s lists; `restart`: on the stopped previous one's data."""
    quoted = ", ".join(f'"{s}"' for s in sites)
    extra = (f'\n[dns]\nservers = ["127.0.0.1:{dns.port}"]\ntimeout_ms = 2000\n'
             f"[dnsbl]\nsites = [{quoted}]\nthreshold = {threshold}\n")
    return start_filtering_server(ternd_factory, roles, extra, restart)


@pytest.fixture
def dns(dns_server):  # noqa: F811
    return dns_server(ZONES)


def rcpt_reply(port):
    c = Raw(port)
    c.reply()
    c.send("EHLO client.example\r\n")
    c.reply()
    c.send(f"MAIL FROM:<carol@remote.example>\r\nRCPT TO:<{ALICE}>\r\n")
    mail = c.reply()
    rcpt = c.reply()
    c.send("QUIT\r\n")
    assert mail[0] == 250
    return rcpt


def delivered(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail("carol@remote.example", [ALICE],
                               f"From: carol@remote.example\r\nTo: {ALICE}\r\nSubject: hi\r\n\r\n"
                               "hello\r\n".encode()) == {}


def clients(ports, result):
    return metric(ports["http"], "tern_dnsbl_clients_total", role="smtp", result=result)


def test_a_listed_client_is_refused_at_every_rcpt(ternd_factory, dns):
    server, ports = start(ternd_factory, dns, ["bl.test", "clean.test"])
    # With the list's own reason (its TXT record), as Postfix's $rbl_reason.
    assert rcpt_reply(ports["mx"]) == (
        554, ["5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test; "
              "Listed by bl.test, see https://bl.test/q?127.0.0.1"])
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        delivered(ports["mx"])
    assert inbox(server, ALICE) == []
    assert clients(ports, "listed") == 2 and clients(ports, "clean") == 0
    server.wait_for_log("dnsbl: client listed")


def test_weights_thresholds_and_allowlists(ternd_factory, dns):
    # 2 + 1 reaches 3; an allowlist's -2 brings it under.
    server, ports = start(ternd_factory, dns, ["bl.test*2", "weight.test"], threshold=3)
    assert rcpt_reply(ports["mx"])[0] == 554
    server.stop()
    server, ports = start(ternd_factory, dns,
                          ["bl.test*2", "weight.test", "wl.test=127.0.[0..255].[1..3]*-2"],
                          threshold=3, restart=True)
    assert delivered(ports["mx"])
    assert clients(ports, "clean") == 1


def test_patterns_error_codes_and_silent_lists_never_block(ternd_factory, dns):
    # weight.test answers 127.0.0.4, outside the pattern; err.test answers
    # Spamhaus's "query refused" code; unknown.invalid has no server at all.
    server, ports = start(ternd_factory, dns,
                          ["weight.test=127.0.0.[2..3]", "err.test", "unknown.invalid"])
    assert delivered(ports["mx"])
    assert len(inbox(server, ALICE)) == 1


def test_submission_is_not_looked_up(ternd_factory, dns):
    server, ports = start(ternd_factory, dns, ["bl.test"],
                          roles=(("mx", "smtp"), ("submission", "submission")))
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30) as client:
        client.login(ALICE, PASSWORD)
        assert client.sendmail(ALICE, [ALICE], f"From: {ALICE}\r\nSubject: self\r\n\r\nx\r\n"
                               .encode()) == {}
    assert len(inbox(server, ALICE)) == 1
    assert rcpt_reply(ports["mx"])[0] == 554


def test_trusted_networks_are_not_looked_up(ternd_factory, dns):
    quoted = '"bl.test"'
    extra = (f'\n[dns]\nservers = ["127.0.0.1:{dns.port}"]\ntimeout_ms = 2000\n'
             f"[dnsbl]\nsites = [{quoted}]\n[smtp]\ntrusted_networks = [\"127.0.0.1\"]\n")
    server, ports = start_filtering_server(ternd_factory, (("mx", "smtp"),), extra)
    assert delivered(ports["mx"])
    assert clients(ports, "listed") == 0 and clients(ports, "clean") == 0
