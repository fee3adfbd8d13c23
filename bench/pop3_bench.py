#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""POP3 RETR throughput, tern vs Dovecot's pop3 in the same run (issue #6).

Loads N messages of S bytes into 10 accounts of each server (tern through
`tern deliver`, Dovecot as Maildir files), then 10 concurrent sessions (one per
account: POP3 locks the maildrop) log in and RETR every message. Reports MB/s of
message data received and server CPU seconds per GB (user+sys from /proc, all
server processes), rounds interleaved (tern, dovecot, tern, ...) after one warm-up
round each, medians. Never a test; see bench/README.md.

Usage: bench/pop3_bench.py <build-dir> [--messages 1000] [--size 102400]
                           [--sessions 10] [--rounds 3]
"""
import argparse
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import cpu_seconds, free_port, start_dovecot, stop, wait_port

DOMAIN = "bench.test"
PASSWORD = "bench password"
REPO = Path(__file__).resolve().parents[1]


def make_message(user, index, size):
    head = (f"From: sender@{DOMAIN}\r\nTo: u{user}@{DOMAIN}\r\n"
            f"Subject: bench message {user}/{index}\r\nMessage-ID: <{user}.{index}@{DOMAIN}>\r\n\r\n")
    line = f"{user:02d}/{index:04d} " + "abcdefghijklmnopqrstuvwxyz0123456789" * 2 + "\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    return (head + body)[:size - 2] + "\r\n"


def session(args):
    """One POP3 session: login, RETR every message; returns (bytes, start, end)."""
    port, user, barrier = args
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    buf = b""

    def reply():
        nonlocal buf
        while b"\r\n" not in buf:
            buf += s.recv(65536)
        line, buf = buf.split(b"\r\n", 1)
        return line

    assert reply().startswith(b"+OK")
    s.sendall(f"USER u{user}@{DOMAIN}\r\n".encode())
    assert reply().startswith(b"+OK")
    s.sendall(f"PASS {PASSWORD}\r\n".encode())
    line = reply()
    assert line.startswith(b"+OK"), line
    s.sendall(b"STAT\r\n")
    count = int(reply().split()[1])
    barrier.wait()
    start = time.monotonic()
    received = 0
    for i in range(1, count + 1):
        s.sendall(f"RETR {i}\r\n".encode())
        # Dot-stuffing guarantees "\r\n.\r\n" appears only at the end.
        while True:
            end = buf.find(b"\r\n.\r\n")
            if end >= 0:
                received += end + 5
                buf = buf[end + 5:]
                break
            chunk = s.recv(1 << 20)
            if not chunk:
                raise SystemExit("connection closed during RETR")
            buf += chunk
    end = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
    s.sendall(b"QUIT\r\n")
    s.close()
    return received, start, end


def run_round(port, sessions, server_pid):
    with multiprocessing.Manager() as manager:
        barrier = manager.Barrier(sessions + 1)
        with multiprocessing.Pool(sessions) as pool:
            result = pool.map_async(session, [(port, u, barrier) for u in range(sessions)])
            # Every session has logged in once the barrier opens: login cost is
            # not measured, only RETR.
            time.sleep(0.5)
            cpu0 = cpu_seconds(server_pid)
            barrier.wait()
            outcomes = result.get(600)
            cpu = cpu_seconds(server_pid) - cpu0
    total = sum(r for r, _, _ in outcomes)
    wall = max(e for _, _, e in outcomes) - min(s for _, s, _ in outcomes)
    return total / wall / 1e6, cpu / (total / 1e9), total


def start_tern(build, work, port, messages, size, sessions):
    tern, ternd = build / "src/app/tern", build / "src/app/ternd"
    data = work / "tern"
    data.mkdir()
    config = work / "tern.toml"
    config.write_text(f"""
[server]
hostname = "bench.test"
data_dir = "{data}"
[log]
level = "warn"
[auth]
argon2_memory_kib = 1024
argon2_iterations = 1
[store]
backend = "sqlite"
[[listener]]
name = "pop3"
role = "pop3"
address = "127.0.0.1:{port}"
""")
    def cli(*args, data_in=None):
        subprocess.run([str(tern), "-c", str(config), *args], input=data_in, check=True,
                       capture_output=True)
    cli("domain", "add", DOMAIN)
    for u in range(sessions):
        cli("user", "add", f"u{u}@{DOMAIN}", "--password-stdin", data_in=(PASSWORD + "\n").encode())
    per_user = messages // sessions
    for u in range(sessions):
        for i in range(per_user):
            cli("deliver", f"u{u}@{DOMAIN}", data_in=make_message(u, i, size).encode())
    proc = subprocess.Popen([str(ternd), "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port, b"+OK")
    return proc


def start_dovecot_pop3(work, port, messages, size, sessions):
    root = work / "dovecot"
    per_user = messages // sessions
    for u in range(sessions):
        cur = root / "home" / f"u{u}@{DOMAIN}" / "Maildir" / "cur"
        cur.mkdir(parents=True)
        for sub in ("new", "tmp"):
            (cur.parent / sub).mkdir()
        for i in range(per_user):
            m = make_message(u, i, size).replace("\r\n", "\n").encode()  # Maildir stores LF
            (cur / f"{1700000000 + i}.M{i}P{u}.bench,S={len(m)}:2,S").write_bytes(m)
    return start_dovecot(root, "pop3", port, [f"u{u}@{DOMAIN}" for u in range(sessions)],
                         PASSWORD)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build", type=Path)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=100 * 1024)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    a = parser.parse_args()
    (REPO / "build").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-pop3.", dir=REPO / "build"))
    servers = {}
    try:
        tern_port, dove_port = free_port(), free_port()
        print(f"pop3_bench: {a.messages} x {a.size} B over {a.sessions} sessions, "
              f"{os.cpu_count()} cores, {a.rounds} rounds + warm-up", flush=True)
        servers["tern"] = (start_tern(a.build, work, tern_port, a.messages, a.size, a.sessions),
                           tern_port)
        dove = start_dovecot_pop3(work, dove_port, a.messages, a.size, a.sessions)
        if dove is None:
            print("dovecot-pop3d not installed: tern only", file=sys.stderr)
        else:
            servers["dovecot"] = (dove, dove_port)
        results = {name: [] for name in servers}
        for r in range(a.rounds + 1):
            for name, (proc, port) in servers.items():
                mbps, cpu_per_gb, total = run_round(port, a.sessions, proc.pid)
                if r > 0:
                    results[name].append((mbps, cpu_per_gb))
                print(f"  round {r}{' (warm-up)' if r == 0 else ''} {name}: {mbps:.1f} MB/s, "
                      f"{cpu_per_gb:.2f} CPU s/GB, {total / 1e6:.1f} MB", flush=True)
        print("\n| server | RETR MB/s (median) | server CPU s per GB (median) |")
        print("| --- | ---: | ---: |")
        for name, rows in results.items():
            print(f"| {name} | {statistics.median(r[0] for r in rows):.1f} | "
                  f"{statistics.median(r[1] for r in rows):.2f} |")
    finally:
        for proc, _ in servers.values():
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
