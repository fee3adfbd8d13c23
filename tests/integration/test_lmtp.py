# SPDX-License-Identifier: Apache-2.0
"""LMTP (RFC 2033) against a live ternd: per-recipient replies over a raw socket,
and Postfix from Debian using tern as its LMTP mailbox transport."""
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from test_smtp import DOMAIN, Raw, inbox, provision, start_mail_server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lmtp(ternd_factory):
    server, ports = start_mail_server(ternd_factory, [("lmtp", "lmtp", "none")])
    provision(server)
    tern_quota(server, f"bob@{DOMAIN}", "1K")
    return server, ports["lmtp"]


def tern_quota(server, address, size):
    from conftest import tern_cli
    tern_cli(server.config, "user", "quota", address, size)


def test_per_recipient_replies(lmtp):
    server, port = lmtp
    c = Raw(port)
    assert c.reply() == (220, ["mail.example.test LMTP tern"])
    c.send("EHLO c\r\n")
    assert c.reply()[0] == 500  # RFC 2033 §4.1: LHLO only
    c.send("LHLO relay.example\r\n")
    code, caps = c.reply()
    assert code == 250 and "PIPELINING" in caps and "AUTH" not in " ".join(caps)
    body = "Subject: big\r\n\r\n" + ("x" * 78 + "\r\n") * 25
    c.send("MAIL FROM:<a@remote.example>\r\n"
           f"RCPT TO:<alice@{DOMAIN}>\r\nRCPT TO:<nobody@{DOMAIN}>\r\nRCPT TO:<bob@{DOMAIN}>\r\n"
           f"DATA\r\n{body}.\r\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 550, 250, 354]
    # One reply per accepted recipient, in RCPT order: alice delivered, bob over quota
    # (the message alone exceeds his 1 KiB quota: 552 5.2.2, the hard limit).
    first = c.reply()
    second = c.reply()
    assert first[0] == 250 and first[1][0].startswith("2.0.0 Ok: delivered as")
    assert second == (552, ["5.2.2 message larger than the mailbox quota"])
    assert len(inbox(server, f"alice@{DOMAIN}")) == 1
    assert inbox(server, f"bob@{DOMAIN}") == []
    c.send("QUIT\r\n")
    assert c.reply()[0] == 221


POSTFIX_MAIN = """
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.example.test
mydomain = example.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relay_domains = {domain}
relay_transport = lmtp:inet:127.0.0.1:{lmtp_port}
relay_recipient_maps =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
disable_dns_lookups = yes
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
"""


class Postfix:
    """A throwaway Postfix instance: its own config, queue and data directories,
    smtpd on one free loopback port and nothing else listening (no port 25)."""

    def __init__(self, root: Path, lmtp_port: int):
        self.root = root
        self.conf = root / "conf"
        self.port = free_port()
        for d in ("conf", "queue", "data"):
            (root / d).mkdir(parents=True)
        os.chmod(root, 0o755)
        shutil.chown(root / "data", "postfix")
        (self.conf / "main.cf").write_text(
            POSTFIX_MAIN.format(root=root, domain=DOMAIN, lmtp_port=lmtp_port))
        master = Path("/etc/postfix/master.cf").read_text().splitlines()
        out = []
        for line in master:
            if line.startswith("smtp ") and " inet " in line:
                line = f"127.0.0.1:{self.port} inet n - n - - smtpd"
            out.append(line)
        (self.conf / "master.cf").write_text("\n".join(out) + "\n")

    def postfix(self, *args):
        return subprocess.run(["postfix", "-c", str(self.conf), *args], capture_output=True,
                              text=True, timeout=60)

    def start(self):
        result = self.postfix("start")
        if result.returncode != 0:
            raise AssertionError("postfix start failed: " + result.stdout + result.stderr +
                                 self.log())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("postfix smtpd did not listen:\n" + self.log())

    def stop(self):
        self.postfix("stop")

    def log(self):
        path = self.root / "maillog"
        return path.read_text() if path.exists() else ""


def postfix_available():
    if shutil.which("postfix") is None or not Path("/etc/postfix/master.cf").exists():
        return "postfix is not installed (scripts/install-deps)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    return None


def test_postfix_delivers_through_lmtp(lmtp):
    missing = postfix_available()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    server, lmtp_port = lmtp
    # Not under pytest's tmp_path: Postfix's unprivileged daemons must be able to
    # reach their directories, and pytest's are private to root.
    root = Path(tempfile.mkdtemp(prefix="tern-postfix-"))
    os.chmod(root, 0o755)
    postfix = Postfix(root / "postfix", lmtp_port)
    postfix.start()
    try:
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as client:
            # alice is the sender too, so Postfix's bounce for nobody comes back to her
            # through LMTP.
            refused = client.sendmail(f"alice@{DOMAIN}", [f"alice@{DOMAIN}", f"nobody@{DOMAIN}"],
                                      b"Subject: via postfix\r\n\r\nhello\r\n")
            assert refused == {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(inbox(server, f"alice@{DOMAIN}")) >= 2:
                break
            time.sleep(0.2)
        log = postfix.log()
        stored, bounce = inbox(server, f"alice@{DOMAIN}")
        assert b"Subject: via postfix" in stored
        assert b"with LMTP" in stored
        # tern's LMTP answered per recipient: alice 250, nobody 550 5.1.1 (at RCPT),
        # and Postfix bounced only nobody, to alice.
        assert "to=<alice@example.org>" in log and "status=sent (250 2.0.0" in log, log
        assert "to=<nobody@example.org>" in log and "dsn=5.1.1, status=bounced" in log, log
        assert b"nobody@example.org" in bounce and b"MAILER-DAEMON" in bounce
    finally:
        postfix.stop()
        shutil.rmtree(root, ignore_errors=True)
