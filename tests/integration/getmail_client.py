# SPDX-License-Identifier: Apache-2.0
"""getmail6 as the POP3 and IMAP suites run it: one run of getmail into a Maildir.

Run as a script, this file is getmail itself with one repair. getmail 6.18 (Debian 12)
forks a child for every Maildir delivery and installs its SIGCHLD handler only after
the fork; a child that exits first is never reaped, and getmail then waits for it
until its socket timeout (180 s) runs out (getmail6 issues #52, #226 and #245). With
the suite run four-wide beside busy loops, 3 test runs in about 270 hung that way.
The script replaces getmail's wait with a plain waitpid() on the child; everything
getmail says over POP3 or IMAP is its own."""
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

PYTHON = "/usr/bin/python3"  # getmailcore is one of Debian's python3 packages


def run_getmail(state: Path, retriever: str, maildir: Path, delete=False):
    """Runs getmail once with `state` as its state directory and `retriever` as the
    body of its [retriever] section, delivering into `maildir` (created). Returns the
    messages in maildir/new, sorted, without the header lines getmail adds."""
    state.mkdir(parents=True, exist_ok=True)
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
        (maildir / sub).chmod(0o777)
    # getmail refuses to deliver as root: as root, deliver as nobody, into a Maildir
    # the caller keeps outside pytest's private (0700) temp tree.
    user = "user = nobody\n" if os.geteuid() == 0 else ""
    rc = state / "getmailrc"
    rc.write_text(
        f"[retriever]\n{retriever}"
        "[destination]\ntype = Maildir\n"
        f"path = {maildir}/\n{user}"
        "[options]\n"
        f"delete = {'true' if delete else 'false'}\nread_all = false\n"
        "delivered_to = false\nreceived = false\nverbose = 0\n")
    result = subprocess.run([PYTHON, __file__, "--rcfile", str(rc), "--getmaildir", str(state)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = []
    for p in (maildir / "new").iterdir():
        # getmail's own lines: Return-Path first, and for IMAP the mailbox it came from.
        lines = [line for line in p.read_bytes().splitlines(keepends=True)
                 if not line.startswith((b"Return-Path:", b"X-getmail-retrieved-from-mailbox:"))]
        out.append(b"".join(lines))
    return sorted(out)


def _main():
    from getmailcore import baseclasses
    from getmailcore.exceptions import getmailOperationError

    def prepare_child(self):
        pass  # no SIGCHLD handler: wait_for_child reaps the child itself

    def wait_for_child(self, childpid):
        _, status = os.waitpid(childpid, 0)
        if os.WIFSIGNALED(status):
            raise getmailOperationError(
                f"child pid {childpid} killed by signal {os.WTERMSIG(status)}")
        return os.WEXITSTATUS(status)

    baseclasses.ForkingBase._prepare_child = prepare_child
    baseclasses.ForkingBase._wait_for_child = wait_for_child
    sys.argv[0] = shutil.which("getmail") or "/usr/bin/getmail"
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    _main()
