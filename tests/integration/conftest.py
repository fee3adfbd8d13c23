# SPDX-License-Identifier: Apache-2.0
"""Fixtures for whole-server tests: a temp data dir, a generated certificate, a
config, and a running ternd on 127.0.0.1 port 0 (ARCHITECTURE.md §8)."""
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pg_fixture import pg_database  # noqa: F401 (a fixture)

BUILD_DIR = Path(os.environ.get("TERN_BUILD_DIR", Path(__file__).resolve().parents[2] / "build" / "asan"))
SOURCE_DIR = Path(__file__).resolve().parents[2]
TERND = BUILD_DIR / "src" / "app" / "ternd"
TERN = BUILD_DIR / "src" / "app" / "tern"

LISTENING = re.compile(r'listening.*?listener[=":]+\s*"?([\w-]+)"?.*?address[=":]+\s*"?([^\s",]+):(\d+)')


def make_certificate(directory: Path, name="cert", cn="mail.example.test"):
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / f"{name}-key.pem"
    cert = directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-sha256",
         "-subj", f"/CN={cn}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def write_config(path: Path, body: str):
    path.write_text(body)
    return path


def base_config(data_dir: Path, cert: Path, key: Path, listeners: str, extra: str = "",
                log_format="json", backend="sqlite", store_keys=""):
    return f"""
[server]
hostname = "mail.example.test"
data_dir = "{data_dir}"
drain_seconds = 2

[log]
level = "debug"
format = "{log_format}"

[tls]
cert = "{cert}"
key = "{key}"

[store]
backend = "{backend}"
path = "store"
{store_keys}{extra}
{listeners}
"""


HTTP_LISTENER = """
[[listener]]
name = "http"
role = "http"
address = "127.0.0.1:0"
"""


class Ternd:
    """A running ternd whose stderr is collected by a thread."""

    def __init__(self, config: Path, env=None):
        self.config = config
        self.proc = subprocess.Popen([str(TERND), "-c", str(config)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        self.ports = {}
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                m = LISTENING.search(line)
                if m:
                    self.ports[m.group(1)] = int(m.group(3))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate, timeout=20.0, what="condition"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}; log:\n" + "\n".join(self.lines))
                self._cond.wait(remaining)

    def wait_for_log(self, pattern, timeout=20.0, start=0):
        rx = re.compile(pattern)
        self.wait_for(lambda: any(rx.search(l) for l in self.lines[start:]), timeout, f"log /{pattern}/")

    def wait_listening(self, name, timeout=30.0):
        self.wait_for(lambda: name in self.ports or self.proc.poll() is not None, timeout,
                      f"listener {name}")
        if name not in self.ports:
            raise AssertionError(f"ternd exited ({self.proc.returncode}):\n" + "\n".join(self.lines))
        return self.ports[name]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


def tern_cli(config: Path, *args, input=None, check=True):
    result = subprocess.run([str(TERN), "-c", str(config), *args], input=input, text=True,
                            capture_output=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"tern {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def http_get(port, path, host="127.0.0.1", timeout=10.0):
    """A minimal HTTP/1.1 GET over a raw socket: (status, headers, body)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return status, headers, body.decode(errors="replace")


def metric(port, name, **labels):
    """The value of one series on ternd's /metrics at `port` (labels in the order
    ternd writes them), 0 when it is not there."""
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{rendered}}} " if labels else f"{name} "
    _, _, body = http_get(port, "/metrics")
    for line in body.splitlines():
        if line.startswith(prefix):
            return int(float(line.split()[-1]))
    return 0


@pytest.fixture
def certs(tmp_path):
    return make_certificate(tmp_path / "tls")


@pytest.fixture
def ternd_factory(tmp_path, certs, request):
    started = []

    def start(listeners=HTTP_LISTENER, extra="", log_format="json", backend="sqlite", name="tern.toml"):
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        store_keys = ""
        # TERN_TEST_STORE=postgres runs the suites on PostgreSQL: one fresh database
        # per test (pg_fixture.py), shared by every ternd the test starts.
        if backend == "sqlite" and os.environ.get("TERN_TEST_STORE") == "postgres":
            backend = "postgres"
            store_keys = f'url = "{request.getfixturevalue("pg_database").url}"\n'
        cfg = write_config(tmp_path / name, base_config(data, certs[0], certs[1], listeners, extra,
                                                       log_format, backend, store_keys))
        server = Ternd(cfg)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
