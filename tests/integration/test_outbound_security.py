# SPDX-License-Identifier: Apache-2.0
"""Outbound transport security (issue #8) with real peers: Knot serves the MX, the
`_mta-sts` TXT records and (signed, for DANE) the TLSA records; an HTTPS server
(python http.server + ssl, certificate from a test CA) serves MTA-STS policies; a
second ternd with STARTTLS (certificate from the same CA for mx.sts.test) is the
receiving MX. The transport runs in delivery_live_test, which prints each outcome
and each TLS-RPT attempt (see test_outbound_transport.py)."""
import hashlib
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from dns_server import DnsServer, knot_available
from dns_server import dns_server  # noqa: F401  (pytest fixture)
from test_outbound_transport import LIVE_TEST, SMTP_SINK, free_port, inbox
from test_smtp import DOMAIN, provision, start_mail_server

MX_NAMES = ["mx.sts.test", "mx.dane.test", "mx.ta.test", "localhost"]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=tern test CA", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=directory)
    return directory / "ca.pem"


def issue(directory: Path, name: str, dns_names, ca_dir: Path):
    """A leaf certificate signed by the CA in ca_dir: (cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.ext").write_text(
        "subjectAltName=" + ",".join(f"DNS:{n}" for n in dns_names) + ",IP:127.0.0.1\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={dns_names[0]}", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
            cwd=directory)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca_dir / "ca.pem"), "-CAkey",
            str(ca_dir / "ca-key.pem"), "-CAcreateserial", "-days", "2", "-extfile",
            f"{name}.ext", "-out", f"{name}.pem", cwd=directory)
    return directory / f"{name}.pem", directory / f"{name}-key.pem"


def spki_sha256(cert: Path):
    """The TLSA 3 1 1 association data of a certificate, in hex."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


@pytest.fixture
def pki(tmp_path):
    ca_dir = tmp_path / "ca"
    ca = make_ca(ca_dir)
    return ca_dir, ca


@pytest.fixture
def certs(tmp_path, pki):
    """Overrides conftest's: the receiving ternd presents a CA-signed certificate for
    the MX names the zones below use, followed by the CA certificate (DANE-TA needs
    the trust anchor in the chain, RFC 7672 §3.1.2)."""
    ca_dir, ca = pki
    cert, key = issue(tmp_path / "tls", "mx", MX_NAMES, ca_dir)
    chain = tmp_path / "tls" / "mx-chain.pem"
    chain.write_text(cert.read_text() + ca.read_text())
    return chain, key


@pytest.fixture
def plain_mx():
    """Postfix's smtp-sink on 127.0.0.1: an MX without STARTTLS. Yields (port, dump
    directory of received messages)."""
    if not os.access(SMTP_SINK, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail("smtp-sink not installed")
        pytest.skip("smtp-sink not installed (scripts/install-deps installs postfix)")
    port = free_port()
    dump = Path(tempfile.mkdtemp(prefix="tern-sink-"))
    os.chmod(dump, 0o777)  # smtp-sink runs as nobody
    sink = subprocess.Popen([SMTP_SINK, "-u", "nobody", "-d", str(dump / "%M%S."),
                             f"127.0.0.1:{port}", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port, dump
    sink.terminate()
    sink.wait(10)
    shutil.rmtree(dump, ignore_errors=True)


@pytest.fixture
def receiver(ternd_factory):
    specs = [("smtp", "smtp", "starttls"), ("imap", "imap", "none")]
    server, ports = start_mail_server(ternd_factory, specs)
    provision(server)
    server.imap_port = ports["imap"]
    return server, ports


def self_signed(directory, names):
    """A self-signed certificate for `names` (not trusted by the transport)."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", f"/CN={names[0]}", "-addext",
            "subjectAltName=" + ",".join(f"DNS:{n}" for n in names),
            "-keyout", "key.pem", "-out", "cert.pem", cwd=directory)
    return directory / "cert.pem", directory / "key.pem"


class HttpsServer:
    """http.server over TLS on 127.0.0.1:<port>, serving `handler` on a thread."""

    def __init__(self, cert, key, handler):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class PolicyServer(HttpsServer):
    """HTTPS on 127.0.0.1:<port> serving /.well-known/mta-sts.txt per Host header."""

    def __init__(self, cert, key, policies, status=200, content_type="text/plain"):
        outer = self
        self.policies = policies
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                host = (self.headers.get("Host") or "").split(":")[0]
                outer.requests.append((host, self.path))
                body = outer.policies.get(host)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        super().__init__(cert, key, Handler)


@pytest.fixture
def policy_server(tmp_path, pki):
    ca_dir, _ = pki
    started = []

    def start(policies, names=None, ca=True, **kwargs):
        names = names or [f"mta-sts.{d}" for d in ("sts.test", "wrong.test", "plain.test")]
        if ca:
            cert, key = issue(tmp_path / "https", f"https{len(started)}", names, ca_dir)
        else:
            cert, key = self_signed(tmp_path / "https-self", names)
        server = PolicyServer(cert, key, policies, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def policy(mode, *mx, max_age=86400):
    return "version: STSv1\r\nmode: " + mode + "\r\n" + "".join(
        f"mx: {m}\r\n" for m in mx) + f"max_age: {max_age}\r\n"



ZONES = {
    "sts.test": ["@ MX 10 mx", "mx A 127.0.0.1", '_mta-sts TXT "v=STSv1; id=1"',
                 "mta-sts A 127.0.0.1"],
    # The MX name is not in the receiver's certificate.
    "wrong.test": ["@ MX 10 mail", "mail A 127.0.0.1", '_mta-sts TXT "v=STSv1; id=1"',
                   "mta-sts A 127.0.0.1"],
    "plain.test": ["@ MX 10 mx", "mx A 127.0.0.1", '_mta-sts TXT "v=STSv1; id=1"',
                   "mta-sts A 127.0.0.1"],
    "none.test": ["@ MX 10 mail", "mail A 127.0.0.1"],
}


def run(dns_port, mx_port, sts_port, ca, destination, cache_dir=None, extra="", timeout=120):
    """Delivers one message for alice@example.org via `destination`'s MX: (outcomes, tlsrpt
    lines as (policy_type, result, mx, detail))."""
    if not LIVE_TEST.exists():
        pytest.skip(f"{LIVE_TEST} not built")
    config = f"""
[server]
hostname = "client.origin.test"
[dns]
servers = ["127.0.0.1:{dns_port}"]
timeout_ms = 5000
{extra}
[outbound]
mx_port = {mx_port}
mta_sts_port = {sts_port}
ca_file = "{ca}"
connect_timeout_seconds = 5
command_timeout_seconds = 30
"""
    env = dict(os.environ, TERN_TEST_DELIVERY_CONFIG=config, TERN_TEST_DESTINATION=destination,
               TERN_TEST_RECIPIENTS=f"alice@{DOMAIN}", TERN_TEST_MESSAGES="1")
    if cache_dir:
        env["TERN_TEST_STS_CACHE_DIR"] = str(cache_dir)
    result = subprocess.run([str(LIVE_TEST)], env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIPPED" not in result.stdout
    outcomes, reports = [], []
    for line in result.stdout.splitlines():
        if line.startswith("OUTCOME "):
            head, _, reply = line.partition(" | ")
            _, _, _, status, enhanced, remote = head.split(" ", 5)
            outcomes.append((status, enhanced, remote, reply))
        elif line.startswith("TLSRPT "):
            head, _, detail = line.partition(" | ")
            _, policy_type, result_type, mx = head.split(" ", 3)
            reports.append((policy_type, result_type, mx, detail))
    return outcomes, reports


def test_sts_enforce_delivers_over_verified_tls_and_caches_the_policy(
        dns_server, receiver, plain_mx, policy_server, pki, tmp_path):
    server, ports = receiver
    _, ca = pki
    dns = dns_server(ZONES)
    https = policy_server({"mta-sts.sts.test": policy("enforce", "mx.sts.test")})
    cache = tmp_path / "sts-cache"
    outcomes, reports = run(dns.port, ports["smtp"], https.port, ca, "sts.test", cache)
    assert [o[:2] for o in outcomes] == [("delivered", "2.0.0")], outcomes
    assert reports == [("sts", "success", "mx.sts.test", "")], reports
    assert https.requests == [("mta-sts.sts.test", "/.well-known/mta-sts.txt")]
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1
    # The policy was kept; with the same TXT id the next delivery does not fetch it,
    # and it is still applied while the policy host is unreachable (RFC 8461 §5.1).
    assert "mode: enforce" in (cache / "sts.test").read_text()
    https.close()
    outcomes, reports = run(dns.port, plain_mx[0], https.port, ca, "sts.test", cache)
    assert [o[:2] for o in outcomes] == [("deferred", "4.7.4")], (outcomes, reports)
    assert reports == [("sts", "starttls-not-supported", "mx.sts.test", reports[0][3])]


def test_sts_enforce_blocks_plaintext_only_mx(dns_server, plain_mx, policy_server, pki):
    port, dump = plain_mx
    _, ca = pki
    dns = dns_server(ZONES)
    https = policy_server({"mta-sts.plain.test": policy("enforce", "mx.plain.test")})
    outcomes, reports = run(dns.port, port, https.port, ca, "plain.test")
    assert [o[:2] for o in outcomes] == [("deferred", "4.7.4")], outcomes
    assert [r[:3] for r in reports] == [("sts", "starttls-not-supported", "mx.plain.test")]
    assert list(dump.iterdir()) == []
    # Without a policy the same MX takes the message in plaintext.
    outcomes, reports = run(dns.port, port, https.port, ca, "none.test")
    assert [o[0] for o in outcomes] == ["delivered"], outcomes
    assert [r[:2] for r in reports] == [("no-policy-found", "starttls-not-supported")]


def test_sts_enforce_blocks_a_wrong_certificate_name(dns_server, receiver, policy_server, pki):
    server, ports = receiver
    _, ca = pki
    dns = dns_server(ZONES)
    https = policy_server({"mta-sts.wrong.test": policy("enforce", "mail.wrong.test")})
    outcomes, reports = run(dns.port, ports["smtp"], https.port, ca, "wrong.test")
    assert [o[:2] for o in outcomes] == [("deferred", "4.7.5")], outcomes
    assert "MTA-STS" in outcomes[0][3]
    assert [r[:3] for r in reports] == [("sts", "certificate-host-mismatch", "mail.wrong.test")]
    assert inbox(server, f"alice@{DOMAIN}") == []


def test_sts_enforce_skips_an_mx_outside_the_policy(dns_server, receiver, policy_server, pki):
    _, ports = receiver
    _, ca = pki
    dns = dns_server(ZONES)
    https = policy_server({"mta-sts.sts.test": policy("enforce", "*.elsewhere.test")})
    outcomes, reports = run(dns.port, ports["smtp"], https.port, ca, "sts.test")
    assert [o[:2] for o in outcomes] == [("deferred", "4.7.5")], outcomes
    assert [r[:3] for r in reports] == [("sts", "validation-failure", "mx.sts.test")]


def test_sts_testing_delivers_and_records_the_failure(dns_server, receiver, policy_server, pki):
    server, ports = receiver
    _, ca = pki
    dns = dns_server(ZONES)
    https = policy_server({"mta-sts.wrong.test": policy("testing", "mail.wrong.test")})
    outcomes, reports = run(dns.port, ports["smtp"], https.port, ca, "wrong.test")
    assert [o[0] for o in outcomes] == ["delivered"], outcomes
    assert [r[:3] for r in reports] == [("sts", "certificate-host-mismatch", "mail.wrong.test")]
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1


def test_policy_fetch_failures_are_reported_and_mail_flows(dns_server, plain_mx, policy_server,
                                                           pki):
    port, _ = plain_mx
    _, ca = pki
    dns = dns_server(ZONES)
    # The policy host's certificate is not from a trusted CA: sts-webpki-invalid, and
    # the domain is treated as having no policy (RFC 8461 §3.3).
    untrusted = policy_server({"mta-sts.plain.test": policy("enforce", "mx.plain.test")},
                              ca=False)
    outcomes, reports = run(dns.port, port, untrusted.port, ca, "plain.test")
    assert [o[0] for o in outcomes] == ["delivered"], outcomes
    assert reports[0][:2] == ("sts", "sts-webpki-invalid"), reports
    assert untrusted.requests == []  # nothing is asked of an unauthenticated host
    # A 404 is a fetch error; a policy served as text/html, or one that does not
    # parse, is invalid.
    enforce = {"mta-sts.plain.test": policy("enforce", "mx.plain.test")}
    for server, expected in (
            (policy_server({}), "sts-policy-fetch-error"),
            (policy_server(enforce, content_type="text/html"), "sts-policy-invalid"),
            (policy_server({"mta-sts.plain.test": "version: STSv1\r\nmode: strict\r\n"}),
             "sts-policy-invalid")):
        outcomes, reports = run(dns.port, port, server.port, ca, "plain.test")
        assert [o[0] for o in outcomes] == ["delivered"], outcomes
        assert reports[0][:2] == ("sts", expected), reports

# ----- DANE: Knot signs the zones, unbound validates from their keys as trust anchors


class SignedDnsServer(DnsServer):
    """DnsServer with every zone signed by Knot (ECDSA P-256, one combined key, NSEC)."""

    def _write_config(self):
        super()._write_config()
        (self.directory / "keys").mkdir(exist_ok=True)
        (self.directory / "db").mkdir(exist_ok=True)
        path = self.directory / "knot.conf"
        text = path.read_text()
        text = text.replace("database:\n",
                            f'database:\n    kasp-db: "{self.directory / "keys"}"\n')
        text = text.replace("template:\n  - id: default\n", """policy:
  - id: tern-test
    algorithm: ecdsap256sha256
    single-type-signing: on
    nsec3: off

template:
  - id: default
    dnssec-signing: on
    dnssec-policy: tern-test
""")
        path.write_text(text)

    def write_trust_anchors(self, path: Path):
        """Each zone's key-signing DNSKEY (flags 257) in zone-file form, what
        [dns] dnssec takes (a file like unbound-anchor's root.key)."""
        lines = []
        for origin in self.zones:
            for key in self.query(origin, "DNSKEY"):
                if key.startswith("257 "):
                    lines.append(f"{origin}. 3600 IN DNSKEY {key}")
        assert lines, self.log()
        path.write_text("\n".join(lines) + "\n")
        return path


@pytest.fixture
def signed_dns(tmp_path):
    started = []

    def start(zones):
        if not knot_available():
            message = "knotd/knotc not installed (scripts/install-deps installs knot)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        server = SignedDnsServer(tmp_path / "signed-dns", zones)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_dane_ee_match_delivers_and_mismatch_defers(signed_dns, receiver, pki, certs, tmp_path):
    server, ports = receiver
    _, ca = pki
    cert, _ = certs
    port = ports["smtp"]
    dns = signed_dns({
        "dane.test": ["@ MX 10 mx", "mx A 127.0.0.1",
                      f"_{port}._tcp.mx TLSA 3 1 1 {spki_sha256(cert)}"],
        "nodane.test": ["@ MX 10 mx", "mx A 127.0.0.1", f"_{port}._tcp.mx TLSA 3 1 1 {'ab' * 32}"],
    })
    anchors = dns.write_trust_anchors(tmp_path / "anchors.key")
    extra = f'dnssec = "{anchors}"'
    # The trust anchors make the answers secure: DANE applies, and the receiver's key
    # matches the TLSA record.
    outcomes, reports = run(dns.port, port, 443, ca, "dane.test", extra=extra)
    assert [o[:2] for o in outcomes] == [("delivered", "2.0.0")], (outcomes, dns.log())
    assert reports == [("tlsa", "success", "mx.dane.test", "")], reports
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1
    # A TLSA record the certificate does not match: deferred, never sent in plaintext.
    outcomes, reports = run(dns.port, port, 443, ca, "nodane.test", extra=extra)
    assert [o[:2] for o in outcomes] == [("deferred", "4.7.5")], outcomes
    assert "DANE" in outcomes[0][3]
    assert [r[:3] for r in reports] == [("tlsa", "validation-failure", "mx.nodane.test")]
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1
    # Without the trust anchors nothing is validated, so there is no DANE (RFC 7672
    # §2.2) and opportunistic TLS delivers.
    outcomes, reports = run(dns.port, port, 443, ca, "nodane.test")
    assert [o[0] for o in outcomes] == ["delivered"], outcomes
    assert [r[:2] for r in reports] == [("no-policy-found", "success")]


def cert_sha256(cert: Path):
    """The TLSA x 0 1 association data (the whole certificate) of a certificate, in hex."""
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def test_dane_follows_a_secure_cname_mx_host(signed_dns, receiver, pki, certs, tmp_path):
    """RFC 7672 §2.2.2: an MX host that is a CNAME, every step signed: TLSA records
    are looked up at the expanded name first, then at the original name; DANE-TA
    name checks accept the expanded name (§3.2.2)."""
    server, ports = receiver
    _, ca = pki
    cert, _ = certs
    port = ports["smtp"]
    good, bad = spki_sha256(cert), "ab" * 32
    dns = signed_dns({
        # TLSA only at the expanded name.
        "cname.test": ["@ MX 10 alias", "alias CNAME mx", "mx A 127.0.0.1",
                       f"_{port}._tcp.mx TLSA 3 1 1 {good}"],
        # At both names: the expanded name's record wins.
        "pref.test": ["@ MX 10 alias", "alias CNAME mx", "mx A 127.0.0.1",
                      f"_{port}._tcp.mx TLSA 3 1 1 {good}",
                      f"_{port}._tcp.alias TLSA 3 1 1 {bad}"],
        # Only at the original name, once matching and once not.
        "orig.test": ["@ MX 10 alias", "alias CNAME mx", "mx A 127.0.0.1",
                      f"_{port}._tcp.alias TLSA 3 1 1 {good}"],
        "origbad.test": ["@ MX 10 alias", "alias CNAME mx", "mx A 127.0.0.1",
                         f"_{port}._tcp.alias TLSA 3 1 1 {bad}"],
        # DANE-TA at the original name; the certificate names only the expanded one.
        "ta.test": ["@ MX 10 alias", "alias CNAME mx", "mx A 127.0.0.1",
                    f"_{port}._tcp.alias TLSA 2 0 1 {cert_sha256(ca)}"],
        # The alias is validated, its target (no trust anchor below) is not.
        "insec.test": ["@ MX 10 alias", "alias CNAME mx.target.test.",
                       f"_{port}._tcp.alias TLSA 3 1 1 {bad}"],
        "target.test": ["mx A 127.0.0.1", f"_{port}._tcp.mx TLSA 3 1 1 {good}"],
    })
    anchors = dns.write_trust_anchors(tmp_path / "anchors.key")
    anchors.write_text("".join(line for line in anchors.read_text().splitlines(keepends=True)
                               if not line.startswith("target.test.")))
    extra = f'dnssec = "{anchors}"'
    delivered = 0
    for destination in ("cname.test", "pref.test", "orig.test", "ta.test"):
        outcomes, reports = run(dns.port, port, 443, ca, destination, extra=extra)
        assert [o[:2] for o in outcomes] == [("delivered", "2.0.0")], (destination, outcomes,
                                                                       reports, dns.log())
        assert reports == [("tlsa", "success", f"alias.{destination}", "")], (destination,
                                                                             reports)
        delivered += 1
        assert len(inbox(server, f"alice@{DOMAIN}")) == delivered
    # The original name's record applies and does not match: deferred, no plaintext.
    outcomes, reports = run(dns.port, port, 443, ca, "origbad.test", extra=extra)
    assert [o[:2] for o in outcomes] == [("deferred", "4.7.5")], (outcomes, reports)
    assert [r[:3] for r in reports] == [("tlsa", "validation-failure", "alias.origbad.test")]
    assert len(inbox(server, f"alice@{DOMAIN}")) == delivered
    # An insecure step ends the expansion (§2.2.2 "Insecure CNAME"): the matching
    # record at the expanded name is not used, the original name's record is.
    outcomes, reports = run(dns.port, port, 443, ca, "insec.test", extra=extra)
    assert [o[:2] for o in outcomes] == [("deferred", "4.7.5")], (outcomes, reports)
    assert [r[:3] for r in reports] == [("tlsa", "validation-failure", "alias.insec.test")]
    # Unvalidated (no trust anchors), the chain is insecure: no DANE at all.
    outcomes, reports = run(dns.port, port, 443, ca, "origbad.test")
    assert [o[0] for o in outcomes] == ["delivered"], outcomes
    assert [r[:2] for r in reports] == [("no-policy-found", "success")]


# ----- the proactive MTA-STS refresh in ternd (RFC 8461 §3.3, §10.2)


def test_ternd_refreshes_cached_policies_without_a_delivery(dns_server, ternd_factory,
                                                            policy_server, pki, tmp_path):
    _, ca = pki
    zone = ["@ MX 10 mx", "mx A 127.0.0.1", "mta-sts A 127.0.0.1"]
    # A one-second TTL, so that the resolver's cache shows a changed record at once.
    dns = dns_server({"sts.test": zone + ['_mta-sts 1 TXT "v=STSv1; id=1"']})
    https = policy_server({"mta-sts.sts.test": policy("enforce", "mx.sts.test")})
    # A policy cached an hour ago by an earlier run, under id 1.
    cache = tmp_path / "data" / "mta-sts"
    cache.mkdir(parents=True)
    fetched = int(time.time()) - 3600
    (cache / "sts.test").write_text(f"id 1\nfetched {fetched}\n\n" +
                                    policy("testing", "mx.sts.test"))
    ternd = ternd_factory(extra=f"""
[dns]
servers = ["127.0.0.1:{dns.port}"]
timeout_ms = 5000

[outbound]
ca_file = "{ca}"
mta_sts_port = {https.port}
mta_sts_refresh_seconds = 1
""")
    ternd.wait_listening("http")

    def cached():
        text = (cache / "sts.test").read_text()
        head = dict(line.split(" ", 1) for line in text.split("\n\n", 1)[0].splitlines())
        return head["id"], int(head["fetched"]), text

    # The same id: the policy is confirmed without a fetch, its lifetime restarts.
    ternd.wait_for(lambda: cached()[1] > fetched, timeout=30, what="the policy extended")
    assert cached()[0] == "1" and "mode: testing" in cached()[2]
    assert https.requests == []
    # The domain publishes a new policy: a later pass fetches it, with no mail sent.
    dns.set_zone("sts.test", zone + ['_mta-sts 1 TXT "v=STSv1; id=2"'])
    ternd.wait_for(lambda: cached()[0] == "2", timeout=30, what="the new policy cached")
    assert "mode: enforce" in cached()[2]
    assert https.requests == [("mta-sts.sts.test", "/.well-known/mta-sts.txt")]
    ternd.wait_for_log(r"mta-sts policy refreshed")
    # The policy host goes away: the cached policy stays and operators are warned.
    https.close()
    dns.set_zone("sts.test", zone + ['_mta-sts 1 TXT "v=STSv1; id=3"'])
    ternd.wait_for_log(r"mta-sts policy refresh failed", timeout=30)
    assert cached()[0] == "2"
