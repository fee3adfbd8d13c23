# SPDX-License-Identifier: Apache-2.0
"""IMAP response parsing for the differential tests of tern's MIME facts (ENVELOPE,
BODYSTRUCTURE, sections) against Debian's dovecot-imapd; the Dovecot itself is
dovecot_fixture.Dovecot."""
from dovecot_fixture import DOVECOT, PASSWORD, USER, Dovecot  # noqa: F401 (re-exported)


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
