#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""tern on PostgreSQL beside tern on sqlite (issue #9): durable SMTP receive and the
IMAP mixed load, each on three stores in interleaved rounds (sqlite, pg-1, pg-2,
sqlite, ...):

  sqlite  one ternd, the sqlite store with group commit (as smtp_bench/imap_bench)
  pg-1    one ternd, [store] backend = "postgres"
  pg-2    two ternd nodes on one database, the load split over both

Each postgres setup has a private PostgreSQL 15 cluster of its own, started by
scripts/pg-test-server (UNIX socket only, fsync on, synchronous_commit on: a COMMIT
returns once its WAL is on disk), its data under build/ on the same disk as the
sqlite store. One cluster per setup keeps the CPU of the postmaster's process tree
(backends, WAL writer, checkpointer) that setup's alone.

  smtp   bench/smtp_bench.py's load: Postfix's smtp-source, N messages of S bytes
         over C sessions to one recipient (two nodes: one smtp-source per node with
         half the messages and sessions); a message counts at its 250, which tern
         sends after the store's commit. msgs/s, server CPU ms/msg (ternd nodes plus
         the postgres cluster), p50/p99 of a probe session (on the first node), peak
         PSS of the same processes.
  mixed  bench/imap_bench.py's mixed loop (LOGIN ... LOGOUT, each client its own
         user, 100 messages each; two nodes: client i on node i % 2): commands/s
         and server CPU µs per command.

For the postgres setups it also reports, per message or command, the commits,
WAL flushes (pg_stat_wal.wal_sync) and WAL bytes, which say what a run waited on.
--profile adds one pg-1 round per part that samples pg_stat_activity's wait events
of the active backends every 20 ms (not counted in the tables). Needs root (Postfix's
smtp-source runs as any user, but the clusters belong to the "postgres" user).
Never a test; see bench/README.md.

Usage: bench/pg_bench.py <build-dir> [--parts smtp,mixed] [--stores sqlite,pg-1,pg-2]
           [--messages 10000] [--size 4096] [--sessions 10,50] [--clients 10,50]
           [--rounds 3] [--seconds 15] [--pool-size N] [--profile]
"""
import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import imap_bench
import smtp_bench
from benchlib import cpu_seconds, mem_available_kib, stop

REPO = Path(__file__).resolve().parents[1]
PG_TEST_SERVER = REPO / "scripts" / "pg-test-server"
STORES = ("sqlite", "pg-1", "pg-2")


# --- PostgreSQL ------------------------------------------------------------------------


class Cluster:
    """A private PostgreSQL 15 cluster in `directory` (scripts/pg-test-server)."""

    def __init__(self, directory: Path):
        self.dir = directory
        started = subprocess.run([str(PG_TEST_SERVER), "start", str(directory)],
                                 capture_output=True, text=True)
        if started.returncode != 0:
            raise SystemExit(f"pg-test-server: {started.stderr.strip()}")
        self.conninfo = started.stdout.strip()
        self.pid = int((directory / "data" / "postmaster.pid").read_text().split()[0])

    def url(self, database):
        return f"{self.conninfo.replace('dbname=postgres', '')} dbname={database}".strip()

    def psql(self, database, sql):
        done = subprocess.run(["psql", self.url(database), "-X", "-A", "-t", "-F", "\t",
                               "-v", "ON_ERROR_STOP=1", "-c", sql],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SystemExit(f"psql: {done.stderr.strip()}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def create(self, database):
        self.psql("postgres", f"CREATE DATABASE {database}")
        return self.url(database)

    def counters(self, database):
        """Cumulative commits of `database` and the cluster's WAL counters. The
        statistics collector publishes a backend's counts when it goes idle, so
        a pause first lets the last commits of a run arrive (PG 15 flushes an idle
        backend's counts at most once a second)."""
        time.sleep(1.2)
        row = self.psql(database, f"""
            SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'),
                   wal_records, wal_bytes, wal_write, wal_sync FROM pg_stat_wal""")[0]
        return dict(zip(("commits", "wal_records", "wal_bytes", "wal_writes", "wal_syncs"),
                        (int(x) for x in row)))

    def stop(self):
        subprocess.run([str(PG_TEST_SERVER), "stop", str(self.dir)], capture_output=True)


class WaitSampler(threading.Thread):
    """Samples the wait events of `database`'s active backends every 20 ms through
    one psql session (\\watch), counting backend-samples per event ("CPU" when a
    backend is active and waits on nothing)."""

    def __init__(self, cluster, database):
        super().__init__(daemon=True)
        self.counts = collections.Counter()
        self.samples = 0
        query = (f"SELECT 'w', coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*) "
                 f"FROM pg_stat_activity WHERE datname = '{database}' AND state = 'active' "
                 f"AND pid <> pg_backend_pid() GROUP BY 2 UNION ALL SELECT 's', '', 1 "
                 f"\\watch 0.02\n")
        self.proc = subprocess.Popen(["psql", cluster.url(database), "-X", "-A", "-t", "-F",
                                      "\t", "-P", "footer=off"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.proc.stdin.write(query)
        self.proc.stdin.flush()

    def run(self):
        for line in self.proc.stdout:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                continue
            if fields[0] == "s":
                self.samples += 1
            elif fields[0] == "w":
                self.counts[fields[1]] += int(fields[2])

    def finish(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.join(10)
        return self.counts, self.samples


# --- the three stores ------------------------------------------------------------------


class Setup:
    """One store under test: its ternd nodes (made by `make_node(store, node name,
    setup)`) and, for postgres, its cluster and database."""

    def __init__(self, name, scratch: Path, part, make_node, pool_size):
        self.name, self.part = name, part
        self.cluster, self.database = None, None
        store = smtp_bench.SQLITE_STORE
        if name != "sqlite":
            self.cluster = Cluster(scratch / f"pg-{name[-1]}")
            self.database = part
            store = f'backend = "postgres"\nurl = "{self.cluster.create(part)}"\n'
            if pool_size:
                store += f"pool_size = {pool_size}\n"
        count = 2 if name == "pg-2" else 1
        self.nodes = [make_node(store, f"{name}-{k}", k == 0) for k in range(count)]

    @property
    def ports(self):
        return [n.port for n in self.nodes]

    @property
    def pids(self):
        """Every server process the load costs: the ternd nodes and the cluster."""
        return [n.proc.pid for n in self.nodes] + ([self.cluster.pid] if self.cluster else [])

    def counters(self):
        return self.cluster.counters(self.database) if self.cluster else None

    def stop(self):
        for n in self.nodes:
            if n.proc is not None:
                stop(n.proc)
        if self.cluster:
            self.cluster.stop()


def per_unit(before, after, units):
    """postgres counters per message/command between two counters() readings."""
    if before is None:
        return {}
    d = {k: after[k] - before[k] for k in before}
    return {"commits_per": d["commits"] / units, "wal_syncs_per": d["wal_syncs"] / units,
            "wal_kib_per": d["wal_bytes"] / units / 1024,
            "units_per_sync": units / max(d["wal_syncs"], 1)}


def idle_cpu(setups, seconds=5):
    """CPU per second of each setup with no load (pollers, listeners), all running."""
    c0 = {s.name: sum(cpu_seconds(p) for p in s.pids) for s in setups}
    time.sleep(seconds)
    return {s.name: (sum(cpu_seconds(p) for p in s.pids) - c0[s.name]) / seconds * 1000
            for s in setups}


def print_waits(label, counts, samples):
    total = sum(counts.values())
    print(f"\n{label}: wait events of active backends, {samples} samples at 20 ms, "
          f"{total / max(samples, 1):.2f} backends active on average")
    for event, n in counts.most_common(8):
        print(f"  {event:28} {100 * n / max(total, 1):5.1f} %")


def profile_round(setups, label, run):
    """One untimed round of `run(setup)` on pg-1 (if it is among `setups`) while
    WaitSampler watches its database; prints run's summary and the wait events."""
    s = next((s for s in setups if s.name == "pg-1"), None)
    if s is None:
        return
    sampler = WaitSampler(s.cluster, s.database)
    sampler.start()
    print(f"profile round {label}, pg-1: {run(s)}")
    print_waits(f"{label}, pg-1", *sampler.finish())


def fmt(r):
    return " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())


def median_row(rows):
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


# --- smtp ----------------------------------------------------------------------------------


def part_smtp(a, scratch):
    def make_node(store, node, setup):
        return smtp_bench.Tern(a.build, scratch, store=store, name=f"smtp-{node}", setup=setup)

    setups = [Setup(name, scratch / "smtp", "smtp", make_node, a.pool_size) for name in a.stores]
    results = {}
    try:
        print("smtp: idle CPU ms/s " + ", ".join(f"{k} {v:.1f}"
                                                 for k, v in idle_cpu(setups).items()), flush=True)
        for sessions in a.sessions:
            for rnd in range(a.rounds):
                for s in setups:
                    before = s.counters()
                    r = smtp_bench.run_load(s.ports, s.pids, a.messages, a.size, sessions,
                                            lambda: True)
                    r.update(per_unit(before, s.counters(), a.messages + r["probe_msgs"]))
                    results.setdefault((sessions, s.name), []).append(r)
                    print(f"smtp sessions={sessions} round={rnd} {s.name}: {fmt(r)}", flush=True)
        if a.profile:
            profile_round(setups, f"smtp, {max(a.sessions)} sessions", lambda s: fmt(
                smtp_bench.run_load(s.ports, s.pids, a.messages, a.size, max(a.sessions),
                                    lambda: True)))
    finally:
        for s in setups:
            s.stop()

    print("\n| sessions | store | msgs/s | server CPU ms/msg | probe p50 ms | probe p99 ms | "
          "peak PSS MiB | commits/msg | msgs per WAL flush | WAL KiB/msg |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (sessions, name), rows in results.items():
        m = median_row(rows)
        pg = (f"{m['commits_per']:.2f} | {m['units_per_sync']:.1f} | {m['wal_kib_per']:.1f}"
              if "commits_per" in m else "— | — | —")
        print(f"| {sessions} | {name} | {m['msgs_per_s']:,.0f} | {m['cpu_ms_per_msg']:.3f} | "
              f"{m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {m['pss_mib']:.1f} | {pg} |")


# --- imap mixed ----------------------------------------------------------------------------


def part_mixed(a, scratch):
    work = scratch / "mixed"
    work.mkdir()

    def make_node(store, node, setup):
        return imap_bench.Tern(a.build, work, store=store, node=f"imap-{node}", setup=setup)

    users = [f"m{u}@{imap_bench.DOMAIN}" for u in range(max(a.clients))]
    data = imap_bench.messages(100, seed=2)
    message = imap_bench.messages(1, seed=3)[0]
    setups = [Setup(name, work, "mixed", make_node, a.pool_size) for name in a.stores]
    results = {}
    try:
        for s in setups:
            t0 = time.monotonic()
            s.nodes[0].add_users(users)
            for n in s.nodes:
                n.start()
            for u in users:
                s.nodes[0].load(u, data)
            print(f"mixed: {s.name} loaded {len(users)} x {len(data)} messages in "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
        print("mixed: idle CPU ms/s " + ", ".join(f"{k} {v:.1f}"
                                                  for k, v in idle_cpu(setups).items()), flush=True)
        for n in a.clients:
            for rnd in range(a.rounds + 1):
                for s in setups:
                    before = s.counters()
                    rate, cpu_us, total = imap_bench.mixed_round(s.ports, s.pids, users[:n],
                                                                 message, a.seconds)
                    r = {"ops_per_s": rate, "cpu_us_per_op": cpu_us, "ops": total}
                    r.update(per_unit(before, s.counters(), total))
                    if rnd > 0:
                        results.setdefault((n, s.name), []).append(r)
                    print(f"mixed clients={n} round={rnd}{' (warm-up)' if rnd == 0 else ''} "
                          f"{s.name}: {fmt(r)}", flush=True)
        if a.profile:
            def mixed(s):
                return "{:.0f} commands/s, {:.0f} µs CPU/command, {} commands".format(
                    *imap_bench.mixed_round(s.ports, s.pids, users[:max(a.clients)], message,
                                            a.seconds))
            profile_round(setups, f"mixed, {max(a.clients)} clients", mixed)
    finally:
        for s in setups:
            s.stop()

    print("\n| clients | store | commands/s | server CPU µs/command | commits/command | "
          "commands per WAL flush |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for (n, name), rows in results.items():
        m = median_row(rows)
        pg = (f"{m['commits_per']:.2f} | {m['units_per_sync']:.1f}" if "commits_per" in m
              else "— | —")
        print(f"| {n} | {name} | {m['ops_per_s']:,.0f} | {m['cpu_us_per_op']:.0f} | {pg} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build", type=Path)
    parser.add_argument("--parts", default="smtp,mixed")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--sessions", default="10,50")
    parser.add_argument("--clients", default="10,50")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--pool-size", type=int, help="[store] pool_size (default: tern's)")
    parser.add_argument("--profile", action="store_true")
    a = parser.parse_args()
    a.build = a.build.resolve()
    a.stores = a.stores.split(",")
    if any(s not in STORES for s in a.stores):
        raise SystemExit(f"--stores: choose from {','.join(STORES)}")
    a.sessions = [int(x) for x in a.sessions.split(",")]
    a.clients = [int(x) for x in a.clients.split(",")]
    if os.geteuid() != 0:
        raise SystemExit("pg_bench needs root (the clusters belong to the postgres user)")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    print(f"pg_bench: commit {head}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{mem_available_kib() / 1048576:.1f} GiB available, {a.rounds} rounds", flush=True)
    (REPO / "build").mkdir(exist_ok=True)
    # Under build/ (the repo's disk), never a tmpfs: fsync must cost what it costs.
    scratch = Path(tempfile.mkdtemp(prefix="pg-bench.", dir=REPO / "build"))
    os.chmod(scratch, 0o755)
    (scratch / "smtp").mkdir()
    try:
        for part in a.parts.split(","):
            {"smtp": part_smtp, "mixed": part_mixed}[part](a, scratch)
            print(f"pg_bench: after {part}, load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
