# SPDX-License-Identifier: Apache-2.0
"""tern's MIME tree against the mail-parser and mime4j reference corpora.

Runs the `mime_tree_dump` test tool on every message of ../shared/testdata/mime and
compares the tree (nesting, types, body byte ranges, preambles and epilogues) and the
decoded content with
what the reference parser wrote down. Every deliberate difference is listed in
KNOWN_DIFFERENCES with the reason key of its entry in docs/mime-differences.md
("## Parsing"); any unlisted difference, and any listed one that disappeared, fails.
"""
import base64
import glob
import html
import json
import os
import re
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
TESTDATA = os.path.normpath(os.path.join(SOURCE, "..", "shared", "testdata", "mime"))
DUMP = os.environ.get("MIME_TREE_DUMP", "")

# Reason keys: the bold names in docs/mime-differences.md, "## Parsing".
OUTER = "outer-boundary-ends-inner"        # longest boundary match, outer ends inner
TRAILING = "trailing-delimiter-empty-part"
EVERY_DELIM = "every-delimiter-starts-a-part"
FIRST_CT = "first-content-type-wins"
MESSAGE = "message-rfc822-always-a-message"
ENCODED_MSG = "encoded-message-rfc822-is-a-leaf"
BASE64 = "base64-ignores-non-alphabet"
LINE_START = "boundary-only-at-line-start"
HEADER_END = "boundary-ends-header"
FALLBACK = "unlabelled-8bit-read-as-windows-1252"
UUENCODE = "uuencode-decoded"
REPLACEMENT = "truncated-sequences-become-u+fffd"
QP_LINE_ENDS = "qp-keeps-line-ends"
BAD_HEADER = "non-field-lines-skipped"
CLOSE_LINE = "close-line-keeps-its-line-end"
BLANK_LINE = "header-blank-line-before-delimiter-belongs-to-it"

KNOWN_DIFFERENCES = {
    # mail-parser (keys: file, part path, what).
    "mail-parser/malformed/000:/nkids": EVERY_DELIM,
    "mail-parser/malformed/001:*": OUTER,
    "mail-parser/malformed/007:*": OUTER,
    "mail-parser/malformed/008:*": OUTER,
    "mail-parser/malformed/009:*": OUTER,
    "mail-parser/malformed/011:*": OUTER,
    "mail-parser/malformed/012:*": OUTER,
    "mail-parser/malformed/013:*": TRAILING,
    "mail-parser/malformed/014:*": TRAILING,
    "mail-parser/malformed/016:*": OUTER,
    "mail-parser/malformed/019:*": OUTER,
    "mail-parser/malformed/020:*": FIRST_CT,
    "mail-parser/malformed/021:*": FIRST_CT,
    "mail-parser/malformed/022:*": MESSAGE,
    "mail-parser/legacy/026:.2/text": UUENCODE,
    "mail-parser/legacy/052:/text": FALLBACK,
    "mail-parser/legacy/052:/subject": FALLBACK,
    "mail-parser/legacy/010:/subject": FALLBACK,
    "mail-parser/legacy/020:/subject": FALLBACK,
    "mail-parser/legacy/022:/subject": FALLBACK,
    "mail-parser/legacy/027:/subject": FALLBACK,
    "mail-parser/rfc/008:/subject": ENCODED_MSG,
    "mail-parser/rfc/000:*": BASE64,
    "mail-parser/rfc/008:.2/nkids": ENCODED_MSG,
    "mail-parser/thirdparty/002:*": BASE64,
    "mail-parser/thirdparty/005:.5/*": LINE_START,
    "mail-parser/thirdparty/005:.1/text": REPLACEMENT,
    "mail-parser/thirdparty/015:*": HEADER_END,
    "mail-parser/thirdparty/007:*": CLOSE_LINE,
    "mail-parser/thirdparty/008:*": CLOSE_LINE,
    "mail-parser/thirdparty/011:.1/body": BLANK_LINE,
    # mime4j (keys: file, what).
    "mime4j/mimetools-testmsgs/empty-preamble:leaf": QP_LINE_ENDS,
    "mime4j/mimetools-testmsgs/german-qp:leaf": QP_LINE_ENDS,
    "mime4j/mimetools-testmsgs/jt-0498:leaf": QP_LINE_ENDS,
    "mime4j/mimetools-testmsgs/mp-msg-rfc822:leaf": QP_LINE_ENDS,
    "mime4j/mimetools-testmsgs/frag:leaf": BASE64,
    "mime4j/mimetools-testmsgs/multi-frag:leaf": BASE64,
    "mime4j/mimetools-testmsgs/multi-2gifs-base64:shape": ENCODED_MSG,
    "mime4j/mimetools-testmsgs/re-fwd:shape": MESSAGE,
    "mime4j/testmsgs/bad-newlines-multiple-parts-base64:shape": ENCODED_MSG,
    "mime4j/testmsgs/base64encoded-rfc822message-nested:leaf": ENCODED_MSG,
    "mime4j/testmsgs/base64encoded-rfc822message:leaf": ENCODED_MSG,
    "mime4j/testmsgs/malformedHeaderStartsBody-nocrlfcrlf:leaf": BAD_HEADER,
    "mime4j/testmsgs/malformedHeaderStartsBody-noheader:leaf": BAD_HEADER,
    "mime4j/testmsgs/bad-newlines-multiple-parts-base64:preamble-epilogue": ENCODED_MSG,
    "mime4j/mimetools-testmsgs/multi-2gifs-base64:preamble-epilogue": ENCODED_MSG,
    "mime4j/mimetools-testmsgs/attachment-filename-encoding-Latin1:preamble-epilogue": CLOSE_LINE,
    "mime4j/mimetools-testmsgs/attachment-filename-encoding-UTF8:preamble-epilogue": CLOSE_LINE,
    "mime4j/mimetools-testmsgs/empty-preamble:preamble-epilogue": CLOSE_LINE,
    "mime4j/mimetools-testmsgs/ticket-60931:preamble-epilogue": CLOSE_LINE,
    "mime4j/mimetools-testmsgs/twopart:preamble-epilogue": CLOSE_LINE,
}


def require_inputs():
    if not os.path.isdir(TESTDATA):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{TESTDATA} is missing (required under CI)")
        pytest.skip(f"{TESTDATA} is absent: the shared MIME corpora are not checked out")
    if not DUMP or not os.access(DUMP, os.X_OK):
        pytest.fail("MIME_TREE_DUMP does not name the built mime_tree_dump tool")


def dump(path, mode=None):
    args = [DUMP, path] + ([mode] if mode else [])
    out = subprocess.run(args, capture_output=True, check=True, timeout=60).stdout
    tree = json.loads(out)
    assert tree["problem"] is None, f"{path}: tree invariant broken: {tree['problem']}"
    return tree


def known(key):
    """The reason for a difference `file:path/what`, or None."""
    file_part, _, rest = key.partition(":")
    path, _, what = rest.rpartition("/")
    for candidate in (key, f"{file_part}:*", f"{file_part}:{path}/*", f"{file_part}:{what}"):
        if candidate in KNOWN_DIFFERENCES:
            return candidate
    return None


# --- mail-parser ---------------------------------------------------------------

def mail_parser_tree(message):
    parts = message["parts"]

    def node(index):
        part = parts[index]
        content_type = None
        for header in part["headers"]:
            value = header["value"]
            if header["name"] == "content_type" and isinstance(value, dict) and "ContentType" in value:
                c = value["ContentType"]
                content_type = (c["c_type"].lower(), (c.get("c_subtype") or "").lower())
                break
        body = part["body"]
        kids, text = [], None
        if "Multipart" in body:
            kids = [node(k) for k in body["Multipart"]]
        elif "Message" in body:
            kids = [mail_parser_tree(body["Message"])]
        elif "Text" in body:
            text = body["Text"]
        elif "Html" in body:
            text = body["Html"]
        return {"ct": content_type, "body": (part["offset_body"], part["offset_end"]),
                "kids": kids, "text": text}

    return node(0)


def tern_tree(tree):
    parts = tree["parts"]

    def node(index):
        p = parts[index]
        return {"ct": (p["type"], p["subtype"]) if p["from_header"] else None,
                "body": tuple(p["body"]), "kids": [node(c) for c in p["children"]],
                "text": p.get("text")}

    return node(0)


def mail_parser_subjects(message):
    """Decoded Subject values (RFC 2047, unfolded) of the message and of every
    message it encapsulates."""
    out = []
    for part in message["parts"]:
        for header in part["headers"]:
            value = header["value"]
            if header["name"] == "subject" and isinstance(value, dict) and "Text" in value:
                out.append(value["Text"])
        if "Message" in part["body"]:
            out += mail_parser_subjects(part["body"]["Message"])
    return out


def compare_trees(want, got, path, diffs):
    if want["ct"] is not None and got["ct"] is not None and want["ct"] != got["ct"]:
        diffs.append((f"{path}/ct", want["ct"], got["ct"]))
    if want["body"] != got["body"]:
        diffs.append((f"{path}/body", want["body"], got["body"]))
    if len(want["kids"]) != len(got["kids"]):
        diffs.append((f"{path}/nkids", len(want["kids"]), len(got["kids"])))
    if want["text"] is not None and got["text"] is not None and want["text"] != got["text"]:
        diffs.append((f"{path}/text", want["text"][:60], got["text"][:60]))
    for i, (w, g) in enumerate(zip(want["kids"], got["kids"])):
        compare_trees(w, g, f"{path}.{i + 1}", diffs)


def mail_parser_cases():
    for eml in sorted(glob.glob(os.path.join(TESTDATA, "mail-parser", "*", "*.eml"))):
        for mode, suffix in (("lf", ".json"), ("crlf", ".crlf.json")):
            if os.path.exists(eml[:-4] + suffix):
                yield eml, mode, eml[:-4] + suffix


def mime4j_cases():
    yield from sorted(glob.glob(os.path.join(TESTDATA, "mime4j", "*", "*.msg")))


def test_mail_parser_corpus_agrees_except_listed_differences():
    require_inputs()
    unexplained, used, checked = [], set(), 0
    for eml, mode, expected in mail_parser_cases():
        checked += 1
        name = os.path.relpath(eml, TESTDATA)[:-4]
        diffs = []
        with open(expected, encoding="utf-8") as f:
            reference = json.load(f)
        ours = dump(eml, mode)
        compare_trees(mail_parser_tree(reference), tern_tree(ours), "", diffs)
        our_subjects = [value for p in ours["parts"] for name, value in p["fields"]
                        if name.lower() == "subject"]
        for subject in mail_parser_subjects(reference):
            if subject not in our_subjects:
                diffs.append(("/subject", subject, our_subjects))
        for what, want, got in diffs:
            key = f"{name}:{what}"
            reason = known(key)
            if reason is None:
                unexplained.append(f"{key} ({mode}): mail-parser {want!r}, tern {got!r}")
            else:
                used.add(reason)
    assert checked >= 150, f"only {checked} mail-parser cases found"
    assert not unexplained, "unlisted differences:\n" + "\n".join(unexplained)
    stale = {k for k in KNOWN_DIFFERENCES if k.startswith("mail-parser/")} - used
    assert not stale, f"listed differences that no longer occur: {sorted(stale)}"


# --- mime4j --------------------------------------------------------------------

TAG = re.compile(rb"<(/?)(message|multipart|body-part|text-body|binary-body|header|preamble|"
                 rb"epilogue|body)\b([^>]*?)(/?)>")


def mime4j_shape(xml):
    """Nesting as a string (M[...] multipart, R(...) message part, L leaf) and the
    leaf file names in document order."""
    root = {"tag": "root", "kids": []}
    stack, leaves = [root], []
    for m in TAG.finditer(xml):
        close, tag, attrs, self_close = m.groups()
        tag = tag.decode()
        if tag in ("header", "preamble", "epilogue", "body"):
            continue
        if close:
            stack.pop()
            continue
        node = {"tag": tag, "kids": []}
        stack[-1]["kids"].append(node)
        if tag in ("text-body", "binary-body"):
            leaves.append(re.search(rb'name="([^"]*)"', attrs).group(1).decode())
        elif not self_close:
            stack.append(node)

    def shape(n):
        if n["tag"] == "message":
            return "".join(shape(k) for k in n["kids"]) or "L"
        if n["tag"] == "multipart":
            return "M[" + ",".join(shape(k) for k in n["kids"]) + "]"
        if n["tag"] == "body-part" and n["kids"]:
            k = n["kids"][0]
            return "R(" + shape(k) + ")" if k["tag"] == "message" else shape(k)
        return "L"

    return shape(root["kids"][0]), leaves


def tern_shape(tree):
    parts, leaves = tree["parts"], []

    def shape(i):
        p = parts[i]
        if p["kind"] == "leaf":
            leaves.append(p)
            return "L"
        if p["kind"] == "multipart":
            return "M[" + ",".join(shape(c) for c in p["children"]) + "]"
        return "R(" + shape(p["children"][0]) + ")"

    return shape(0), leaves


MULTIPART_TOKEN = re.compile(r"<(/?)(multipart|preamble|epilogue)>")


def mime4j_preambles_epilogues(xml):
    """[preamble, epilogue] per multipart in start-tag order, from the raw-event XML
    (read as ISO-8859-1, so characters map 1:1 to bytes)."""
    stack, out = [], []
    for m in MULTIPART_TOKEN.finditer(xml):
        close, tag = m.groups()
        if tag == "multipart":
            if close:
                stack.pop()
            else:
                out.append([None, None])
                stack.append(len(out) - 1)
        elif not close:
            end = xml.index(f"</{tag}>", m.end())
            text = re.sub(r"^\r?\n", "", xml[m.end():end], count=1)  # the XML's own line break
            out[stack[-1]][0 if tag == "preamble" else 1] = html.unescape(text) or None
    return out


def test_mime4j_corpus_agrees_except_listed_differences():
    require_inputs()
    unexplained, used, checked = [], set(), 0
    for msg in mime4j_cases():
        decoded = msg[:-4] + "_decoded.xml"
        if not os.path.exists(decoded):
            continue
        checked += 1
        name = os.path.relpath(msg, TESTDATA)[:-4]
        with open(decoded, "rb") as f:
            want_shape, want_leaves = mime4j_shape(f.read())
        diffs = []
        with open(msg[:-4] + ".xml", "rb") as f:
            want_ranges = mime4j_preambles_epilogues(f.read().decode("latin-1"))
        with open(msg, "rb") as f:
            raw = f.read().decode("latin-1")
        tree = dump(msg)
        got_ranges = [[raw[slice(*p["preamble"])] or None, raw[slice(*p["epilogue"])] or None]
                      for p in tree["parts"] if p["kind"] == "multipart"]
        if want_ranges != got_ranges:
            diffs.append(("preamble-epilogue", want_ranges, got_ranges))
        got_shape, got_leaves = tern_shape(tree)
        if want_shape != got_shape:
            diffs.append(("shape", want_shape, got_shape))
        else:
            for leaf_name, part in zip(want_leaves, got_leaves):
                with open(os.path.join(os.path.dirname(msg), leaf_name), "rb") as f:
                    want = f.read()
                got = base64.b64decode(part["decoded_base64"])
                if want != got:
                    diffs.append(("leaf", f"{leaf_name} {len(want)} bytes", f"{len(got)} bytes"))
                    break
        for what, want, got in diffs:
            key = f"{name}:{what}"
            if key in KNOWN_DIFFERENCES:
                used.add(key)
            else:
                unexplained.append(f"{key}: mime4j {want!r}, tern {got!r}")
    assert checked >= 75, f"only {checked} mime4j cases found"
    assert not unexplained, "unlisted differences:\n" + "\n".join(unexplained)
    stale = {k for k in KNOWN_DIFFERENCES if k.startswith("mime4j/")} - used
    assert not stale, f"listed differences that no longer occur: {sorted(stale)}"


def test_lf_and_crlf_forms_give_the_same_tree():
    require_inputs()
    for eml, mode, _ in mail_parser_cases():
        if mode != "lf":
            continue
        lf, crlf = dump(eml, "lf"), dump(eml, "crlf")
        shape = lambda t: [(p["kind"], p["type"], p["subtype"], p["children"]) for p in t["parts"]]
        assert shape(lf) == shape(crlf), eml
        # Line ends inside UTF-16/32 text are not bytes 0D 0A; skip those parts.
        texts = lambda t: [p.get("text", "").replace("\r\n", "\n") for p in t["parts"]
                           if "utf-16" not in p["params"].get("charset", "").lower()]
        assert texts(lf) == texts(crlf), eml


def test_every_listed_reason_is_documented():
    doc = os.path.join(SOURCE, "docs", "mime-differences.md")
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    parsing = text.split("## Parsing", 1)[1].split("\n## ", 1)[0]
    for reason in set(KNOWN_DIFFERENCES.values()):
        assert f"**{reason}**" in parsing, f"{reason} is not explained in docs/mime-differences.md"
