# SPDX-License-Identifier: Apache-2.0
"""ternd as a whole: HTTP endpoints, signals, limits, TLS reload, privilege drop, logs."""
import json
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import HTTP_LISTENER, http_get, make_certificate


def test_serves_healthz_and_metrics(ternd_factory):
    server = ternd_factory()
    port = server.wait_listening("http")
    status, _, body = http_get(port, "/healthz")
    assert status == 200 and body == "ok\n"
    status, headers, body = http_get(port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert "# TYPE" in body
    # The two requests above were connections the metrics must have counted.
    assert any(line.startswith("tern_connections") for line in body.splitlines()), body
    status, _, _ = http_get(port, "/nope")
    assert status == 404


def test_curl_fetches_metrics(ternd_factory):
    server = ternd_factory()
    port = server.wait_listening("http")
    out = subprocess.run(["curl", "-sS", "-f", f"http://127.0.0.1:{port}/metrics"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "# HELP" in out.stdout


def test_sigterm_drains_and_exits_zero(ternd_factory):
    server = ternd_factory()
    server.wait_listening("http")
    assert server.stop() == 0
    assert any("stopped" in line for line in server.lines), server.lines


def test_logs_are_json_with_a_connection_id(ternd_factory):
    server = ternd_factory()
    port = server.wait_listening("http")
    http_get(port, "/healthz")
    server.wait_for_log(r'"conn"')
    records = [json.loads(l) for l in server.lines if l.startswith("{")]
    assert records, server.lines
    assert any("conn" in r for r in records)
    assert all("level" in r for r in records)


def test_per_ip_connection_limit_closes_the_extra_connection(ternd_factory):
    server = ternd_factory(extra="[limits]\nmax_connections_per_ip = 2\n")
    port = server.wait_listening("http")
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)  # let the server account both accepts before the third
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra.settimeout(5)
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = extra.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        # Closed without being served (an HTTP 503 line is allowed, 200 is not).
        assert b"200 OK" not in data
        extra.close()
    finally:
        for s in held:
            s.close()
    # Once the held connections are gone, a new one is served again.
    deadline = time.monotonic() + 10
    while True:
        try:
            status, _, _ = http_get(port, "/healthz")
            if status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "limit never released"
        time.sleep(0.1)


def _peer_cert_serial(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
            version = tls.version()
    return der, version


HTTPS_LISTENERS = HTTP_LISTENER + """
[[listener]]
name = "https"
role = "http"
address = "127.0.0.1:0"
tls = "implicit"
"""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_implicit_tls_listener_refuses_tls_1_1(ternd_factory):
    server = ternd_factory(listeners=HTTPS_LISTENERS)
    port = server.wait_listening("https")
    der, version = _peer_cert_serial(port)
    assert version in ("TLSv1.2", "TLSv1.3")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.do_handshake()


def test_sighup_reloads_certificate_and_log_level(ternd_factory, tmp_path, certs):
    server = ternd_factory(listeners=HTTPS_LISTENERS)
    port = server.wait_listening("https")
    before, _ = _peer_cert_serial(port)

    new_cert, new_key = make_certificate(tmp_path / "tls2", cn="renewed.example.test")
    os.replace(new_cert, certs[0])
    os.replace(new_key, certs[1])
    cfg = server.config.read_text().replace('level = "debug"', 'level = "warn"')
    server.config.write_text(cfg)
    mark = len(server.lines)
    server.signal(signal.SIGHUP)
    server.wait_for_log(r"reload", start=mark)
    after, _ = _peer_cert_serial(port)
    assert after != before
    # A failed reload keeps the old settings and says why.
    server.config.write_text(cfg.replace("[log]", "[log]\nbogus = 1"))
    mark = len(server.lines)
    server.signal(signal.SIGHUP)
    server.wait_for_log(r"bogus", start=mark)
    status, _, _ = http_get(server.ports["http"], "/healthz")
    assert status == 200


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_drops_privileges_after_binding():
    import tempfile
    from pathlib import Path
    from conftest import Ternd, base_config, make_certificate, write_config
    # pytest's own tmp dirs are private to root; this one must be reachable by nobody.
    top = Path(tempfile.mkdtemp(prefix="tern-drop-"))
    os.chmod(top, 0o755)
    certs = make_certificate(top / "tls")
    os.chmod(top / "tls", 0o755)
    data = top / "data"
    data.mkdir()
    subprocess.run(["chown", "-R", "nobody:nogroup", str(data)], check=True)
    for f in certs:
        os.chmod(f, 0o644)
    cfg = write_config(top / "tern.toml",
                       base_config(data, certs[0], certs[1], HTTP_LISTENER).replace(
                           'drain_seconds = 2', 'drain_seconds = 2\nuser = "nobody"'))
    server = Ternd(cfg)
    try:
        port = server.wait_listening("http")
        server.wait_for_log("dropped privileges")
        status = open(f"/proc/{server.proc.pid}/status").read()
        uid_line = next(l for l in status.splitlines() if l.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4, uid_line
        assert http_get(port, "/healthz")[0] == 200
    finally:
        code = server.stop()
        subprocess.run(["rm", "-rf", str(top)])
    assert code == 0


def test_memory_backend_serves(ternd_factory):
    server = ternd_factory(backend="memory")
    port = server.wait_listening("http")
    assert http_get(port, "/healthz")[0] == 200


def test_sighup_applies_new_connection_limits(ternd_factory):
    server = ternd_factory(extra="[limits]\nmax_connections_per_ip = 1\n")
    port = server.wait_listening("http")
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        time.sleep(0.2)
        status = None
        try:
            status, _, _ = http_get(port, "/healthz")
        except OSError:
            pass
        assert status != 200, "the per-IP limit of 1 was not applied"
        cfg = server.config.read_text().replace("max_connections_per_ip = 1",
                                                 "max_connections_per_ip = 5")
        server.config.write_text(cfg)
        mark = len(server.lines)
        server.signal(signal.SIGHUP)
        server.wait_for_log(r"reloaded", start=mark)
        assert http_get(port, "/healthz")[0] == 200
    finally:
        held.close()
