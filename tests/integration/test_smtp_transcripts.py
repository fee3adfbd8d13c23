# SPDX-License-Identifier: Apache-2.0
"""Plays tests/transcripts/{smtp,lmtp}/*.txt against a live ternd (the same files
the in-process runner in src/services/smtp/handlers_test.cpp plays against the
engine, the handlers and store::memory). The format is described in
src/services/smtp/transcript.hpp."""
from pathlib import Path

import pytest

from conftest import tern_cli
from store_view import inbox, queue_ids
from test_smtp import AUTH_FAST, DEFER_REMOTE, Raw, listeners

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "transcripts"
FILES = sorted(list((TRANSCRIPTS / "smtp").glob("*.txt")) + list((TRANSCRIPTS / "lmtp").glob("*.txt")))


def unescape(text):
    out = bytearray()
    i = 0
    raw = text.encode()
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b"\\" and i + 1 < len(raw):
            n = raw[i + 1:i + 2]
            if n == b"x":
                out += bytes([int(raw[i + 2:i + 4], 16)])
                i += 4
                continue
            out += {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\"}[n]
            i += 2
            continue
        out += c
        i += 1
    return bytes(out)


def parse(path):
    setup = {"role": "smtp", "domains": [], "users": [], "aliases": [], "limits": {}}
    steps = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        line = line.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        head, rest = line[:2], line[3:]
        if head in ("C:", "C<"):
            steps.append(("send", unescape(rest) + (b"\r\n" if head == "C:" else b""), number))
        elif head in ("S:", "S~"):
            steps.append(("expect" if head == "S:" else "prefix", unescape(rest).decode(), number))
        elif head == "! ":
            words = line[2:].split()
            kind = words[0]
            if kind == "role":
                setup["role"] = words[1]
            elif kind == "domain":
                setup["domains"].append(words[1])
            elif kind == "user":
                setup["users"].append(words[1:])
            elif kind == "alias":
                setup["aliases"].append(words[1:])
            elif kind == "limit":
                setup["limits"][words[1]] = int(words[2])
            else:
                steps.append((kind, words[1:], number))
        else:
            raise AssertionError(f"{path.name}:{number}: unknown line")
    return setup, steps


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_transcript(ternd_factory, path):
    setup, steps = parse(path)
    smtp = "".join(f"{k} = {v}\n" for k, v in setup["limits"].items())
    server = ternd_factory(listeners(("l", setup["role"], "starttls")),
                           extra=AUTH_FAST + DEFER_REMOTE + ("[smtp]\n" + smtp if smtp else ""))
    port = server.wait_listening("l")
    for domain in setup["domains"]:
        tern_cli(server.config, "domain", "add", domain)
    for user in setup["users"]:
        args = ["user", "add", user[0], "--password-stdin"]
        if len(user) > 2:
            args += ["--quota", user[2]]
        tern_cli(server.config, *args, input=user[1] + "\n")
    for source, destination in setup["aliases"]:
        tern_cli(server.config, "alias", "add", source, destination)

    client = Raw(port)
    pending = b""
    for kind, arg, number in steps:
        where = f"{path.name}:{number}"
        if kind == "send":
            # Consecutive C lines go out in one write, as a pipelining client sends
            # them (and so that bytes after STARTTLS arrive before the handshake).
            pending += arg
            continue
        if pending:
            client.send(pending)
            pending = b""
        if kind in ("expect", "prefix"):
            line = client.line()
            if kind == "expect":
                assert line == arg, where
            else:
                assert line.startswith(arg), f"{where}: {line!r}"
        elif kind == "tls":
            client.starttls()
        elif kind == "inbox":
            assert len(inbox(server, arg[0])) == int(arg[1]), where
        elif kind == "queue":
            assert len(queue_ids(server)) == int(arg[0]), where
        elif kind == "closed":
            assert client.closed(), where
        else:
            raise AssertionError(f"{where}: unknown directive {kind}")
    if pending:
        client.send(pending)
    client.close()
