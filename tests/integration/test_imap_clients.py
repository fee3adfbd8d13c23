# SPDX-License-Identifier: Apache-2.0
"""IMAP retrieval with other real clients: curl imap:// and imaps:// (LIST, EXAMINE,
UID FETCH of a message) and getmail6 (SimpleIMAPSSLRetriever into a Maildir, read_all =
false so a second run fetches nothing new). Messages go in with `tern deliver` and
must come out byte for byte."""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import tern_cli
from getmail_client import run_getmail
from test_smtp import DOMAIN, PASSWORD, provision, start_mail_server

ALICE = f"alice@{DOMAIN}"


def messages():
    return [f"From: bob@{DOMAIN}\r\nTo: {ALICE}\r\nSubject: fetch {i}\r\n\r\nline {i}\r\n"
            for i in range(2)]


@pytest.fixture
def imap(ternd_factory):
    server, ports = start_mail_server(
        ternd_factory, [("imap", "imap", "starttls"), ("imaps", "imap", "implicit")])
    provision(server)
    for m in messages():
        tern_cli(server.config, "deliver", ALICE, input=m)
    return server, ports


def curl(*args):
    result = subprocess.run(["curl", "--silent", "--show-error", "--insecure",
                             "--user", f"{ALICE}:{PASSWORD}", *args],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_lists_and_fetches(imap):
    _, ports = imap
    listing = curl(f"imaps://127.0.0.1:{ports['imaps']}/").decode()
    for name in ("INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert f'"{name}"' in listing
    for uid, m in enumerate(messages(), start=1):
        body = curl(f"imaps://127.0.0.1:{ports['imaps']}/INBOX;UID={uid}")
        assert body == m.encode()
    # STARTTLS on the plain port (--ssl-reqd refuses to go on without it).
    body = curl("--ssl-reqd", f"imap://127.0.0.1:{ports['imap']}/INBOX;UID=2")
    assert body == messages()[1].encode()


def imap_retriever(port):
    return ("type = SimpleIMAPSSLRetriever\n"
            f"server = 127.0.0.1\nport = {port}\nusername = {ALICE}\npassword = {PASSWORD}\n"
            "mailboxes = ('INBOX',)\n")


@pytest.mark.skipif(shutil.which("getmail") is None, reason="getmail6 is not installed")
def test_getmail6_imap_ssl_into_maildir(imap, tmp_path):
    server, ports = imap
    want = sorted(m.replace("\r\n", "\n").encode() for m in messages())
    with tempfile.TemporaryDirectory(prefix="tern-getmail-imap-") as shared:
        os.chmod(shared, 0o755)
        maildir = Path(shared) / "Maildir"
        assert run_getmail(tmp_path / "state", imap_retriever(ports["imaps"]), maildir) == want
        # Nothing new: the same messages, no duplicates.
        assert run_getmail(tmp_path / "state", imap_retriever(ports["imaps"]), maildir) == want
        tern_cli(server.config, "deliver", ALICE,
                 input=f"From: bob@{DOMAIN}\r\nSubject: later\r\n\r\nnew\r\n")
        got = run_getmail(tmp_path / "state", imap_retriever(ports["imaps"]), maildir)
        assert len(got) == 3
        assert f"From: bob@{DOMAIN}\nSubject: later\n\nnew\n".encode() in got
