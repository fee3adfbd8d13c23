# SPDX-License-Identifier: Apache-2.0
"""runtime::UnboundResolver against a real authoritative server: Knot serves the zones
below on 127.0.0.1:<free port>, and the gtest binary dns_resolver_test resolves them
through libunbound (TERN_TEST_DNS_SERVER turns its live tests on)."""
import os
import subprocess

import pytest

from conftest import BUILD_DIR
from dns_server import dns_server  # noqa: F401  (pytest fixture)

RESOLVER_TEST = BUILD_DIR / "src" / "runtime" / "dns_resolver_test"

ZONES = {
    "example.test": [
        "@ MX 10 mx1", "@ MX 20 mx2",
        "mx1 A 127.0.0.2", "mx1 AAAA ::1", "mx2 A 127.0.0.3",
        "www CNAME mx1",
        '@ TXT "v=spf1 " "-all"',
        "_25._tcp.mx1 TLSA 3 1 1 abcdef01",
    ],
    "null.test": ["@ MX 0 ."],
}


def test_unbound_resolver_live(dns_server):
    if not RESOLVER_TEST.exists():
        pytest.skip(f"{RESOLVER_TEST} not built")
    dns = dns_server(ZONES)
    env = dict(os.environ, TERN_TEST_DNS_SERVER=f"127.0.0.1:{dns.port}")
    result = subprocess.run([str(RESOLVER_TEST), "--gtest_filter=LiveUnbound.*"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr + dns.log()
    assert "SKIPPED" not in result.stdout
    assert "[  PASSED  ] 4 tests" in result.stdout
