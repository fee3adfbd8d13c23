# SPDX-License-Identifier: Apache-2.0
"""ternd serves the MTA-STS policy of its domains (RFC 8461 §3.3) on the HTTP listener,
and `tern dns records` publishes an id that follows the policy."""
import http.client
import re

from conftest import tern_cli

MTA_STS = """
[mta_sts]
mode = "enforce"
mx = ["backup.example.net"]
max_age_seconds = 86400
"""


def fetch(port, host, method="GET"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, "/.well-known/mta-sts.txt", headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def policy_id(config):
    out = tern_cli(config, "dns", "records", "example.test").stdout
    return re.search(r'_mta-sts\.example\.test\. 3600 IN TXT "v=STSv1; id=(\w+)"', out).group(1)


def test_policy_for_a_local_domain_and_404_for_others(ternd_factory):
    server = ternd_factory(extra=MTA_STS)
    port = server.wait_listening("http")
    tern_cli(server.config, "domain", "add", "example.test")
    status, content_type, body = fetch(port, "mta-sts.example.test")
    assert status == 200
    assert content_type == "text/plain"
    assert body == (b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\n"
                    b"mx: backup.example.net\r\nmax_age: 86400\r\n")
    assert fetch(port, "MTA-STS.Example.Test:443")[0] == 200
    assert fetch(port, "mta-sts.other.test")[0] == 404
    assert fetch(port, "example.test")[0] == 404
    assert fetch(port, "mta-sts.example.test", method="DELETE")[0] == 405


def test_default_mode_is_testing_and_the_id_follows_the_policy(ternd_factory, tmp_path):
    server = ternd_factory(name="a.toml")
    port = server.wait_listening("http")
    tern_cli(server.config, "domain", "add", "example.test")
    status, _, body = fetch(port, "mta-sts.example.test")
    assert status == 200
    assert b"mode: testing\r\n" in body and b"max_age: 604800\r\n" in body
    testing_id = policy_id(server.config)
    assert testing_id == policy_id(server.config)  # stable while the policy is
    enforce = tmp_path / "b.toml"
    enforce.write_text(server.config.read_text() + MTA_STS)
    assert policy_id(enforce) != testing_id
