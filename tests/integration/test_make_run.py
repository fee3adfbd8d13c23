# SPDX-License-Identifier: Apache-2.0
"""What `make run` does after building: scripts/run-demo prepares var/ once, prints
the demo credentials, serves until interrupted, and reuses var/ on the next run."""
import os
import re
import signal
import socket
import subprocess
import time

from conftest import BUILD_DIR, SOURCE_DIR, http_get, tern_cli


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(var, port):
    env = dict(os.environ, TERN_VAR=str(var), TERN_DEMO_HTTP=f"127.0.0.1:{port}")
    # The demo's fixed mail ports may be taken on a test machine: any free port.
    for role in ("SMTP", "SUBMISSION", "SUBMISSIONS", "LMTP", "POP3", "POP3S", "IMAP", "IMAPS",
                 "MANAGESIEVE"):
        env[f"TERN_DEMO_{role}"] = "127.0.0.1:0"
    proc = subprocess.Popen([str(SOURCE_DIR / "scripts" / "run-demo"), str(BUILD_DIR)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=str(var.parent))
    login = None
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.match(r"^login: demo@example.test password: (\S+)$", line.strip())
        if m:
            login = m.group(1)
        if "listening" in line:
            break
    assert login, "".join(lines)
    return proc, login, lines


def stop(proc):
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode


def test_first_and_second_run():
    import shutil
    import tempfile
    from pathlib import Path
    # As root the demo drops to the "tern" user, which must reach var/: pytest's own
    # tmp dirs are private to root, so this one is made traversable.
    top = Path(tempfile.mkdtemp(prefix="tern-run-"))
    os.chmod(top, 0o755)
    try:
        _first_and_second_run(top / "var")
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _first_and_second_run(var):
    port = free_port()
    proc, first_password, _ = run_demo(var, port)
    try:
        assert http_get(port, "/healthz")[0] == 200
        assert (var / "tern.toml").exists()
        assert (var / "tls" / "cert.pem").exists()
    finally:
        assert stop(proc) == 0
    users = tern_cli(var / "tern.toml", "user", "list").stdout
    assert "demo@example.test" in users
    ok = tern_cli(var / "tern.toml", "auth", "test", "demo@example.test", "--password-stdin",
                  input=first_password + "\n")
    assert ok.returncode == 0

    proc, second_password, _ = run_demo(var, port)
    try:
        assert second_password == first_password
        assert http_get(port, "/healthz")[0] == 200
    finally:
        assert stop(proc) == 0
