#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Outbound relaying benchmark (issue #7): N messages handed to a server for a remote
domain, carried by its queue and SMTP client to Postfix's smtp-sink, with 1 and with
20 connections to that destination; tern (ternd: submission → queue → services/
delivery) side by side with a private Postfix (smtpd → qmgr → smtp(8)) relaying the
same load to the same kind of sink. Rounds are interleaved (tern, postfix, tern, ...).

Per run: messages/s from the first injected message to the last one the sink has
(end to end: both servers fsync the queue file before their 250), the drain time
after injection ended, and the relaying server's CPU seconds (user+sys of its whole
process tree from /proc, benchlib.cpu_seconds). Needs root (Postfix, smtp-sink -u).

    bench/outbound_bench.py build/release-delivery --messages 10000 --rounds 2
"""
import argparse
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (cpu_seconds, free_port, postfix_command, start_private_postfix,  # noqa: E402
                      stop, wait_port)

REPO = Path(__file__).resolve().parents[1]
DOMAIN = "bench.test"
REMOTE = "sink.test"
USER = f"sender@{DOMAIN}"
PASSWORD = "bench password"
BODY = ("Subject: outbound bench\r\n\r\n" + ("x" * 76 + "\r\n") * 50).encode()  # ~4 KiB


class Sink:
    """smtp-sink writing one file per message into a tmpfs directory."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="outbound-sink-", dir="/dev/shm"))
        os.chmod(self.dir, 0o777)
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-d", str(self.dir / "%M%S."),
                                      f"127.0.0.1:{self.port}", "256"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, b"220")

    def count(self):
        return len(os.listdir(self.dir))

    def stop(self):
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class Tern:
    def __init__(self, build, root, sink_port, connections):
        self.root = root
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.config = self.root / "tern.toml"
        self.config.write_text(f"""
[server]
hostname = "relay.tern.test"
data_dir = "{self.root / 'data'}"
[log]
level = "warn"
[store]
backend = "sqlite"
[auth]
argon2_memory_kib = 1024
argon2_iterations = 1
[limits]
max_connections_per_ip = 1000
[queue]
destination_concurrency = {connections}
poll_interval_ms = 100
[outbound]
tls = "none"
[[transport]]
domain = "{REMOTE}"
route = "smtp:[127.0.0.1]:{sink_port}"
[[listener]]
name = "submission"
role = "submission"
address = "127.0.0.1:{self.port}"
""")
        tern = str(build / "src" / "app" / "tern")
        subprocess.run([tern, "-c", str(self.config), "domain", "add", DOMAIN], check=True,
                       capture_output=True)
        subprocess.run([tern, "-c", str(self.config), "user", "add", USER, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        self.proc = subprocess.Popen([str(build / "src" / "app" / "ternd"), "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        wait_port(self.port, b"220")

    def login(self, client):
        client.login(USER, PASSWORD)

    def stop(self):
        stop(self.proc)


POSTFIX_MAIN = """
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.postfix.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = {remote}
transport_maps = texthash:{root}/conf/transport
default_destination_concurrency_limit = {connections}
smtp_destination_concurrency_limit = {connections}
initial_destination_concurrency = {connections}
smtp_tls_security_level = none
alias_maps =
alias_database =
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
disable_dns_lookups = yes
smtpd_client_connection_count_limit = 0
default_process_limit = 200
"""


class Postfix:
    """A private Postfix instance relaying REMOTE to the sink (default durability:
    the queue file is fsynced before the 250)."""

    def __init__(self, root, sink_port, connections):
        self.root = root
        self.port = free_port()
        (self.root / "conf").mkdir(parents=True)
        (self.root / "conf" / "transport").write_text(
            f"{REMOTE} smtp:[127.0.0.1]:{sink_port}\n")
        self.pid = start_private_postfix(
            self.root, POSTFIX_MAIN.format(root=self.root, remote=REMOTE, connections=connections),
            self.port)

    def login(self, client):
        pass  # mynetworks relays without AUTH

    def stop(self):
        postfix_command(self.root / "conf", "stop")


def inject(server, messages, sessions):
    """Sends `messages` to REMOTE over `sessions` parallel SMTP sessions."""
    errors = []

    def worker(count, offset):
        try:
            with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
                client.ehlo("injector.test")
                server.login(client)
                for i in range(count):
                    client.sendmail(USER, [f"user{(offset + i) % 50}@{REMOTE}"], BODY)
        except Exception as e:  # reported after the run
            errors.append(repr(e))

    per = messages // sessions
    threads = [threading.Thread(target=worker, args=(per + (1 if i < messages % sessions else 0),
                                                     i * per)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"injection failed: {errors[:3]}")


def run(name, server, sink, messages, timeout):
    before = sink.count()
    cpu0 = cpu_seconds(server.pid)
    start = time.monotonic()
    inject(server, messages, sessions=8)
    injected = time.monotonic()
    deadline = injected + timeout
    while sink.count() - before < messages:
        if time.monotonic() > deadline:
            raise SystemExit(f"{name}: only {sink.count() - before} of {messages} arrived")
        time.sleep(0.05)
    end = time.monotonic()
    cpu = cpu_seconds(server.pid) - cpu0
    return {"msgs_per_s": messages / (end - start), "inject_s": injected - start,
            "drain_s": end - injected, "cpu_s": cpu, "cpu_ms_per_msg": 1000 * cpu / messages}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--connections", default="1,20")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (a private Postfix instance, smtp-sink -u nobody)")
    build = Path(args.build).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="outbound-bench-", dir=REPO / "build"))
    results = {}
    try:
        for connections in [int(c) for c in args.connections.split(",")]:
            for round_ in range(args.rounds):
                for name in ("tern", "postfix"):
                    sink = Sink()
                    root = scratch / f"{name}-{connections}-{round_}"
                    server = (Tern(build, root, sink.port, connections) if name == "tern"
                              else Postfix(root, sink.port, connections))
                    try:
                        r = run(name, server, sink, args.messages, args.timeout)
                    finally:
                        server.stop()
                        sink.stop()
                    results.setdefault((connections, name), []).append(r)
                    print(f"connections={connections} round={round_} {name}: "
                          + ", ".join(f"{k}={v:.2f}" for k, v in r.items()), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\nmedians:")
    for (connections, name), runs in sorted(results.items()):
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"connections={connections} {name}: " + ", ".join(f"{k}={v:.2f}" for k, v in med.items()))


if __name__ == "__main__":
    main()
