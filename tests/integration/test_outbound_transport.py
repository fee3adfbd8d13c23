# SPDX-License-Identifier: Apache-2.0
"""services/delivery (SmtpTransport) with the real resolver against real peers: Knot
serves the MX/A records, a second ternd receives (MX with STARTTLS, submission with
AUTH as a smarthost, LMTP), and Postfix's smtp-sink takes a batch over one reused
connection. The transport is driven by the gtest binary delivery_live_test (see its
header); each test checks the outcomes it prints and what the receiver stored."""
import imaplib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD_DIR
from dns_server import dns_server  # noqa: F401  (pytest fixture)
from test_smtp import DOMAIN, PASSWORD, provision, start_mail_server

LIVE_TEST = BUILD_DIR / "src" / "services" / "delivery" / "delivery_live_test"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def deliver(config, destination, recipients, messages=1, timeout=120):
    """Runs the transport; returns ([(message, index, status, enhanced, remote, reply)],
    connections opened)."""
    if not LIVE_TEST.exists():
        pytest.skip(f"{LIVE_TEST} not built")
    env = dict(os.environ, TERN_TEST_DELIVERY_CONFIG=config, TERN_TEST_DESTINATION=destination,
               TERN_TEST_RECIPIENTS=",".join(recipients), TERN_TEST_MESSAGES=str(messages))
    result = subprocess.run([str(LIVE_TEST)], env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIPPED" not in result.stdout
    outcomes, connections = [], None
    for line in result.stdout.splitlines():
        if line.startswith("OUTCOME "):
            head, _, reply = line.partition(" | ")
            _, message, index, status, enhanced, remote = head.split(" ", 5)
            outcomes.append((int(message), int(index), status, enhanced, remote, reply))
        elif line.startswith("CONNECTIONS "):
            connections = int(line.split()[1])
    return outcomes, connections


def config(dns_port, mx_port, tls="may", extra=""):
    return f"""
[server]
hostname = "client.origin.test"
[dns]
servers = ["127.0.0.1:{dns_port}"]
timeout_ms = 5000
[outbound]
mx_port = {mx_port}
tls = "{tls}"
connect_timeout_seconds = 5
command_timeout_seconds = 30
{extra}
"""


@pytest.fixture
def receiver(ternd_factory):
    server, ports = start_mail_server(ternd_factory, [("smtp", "smtp", "starttls"),
                                                     ("submission", "submission", "starttls"),
                                                     ("lmtp", "lmtp", "none"),
                                                     ("imap", "imap", "none")])
    provision(server)
    server.imap_port = ports["imap"]
    return server, ports


def inbox(server, address):
    """The messages in the account's INBOX, read over IMAP (plaintext LOGIN is allowed
    on loopback), in UID order."""
    with imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30) as client:
        client.login(address, PASSWORD)
        client.select("INBOX", readonly=True)
        _, data = client.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            _, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
            out.append(fetched[0][1])
        return out


def test_mx_preference_fallback_and_starttls_to_a_second_ternd(dns_server, receiver):
    server, ports = receiver
    # mx1 (preferred) has no server at this port; mx2 is the ternd on 127.0.0.1.
    dns = dns_server({DOMAIN: ["@ MX 10 mx1", "@ MX 20 mx2", "mx1 A 127.0.0.3",
                               "mx2 A 127.0.0.1"]})
    outcomes, _ = deliver(config(dns.port, ports["smtp"]), DOMAIN,
                          [f"alice@{DOMAIN}", f"nobody@{DOMAIN}", f"bob@{DOMAIN}"])
    by_index = {o[1]: o for o in outcomes}
    assert by_index[0][2:5] == ("delivered", "2.0.0", f"mx2.{DOMAIN}[127.0.0.1]")
    assert by_index[1][2:4] == ("failed", "5.1.1")
    assert by_index[1][5].startswith("550 5.1.1")
    assert by_index[2][2] == "delivered"
    [message] = inbox(server, f"alice@{DOMAIN}")
    assert b"Subject: tern live 0" in message
    assert message.endswith(b"Hello from the outbound transport.\r\n.leading dot\r\n")
    # The session was encrypted: ternd's Received: says so (RFC 3848 ESMTPS).
    assert re.search(rb"with\s+ESMTPS", message), message[:400]


def test_null_mx_and_missing_domain_fail_permanently(dns_server, receiver):
    _, ports = receiver
    dns = dns_server({"nullmx.test": ["@ MX 0 ."], "example.test": ["www A 127.0.0.1"]})
    outcomes, connections = deliver(config(dns.port, ports["smtp"]), "nullmx.test",
                                    ["x@nullmx.test"])
    assert [o[2:4] for o in outcomes] == [("failed", "5.1.10")]
    outcomes, _ = deliver(config(dns.port, ports["smtp"]), "nope.example.test",
                          ["x@nope.example.test"])
    assert [o[2:4] for o in outcomes] == [("failed", "5.1.2")]
    assert connections == 0


def test_required_verified_tls_checks_the_certificate(dns_server, receiver, certs):
    server, ports = receiver
    cert, _ = certs
    dns = dns_server({DOMAIN: ["@ MX 10 mx", "mx A 127.0.0.1"]})
    # The test certificate names localhost and 127.0.0.1, not mx.example.org.
    outcomes, _ = deliver(config(dns.port, ports["smtp"], tls="verify",
                                 extra=f'ca_file = "{cert}"'), DOMAIN, [f"alice@{DOMAIN}"])
    assert [o[2:4] for o in outcomes] == [("deferred", "4.7.5")]
    # Through a route to the IP literal the name matches, and delivery succeeds.
    route = f"""ca_file = "{cert}"
[[transport]]
domain = "{DOMAIN}"
route = "smtp:[127.0.0.1]:{ports['smtp']}"
"""
    outcomes, _ = deliver(config(dns.port, ports["smtp"], tls="verify", extra=route), DOMAIN,
                          [f"alice@{DOMAIN}"])
    assert [o[2] for o in outcomes] == ["delivered"]
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1


def test_smarthost_with_auth_over_starttls(dns_server, receiver, tmp_path):
    server, ports = receiver
    dns = dns_server({"origin.test": ["www A 127.0.0.1"]})
    password_file = tmp_path / "relay.pw"
    password_file.write_text(PASSWORD + "\n")
    route = f"""
[[transport]]
domain = "{DOMAIN}"
route = "smtp:[127.0.0.1]:{ports['submission']}"
auth_user = "alice@{DOMAIN}"
auth_password_file = "{password_file}"
tls = "encrypt"
"""
    env_sender = f"alice@{DOMAIN}"
    os.environ["TERN_TEST_SENDER"] = env_sender
    try:
        outcomes, _ = deliver(config(dns.port, 25, extra=route), DOMAIN, [f"bob@{DOMAIN}"])
    finally:
        del os.environ["TERN_TEST_SENDER"]
    assert [o[2] for o in outcomes] == ["delivered"], outcomes
    assert len(inbox(server, f"bob@{DOMAIN}")) == 1
    # A wrong password defers (Postfix's soft bounce for AUTH failures).
    password_file.write_text("wrong\n")
    os.environ["TERN_TEST_SENDER"] = env_sender
    try:
        outcomes, _ = deliver(config(dns.port, 25, extra=route), DOMAIN, [f"bob@{DOMAIN}"])
    finally:
        del os.environ["TERN_TEST_SENDER"]
    assert [o[2:4] for o in outcomes] == [("deferred", "5.7.8")], outcomes


def test_lmtp_route(dns_server, receiver):
    server, ports = receiver
    dns = dns_server({"origin.test": ["www A 127.0.0.1"]})
    route = f"""
[[transport]]
domain = "{DOMAIN}"
route = "lmtp:127.0.0.1:{ports['lmtp']}"
"""
    outcomes, _ = deliver(config(dns.port, 25, extra=route), DOMAIN,
                          [f"alice@{DOMAIN}", f"nobody@{DOMAIN}"])
    assert sorted(o[2] for o in outcomes) == ["delivered", "failed"]
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_batch_to_postfix_smtp_sink_reuses_one_connection(dns_server):
    if not os.access(SMTP_SINK, os.X_OK):
        pytest.skip("smtp-sink not installed (scripts/install-deps installs postfix)")
    port = free_port()
    # smtp-sink runs as nobody, who cannot enter pytest's private tmp_path.
    dump = Path(tempfile.mkdtemp(prefix="tern-sink-"))
    os.chmod(dump, 0o777)
    sink = subprocess.Popen([SMTP_SINK, "-u", "nobody", "-d", str(dump / "%M%S."),
                             f"127.0.0.1:{port}", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)
        dns = dns_server({"sink.test": ["@ MX 10 mx", "mx A 127.0.0.1"]})
        outcomes, connections = deliver(config(dns.port, port), "sink.test",
                                        ["a@sink.test", "b@sink.test"], messages=20)
        assert len(outcomes) == 40
        assert {o[2] for o in outcomes} == {"delivered"}, outcomes[:2]
        assert connections == 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(list(dump.iterdir())) < 20:
            time.sleep(0.1)
        assert len(list(dump.iterdir())) == 20
    finally:
        sink.terminate()
        sink.wait(10)
        shutil.rmtree(dump, ignore_errors=True)
