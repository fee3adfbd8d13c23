# SPDX-License-Identifier: Apache-2.0
"""IMAP interop with offlineimap (offlineimap3) over implicit TLS: a full sync to a
Maildir, then local flag changes, a local new message and a local deletion back to
the server, then a server-side change back down. The Maildir and the server mailbox
are checked message by message and flag by flag."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import tern_cli
from test_imap_mbsync import (change_on_server, check_local_changes_on_server,
                              check_server_changes_in_maildir, maildir_messages, messages)
from test_smtp import DOMAIN, PASSWORD, provision, start_mail_server

ALICE = f"alice@{DOMAIN}"

pytestmark = pytest.mark.skipif(
    shutil.which("offlineimap") is None and os.environ.get("CI") != "true",
    reason="offlineimap (offlineimap3) is not installed; run scripts/install-deps")


def write_config(tmp: Path, port: int, cert: Path) -> Path:
    (tmp / "Mail").mkdir(exist_ok=True)
    cfg = tmp / "offlineimaprc"
    cfg.write_text(f"""
[general]
accounts = tern
metadata = {tmp}/offlineimap-meta
ui = basic

[Account tern]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {tmp}/Mail

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {port}
remoteuser = {ALICE}
remotepass = {PASSWORD}
ssl = yes
sslcacertfile = {cert}
maxconnections = 1
""")
    return cfg


def offlineimap(cfg: Path):
    result = subprocess.run(["offlineimap", "-c", str(cfg), "-o", "-u", "basic"],
                            capture_output=True, text=True, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "ERROR" not in output, output
    return output


def without_tracking(path: Path) -> bytes:
    """The stored bytes with LF line ends and without offlineimap's X-OfflineIMAP."""
    return b"".join(line for line in path.read_bytes().replace(b"\r\n", b"\n")
                    .splitlines(keepends=True) if not line.startswith(b"X-OfflineIMAP"))


def test_offlineimap_sync_both_ways(ternd_factory, tmp_path, certs):
    server, ports = start_mail_server(ternd_factory, [("imaps", "imap", "implicit")])
    provision(server)
    for m in messages():
        tern_cli(server.config, "deliver", ALICE, input=m)
    cfg = write_config(tmp_path, ports["imaps"], certs[0])

    # 1. Server → local: every message byte for byte, and the default mailboxes.
    offlineimap(cfg)
    mail = tmp_path / "Mail"
    inbox = maildir_messages(mail / "INBOX")
    assert sorted(inbox) == ["Subject: sync 0", "Subject: sync 1", "Subject: sync 2"]
    for m in messages():
        subject = [line for line in m.split("\r\n") if line.startswith("Subject:")][0]
        assert without_tracking(inbox[subject]) == m.replace("\r\n", "\n").encode()
    for name in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert (mail / name).is_dir(), sorted(p.name for p in mail.iterdir())

    # 2. Local → server: flags set locally, a local deletion, a new local message.
    seen = inbox["Subject: sync 0"]
    seen.rename(seen.parent.parent / "cur" / (seen.name.split(":2,")[0] + ":2,FS"))
    inbox["Subject: sync 2"].unlink()
    (mail / "Drafts" / "new").mkdir(parents=True, exist_ok=True)
    (mail / "Drafts" / "new" / "1700000000.1_1.host").write_bytes(
        b"From: alice@example.org\nSubject: local draft\n\nwritten offline\n")
    offlineimap(cfg)
    check_local_changes_on_server(ports["imaps"])

    # 3. Server → local again: a flag change and a new delivery.
    change_on_server(server, ports["imaps"])
    offlineimap(cfg)
    check_server_changes_in_maildir(mail)
