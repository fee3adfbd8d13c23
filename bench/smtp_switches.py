#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Thread switches and CPU per message of one ternd under SMTP load.

    /usr/bin/python3 bench/smtp_switches.py <build-dir> [--messages N] [--sessions C] [--perf]

Starts a ternd MX like bench/smtp_bench.py does (sqlite, group commit, no inbound
verification), sends N 4 KiB messages over C sessions with smtp-source, and prints
msgs/s, ternd's CPU ms per message and its voluntary + involuntary context
switches and CPU per message by thread name (/proc/<pid>/task/*/). --perf also
records `perf record --call-graph dwarf` of ternd into ./perf.data. Not a comparison with Postfix:
for A/B runs of two builds (docs/adr/0017-reads-on-the-calling-thread.md).
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib  # noqa: E402
import smtp_bench  # noqa: E402


def switches(pid):
    by_name = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = open(f"/proc/{pid}/task/{tid}/status").read()
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        except OSError:
            continue  # the thread ended
        count = sum(int(line.split()[1]) for line in status.splitlines() if "ctxt" in line)
        by_name.setdefault(name, {})[tid] = (count, task_cpu_seconds(pid, tid))
    return by_name


def task_cpu_seconds(pid, tid):
    """user+sys of one thread."""
    fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--perf", action="store_true")
    args = parser.parse_args()
    build = pathlib.Path(args.build).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        tern = smtp_bench.Tern(build, pathlib.Path(scratch))
        pid = tern.proc.pid
        perf = None
        try:
            if args.perf:
                perf = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,16384", "-F", "1000", "-o", "perf.data", "-p", str(pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            before, cpu_before, start = switches(pid), benchlib.cpu_seconds(pid), time.time()
            subprocess.run(["smtp-source", "-s", str(args.sessions), "-l", "4096",
                            "-m", str(args.messages), "-f", "bench@bench.example",
                            "-t", smtp_bench.USER, f"127.0.0.1:{tern.port}"],
                           check=True, capture_output=True)
            elapsed, cpu, after = time.time() - start, benchlib.cpu_seconds(pid) - cpu_before, switches(pid)
        finally:
            if perf:
                perf.send_signal(2)
                perf.wait()
            tern.stop()
    n = args.messages
    per_name = {}
    for name, tids in after.items():
        old = before.get(name, {})
        per_name[name] = [sum(v[k] - old.get(tid, (0, 0))[k] for tid, v in tids.items()) / n
                          for k in (0, 1)]
    print(f"msgs/s {n / elapsed:.0f}  CPU ms/msg {1000 * cpu / n:.3f}  "
          f"switches/msg {sum(v[0] for v in per_name.values()):.2f}")
    for name, (switched, used) in sorted(per_name.items()):
        print(f"  {name}: {switched:.2f} switches, {1000 * used:.3f} ms CPU per message")


if __name__ == "__main__":
    main()
