# SPDX-License-Identifier: Apache-2.0
"""The DNS fixture of the outbound tests answers what it was given (dns_server.py)."""
from dns_server import dns_server  # noqa: F401  (pytest fixture)


def test_serves_mx_a_aaaa_and_null_mx(dns_server):
    dns = dns_server({
        "example.test": ["@ MX 10 mx1", "@ MX 20 mx2", "mx1 A 127.0.0.2", "mx2 A 127.0.0.3",
                         "mx2 AAAA ::1"],
        "nullmx.test": ["@ MX 0 ."],
    })
    assert sorted(dns.query("example.test", "MX")) == ["10 mx1.example.test.", "20 mx2.example.test."]
    assert dns.query("mx1.example.test", "A") == ["127.0.0.2"]
    assert dns.query("mx2.example.test", "AAAA") == ["::1"]
    assert dns.query("nullmx.test", "MX") == ["0 ."]
    assert dns.query("absent.example.test", "A") == []


def test_set_zone_changes_answers_while_running(dns_server):
    dns = dns_server({"example.test": ["mx A 127.0.0.2"]})
    assert dns.query("mx.example.test", "A") == ["127.0.0.2"]
    dns.set_zone("example.test", ["mx A 127.0.0.4"])
    assert dns.query("mx.example.test", "A") == ["127.0.0.4"]
    dns.set_zone("other.test", ["@ MX 5 mx.example.test."])
    assert dns.query("other.test", "MX") == ["5 mx.example.test."]
