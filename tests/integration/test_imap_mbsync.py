# SPDX-License-Identifier: Apache-2.0
"""IMAP interop with mbsync (isync): a full sync both ways with flags, over implicit TLS
and STARTTLS. The resulting Maildir and the server mailbox are checked message by
message and flag by flag."""
import imaplib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import tern_cli
from test_pop3 import tls_context  # unverified TLS to the test certificate
from test_smtp import DOMAIN, PASSWORD, provision, start_mail_server

ALICE = f"alice@{DOMAIN}"

pytestmark = pytest.mark.skipif(shutil.which("mbsync") is None and os.environ.get("CI") != "true",
                                reason="mbsync (isync) is not installed; run scripts/install-deps")


def messages():
    return [f"From: bob@{DOMAIN}\r\nTo: {ALICE}\r\nSubject: sync {i}\r\nMessage-ID: <s{i}@x>\r\n"
            f"\r\nbody {i}\r\n" for i in range(3)]


def write_config(tmp: Path, port: int, cert: Path, ssl_type: str) -> Path:
    maildir = tmp / "Mail"
    maildir.mkdir(exist_ok=True)
    cfg = tmp / "mbsyncrc"
    cfg.write_text(f"""
IMAPAccount tern
Host localhost
Port {port}
User {ALICE}
Pass "{PASSWORD}"
SSLType {ssl_type}
CertificateFile {cert}
AuthMechs LOGIN

IMAPStore remote
Account tern

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    return cfg


def mbsync(cfg: Path):
    result = subprocess.run(["mbsync", "-c", str(cfg), "-a"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def maildir_messages(folder: Path):
    """{Subject: file path} of every message in a Maildir folder."""
    out = {}
    for sub in ("cur", "new"):
        for f in (folder / sub).iterdir() if (folder / sub).exists() else []:
            text = f.read_bytes()
            subject = [line for line in text.split(b"\n") if line.startswith(b"Subject:")][0]
            out[subject.strip().decode()] = f
    return out


def server_flags(port, mailbox):
    c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls_context(), timeout=30)
    c.login(ALICE, PASSWORD)
    typ, data = c.select(mailbox)
    assert typ == "OK", data
    flags = {}
    if data != [b"0"]:
        typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        for part in data:
            if isinstance(part, tuple):
                subject = part[1].decode().strip()
                flags[subject] = part[0].decode()
    c.logout()
    return flags


def check_local_changes_on_server(port):
    """After "sync 0" was flagged FS, "sync 2" deleted and a draft added locally."""
    flags = server_flags(port, "INBOX")
    assert set(flags) == {"Subject: sync 0", "Subject: sync 1"}
    assert "\\Seen" in flags["Subject: sync 0"] and "\\Flagged" in flags["Subject: sync 0"]
    assert "\\Seen" not in flags["Subject: sync 1"]
    assert "Subject: local draft" in server_flags(port, "Drafts")


def change_on_server(server, port):
    """\\Answered on "sync 1" and a new delivery, "sync 3"."""
    c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls_context(), timeout=30)
    c.login(ALICE, PASSWORD)
    c.select("INBOX")
    typ, data = c.search(None, "SUBJECT", '"sync 1"')
    c.store(data[0].decode(), "+FLAGS", "(\\Answered)")
    c.logout()
    tern_cli(server.config, "deliver", ALICE,
             input=f"From: bob@{DOMAIN}\r\nSubject: sync 3\r\n\r\nlate\r\n")


def check_server_changes_in_maildir(mail):
    inbox = maildir_messages(mail / "INBOX")
    assert sorted(inbox) == ["Subject: sync 0", "Subject: sync 1", "Subject: sync 3"]
    assert inbox["Subject: sync 1"].name.endswith(":2,R")
    assert inbox["Subject: sync 0"].name.endswith(":2,FS")


@pytest.mark.parametrize("ssl_type", ["IMAPS", "STARTTLS"])
def test_mbsync_full_sync_both_ways_with_flags(ternd_factory, tmp_path, certs, ssl_type):
    server, ports = start_mail_server(
        ternd_factory, [("imap", "imap", "starttls"), ("imaps", "imap", "implicit")])
    provision(server)
    for m in messages():
        tern_cli(server.config, "deliver", ALICE, input=m)
    port = ports["imaps"] if ssl_type == "IMAPS" else ports["imap"]
    cfg = write_config(tmp_path, port, certs[0], ssl_type)

    # 1. Server → local: every message, byte for byte, and the default mailboxes.
    mbsync(cfg)
    mail = tmp_path / "Mail"
    inbox = maildir_messages(mail / "INBOX")
    assert sorted(inbox) == ["Subject: sync 0", "Subject: sync 1", "Subject: sync 2"]
    for m in messages():
        subject = [line for line in m.split("\r\n") if line.startswith("Subject:")][0]
        # mbsync stores with LF line ends and adds its own X-TUID tracking header.
        stored = b"".join(line for line in inbox[subject].read_bytes().splitlines(keepends=True)
                          if not line.startswith(b"X-TUID:"))
        assert stored == m.replace("\r\n", "\n").encode()
    for name in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert (mail / name).is_dir()

    # 2. Local → server: a flag set locally, a message added locally, one deleted.
    seen = inbox["Subject: sync 0"]
    seen.rename(seen.parent.parent / "cur" / (seen.name.split(":2,")[0] + ":2,FS"))
    gone = inbox["Subject: sync 2"]
    gone.rename(gone.parent.parent / "cur" / (gone.name.split(":2,")[0] + ":2,T"))
    drafts = mail / "Drafts"
    (drafts / "new").mkdir(parents=True, exist_ok=True)
    (drafts / "new" / "1700000000.1_1.host").write_bytes(
        b"From: alice@example.org\nSubject: local draft\n\nwritten offline\n")
    mbsync(cfg)
    check_local_changes_on_server(ports["imaps"])

    # 3. Server → local again: a flag change and a new delivery.
    change_on_server(server, ports["imaps"])
    mbsync(cfg)
    check_server_changes_in_maildir(mail)
