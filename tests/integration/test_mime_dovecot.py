# SPDX-License-Identifier: Apache-2.0
"""Differential test: tern's MIME facts against Dovecot (issue #3).

Every message (500 from the SpamAssassin corpus, the mail-parser/mime4j/Stalwart
corpora in ../shared/testdata, and the hand-made cases in mime_nasty_cases.py) is
APPENDed to a throwaway Dovecot and FETCHed with
`(ENVELOPE BODYSTRUCTURE BODY.PEEK[1.MIME] BINARY.SIZE[1])`; the same bytes go through
tern's `mime_facts_render`. Items are compared as parsed IMAP values (so a quoted
string and a literal with the same octets agree). Any difference must be listed in
mime_dovecot_allowlist.json (message, item, reason), each reason summarising an
entry of docs/mime-differences.md "## IMAP"; unlisted differences fail, and so do
stale allowlist entries."""
import imaplib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD_DIR, SOURCE_DIR
from mime_dovecot import (DOVECOT, PASSWORD, USER, Dovecot, fetch_response_bytes,
                          parse_fetch_items, parse_value)
from mime_nasty_cases import CASES
from mime_normalize import (NORMALIZATIONS, first_part_is_composite, normalize_binary_size,
                            normalize_body)

RENDER = BUILD_DIR / "src" / "mime" / "facts" / "mime_facts_render"
TESTDATA = SOURCE_DIR.parent / "shared" / "testdata"
CORPUS = Path(os.environ.get("TERN_TESTDATA_CACHE", "/var/cache/tern-testdata")) / \
    "spamassassin" / "node_modules" / "@stdlib" / "datasets-spam-assassin" / "data"
ALLOWLIST = Path(__file__).with_name("mime_dovecot_allowlist.json")
ITEMS = ["ENVELOPE", "BODYSTRUCTURE", "BODY[1.MIME]", "BINARY.SIZE[1]"]
CORPUS_MESSAGES = 500
IN_CI = os.environ.get("CI") == "true"


def missing(what):
    if IN_CI:
        pytest.fail(f"CI=true but {what}")
    pytest.skip(what)


def crlf(data: bytes) -> bytes:
    """IMAP messages have CRLF line ends (RFC 9051 §2.2); Dovecot counts sizes as if
    they had, so both sides get the same CRLF bytes."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def corpus_messages():
    messages = {}
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".json"
                   and p.name != "cmds" and not p.name.endswith(".js"))
    if len(files) < CORPUS_MESSAGES:
        return None
    step = len(files) / CORPUS_MESSAGES
    for i in range(CORPUS_MESSAGES):
        p = files[int(i * step)]
        messages["spamassassin/" + str(p.relative_to(CORPUS))] = p.read_bytes()
    return messages


def shared_testdata_messages():
    messages = {}
    for pattern in ("mime/**/*.eml", "mime/**/*.msg", "imap/**/*.txt"):
        for p in sorted(TESTDATA.glob(pattern)):
            messages[str(p.relative_to(TESTDATA))] = p.read_bytes()
    return messages


def tern_items(path: Path):
    proc = subprocess.run([str(RENDER), str(path), *ITEMS], capture_output=True, timeout=60)
    if proc.returncode not in (0, 3):
        raise AssertionError(f"mime_facts_render failed on {path}: {proc.stderr.decode()}")
    items = parse_fetch_items(proc.stdout)
    if proc.returncode == 3:
        items["error"] = proc.stderr.decode().strip()
    return items


def dovecot_fetch(imap, uid, items):
    try:
        typ, data = imap.uid("FETCH", str(uid), "(" + " ".join(
            i.replace("BODY[", "BODY.PEEK[") for i in items) + ")")
    except imaplib.IMAP4.error as e:
        # Dovecot answers NO (UNKNOWN-CTE, or [PARSE] when its base64 decoder gives
        # up) and imaplib raises for that.
        return {"error": f"NO {e}"}
    if typ != "OK" or not data or data[0] is None:
        return {"error": f"{typ} {data}"}
    values = parse_fetch_items(fetch_response_bytes(data))
    values.pop("UID", None)
    return values


def dovecot_items(imap, uid):
    """FETCHes ITEMS; when Dovecot refuses BINARY.SIZE (and so the whole FETCH), the
    other items are fetched alone and the refusal stands in for BINARY.SIZE[1]."""
    values = dovecot_fetch(imap, uid, ITEMS)
    if "error" in values:
        error = values["error"]
        values = dovecot_fetch(imap, uid, [i for i in ITEMS if not i.startswith("BINARY")])
        values["BINARY.SIZE[1]"] = error
    return values


def compare(ours, theirs):
    """Yields (item, detail) for every item that differs after the documented
    normalisations (mime_normalize.NORMALIZATIONS)."""
    for side in (ours, theirs):
        if isinstance(side.get("BODYSTRUCTURE"), list):
            side["BODYSTRUCTURE"] = normalize_body(side["BODYSTRUCTURE"])
    ours["BINARY.SIZE[1]"], theirs["BINARY.SIZE[1]"] = normalize_binary_size(
        ours.get("BINARY.SIZE[1]"), theirs.get("BINARY.SIZE[1]"))
    items = list(ITEMS)
    if first_part_is_composite(ours.get("BODYSTRUCTURE")):
        items.remove("BINARY.SIZE[1]")  # binary-of-composite
    for item in items:
        if ours.get(item) != theirs.get(item):
            yield item, f"tern:    {ours.get(item)!r}\ndovecot: {theirs.get(item)!r}"


def connect(dovecot):
    imap = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=60)
    imap.login(USER, PASSWORD)
    imap.select("INBOX")
    return imap


def test_dovecot_and_tern_agree_on_envelope_bodystructure_and_sections(tmp_path):
    if not Path(DOVECOT).exists():
        missing("dovecot is not installed (scripts/install-deps installs dovecot-imapd)")
    if not RENDER.exists():
        missing(f"{RENDER} is not built")
    if not TESTDATA.is_dir():
        missing(f"{TESTDATA} is absent")
    messages = corpus_messages()
    if messages is None:
        missing(f"the SpamAssassin corpus is not cached at {CORPUS} (scripts/install-deps)")
    messages.update(shared_testdata_messages())
    messages.update({"nasty/" + k: v for k, v in CASES.items()})
    assert len(messages) >= 600

    allow = {(e["message"], e["item"]): e["reason"]
             for e in json.loads(ALLOWLIST.read_text())["differences"]}
    for key, reason in allow.items():
        assert reason.strip(), f"allowlist entry {key} has no reason"

    files = tmp_path / "messages"
    files.mkdir()
    dovecot = Dovecot()
    differences = {}
    try:
        imap = connect(dovecot)
        for n, (key, data) in enumerate(sorted(messages.items()), start=1):
            data = crlf(data)
            path = files / f"{n}.eml"
            path.write_bytes(data)
            typ, resp = None, None
            for _ in range(2):
                try:
                    typ, resp = imap.append("INBOX", None, None, data)
                    break
                except (imaplib.IMAP4.abort, OSError):
                    # Dovecot's imap process ends the session after some internal
                    # errors (a NO [PARSE] on a broken part); log in again.
                    imap = connect(dovecot)
            if typ != "OK":
                differences[(key, "APPEND")] = f"dovecot refused: {resp}"
                continue
            uid = int(resp[0].split(b"APPENDUID ")[1].split(b" ")[1].rstrip(b"]"))
            ours = tern_items(path)
            theirs = dovecot_items(imap, uid)
            if str(theirs.get("BINARY.SIZE[1]")).startswith(("NO", "BAD")):
                imap = connect(dovecot)
            if "error" in ours:
                ours["BINARY.SIZE[1]"] = ours.pop("error")
            for item, detail in compare(ours, theirs):
                differences[(key, item)] = detail
        imap.logout()
    finally:
        dovecot.stop()

    unlisted = {k: v for k, v in differences.items() if k not in allow}
    stale = [k for k in allow if k not in differences]
    report = "\n\n".join(f"{m} {i}:\n{d}" for (m, i), d in sorted(unlisted.items()))
    (tmp_path / "differences.txt").write_text(report)
    assert not unlisted, (f"{len(unlisted)} unlisted differences from Dovecot (all in "
                          f"{tmp_path / 'differences.txt'}):\n{report[:20000]}")
    assert not stale, f"allowlist entries that no longer differ: {stale}"
