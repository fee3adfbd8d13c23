# SPDX-License-Identifier: Apache-2.0
"""Both sides of the Sieve differential test (test_sieve_reference.py): what
Dovecot Pigeonhole's `sieve-test` (Debian's dovecot-sieve, 2.3.19) decides for a
script, a message and an envelope, and what `tern sieve test` decides, as the same
canonical lines:

    store "MAILBOX"                        keep, fileinto or the implicit keep
    store "MAILBOX" flags: $Label1 \\Seen   ... with IMAP flags (sorted, case-insensitively)
    redirect "ADDRESS"
    discard                                only when nothing is stored or redirected
    vacation                               a vacation reply is sent

in the order the interpreter reports them, the implicit keep last. In a mailbox
name, `\\` and `"` are escaped with a backslash.

How sieve-test is run: in a fresh temp dir, `sieve-test -C -c DIR/dovecot.conf
-f FROM -a TO -r TO DIR/script.sieve DIR/message.eml`, with a minimal
dovecot.conf (never /etc/dovecot) whose mail_location is a Maildir in DIR
(LAYOUT=fs, UTF-8 names) holding `mailboxes`, for `mailboxexists`. Every extension
the corpus uses is on by default. Dovecot refuses to open mail as root, so as root
the config sets mail_uid=nobody and the dir belongs to nobody. -a is what the
envelope test sees as "to"; -r is the recipient vacation checks the headers for
(without it, vacation takes the To header's address instead); both are TO.

Its quirks, and what is done about them:
- Without -e it only prints what it would do ("Performed actions:" and "Implicit
  keep:"). Flags come on a "+ add IMAP flags:" line under each store, as the script
  wrote them (case kept, duplicates dropped case-insensitively); the implicit keep
  shows the flags of the imap4flags internal variable too. System flags are
  normalised to RFC 3501's spelling (\\seen -> \\Seen) and flags sorted.
- It prints "discard" even when a keep or fileinto also stores the message; the
  line is dropped then. A second store into the same mailbox (keep and fileinto
  "INBOX" included) and a second redirect to the same address are merged by
  Pigeonhole itself, keeping the first. Mailbox names are printed as the script
  wrote them (fileinto "inbox" stays "inbox").
- It lists "send vacation message" without checking whether the reply would go
  out: that check (mailing lists, Precedence bulk/junk/list, Auto-Submitted, system
  senders such as MAILER-DAEMON or owner-*, the recipient not in To/Cc/..., one's
  own address) is made only when the actions are executed. So when the dry run
  lists a vacation, the script runs again with -e (stores go into the throwaway
  Maildir, whose mailboxes the dry run named are made first, as sieve-test ignores
  lda_mailbox_autocreate; replies are printed, nothing is sent) and `vacation`
  stays only when the log says "sent vacation response"; `Actions.vacation_log`
  keeps what it said.
- A runtime error prints no actions at all: "error: ..." on stderr, exit 1 and
  "final result: failed; resolved with successful implicit keep". That is returned
  as the implicit keep alone (`store "INBOX"`, no flags) with `Actions.error` set.
- A compile error exits 89 with "script: line N: error: ..." lines on stderr:
  SieveCompileError with those lines.
- The null envelope sender cannot be given: -f rejects "" and "<>", and without -f
  the sender comes from Return-Path/Sender/From, where "<>" is skipped. Asking for
  it raises PigeonholeUnsupported.

The spam score spamtest reads (RFC 5235) travels in the message, in an
X-Tern-Spam-Score field (SPAM_SCORE_FIELD) holding the score in percent; a message
without one was not tested. sieve-test reads it there: the config enables spamtest
and spamtestplus (off by default in Pigeonhole) with that field as a "score" status
out of a maximum of 100. tern never reads the field; tern_actions passes its value
as `--spam-score N` instead, as delivery hands the filter's score to the script.
Pigeonhole's normalization is tern's (1 + floor(9 x ratio), floor(100 x ratio)),
but its :count is always "1" (see the spamtest cases).
"""
import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import TERN

SIEVE_TEST = shutil.which("sieve-test") or "/usr/bin/sieve-test"
IN_CI = os.environ.get("CI") == "true"
# Dovecot will not access mail as root; as root, sieve-test drops to this user.
MAIL_USER = "nobody"
MAIL_GROUP = "nogroup"
TIMEOUT = 60

# The field carrying the spam filter's score (percent) for spamtest, both sides.
SPAM_SCORE_FIELD = "X-Tern-Spam-Score"

# RFC 3501 §2.3.2 system flags, keyed by their lower-case spelling.
SYSTEM_FLAGS = {f.lower(): f for f in
                ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent")}


# "error: MESSAGE" or "script: line N: error: MESSAGE" -> "line N: " and MESSAGE.
RUNTIME_ERROR = re.compile(r"^(?:script: )?(line \d+: )?error: (.*)$")


class SieveCompileError(Exception):
    """The script does not compile; the message is the interpreter's error text."""


class PigeonholeUnsupported(Exception):
    """sieve-test cannot be asked this (the null envelope sender)."""


class Actions(list):
    """Canonical action lines. `error` is the runtime error text (None without one);
    `vacation_log` is what Pigeonhole logged about its vacation reply, if any."""

    def __init__(self, lines=(), error=None, vacation_log=None):
        super().__init__(lines)
        self.error = error
        self.vacation_log = vacation_log


def pigeonhole_available():
    return Path(SIEVE_TEST).exists() and os.access(SIEVE_TEST, os.X_OK)


def require_pigeonhole():
    """Skips without sieve-test, except in CI (CI=true), where its absence is a failure."""
    if not pigeonhole_available():
        message = "sieve-test is not installed (scripts/install-deps installs dovecot-sieve)"
        if IN_CI:
            pytest.fail("CI=true but " + message)
        pytest.skip(message)


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def canonical_flag(flag):
    return SYSTEM_FLAGS.get(flag.lower(), flag)


def store_line(mailbox, flags=()):
    # RFC 3501 §5.1: INBOX is case-insensitive; tern spells it one way.
    if mailbox.lower() == "inbox":
        mailbox = "INBOX"
    unique = {}
    for flag in flags:
        unique.setdefault(flag.lower(), canonical_flag(flag))
    line = "store " + quote(mailbox)
    if unique:
        line += " flags:" + "".join(" " + f for f in sorted(unique.values(),
                                                            key=lambda f: (f.lower(), f)))
    return line


def _config(root: Path, as_root: bool):
    lines = [
        f"base_dir = {root}/run",
        f"state_dir = {root}/state",
        "log_path = /dev/stderr",
        "info_log_path = /dev/stderr",
        f"mail_home = {root}/home",
        f"mail_location = maildir:{root}/home/mail:LAYOUT=fs:UTF-8",
    ]
    if as_root:
        lines += [f"mail_uid = {MAIL_USER}", f"mail_gid = {MAIL_GROUP}"]
    lines += [
        "plugin {",
        "  sieve_extensions = +spamtest +spamtestplus",
        "  sieve_spamtest_status_type = score",
        f"  sieve_spamtest_status_header = {SPAM_SCORE_FIELD}",
        "  sieve_spamtest_max_value = 100",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _create_mailboxes(root: Path, mailboxes):
    """Maildir folders (LAYOUT=fs: one directory per level, names in UTF-8)."""
    mail = root / "home" / "mail"
    for mailbox in ["INBOX", *mailboxes]:
        base = mail if mailbox.upper() == "INBOX" else mail.joinpath(*mailbox.split("/"))
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
    _give_to_mail_user(root)


def _give_to_mail_user(root: Path):
    if os.geteuid() == 0:
        uid = pwd.getpwnam(MAIL_USER).pw_uid
        gid = grp.getgrnam(MAIL_GROUP).gr_gid
        for dirpath, dirnames, filenames in os.walk(root):
            os.chown(dirpath, uid, gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), uid, gid)


def _prepare(root: Path, script: str, message: bytes, mailboxes):
    root.chmod(0o755)
    (root / "dovecot.conf").write_text(_config(root, os.geteuid() == 0))
    (root / "script.sieve").write_text(script, encoding="utf-8")
    (root / "message.eml").write_bytes(message)
    _create_mailboxes(root, mailboxes)


def _run_sieve_test(root: Path, envelope_from, envelope_to, execute=False):
    args = [SIEVE_TEST, "-C", "-c", str(root / "dovecot.conf"),
            "-f", envelope_from, "-a", envelope_to, "-r", envelope_to]
    if execute:
        args.append("-e")
    args += [str(root / "script.sieve"), str(root / "message.eml")]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home"),
           "USER": MAIL_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name}
    return subprocess.run(args, capture_output=True, timeout=TIMEOUT, env=env, cwd=root)


def _parse_dry_run(stdout: str):
    """The "Performed actions:" and "Implicit keep:" sections, as lists of
    (action text, [detail lines])."""
    sections = {"Performed actions:": [], "Implicit keep:": []}
    section = None
    in_message = False
    for line in stdout.splitlines():
        if in_message:
            in_message = line != "END MESSAGE"
            continue
        if line in sections:
            section = sections[line]
            continue
        if section is None or not line.strip() or line.strip() == "(none)":
            continue
        if line == "START MESSAGE":
            in_message = True
        elif line.startswith(" * "):
            section.append((line[3:], []))
        elif (line.startswith("        + ") or line.startswith("    => ")) and section:
            section[-1][1].append(line.strip())
        else:
            raise AssertionError(f"unexpected sieve-test output line {line!r}:\n{stdout}")
    if section is None:
        raise AssertionError(f"no action list in sieve-test output:\n{stdout}")
    return sections["Performed actions:"], sections["Implicit keep:"]


def _canonical(action, details, stdout):
    if action.startswith("store message in folder: "):
        flags = []
        for d in details:
            if d.startswith("+ add IMAP flags: "):
                flags += d[len("+ add IMAP flags: "):].split()
        return store_line(action[len("store message in folder: "):], flags)
    if action.startswith("redirect message to: "):
        address = action[len("redirect message to: "):]
        if address.startswith("<") and address.endswith(">"):
            address = address[1:-1]
        return "redirect " + quote(address)
    if action == "discard":
        return "discard"
    if action == "send vacation message:":
        return "vacation"
    raise AssertionError(f"unknown sieve-test action {action!r}:\n{stdout}")


def _vacation_sent(root, envelope_from, envelope_to, stores):
    """Runs the script for real (-e) and reads whether the reply went out. The
    mailboxes it stores into are created first (sieve-test ignores
    lda_mailbox_autocreate), so that no failed store changes the outcome."""
    _create_mailboxes(root, stores)
    proc = _run_sieve_test(root, envelope_from, envelope_to, execute=True)
    log = proc.stderr.decode("utf-8", "replace")
    notes = [l.split("vacation action: ", 1)[1] for l in log.splitlines()
             if l.startswith("sieve-test") and "vacation action: " in l]
    if not notes:
        raise AssertionError("sieve-test -e logged nothing about the vacation reply:\n"
                             + log + proc.stdout.decode("utf-8", "replace"))
    return any(n.startswith("sent vacation response") for n in notes), "; ".join(notes)


def pigeonhole_actions(script: str, message: bytes, envelope_from: str, envelope_to: str,
                       mailboxes=()):
    """What Pigeonhole decides, as canonical lines (an Actions list)."""
    if not envelope_from:
        raise PigeonholeUnsupported("sieve-test cannot take the null envelope sender")
    root = Path(tempfile.mkdtemp(prefix="tern-sieve-"))
    try:
        _prepare(root, script, message, mailboxes)
        proc = _run_sieve_test(root, envelope_from, envelope_to)
        stdout = proc.stdout.decode("utf-8", "replace")
        stderr = proc.stderr.decode("utf-8", "replace")
        if "failed to compile sieve script" in stderr:
            errors = [l.split(": ", 1)[1] if l.startswith("script: ") else l
                      for l in stderr.splitlines() if l.startswith("script: ")]
            raise SieveCompileError("\n".join(errors) or stderr)
        if proc.returncode != 0:
            if "resolved with successful implicit keep" in stderr:
                errors = [(m.group(1) or "") + m.group(2) for m in map(RUNTIME_ERROR.match,
                                                                 stderr.splitlines()) if m]
                return Actions([store_line("INBOX")], error="\n".join(errors) or stderr)
            raise AssertionError(f"sieve-test failed ({proc.returncode}):\n{stderr}{stdout}")
        performed, implicit = _parse_dry_run(stdout)
        lines = [_canonical(a, d, stdout) for a, d in performed + implicit]
        if any(l.startswith(("store ", "redirect ")) for l in lines):
            lines = [l for l in lines if l != "discard"]
        vacation_log = None
        if "vacation" in lines:
            stores = [a[len("store message in folder: "):] for a, _ in performed + implicit
                      if a.startswith("store message in folder: ")]
            sent, vacation_log = _vacation_sent(root, envelope_from, envelope_to, stores)
            if not sent:
                lines = [l for l in lines if l != "vacation"]
        return Actions(lines, vacation_log=vacation_log)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def spam_score(message: bytes):
    """The value of the message's first SPAM_SCORE_FIELD field, None without one."""
    header = message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    prefix = SPAM_SCORE_FIELD.lower().encode() + b":"
    for line in header.splitlines():
        if line.lower().startswith(prefix):
            return line[len(prefix):].strip().decode("ascii")
    return None


def tern_actions(script: str, message: bytes, envelope_from: str, envelope_to: str,
                 mailboxes=()):
    """What `tern sieve test` decides: its stdout lines (an Actions list, `error` from
    its "error: " lines on stderr), with --spam-score from the message's
    SPAM_SCORE_FIELD when it has one. Exit 1 with "tern: sieve test: ..." is a compile
    error (SieveCompileError); any other failure raises AssertionError."""
    with tempfile.TemporaryDirectory(prefix="tern-sieve-") as tmp:
        script_file = Path(tmp) / "script.sieve"
        message_file = Path(tmp) / "message.eml"
        script_file.write_text(script, encoding="utf-8")
        message_file.write_bytes(message)
        args = [str(TERN), "sieve", "test", str(script_file), str(message_file),
                "--from", envelope_from, "--to", envelope_to]
        for mailbox in mailboxes:
            args += ["--mailbox", mailbox]
        score = spam_score(message)
        if score is not None:
            args += ["--spam-score", score]
        proc = subprocess.run(args, capture_output=True, timeout=TIMEOUT)
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        if proc.returncode == 1 and stderr.startswith("tern: sieve test: "):
            raise SieveCompileError(stderr[len("tern: sieve test: "):].strip())
        raise AssertionError(f"tern sieve test failed ({proc.returncode}):\n{stderr}")
    errors = [l[len("error: "):] for l in stderr.splitlines() if l.startswith("error: ")]
    return Actions([l for l in stdout.splitlines() if l.strip()],
                   error="\n".join(errors) or None)
