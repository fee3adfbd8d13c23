# SPDX-License-Identifier: Apache-2.0
"""`tern dns records` and `tern dns check` against a Knot zone (issue #8)."""
import re
import subprocess

import pytest

from conftest import TERN, base_config, make_certificate, tern_cli, write_config
from dns_server import dns_server  # noqa: F401  (pytest fixture)

LISTENERS = """
[[listener]]
name = "mx"
role = "smtp"
address = "127.0.0.1:25"
tls = "starttls"

[[listener]]
name = "submissions"
role = "submission"
address = "127.0.0.1:465"
tls = "implicit"

[[listener]]
name = "imaps"
role = "imap"
address = "127.0.0.1:993"
tls = "implicit"

[[listener]]
name = "web"
role = "http"
address = "127.0.0.1:443"
tls = "implicit"
"""


def make_config(tmp_path, dns_port):
    cert, key = make_certificate(tmp_path / "tls")
    data = tmp_path / "data"
    data.mkdir()
    dkim_key = tmp_path / "s1.pem"
    extra = f"""
[dns]
servers = ["127.0.0.1:{dns_port}"]
timeout_ms = 5000

[[dkim]]
domain = "example.test"
selector = "s1"
key = "{dkim_key}"
"""
    cfg = write_config(tmp_path / "tern.toml", base_config(data, cert, key, LISTENERS, extra))
    tern_cli(cfg, "dkim", "keygen", "--selector", "s1", "--domain", "example.test",
             "--out", str(dkim_key))
    tern_cli(cfg, "domain", "add", "example.test")
    return cfg


def zone_lines(records_output):
    return [line for line in records_output.splitlines() if line and not line.startswith(";")]


def check(cfg):
    return subprocess.run([str(TERN), "-c", str(cfg), "dns", "check", "example.test"],
                          text=True, capture_output=True, timeout=120)


def test_records_cover_every_kind_and_check_ok(tmp_path, dns_server):
    dns = dns_server({"example.test": []})
    cfg = make_config(tmp_path, dns.port)
    out = tern_cli(cfg, "dns", "records", "example.test").stdout
    assert "example.test. 3600 IN MX 10 mail.example.test." in out
    assert 'example.test. 3600 IN TXT "v=spf1 mx -all"' in out
    assert re.search(r'^s1\._domainkey\.example\.test\. 3600 IN TXT "v=DKIM1; k=rsa; p=[^"]{200,}" "',
                     out, re.M), out  # RSA-2048 needs two character-strings
    assert '_dmarc.example.test. 3600 IN TXT "v=DMARC1; p=quarantine; ' \
           'rua=mailto:dmarc-reports@example.test"' in out
    assert re.search(r'^_mta-sts\.example\.test\. 3600 IN TXT "v=STSv1; id=[0-9a-f]{32}"$', out, re.M)
    assert "mta-sts.example.test. 3600 IN CNAME mail.example.test." in out
    assert '_smtp._tls.example.test. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@example.test"' in out
    assert "_submissions._tcp.example.test. 3600 IN SRV 0 1 465 mail.example.test." in out
    assert "_imaps._tcp.example.test. 3600 IN SRV 0 1 993 mail.example.test." in out
    assert "_submission._tcp.example.test. 3600 IN SRV 0 0 0 ." in out
    assert re.search(r"^_25\._tcp\.mail\.example\.test\. 3600 IN TLSA 3 1 1 [0-9a-f]{64}$", out, re.M)

    dns.set_zone("example.test", zone_lines(out))
    result = check(cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(zone_lines(out))
    assert all(line.startswith("ok ") for line in lines), result.stdout


def test_check_reports_wrong_spf_and_missing_dkim(tmp_path, dns_server):
    dns = dns_server({"example.test": []})
    cfg = make_config(tmp_path, dns.port)
    records = zone_lines(tern_cli(cfg, "dns", "records", "example.test").stdout)
    served = []
    for line in records:
        if line.startswith("s1._domainkey."):
            continue
        if "v=spf1" in line:
            line = 'example.test. 3600 IN TXT "v=spf1 a ~all"'
        served.append(line)
    served.append('example.test. 3600 IN TXT "google-site-verification=x"')
    dns.set_zone("example.test", served)
    result = check(cfg)
    assert result.returncode == 1, result.stdout + result.stderr
    problems = [line for line in result.stdout.splitlines()
                if line and not line.startswith(("ok ", " "))]
    assert problems == ["different  example.test. TXT", "missing    s1._domainkey.example.test. TXT"], \
        result.stdout
    assert "expected: v=spf1 mx -all" in result.stdout
    assert "found:    v=spf1 a ~all" in result.stdout
    assert "google-site-verification" not in result.stdout


def test_records_refuse_a_domain_that_is_not_local(tmp_path, dns_server):
    dns = dns_server({"example.test": []})
    cfg = make_config(tmp_path, dns.port)
    result = tern_cli(cfg, "dns", "records", "other.test", check=False)
    assert result.returncode == 1
    assert "other.test is not a local domain" in result.stderr
    usage = tern_cli(cfg, "dns", "records", check=False)
    assert usage.returncode == 2
