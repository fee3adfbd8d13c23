# SPDX-License-Identifier: Apache-2.0
"""A throwaway Dovecot imap on a loopback port, for the differential tests against
Debian's dovecot-imapd (test_mime_dovecot.py, test_imap_dovecot.py); with
`managesieve=True` also Pigeonhole's managesieved on a second port (`sieve_port`),
for test_managesieve.py.

Everything lives in a fresh temp dir (Maildir mail, passwd-file users with plaintext
passwords, no TLS, plaintext auth allowed on loopback); stop() ends the server and
removes the dir."""
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from processes import stop_process

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "tern"
# Dovecot refuses uid 0 for mail processes; the mail dirs belong to nobody.
MAIL_USER = "nobody"
MAIL_GROUP = "nogroup"
PASSWORD = "secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    """Starts `dovecot -F -c <conf>`. `users` maps user names to passwords (default:
    USER with PASSWORD); `extra` is appended to the generated dovecot.conf (namespaces,
    IMAP settings). The dir is outside pytest's tmp_path because Dovecot's
    unprivileged auth and mail processes must be able to traverse to it."""

    def __init__(self, users=None, extra="", managesieve=False):
        users = users or {USER: PASSWORD}
        root = Path(tempfile.mkdtemp(prefix="tern-dovecot-"))
        self.root = root
        self.port = free_port()
        self.sieve_port = free_port() if managesieve else None
        sieve_conf = ""
        if managesieve:
            # Each user's scripts under their home, as Pigeonhole keeps them by default.
            sieve_conf = f"""
service managesieve-login {{
  inet_listener sieve {{
    address = 127.0.0.1
    port = {self.sieve_port}
  }}
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
"""
        root.chmod(0o755)
        for sub in ("run", "mail", "home", "state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            shutil.chown(root / sub, MAIL_USER, MAIL_GROUP)
        (root / "passwd").write_text(
            "".join(f"{name}:{{PLAIN}}{password}::::::\n" for name, password in users.items()))
        conf = root / "dovecot.conf"
        conf.write_text(f"""
protocols = imap{" sieve" if managesieve else ""}
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
{sieve_conf}{extra}
""")
        self.conf = conf
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK") and self._sieve_ready():
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.poll() is not None else ""
                self.stop()
                log = (root / "dovecot.log").read_text(errors="replace") if (root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot did not start: {out}\n{log}")
            time.sleep(0.05)

    def _sieve_ready(self):
        if self.sieve_port is None:
            return True
        try:
            with socket.create_connection(("127.0.0.1", self.sieve_port), timeout=1) as s:
                data = b""
                while b"\r\nOK" not in data and len(data) < 4096:
                    chunk = s.recv(4096)
                    if not chunk:
                        return False
                    data += chunk
                return True
        except OSError:
            return False

    def log(self):
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)
