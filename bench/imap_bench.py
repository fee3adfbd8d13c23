#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""IMAP, tern vs Dovecot 2.3 in the same run (issue #5). Three parts:

  idle     memory per idle logged-in IDLE connection at 1,000 and 10,000
           connections: PSS of all server processes with N connections in IDLE,
           minus the PSS before they connected, divided by N. One client process
           holds every connection with non-blocking sockets (selectors).
  mailbox  a 100,000-message mailbox: wall time (and server CPU) of
           `UID FETCH 1:* (UID FLAGS)`, `FETCH 1:* (ENVELOPE)`,
           `UID SEARCH SUBJECT "word"`, `UID SEARCH BODY "word"`, `UID SORT` by date
           and by subject and `UID THREAD REFERENCES`, warm (after a
           first SELECT and a first run) and on the first run after server start.
  mixed    C clients in a loop of LOGIN, SELECT, APPEND, FETCH, UID FETCH,
           UID STORE, SEARCH, EXPUNGE, LOGOUT, each as its own user: commands/s and
           server CPU per command (user+sys from /proc, Dovecot's reaped children
           included).

Rounds alternate tern, dovecot, tern, ...; medians are reported. tern is loaded
through IMAP APPEND (LITERAL+, pipelined), Dovecot through Maildir files. Needs root
(Dovecot's mail processes run as nobody; 10,000 connections need a raised
RLIMIT_NOFILE). Never a test; see bench/README.md.

Usage: bench/imap_bench.py <build-dir> [--parts idle,mailbox,mixed]
           [--idle 1000,10000] [--messages 100000] [--clients 10,50]
           [--rounds 3] [--seconds 15] [--work DIR]

--work keeps the servers' data in DIR instead of a temporary directory, and the
mailbox part then reuses a mailbox loaded by an earlier run with the same
--messages (a tern built from a newer tree opens the old store and migrates it).
"""
import argparse
import asyncio
import os
import random
import re
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (cpu_seconds, free_port, mem_available_kib, pss_kib, raise_nofile,
                      start_dovecot, stop, wait_port)

DOMAIN = "bench.test"
PASSWORD = "bench password"
REPO = Path(__file__).resolve().parents[1]
# tern allows 20 logged-in connections per account (src/services/imap/service.hpp).
CONNECTIONS_PER_USER = 20
# The idle part stops opening connections when the machine has less than this left.
MEMORY_FLOOR_KIB = 4 * 1024 * 1024

# Dovecot's limits for many connections (bench/README.md says why): login processes
# in high-performance mode (service_count = 0), one imap process per connection
# (Dovecot's default and recommended setup, client_limit = 1), and every
# process/client limit raised above the connection count.
DOVECOT_MANY = """
default_process_limit = 12000
default_client_limit = 15000
default_vsz_limit = 1G
service imap-login {{
  service_count = 0
  process_min_avail = 2
  client_limit = 4000
}}
service imap {{
  process_limit = {imap_processes}
}}
protocol imap {{
  mail_max_userip_connections = 100000
}}
"""

WORDS = ("report budget meeting invoice lunch garden project travel release update "
         "weekly minutes agenda draft review photo ticket order account contract").split()
NAMES = ("alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia "
         "peggy rupert sybil trent victor walter").split()


# --- messages ------------------------------------------------------------------------


def make_message(i, rng):
    """A varied message (plain or multipart, 0.5-12 KiB) with CRLF line ends. Every
    97th subject carries "zebra" and every 89th body "quokka" (the search words)."""
    sender = rng.choice(NAMES)
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
    if i % 97 == 0:
        subject += " zebra"
    day = 1 + i % 28
    lines = []
    for _ in range(rng.randint(8, 150)):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))))
    if i % 89 == 0:
        lines.insert(rng.randint(0, len(lines)), "the quokka sends regards")
    body = "\r\n".join(lines) + "\r\n"
    head = (f"From: {sender.title()} <{sender}@example.org>\r\n"
            f"To: user@{DOMAIN}\r\nSubject: {subject} {i}\r\n"
            f"Date: Mon, {day} Nov 2025 {i % 24:02d}:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <{i}.{sender}@example.org>\r\n")
    if i % 5 == 0:
        head += ("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                 "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body +
                 "--b\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n" +
                 "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n" * rng.randint(1, 20) + "--b--\r\n")
        return head.encode()
    return (head + "\r\n" + body).encode()


def messages(count, seed):
    rng = random.Random(seed)
    return [make_message(i, rng) for i in range(count)]


def fill_maildir(home: Path, user, data, seen_every=3):
    """Writes messages as Maildir files in cur/ (LF line ends; S= file size and W=
    CRLF size in the name; every `seen_every`th flagged \\Seen), the way Dovecot
    stores them."""
    cur = home / user / "Maildir" / "cur"
    cur.mkdir(parents=True)
    for sub in ("new", "tmp"):
        (cur.parent / sub).mkdir()
    for i, m in enumerate(data):
        lf = m.replace(b"\r\n", b"\n")
        flags = "S" if i % seen_every == 0 else ""
        name = cur / f"{1700000000 + i}.M{i}P1.bench,S={len(lf)},W={len(m)}:2,{flags}"
        name.write_bytes(lf)
        os.utime(name, (1700000000 + i, 1700000000 + i))


# --- a blocking client ---------------------------------------------------------------------


class Client:
    def __init__(self, port, timeout=600):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # Unread input is self.buf[self.pos:]. Lines are cut at an offset instead of
        # re-slicing the rest of the buffer per line, which cost time quadratic in
        # the size of each recv() and so made the wall time depend on how large the
        # server's writes are rather than on the server.
        self.buf = b""
        self.pos = 0
        self.n = 0
        self.line()

    def fill(self, wanted):
        """Reads until at least `wanted` bytes are unread."""
        while len(self.buf) - self.pos < wanted:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise SystemExit("connection closed")
            self.buf = self.buf[self.pos:] + chunk
            self.pos = 0

    def line(self):
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos:end]
                self.pos = end + 2
                return line
            self.fill(len(self.buf) - self.pos + 1)

    def command(self, text):
        """Sends `text`, reads to the tagged completion; returns (status line, bytes
        of response read). Literals are skipped by size, so no byte inside a message
        can end the response early."""
        self.n += 1
        tag = f"x{self.n}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        total = 0
        while True:
            line = self.line()
            total += len(line) + 2
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                n = int(m.group(1))
                self.fill(n)
                self.pos += n
                total += n
                continue
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise SystemExit(f"{text!r}: {line!r}")
                return line, total

    def login(self, user):
        self.command(f'LOGIN "{user}" "{PASSWORD}"')

    def append_many(self, mailbox, data, flags_for):
        """APPENDs with LITERAL+ (RFC 7888), 64 in flight."""
        pending = []
        for i, m in enumerate(data):
            self.n += 1
            tag = f"a{self.n}".encode()
            flags = flags_for(i)
            self.sock.sendall(tag + f" APPEND {mailbox} {flags} {{{len(m)}+}}\r\n".encode() + m +
                              b"\r\n")
            pending.append(tag)
            while len(pending) > 64 or (i == len(data) - 1 and pending):
                line = self.line()
                if line.startswith(pending[0] + b" "):
                    if b" OK" not in line:
                        raise SystemExit(f"APPEND: {line!r}")
                    pending.pop(0)

    def close(self):
        try:
            self.command("LOGOUT")
        except (OSError, SystemExit):
            pass
        self.sock.close()


# --- servers -----------------------------------------------------------------------------------


class Tern:
    """One ternd with an IMAP listener. `store` is the body of its [store] section,
    `node` names its data dir and config under `work` (several nodes of one
    postgres store each have their own); `reuse` keeps an earlier run's data;
    `setup` adds the domain (not for an earlier run's store, nor for a second node,
    which finds it in the shared store)."""
    name = "tern"

    def __init__(self, build, work: Path, reuse=False, store='backend = "sqlite"', node="tern",
                 setup=True):
        self.tern, self.ternd = build / "src/app/tern", build / "src/app/ternd"
        self.data = work / node
        self.data.mkdir(exist_ok=reuse)
        self.port = free_port()
        self.config = work / ("tern.toml" if node == "tern" else f"{node}.toml")
        self.config.write_text(f"""
[server]
hostname = "bench.test"
data_dir = "{self.data}"
[log]
level = "warn"
[auth]
argon2_memory_kib = 1024
argon2_iterations = 1
[limits]
max_connections = 30000
max_connections_per_ip = 30000
[store]
{store}
[[listener]]
name = "imap"
role = "imap"
address = "127.0.0.1:{self.port}"
""")
        if setup and not reuse:
            self.cli("domain", "add", DOMAIN)
        self.proc = None

    def cli(self, *args, data_in=None):
        subprocess.run([str(self.tern), "-c", str(self.config), *args], input=data_in, check=True,
                       capture_output=True)

    def add_users(self, users):
        for u in users:
            self.cli("user", "add", u, "--password-stdin", data_in=(PASSWORD + "\n").encode())

    def load(self, user, data):
        """Messages through IMAP APPEND, four connections in parallel (the store
        batches their commits); every third \\Seen, as in the Maildir copy."""
        import threading
        chunks = [data[k::4] for k in range(4)]
        errors = []

        def run(k):
            try:
                c = Client(self.port)
                c.login(user)
                # Keep UID order = generation order: chunk k holds i = k, k+4, ...
                c.append_many("INBOX", chunks[k],
                              lambda j: "(\\Seen)" if (k + 4 * j) % 3 == 0 else "()")
                c.close()
            except BaseException as e:  # reported below
                errors.append(e)
        threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def start(self):
        self.proc = subprocess.Popen([str(self.ternd), "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, b"* OK")

    def stop(self):
        stop(self.proc)
        self.proc = None


class DovecotServer:
    name = "dovecot"

    def __init__(self, work: Path, users, maildirs=None, imap_processes=1000, reuse=False):
        self.root = work / "dovecot"
        self.root.mkdir(exist_ok=reuse)
        self.users = users
        self.port = free_port()
        self.extra = DOVECOT_MANY.format(imap_processes=imap_processes)
        for user, data in (maildirs or {}).items():
            fill_maildir(self.root / "home", user, data)
        self.proc = None

    def start(self):
        self.proc = start_dovecot(self.root, "imap", self.port, self.users, PASSWORD, self.extra)
        if self.proc is None:
            raise SystemExit("dovecot-imapd is not installed")

    def stop(self):
        stop(self.proc)
        self.proc = None


# --- (a) idle connections -------------------------------------------------------------------


def hold_idle(port, users, count, source_ip):
    """Opens `count` connections (users round-robin), each LOGIN, SELECT INBOX, IDLE;
    returns (sockets in IDLE, why it stopped early or None)."""
    sel = selectors.DefaultSelector()
    idle, opened, stopped = [], 0, None
    in_flight = 0
    user_of = lambda i: users[i % len(users)]  # noqa: E731

    def open_one(i):
        s = socket.socket()
        s.setblocking(False)
        s.bind((source_ip, 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        sel.register(s, selectors.EVENT_READ, {"i": i, "stage": 0, "buf": b""})

    deadline = time.monotonic() + 600
    while len(idle) < count and time.monotonic() < deadline:
        while in_flight < 200 and opened < count and stopped is None:
            if mem_available_kib() < MEMORY_FLOOR_KIB:
                stopped = f"stopped at {opened} connections: less than 4 GiB of memory left"
                break
            open_one(opened)
            opened += 1
            in_flight += 1
        if in_flight == 0:
            break
        for key, _ in sel.select(timeout=5):
            s, st = key.fileobj, key.data
            try:
                chunk = s.recv(65536)
            except OSError as e:
                chunk, err = b"", e
            else:
                err = None
            if not chunk:
                sel.unregister(s)
                s.close()
                in_flight -= 1
                stopped = stopped or f"connection {st['i']} closed by the server ({err})"
                continue
            st["buf"] += chunk
            while b"\r\n" in st["buf"]:
                line, st["buf"] = st["buf"].split(b"\r\n", 1)
                if st["stage"] == 0 and line.startswith(b"* OK"):
                    s.sendall(f'l LOGIN "{user_of(st["i"])}" "{PASSWORD}"\r\n'.encode())
                    st["stage"] = 1
                elif st["stage"] == 1 and line.startswith(b"l "):
                    if not line.startswith(b"l OK"):
                        raise SystemExit(f"LOGIN: {line!r}")
                    s.sendall(b"s SELECT INBOX\r\n")
                    st["stage"] = 2
                elif st["stage"] == 2 and line.startswith(b"s "):
                    s.sendall(b"i IDLE\r\n")
                    st["stage"] = 3
                elif st["stage"] == 3 and line.startswith(b"+"):
                    sel.unregister(s)
                    idle.append(s)
                    in_flight -= 1
                    break
        if stopped and in_flight == 0:
            break
    return idle, stopped


def idle_round(server, users, count, source_ip):
    # One login first, so lazily started processes are part of the baseline.
    c = Client(server.port)
    c.login(users[0])
    c.command("SELECT INBOX")
    c.close()
    time.sleep(1.0)
    base = pss_kib(server.proc.pid)
    t0 = time.monotonic()
    idle, stopped = hold_idle(server.port, users, count, source_ip)
    took = time.monotonic() - t0
    time.sleep(2.0)
    samples = []
    for _ in range(3):
        samples.append(pss_kib(server.proc.pid))
        time.sleep(0.3)
    held = statistics.median(samples)
    for s in idle:
        s.close()
    n = len(idle)
    return {"n": n, "base_kib": base, "held_kib": held,
            "per_conn_kib": (held - base) / n if n else float("nan"),
            "setup_s": took, "stopped": stopped}


def part_idle(a, work):
    counts = [int(x) for x in a.idle.split(",")]
    users = [f"i{u}@{DOMAIN}" for u in range(max(counts) // CONNECTIONS_PER_USER + 1)]
    limit = raise_nofile(max(counts) * 2 + 1000)
    print(f"idle: RLIMIT_NOFILE {limit}, {len(users)} users", flush=True)
    tern = Tern(a.build, work / "idle")
    tern.add_users(users)
    dove = DovecotServer(work / "idle", users, imap_processes=max(counts) + 100)
    servers = [tern, dove]
    results = {}
    for count in counts:
        for r in range(a.rounds):
            for k, server in enumerate(servers):
                server.start()
                try:
                    res = idle_round(server, users, count, f"127.0.{1 + r}.{10 + k}")
                finally:
                    server.stop()
                results.setdefault((count, server.name), []).append(res)
                print(f"  idle {count} round {r} {server.name}: {res['n']} held, "
                      f"{res['per_conn_kib']:.1f} KiB/conn (base {res['base_kib'] / 1024:.1f} "
                      f"MiB, held {res['held_kib'] / 1024:.1f} MiB, setup {res['setup_s']:.1f} s)"
                      + (f" [{res['stopped']}]" if res["stopped"] else ""), flush=True)
            time.sleep(2)
    print("\n| connections | server | held | PSS before MiB | PSS held MiB | KiB per connection |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for (count, name), rows in results.items():
        print(f"| {count} | {name} | {min(x['n'] for x in rows)} | "
              f"{statistics.median(x['base_kib'] for x in rows) / 1024:.1f} | "
              f"{statistics.median(x['held_kib'] for x in rows) / 1024:.1f} | "
              f"{statistics.median(x['per_conn_kib'] for x in rows):.1f} |")
    for count in counts:
        t = results.get((count, "tern"))
        d = results.get((count, "dovecot"))
        if t and d:
            ratio = statistics.median(x['per_conn_kib'] for x in d) / \
                statistics.median(x['per_conn_kib'] for x in t)
            print(f"{count} connections: tern uses 1/{ratio:.1f} of Dovecot's memory per connection")


# --- (b) the big mailbox ---------------------------------------------------------------------


QUERIES = [
    ("UID FETCH 1:* (UID FLAGS)", "UID FETCH 1:* (UID FLAGS)"),
    ("FETCH 1:* (ENVELOPE)", "FETCH 1:* (ENVELOPE)"),
    ('UID SEARCH SUBJECT "zebra"', 'UID SEARCH SUBJECT "zebra"'),
    ('UID SEARCH BODY "quokka"', 'UID SEARCH BODY "quokka"'),
    ("UID SORT (DATE)", "UID SORT (DATE) UTF-8 ALL"),
    ("UID SORT (SUBJECT)", "UID SORT (SUBJECT) UTF-8 ALL"),
    ("UID THREAD REFERENCES", "UID THREAD REFERENCES UTF-8 ALL"),
]


def run_queries(server, user):
    """One session: SELECT, then each query; {label: (wall s, server CPU s, bytes)}."""
    out = {}
    c = Client(server.port)
    c.login(user)
    t0 = time.monotonic()
    c0 = cpu_seconds(server.proc.pid)
    c.command("SELECT INBOX")
    out["SELECT INBOX"] = (time.monotonic() - t0, cpu_seconds(server.proc.pid) - c0, 0)
    for label, text in QUERIES:
        c0 = cpu_seconds(server.proc.pid)
        t0 = time.monotonic()
        _, size = c.command(text)
        out[label] = (time.monotonic() - t0, cpu_seconds(server.proc.pid) - c0, size)
    c.close()
    return out


def part_mailbox(a, work):
    user = f"big@{DOMAIN}"
    loaded = work / "mailbox" / "loaded"
    if loaded.exists() and loaded.read_text() == str(a.messages):
        print(f"mailbox: reusing the {a.messages} messages loaded in {work / 'mailbox'}", flush=True)
        tern = Tern(a.build, work / "mailbox", reuse=True)
        dove = DovecotServer(work / "mailbox", [user], reuse=True)
    else:
        data = messages(a.messages, seed=1)
        print(f"mailbox: {len(data)} messages, {sum(map(len, data)) / 1e6:.1f} MB", flush=True)
        tern = Tern(a.build, work / "mailbox")
        tern.add_users([user])
        tern.start()
        t0 = time.monotonic()
        tern.load(user, data)
        print(f"  tern: {len(data)} APPENDs in {time.monotonic() - t0:.1f} s", flush=True)
        tern.stop()
        t0 = time.monotonic()
        dove = DovecotServer(work / "mailbox", [user], {user: data})
        print(f"  dovecot: Maildir written in {time.monotonic() - t0:.1f} s", flush=True)
        del data
        loaded.write_text(str(a.messages))
    servers = [tern, dove]
    first, warm = {}, {}
    try:
        for s in servers:
            s.start()
        for r in range(a.rounds + 1):
            for s in servers:
                res = run_queries(s, user)
                if r == 0:
                    first[s.name] = res
                else:
                    warm.setdefault(s.name, []).append(res)
                print(f"  round {r}{' (first after start)' if r == 0 else ''} {s.name}: " +
                      ", ".join(f"{k.split(' (')[0] if '(' in k else k}: {v[0] * 1000:.0f} ms"
                                for k, v in res.items()), flush=True)
    finally:
        for s in servers:
            s.stop()
    print("\n| command | server | first run ms | warm ms (median) | warm server CPU ms | "
          "response MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for label in ["SELECT INBOX"] + [q[0] for q in QUERIES]:
        for s in servers:
            rows = warm[s.name]
            print(f"| `{label}` | {s.name} | {first[s.name][label][0] * 1000:.0f} | "
                  f"{statistics.median(x[label][0] for x in rows) * 1000:.0f} | "
                  f"{statistics.median(x[label][1] for x in rows) * 1000:.0f} | "
                  f"{rows[0][label][2] / 1e6:.2f} |")


# --- (c) mixed load --------------------------------------------------------------------------


async def mixed_client(port, user, message, stop_at, counts):
    """Loops LOGIN, SELECT, APPEND, FETCH, UID FETCH, UID STORE, SEARCH, EXPUNGE,
    LOGOUT until `stop_at`; counts completed commands in counts[0]."""
    n = 0
    while time.monotonic() < stop_at:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()

        async def cmd(text, literal=None):
            nonlocal n
            n += 1
            tag = f"m{n}".encode()
            if literal is None:
                writer.write(tag + b" " + text.encode() + b"\r\n")
            else:
                writer.write(tag + b" " + text.encode() + f" {{{len(literal)}+}}\r\n".encode() +
                             literal + b"\r\n")
            lines = []
            while True:
                line = await reader.readline()
                if not line:
                    raise SystemExit(f"{user}: connection closed at {text!r}")
                m = re.search(rb"\{(\d+)\}\r\n$", line)
                if m:
                    await reader.readexactly(int(m.group(1)))
                    continue
                if line.startswith(tag + b" "):
                    if not line[len(tag) + 1:].startswith(b"OK"):
                        raise SystemExit(f"{user}: {text!r}: {line!r}")
                    counts[0] += 1
                    return lines
                lines.append(line)

        await cmd(f'LOGIN "{user}" "{PASSWORD}"')
        await cmd("SELECT INBOX")
        await cmd("APPEND INBOX (\\Seen)", message)
        await cmd("FETCH 1:20 (UID FLAGS ENVELOPE)")
        await cmd("UID FETCH 1:* (UID)")
        lines = await cmd("UID SEARCH ALL")
        uids = lines[0].split()[2:] if lines and lines[0].startswith(b"* SEARCH") else []
        last = uids[-1].decode() if uids else "*"
        await cmd(f"UID STORE {last} +FLAGS.SILENT (\\Deleted)")
        await cmd("SEARCH UNSEEN")
        await cmd("EXPUNGE")
        await cmd("LOGOUT")
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def mixed_round(ports, pids, users, message, seconds):
    """One round of the mixed loop: user i's client talks to ports[i % len(ports)]
    (the nodes of one store); CPU is that of the process trees of `pids` together.
    Returns (commands/s, server CPU µs per command, commands)."""
    counts = [0]
    c0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.monotonic()

    async def main():
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(mixed_client(ports[i % len(ports)], u, message, stop_at, counts)
                               for i, u in enumerate(users)))
    asyncio.run(main())
    wall = time.monotonic() - t0
    cpu = sum(cpu_seconds(p) for p in pids) - c0
    return counts[0] / wall, cpu / counts[0] * 1e6, counts[0]


def part_mixed(a, work):
    clients = [int(x) for x in a.clients.split(",")]
    users = [f"m{u}@{DOMAIN}" for u in range(max(clients))]
    data = messages(100, seed=2)
    tern = Tern(a.build, work / "mixed")
    tern.add_users(users)
    tern.start()
    for u in users:
        tern.load(u, data)
    dove = DovecotServer(work / "mixed", users, {u: data for u in users})
    dove.start()
    servers = [tern, dove]
    message = messages(1, seed=3)[0]
    results = {}
    try:
        for n in clients:
            for r in range(a.rounds + 1):
                for s in servers:
                    rate, cpu_us, total = mixed_round([s.port], [s.proc.pid], users[:n], message,
                                                     a.seconds)
                    if r > 0:
                        results.setdefault((n, s.name), []).append((rate, cpu_us))
                    print(f"  mixed {n} clients round {r}{' (warm-up)' if r == 0 else ''} "
                          f"{s.name}: {rate:.0f} commands/s, {cpu_us:.0f} us CPU/command "
                          f"({total} commands)", flush=True)
    finally:
        for s in servers:
            s.stop()
    print("\n| clients | server | commands/s (median) | server CPU µs per command (median) |")
    print("| ---: | --- | ---: | ---: |")
    for (n, name), rows in results.items():
        print(f"| {n} | {name} | {statistics.median(x[0] for x in rows):.0f} | "
              f"{statistics.median(x[1] for x in rows):.0f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build", type=Path)
    parser.add_argument("--parts", default="idle,mailbox,mixed")
    parser.add_argument("--idle", default="1000,10000")
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--clients", default="10,50")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--work", type=Path, help="keep data here; reuse a loaded mailbox")
    a = parser.parse_args()
    a.build = a.build.resolve()
    if os.geteuid() != 0:
        raise SystemExit("imap_bench needs root (a private Dovecot; raised open-file limits)")
    (REPO / "build").mkdir(exist_ok=True)
    if a.work:
        work = a.work.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-imap.", dir=REPO / "build"))
    os.chmod(work, 0o755)
    print(f"imap_bench: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"{mem_available_kib() / 1048576:.1f} GiB available, {a.rounds} rounds", flush=True)
    try:
        for part in a.parts.split(","):
            # A kept directory is reused by the mailbox part only; the others start afresh.
            if a.work and part != "mailbox":
                shutil.rmtree(work / part, ignore_errors=True)
            (work / part).mkdir(exist_ok=bool(a.work))
            {"idle": part_idle, "mailbox": part_mailbox, "mixed": part_mixed}[part](a, work)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
