# SPDX-License-Identifier: Apache-2.0
"""A local authoritative DNS server for whole-server tests: Knot DNS (Debian's `knot`)
on 127.0.0.1:<free port> serving the zones a test gives it.

Usage (as a pytest fixture, see `dns_server` below):

    def test_mx(dns_server):
        dns = dns_server({
            "example.test": ["@ MX 10 mx1", "@ MX 20 mx2", "mx1 A 127.0.0.2", "mx2 A 127.0.0.3"],
        })
        dns.port  # UDP and TCP on 127.0.0.1
        dns.query("example.test", "MX")  # -> ["10 mx1.example.test.", ...] via kdig

Records are zone-file lines relative to the zone origin ("@ MX 0 ." is a null MX,
RFC 7505). SOA and NS records are added when absent. `set_zone()` replaces a zone's
records and reloads it while the server runs (the serial is bumped), so a test can
change the answers between delivery attempts.

Knot is used rather than nsd or unbound-with-local-zones because it can sign zones
(DNSSEC, for the DANE tests of issue #8) with the same configuration style.
"""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from processes import stop_process

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"
KDIG = shutil.which("kdig") or "/usr/bin/kdig"


def knot_available():
    return os.access(KNOTD, os.X_OK) and os.access(KNOTC, os.X_OK)


def free_udp_tcp_port(host="127.0.0.1"):
    """A port free for both TCP and UDP on `host` (a DNS server needs both)."""
    for _ in range(100):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((host, 0))
        port = tcp.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((host, port))
        except OSError:
            tcp.close()
            udp.close()
            continue
        tcp.close()
        udp.close()
        return port
    raise RuntimeError("no port free for both TCP and UDP")


def _has_type(records, rrtype):
    for line in records:
        fields = line.split()
        upper = [f.upper() for f in fields[:4]]
        if fields and fields[0] in ("@", "") and rrtype in upper:
            return True
    return False


class DnsServer:
    """One knotd process serving `zones` ({origin: [zone-file lines]})."""

    def __init__(self, directory: Path, zones: dict, host="127.0.0.1", port=None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_udp_tcp_port(host)
        self.zones = {}
        self.serials = {}
        self.socket_path = self.directory / "knot.sock"
        self.log_path = self.directory / "knotd.log"
        for origin, records in zones.items():
            self._write_zone(origin, records)
        self._write_config()
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([KNOTD, "-c", str(self.directory / "knot.conf")],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

    # -- zone files -------------------------------------------------------------------
    def _zone_path(self, origin):
        return self.directory / f"{origin.rstrip('.')}.zone"

    def _write_zone(self, origin, records):
        origin = origin.rstrip(".").lower()
        serial = self.serials.get(origin, 0) + 1
        self.serials[origin] = serial
        self.zones[origin] = list(records)
        lines = [f"$ORIGIN {origin}.", "$TTL 60"]
        if not _has_type(records, "SOA"):
            lines.append(f"@ SOA ns.{origin}. hostmaster.{origin}. {serial} 60 60 3600 60")
        if not _has_type(records, "NS"):
            lines.append(f"@ NS ns.{origin}.")
            lines.append(f"ns A {self.host}")
        lines.extend(records)
        self._zone_path(origin).write_text("\n".join(lines) + "\n")

    def _write_config(self):
        zone_entries = "\n".join(
            f'  - domain: "{origin}."\n    file: "{self._zone_path(origin)}"' for origin in self.zones)
        (self.directory / "knot.conf").write_text(f"""
server:
    rundir: "{self.directory}"
    listen: {self.host}@{self.port}

control:
    listen: "{self.socket_path}"

log:
  - target: stdout
    any: info

database:
    storage: "{self.directory / 'db'}"

template:
  - id: default
    storage: "{self.directory}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none

zone:
{zone_entries}
""")

    # -- lifecycle --------------------------------------------------------------------
    def _wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        origins = list(self.zones)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"knotd exited ({self.proc.returncode}):\n{self.log()}")
            if all(self.query(o, "SOA") for o in origins):
                return
            time.sleep(0.05)
        raise RuntimeError(f"knotd did not serve {origins} within {timeout}s:\n{self.log()}")

    def log(self):
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def query(self, name, rrtype="A"):
        """The answer section's RDATA strings for `name`/`rrtype` (kdig, short form)."""
        result = subprocess.run(
            [KDIG, f"@{self.host}", "-p", str(self.port), "+short", "+timeout=1", "+retry=0",
             name, rrtype], capture_output=True, text=True, timeout=10)
        if result.returncode != 0:
            return []
        return [line for line in result.stdout.splitlines() if line and not line.startswith(";")]

    def set_zone(self, origin, records):
        """Replaces (or adds) a zone and makes knotd serve the new records."""
        origin = origin.rstrip(".").lower()
        known = origin in self.zones
        self._write_zone(origin, records)
        if known:
            self._knotc("zone-reload", f"{origin}.")
        else:
            self._write_config()
            self._knotc("reload")
        serial = self.serials[origin]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            soa = self.query(origin, "SOA")
            if soa and soa[0].split()[2] == str(serial):
                return
            time.sleep(0.05)
        raise RuntimeError(f"knotd did not load serial {serial} of {origin}:\n{self.log()}")

    def _knotc(self, *args):
        subprocess.run([KNOTC, "-s", str(self.socket_path), *args], check=True,
                       capture_output=True, timeout=10)

    def stop(self):
        stop_process(self.proc)
        self._log.close()


@pytest.fixture
def dns_server(tmp_path):
    """A factory: dns_server({origin: [records]}) starts knotd and returns a DnsServer.
    Skips when knot is not installed, except under CI=true where that is a failure."""
    started = []

    def start(zones, name="dns"):
        if not knot_available():
            message = "knotd/knotc not installed (scripts/install-deps installs knot)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        server = DnsServer(tmp_path / name, zones)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
