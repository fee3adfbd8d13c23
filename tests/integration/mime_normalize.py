# SPDX-License-Identifier: Apache-2.0
"""Normalisations the Dovecot differential test applies to BOTH sides before
comparing BODYSTRUCTURE and BINARY.SIZE. Each one is a documented, deliberate
difference (docs/mime-differences.md "## IMAP"), applied by rule because it touches
most messages; everything else is compared exactly."""
import email.header
import urllib.parse

NORMALIZATIONS = {
    "lower-case-tokens": "tern sends media types, subtypes, parameter names and "
                         "disposition types in lower case (RFC 2045 §5.1, RFC 2183 §2: "
                         "case-insensitive); Dovecot repeats the sender's case",
    "decoded-parameters": "tern sends parameter values decoded (RFC 2231 continuations "
                          "and charsets, as RFC 9051 §7.5.2 says servers SHOULD; RFC 2047 "
                          "words that clients put in quoted values; 8-bit converted to "
                          "UTF-8); Dovecot sends name* and =?..?= forms raw",
    "charset-case": "charset values compare case-insensitively (RFC 2046 §4.1.2); Dovecot "
                    "lower-cases some (us-ascii), tern repeats the sender's spelling",
    "lenient-decoding": "tern decodes damaged base64 and quoted-printable leniently "
                        "(RFC 2045 §6.8: characters outside the alphabet are ignored; "
                        "§6.7 note 2: keep malformed =XX as text) and answers BINARY.SIZE; "
                        "Dovecot fails the FETCH with NO [PARSE]",
    "binary-of-composite": "BINARY[n] of a multipart or message part is its body "
                           "unchanged in tern: RFC 2045 §6.4 allows composite types only "
                           "identity encodings, so there is nothing to decode; Dovecot "
                           "rewrites the parts inside",
}


def _text(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def _lower(v):
    return v.lower() if isinstance(v, bytes) else v


def _decode_value(name: bytes, value: bytes):
    """Returns (name, value) with the RFC 2231 / RFC 2047 / 8-bit encodings undone."""
    if value is None:
        return name, value
    if name.endswith(b"*"):
        name = name[:-1]
        parts = value.split(b"'", 2)
        if len(parts) == 3:
            charset = parts[0].decode("ascii", "replace") or "us-ascii"
            raw = urllib.parse.unquote_to_bytes(parts[2])
            try:
                return name, raw.decode(charset).encode()
            except (LookupError, UnicodeDecodeError):
                return name, raw.decode("latin-1").encode()
    if b"=?" in value:
        try:
            chunks = email.header.decode_header(value.decode("latin-1"))
            out = "".join(c.decode(cs or "latin-1", "replace") if isinstance(c, bytes) else c
                          for c, cs in chunks)
            return name, out.encode()
        except (LookupError, ValueError):
            pass
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        value = value.decode("cp1252", "replace").encode()
    return name, value


def _params(params):
    if not isinstance(params, list):
        return params
    out = []
    for i in range(0, len(params) - 1, 2):
        name, value = _decode_value(_lower(params[i]), params[i + 1])
        if name == b"charset":
            value = _lower(value)
        out += [name, value]
    return out


def _disposition(d):
    if isinstance(d, list) and len(d) == 2:
        return [_lower(d[0]), _params(d[1])]
    return d


def normalize_body(body):
    """Applies lower-case-tokens and decoded-parameters to a BODYSTRUCTURE value."""
    if not isinstance(body, list) or not body:
        return body
    if isinstance(body[0], list):  # multipart: bodies, subtype, params, dsp, lang, loc
        n = 0
        while n < len(body) and isinstance(body[n], list):
            body[n] = normalize_body(body[n])
            n += 1
        if n < len(body):
            body[n] = _lower(body[n])
        if n + 1 < len(body):
            body[n + 1] = _params(body[n + 1])
        if n + 2 < len(body):
            body[n + 2] = _disposition(body[n + 2])
        return body
    body[0] = _lower(body[0])
    body[1] = _lower(body[1])
    body[2] = _params(body[2])
    rest = 7
    if body[0] == b"message" and body[1] in (b"rfc822", b"global") and len(body) > 9:
        body[8] = normalize_body(body[8])
        rest = 10
    elif body[0] == b"text":
        rest = 8
    # extension data: md5, disposition, language, location
    if len(body) > rest + 1:
        body[rest + 1] = _disposition(body[rest + 1])
    return body


def first_part_is_composite(bodystructure):
    """True when section 1 is a multipart or message part (RFC 9051 §6.4.5)."""
    if not isinstance(bodystructure, list) or not bodystructure:
        return False
    part = bodystructure[0] if isinstance(bodystructure[0], list) else bodystructure
    if not isinstance(part, list) or not part:
        return False
    if isinstance(part[0], list):
        return True
    return part is not bodystructure and _lower(part[0]) == b"message" and \
        _lower(part[1]) in (b"rfc822", b"global")


def normalize_binary_size(ours, theirs):
    """Applies unknown-cte spelling and lenient-decoding to the BINARY.SIZE[1] pair."""
    o, t = ours, theirs
    if isinstance(o, str) and o.endswith("unknown-cte"):
        o = "UNKNOWN-CTE"
    if isinstance(t, str) and "[UNKNOWN-CTE]" in t:
        t = "UNKNOWN-CTE"
    if isinstance(t, str) and "[PARSE]" in t and isinstance(o, str) and o.isdigit():
        t = o
    return o, t
