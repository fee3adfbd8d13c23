# SPDX-License-Identifier: Apache-2.0
"""A private clamd (Debian's clamav-daemon) for the antivirus tests and the SMTP
benchmark: its signature database is one body signature written here, so it
starts in a second and needs no freshclam download. It listens on a UNIX socket
and on a TCP port of 127.0.0.1."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from processes import stop_process

# Built at run time, so this file itself never carries the signature.
MARKER = "TERN-TEST-VIRUS-" + "SIGNATURE-7f3a9c"
VIRUS = "Tern.Test.Virus.UNOFFICIAL"  # clamd names signatures of unsigned databases so


def require_clamd():
    """Skips without clamd, except in CI (CI=true), where its absence is a failure."""
    if shutil.which("clamd") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("clamd is not installed (scripts/install-deps: clamav-daemon)")
        pytest.skip("clamd is not installed (clamav-daemon)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clamd_ping(path, timeout=1.0):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"zPING\0")
            return s.recv(16) == b"PONG\0"
    except OSError:
        return False


class Clamd:
    def __init__(self, directory, stream_max="10M"):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "db").mkdir(exist_ok=True)
        # An .ndb body signature (name:target:offset:hex); target 0 is any file,
        # so it matches a message body and a decoded attachment alike.
        (directory / "db" / "tern.ndb").write_text(
            f"Tern.Test.Virus:0:*:{MARKER.encode().hex()}\n")
        self.socket = str(directory / "clamd.sock")
        self.port = free_port()
        conf = directory / "clamd.conf"
        conf.write_text(
            f"LocalSocket {self.socket}\nTCPSocket {self.port}\nTCPAddr 127.0.0.1\n"
            f"DatabaseDirectory {directory / 'db'}\nForeground yes\n"
            f"LogFile {directory / 'clamd.log'}\nStreamMaxLength {stream_max}\n"
            f"PidFile {directory / 'clamd.pid'}\n")
        self.log = directory / "clamd.log"
        self.process = subprocess.Popen(["clamd", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not clamd_ping(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log.read_text() if self.log.exists() else ""
                self.stop()
                raise RuntimeError(f"clamd did not start:\n{log[-2000:]}")
            time.sleep(0.1)

    def stop(self):
        stop_process(self.process)


