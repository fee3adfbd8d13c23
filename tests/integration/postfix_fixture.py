# SPDX-License-Identifier: Apache-2.0
"""A private, throwaway Postfix instance from Debian for whole-server tests: its own
config_directory, queue_directory and data_directory under a fresh temp dir, its log
in <root>/maillog, smtpd on one loopback address:port and nothing else listening (no
port 25). Used by test_lmtp.py (Postfix delivering into tern over LMTP) and
test_outbound_postfix.py (Postfix as the MX tern delivers to).

    postfix = Postfix(postfix_root() / "postfix", routing_main_cf_lines,
                      address="127.0.0.5", port=2525)
    postfix.start()
    ...
    postfix.set_main(smtpd_discard_ehlo_keywords="8bitmime")  # postconf -e + reload
    postfix.stop()

Requires root (Postfix's daemons drop to the postfix user); `require_postfix()`
skips when Postfix or root is missing, and fails instead under CI=true.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

POSTFIX_MAIN = """
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
mydomain = example.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
disable_dns_lookups = yes
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
{routing}
"""


def free_port(address="127.0.0.1"):
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class Postfix:
    """One Postfix instance. `routing` is appended to main.cf (domains, transports,
    TLS, restrictions); Debian's master.cf is reused with its `smtp inet` line
    replaced by an unchrooted smtpd on address:port. inet_interfaces stays 127.0.0.1
    (Postfix refuses an address no interface carries, such as 127.0.0.11, there; the
    master.cf line binds it all the same)."""

    def __init__(self, root: Path, routing: str, address="127.0.0.1", port=None,
                 hostname="relay.example.test"):
        self.root = root
        self.conf = root / "conf"
        self.address = address
        self.port = port or free_port(address)
        self.hostname = hostname
        for d in ("conf", "queue", "data"):
            (root / d).mkdir(parents=True)
        os.chmod(root, 0o755)
        shutil.chown(root / "data", "postfix")
        (self.conf / "main.cf").write_text(
            POSTFIX_MAIN.format(root=root, routing=routing, hostname=hostname))
        self.port_given = port is not None
        self.write_master()

    def write_master(self):
        master = Path("/etc/postfix/master.cf").read_text().splitlines()
        out = []
        for line in master:
            if line.startswith("smtp ") and " inet " in line:
                line = f"{self.address}:{self.port} inet n - n - - smtpd"
            out.append(line)
        (self.conf / "master.cf").write_text("\n".join(out) + "\n")

    def postfix(self, *args):
        return subprocess.run(["postfix", "-c", str(self.conf), *args], capture_output=True,
                              text=True, timeout=60)

    def start(self):
        for attempt in range(3):
            result = self.postfix("start")
            if result.returncode == 0:
                break
            # free_port() can lose its port to another test before master binds it.
            if self.port_given or attempt == 2 or "Address already in use" not in self.log():
                raise AssertionError("postfix start failed: " + result.stdout + result.stderr +
                                     self.log())
            self.port = free_port(self.address)
            self.write_master()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.address, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("postfix smtpd did not listen:\n" + self.log())

    def set_main(self, restart=False, **settings):
        """Changes main.cf parameters (postconf -e) and reloads the running instance:
        smtpd processes started after this see the new values. A reload lets open
        sessions finish with the old values; restart=True stops and starts Postfix
        instead, closing them (a client's cached connection then sees EOF)."""
        pairs = [f"{k}={v}" for k, v in settings.items()]
        subprocess.run(["postconf", "-c", str(self.conf), "-e", *pairs], check=True,
                       capture_output=True, timeout=30)
        if restart:
            self.stop()
            self.start()
        else:
            self.reload()

    def reload(self):
        result = self.postfix("reload")
        if result.returncode != 0:
            raise AssertionError("postfix reload failed: " + result.stdout + result.stderr)

    def stop(self):
        self.postfix("stop")

    def log(self):
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""


def postfix_available():
    if shutil.which("postfix") is None or not Path("/etc/postfix/master.cf").exists():
        return "postfix is not installed (scripts/install-deps)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    return None


def require_postfix():
    missing = postfix_available()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)


def postfix_root():
    """Not under pytest's tmp_path: Postfix's unprivileged daemons must be able to
    reach their directories (and tern's socket), and pytest's are private to root."""
    root = Path(tempfile.mkdtemp(prefix="tern-postfix-"))
    os.chmod(root, 0o755)
    return root
