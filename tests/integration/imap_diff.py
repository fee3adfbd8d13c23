# SPDX-License-Identifier: Apache-2.0
"""Machinery of the IMAP differential test (test_imap_dovecot.py): a raw IMAP client
that keeps every untagged response, a response tokenizer, the normalisation of what
legitimately differs between two servers, and the Recorder that scenarios talk to.

A scenario is a function `scenario(rec)` that opens sessions with `rec.session()`
and runs labelled commands on them; the Recorder stores each command's normalised
untagged responses and tagged status under (session, label). The same scenario runs
once against ternd and once against Dovecot, and the two transcripts are compared
label by label."""
import datetime
import re
import select
import socket
import time

from mime_normalize import normalize_body

# --- a raw client ------------------------------------------------------------------


class ImapError(AssertionError):
    pass


class Client:
    """One IMAP connection. Responses are returned as raw bytes with literals inlined
    (`{n}\\r\\n<n octets>`), exactly as the server sent them."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.tag = 0
        greeting = self.read_response()
        if not greeting.startswith(b"* OK"):
            raise ImapError(f"greeting: {greeting!r}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, timeout=None):
        if timeout is not None:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return False
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ImapError("connection closed by the server")
        self.buf += chunk
        return True

    def read_response(self, timeout=None):
        """One response line with its literals, or None when nothing arrives within
        `timeout` seconds (None: wait for the socket timeout)."""
        if timeout is not None and not self.buf and not self._fill(timeout):
            return None
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line
            m = re.search(rb"~?\{(\d+)\+?\}$", line)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]

    def send_command(self, parts):
        """Sends `parts` (str pieces joined as they are; bytes pieces as synchronising
        literals) under a new tag; returns the tag."""
        self.tag += 1
        tag = f"t{self.tag}"
        line = tag.encode() + b" "
        for part in parts:
            if isinstance(part, str):
                line += part.encode()
                continue
            self.sock.sendall(line + b"{%d}\r\n" % len(part))
            while True:
                resp = self.read_response()
                if resp.startswith(b"+"):
                    break
                if resp.startswith(tag.encode() + b" "):
                    raise ImapError(f"literal refused: {resp!r}")
            line = part
        self.sock.sendall(line + b"\r\n")
        return tag

    def until_tagged(self, tag):
        untagged = []
        while True:
            resp = self.read_response()
            if resp.startswith(tag.encode() + b" "):
                return untagged, resp[len(tag) + 1:]
            untagged.append(resp)

    def command(self, *parts):
        """(untagged responses, tagged status line without the tag)."""
        return self.until_tagged(self.send_command(parts))

    def collect(self, first_wait=5.0, quiet=0.7):
        """Untagged responses that arrive on their own (IDLE): waits up to `first_wait`
        for the first, then until nothing has come for `quiet` seconds."""
        out = []
        wait = first_wait
        while True:
            resp = self.read_response(timeout=wait)
            if resp is None:
                return out
            out.append(resp)
            wait = quiet


# --- tokens -------------------------------------------------------------------------


def tokenize(data: bytes):
    """A response as nested lists: atoms are str (a `[...]` section stays inside its
    atom, as in `BODY[HEADER.FIELDS (A B)]<0>`), quoted strings and literals are
    bytes, NIL is None, parenthesised lists are lists."""
    pos = 0
    stack = [[]]
    n = len(data)
    while pos < n:
        c = data[pos:pos + 1]
        if c == b" ":
            pos += 1
        elif c == b"(":
            stack.append([])
            pos += 1
        elif c == b")":
            done = stack.pop()
            stack[-1].append(done)
            pos += 1
        elif c == b'"':
            out = bytearray()
            pos += 1
            while data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                out += data[pos:pos + 1]
                pos += 1
            stack[-1].append(bytes(out))
            pos += 1
        elif c in (b"{", b"~") and re.match(rb"~?\{\d+\+?\}\r\n", data[pos:]):
            close = data.index(b"}", pos)
            count = int(data[pos:close].lstrip(b"~{").rstrip(b"+"))
            start = close + 3
            stack[-1].append(data[start:start + count])
            pos = start + count
        else:
            end = pos
            depth = 0
            while end < n:
                ch = data[end:end + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")"):
                    break
                end += 1
            atom = data[pos:end].decode("utf-8", "replace")
            stack[-1].append(None if atom.upper() == "NIL" else atom)
            pos = end
    while len(stack) > 1:  # an unbalanced response: keep what was read
        done = stack.pop()
        stack[-1].append(done)
    return stack[0]


# --- normalisation ---------------------------------------------------------------------

STATUS_WORDS = {"OK", "NO", "BAD", "BYE", "PREAUTH"}
# Response codes whose text is server-specific and carries no protocol meaning
# here, or that only tern sends: MAILBOXID (RFC 8474 OBJECTID, which Dovecot 2.3
# does not implement) in SELECT/EXAMINE and CREATE.
DROPPED_CODES = {"CAPABILITY", "MAILBOXID"}


class Normalizer:
    """What legitimately differs between two servers, per transcript: UIDVALIDITY
    values become V1, V2, ... in order of first appearance; mod-sequences are
    replaced by their rank among all mod-sequences the transcript saw (so only their
    relative order is compared); response text is dropped (codes are kept);
    CAPABILITY lists are dropped; flag lists are sorted."""

    def __init__(self, strip_recent=False, strip_highestmodseq=False):
        self.uidvalidity = {}
        # Listed global difference `highestmodseq`: the untagged OK [HIGHESTMODSEQ] of
        # a SELECT/EXAMINE before any CONDSTORE-enabling command is removed;
        # saw_early_highestmodseq records whether this server sent one.
        self.strip_highestmodseq = strip_highestmodseq
        self.saw_early_highestmodseq = False
        self.modseqs = set()
        # Listed global difference `recent`: \Recent, `n RECENT` and STATUS RECENT are
        # removed; saw_recent records whether this server reported any recent message.
        self.strip_recent = strip_recent
        self.saw_recent = False

    def flags(self, flags):
        if "\\Recent" in flags:
            self.saw_recent = True
            if self.strip_recent:
                flags = [f for f in flags if f != "\\Recent"]
        return tuple(sorted(flags))

    def validity(self, value):
        return self.uidvalidity.setdefault(value, f"V{len(self.uidvalidity) + 1}")

    def modseq(self, value):
        """Mod-sequence values are server-chosen (Dovecot gives all messages saved in
        one transaction one value, tern one per append); only their effect is
        compared: which messages CHANGEDSINCE, UNCHANGEDSINCE and SEARCH MODSEQ
        select, given values the scenario took from the same server."""
        self.modseqs.add(int(value))
        return "M"

    @staticmethod
    def save_date(value):
        """RFC 8514: a save date is the server's clock at the APPEND, COPY or MOVE,
        so two servers differ by seconds. A date-time within a day of now compares
        as "recent"; anything else (NIL, or an APPEND's INTERNALDATE wrongly
        reused) as it is."""
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        if not isinstance(text, str):
            return value
        try:
            when = datetime.datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z")
        except ValueError:
            return value
        now = datetime.datetime.now(datetime.timezone.utc)
        return "recent" if abs((now - when).total_seconds()) < 86400 else value

    condstore = True  # set per command by the Recorder

    def status(self, word, rest: bytes, untagged=False):
        """`OK [CODE args] text` → (word, code...) without the text."""
        if not rest.startswith(b"["):
            return (word,)
        end = rest.find(b"]")
        code = rest[1:end].decode("utf-8", "replace").split(" ", 1)
        name = code[0].upper()
        args = code[1] if len(code) > 1 else ""
        if name in DROPPED_CODES:
            return (word,)
        if name == "UIDVALIDITY":
            return (word, name, self.validity(args))
        if name in ("APPENDUID", "COPYUID"):
            first, _, more = args.partition(" ")
            return (word, name, self.validity(first), more)
        if name == "HIGHESTMODSEQ" and not self.condstore and word == "OK" and untagged:
            self.saw_early_highestmodseq = True
            if self.strip_highestmodseq:
                return None
        if name in ("HIGHESTMODSEQ", "NOMODSEQ"):
            return (word, name, self.modseq(args) if args else "")
        if name == "MODIFIED":
            return (word, name, args)
        if name == "PERMANENTFLAGS":
            return (word, name, self.defined_flags(args.strip("()").split()))
        return (word, name, args)

    @staticmethod
    def defined_flags(flags):
        """A FLAGS or PERMANENTFLAGS list (system flags and the mailbox's keywords,
        RFC 9051 §7.3.5), sorted."""
        return tuple(sorted(flags))

    def fetch_items(self, items, mask=()):
        out = {}
        for i in range(0, len(items) - 1, 2):
            name = str(items[i]).upper()
            value = items[i + 1]
            if name in mask:
                value = "*"
            elif name == "FLAGS":
                value = self.flags(value)
            elif name == "MODSEQ":
                value = self.modseq(value[0])
            elif name == "SAVEDATE":
                value = self.save_date(value)
            elif name in ("BODY", "BODYSTRUCTURE") and isinstance(value, list):
                # The MIME-level normalisations of the MIME differential test
                # (mime_normalize.NORMALIZATIONS, docs/mime-differences.md).
                value = normalize_body(value)
            out[name] = value
        return out

    def response(self, raw: bytes, mask=()):
        """One untagged response, normalised; None when it is dropped entirely."""
        tokens = tokenize(raw[2:] if raw.startswith(b"* ") else raw)
        if not tokens:
            return None
        head = str(tokens[0]).upper() if isinstance(tokens[0], str) else ""
        if head in STATUS_WORDS:
            rest = raw[2:] if raw.startswith(b"* ") else raw
            rest = rest[len(head):].lstrip(b" ")
            normalised = self.status(head, rest, untagged=True)
            # An untagged OK without a code is only text ("Still here", "Idling").
            return None if normalised in (("OK",), None) or normalised[-1] is None else normalised
        if head in ("CAPABILITY", "ID"):
            return None
        if head == "FLAGS":
            return (head, self.defined_flags(tokens[1]))
        if head in ("LIST", "LSUB"):
            attrs = tuple(sorted(a.lower() for a in tokens[1]))
            extra = [self.list_extended(x) for x in tokens[4:]]
            return (head, attrs, tokens[2], mailbox_name(tokens[3]), *extra)
        if head == "STATUS":
            items = tokens[2]
            values = {}
            for i in range(0, len(items) - 1, 2):
                name = items[i].upper()
                value = items[i + 1]
                if name == "UIDVALIDITY":
                    value = self.validity(value)
                elif name == "RECENT":
                    self.saw_recent |= value != "0"
                    if self.strip_recent:
                        continue
                elif name == "HIGHESTMODSEQ":
                    value = self.modseq(value)
                values[name] = value
            return (head, mailbox_name(tokens[1]), values)
        if head == "THREAD":
            # RFC 5256 §4: the nesting and order are the answer.
            return (head, repr(tokens[1:]))
        if head == "SORT":
            # RFC 5256 §4: the order is the answer.
            numbers = tuple(int(t) for t in tokens[1:] if not isinstance(t, list))
            modseq = [self.modseq(t[1]) for t in tokens[1:] if isinstance(t, list)]
            return (head, numbers, *modseq)
        if head == "SEARCH":
            numbers = [t for t in tokens[1:] if not isinstance(t, list)]
            modseq = [self.modseq(t[1]) for t in tokens[1:] if isinstance(t, list)]
            return (head, tuple(sorted(int(x) for x in numbers)), *modseq)
        if head == "ESEARCH":
            out = [head]
            rest = tokens[1:]
            if rest and isinstance(rest[0], list):
                out.append(("TAG",))
                rest = rest[1:]
            i = 0
            while i < len(rest):
                word = str(rest[i]).upper()
                if word == "UID":
                    out.append("UID")
                    i += 1
                    continue
                value = rest[i + 1] if i + 1 < len(rest) else None
                if word == "MODSEQ":
                    value = self.modseq(value)
                out.append((word, value))
                i += 2
            return tuple(out)
        if head == "VANISHED":
            return tuple(str(t) if not isinstance(t, list) else tuple(t) for t in tokens)
        if head == "ENABLED":
            return (head, tuple(sorted(t.upper() for t in tokens[1:])))
        if head == "NAMESPACE":
            return tuple(repr(t) for t in tokens)
        # `n EXISTS`, `n EXPUNGE`, `n RECENT`, `n FETCH (...)`.
        if len(tokens) >= 2 and isinstance(tokens[1], str):
            kind = tokens[1].upper()
            if kind == "FETCH":
                return (int(tokens[0]), kind, self.fetch_items(tokens[2], mask))
            if kind == "RECENT":
                self.saw_recent |= tokens[0] != "0"
                if self.strip_recent:
                    return None
            return (int(tokens[0]), kind)
        return tuple(repr(t) for t in tokens)

    def list_extended(self, item):
        if isinstance(item, list):
            return tuple(self.list_extended(x) for x in item)
        return item


def mailbox_name(token):
    """An astring: the atom INBOX and the quoted "INBOX" are the same name."""
    return token.encode() if isinstance(token, str) else token


def original_expunges(responses):
    """A run of `n EXPUNGE` responses as the set of sequence numbers the messages had
    before the run: a server may announce several expunges in any order, each
    renumbering the rest (RFC 9051 §7.5.1), so `2,3,3` and `5,4,2` say the same."""
    expunged = []
    for n in responses:
        original = n
        for gone in sorted(expunged):
            if gone <= original:
                original += 1
        expunged.append(original)
    return tuple(sorted(expunged))


def canonical(responses):
    """Order-free parts of one command's responses in a canonical order: LIST/LSUB
    responses sorted (their order is unspecified), runs of EXPUNGE as the original
    sequence numbers."""
    out = []
    i = 0
    while i < len(responses):
        r = responses[i]
        if isinstance(r, tuple) and len(r) == 2 and r[1] == "EXPUNGE":
            run = []
            while i < len(responses) and isinstance(responses[i], tuple) and \
                    len(responses[i]) == 2 and responses[i][1] == "EXPUNGE":
                run.append(responses[i][0])
                i += 1
            out.append(("EXPUNGED", original_expunges(run)))
            continue
        out.append(r)
        i += 1
    lists = sorted((r for r in out if r and r[0] in ("LIST", "LSUB")), key=repr)
    others = [r for r in out if not (r and r[0] in ("LIST", "LSUB"))]
    return others + lists


# --- recording ------------------------------------------------------------------------------


class Session:
    """A logged-in Client whose commands are recorded under labels."""

    def __init__(self, recorder, name, client):
        self.rec = recorder
        self.name = name
        self.client = client

    condstore = False  # whether a CONDSTORE-enabling command was sent (RFC 7162 §3.1)

    def cmd(self, label, *parts, mask=()):
        """Runs one command; records (normalised untagged responses, tagged status)
        under `label`; returns the raw (untagged, tagged) for the scenario's use."""
        text = " ".join(p for p in parts if isinstance(p, str)).upper()
        if any(w in text for w in ("CONDSTORE", "QRESYNC", "MODSEQ", "CHANGEDSINCE")):
            self.condstore = True
        self.rec.norm.condstore = self.condstore
        untagged, tagged = self.client.command(*parts)
        self.rec.record(self.name, label, untagged, tagged, mask)
        return untagged, tagged

    def idle(self, label, trigger, mask=()):
        """IDLE; runs `trigger()` (the other session's commands) once the server has
        said `+`; records what arrives unsolicited, then DONE and the completion."""
        tag = self.client.send_command(["IDLE"])
        resp = self.client.read_response()
        if not resp.startswith(b"+"):
            raise ImapError(f"IDLE refused: {resp!r}")
        trigger()
        self.rec.norm.condstore = self.condstore
        pushed = self.client.collect()
        self.client.sock.sendall(b"DONE\r\n")
        untagged, tagged = self.client.until_tagged(tag)
        self.rec.record(self.name, label, pushed + untagged, tagged, mask)

    def logout(self):
        self.client.command("LOGOUT")
        self.client.close()


class Recorder:
    """One scenario's run against one server: opens logged-in sessions as `user` and
    keeps the transcript {(session, label): (responses, status)}."""

    def __init__(self, port, user, password, globals_listed=()):
        self.port = port
        self.user = user
        self.password = password
        self.norm = Normalizer("recent" in globals_listed, "highestmodseq" in globals_listed)
        self.transcript = {}
        self.sessions = []

    def session(self, name):
        client = Client(self.port)
        _, tagged = client.command(f'LOGIN "{self.user}" "{self.password}"')
        if not tagged.startswith(b"OK"):
            raise ImapError(f"LOGIN {self.user}: {tagged!r}")
        s = Session(self, name, client)
        self.sessions.append(s)
        return s

    def record(self, session, label, untagged, tagged, mask):
        key = f"{session}:{label}"
        if key in self.transcript:
            raise ImapError(f"label {key} used twice")
        responses = [r for r in (self.norm.response(u, mask) for u in untagged) if r is not None]
        word = tagged.split(b" ", 1)[0].decode().upper()
        status = self.norm.status(word, tagged[len(word):].lstrip(b" "))
        self.transcript[key] = (canonical(responses), status)

    def close(self):
        for s in self.sessions:
            try:
                s.logout()
            except (OSError, ImapError):
                s.client.close()

    def result(self):
        return self.transcript


def uidvalidity(untagged):
    """The UIDVALIDITY value from a SELECT's untagged responses."""
    for raw in untagged:
        m = re.search(rb"\[UIDVALIDITY (\d+)\]", raw)
        if m:
            return int(m.group(1))
    raise ImapError("no UIDVALIDITY in the SELECT responses")


def highestmodseq(untagged):
    for raw in untagged:
        m = re.search(rb"\[HIGHESTMODSEQ (\d+)\]", raw)
        if m:
            return int(m.group(1))
    raise ImapError("no HIGHESTMODSEQ in the SELECT responses")


def wait(seconds):
    time.sleep(seconds)
