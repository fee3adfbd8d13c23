# SPDX-License-Identifier: Apache-2.0
"""A throwaway Dovecot on a loopback port, for differential tests of tern's MIME
facts (ENVELOPE, BODYSTRUCTURE, sections) against Debian's dovecot-imapd."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "tern"
# Dovecot refuses uid 0 for mail processes; the mail dirs belong to nobody.
MAIL_USER = "nobody"
MAIL_GROUP = "nogroup"
PASSWORD = "secret"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    """Starts `dovecot -F -c <conf>` with everything in a fresh temp dir; stop() ends
    it and removes the dir. The dir is outside pytest's tmp_path because Dovecot's
    unprivileged auth and mail processes must be able to traverse to it."""

    def __init__(self):
        root = Path(tempfile.mkdtemp(prefix="tern-dovecot-"))
        self.root = root
        self.port = _free_port()
        root.chmod(0o755)
        for sub in ("run", "mail", "home", "state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            shutil.chown(root / sub, MAIL_USER, MAIL_GROUP)
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        conf = root / "dovecot.conf"
        conf.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
auth_mechanisms = plain
disable_plaintext_auth = no
mail_location = maildir:{root}/mail/%u
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_USER} gid={MAIL_GROUP} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
        self.conf = conf
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.poll() is not None else ""
                self.stop()
                log = (root / "dovecot.log").read_text(errors="replace") if (root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot did not start: {out}\n{log}")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


# --- IMAP response values -------------------------------------------------------

def parse_value(data: bytes, pos: int):
    """Parses one IMAP value at data[pos:]; returns (value, new_pos). NIL is None,
    strings and literals are bytes, numbers and atoms are str, lists are lists."""
    while pos < len(data) and data[pos] == 0x20:
        pos += 1
    c = data[pos:pos + 1]
    if c == b"(":
        items = []
        pos += 1
        while True:
            while data[pos] == 0x20:
                pos += 1
            if data[pos:pos + 1] == b")":
                return items, pos + 1
            value, pos = parse_value(data, pos)
            items.append(value)
    if c == b'"':
        out = bytearray()
        pos += 1
        while data[pos:pos + 1] != b'"':
            if data[pos:pos + 1] == b"\\":
                pos += 1
            out += data[pos:pos + 1]
            pos += 1
        return bytes(out), pos + 1
    if c == b"{":
        close = data.index(b"}", pos)
        n = int(data[pos + 1:close].rstrip(b"+"))
        start = close + 3  # "}\r\n"
        return data[start:start + n], start + n
    end = pos
    while end < len(data) and data[end:end + 1] not in (b" ", b")", b"("):
        end += 1
    atom = data[pos:end].decode()
    return (None if atom == "NIL" else atom), end


def parse_fetch_items(data: bytes):
    """Splits `ITEM value ITEM value ...` (the inside of a FETCH response) into a dict
    keyed by item name."""
    items = {}
    pos = 0
    while pos < len(data):
        while pos < len(data) and data[pos] == 0x20:
            pos += 1
        if pos >= len(data) or data[pos:pos + 1] == b")":
            break
        end = pos
        depth = 0
        while data[end:end + 1] != b" " or depth:
            depth += {b"[": 1, b"]": -1}.get(data[end:end + 1], 0)
            end += 1
        name = data[pos:end].decode()
        value, pos = parse_value(data, end + 1)
        items[name] = value
    return items


def fetch_response_bytes(imap_data):
    """Rebuilds the raw FETCH response from imaplib's list of (line, literal) tuples
    and continuation lines, then returns what is inside `n FETCH ( ... )`."""
    raw = bytearray()
    for part in imap_data:
        if isinstance(part, tuple):
            raw += part[0] + b"\r\n" + part[1]
        elif part is not None:
            raw += part
    start = raw.index(b"(") + 1
    end = raw.rindex(b")")
    return bytes(raw[start:end])
