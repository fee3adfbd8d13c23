#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The cost of inbound verification on the MX (issue #8): two ternd instances from
the same build, one with `[mailauth] verify_inbound = true`, one with false, each
fed the same DKIM-signed (dkimpy, RSA-2048) messages by smtplib over several
sessions; Knot on loopback serves SPF, DKIM, DMARC and PTR. Rounds are interleaved
(on, off, on, off, ...); reported: medians of messages/s and of ternd CPU seconds
(user+sys from /proc) per 1000 messages. Not a test.

Usage: /usr/bin/python3 src/mailauth/inbound_bench.py build/release-<you> [--messages 400]
       [--sessions 4] [--rounds 3]
"""
import argparse
import base64
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import dkim  # noqa: E402  (python3-dkim)
from benchlib import cpu_seconds, free_port, wait_port  # noqa: E402
from dns_server import DnsServer  # noqa: E402

DOMAIN = "bench.test"
USER = f"u@{DOMAIN}"


def rsa_key(directory, tern):
    out = directory / "sender.pem"
    result = subprocess.run([str(tern), "dkim", "keygen", "--selector", "s", "--domain",
                             "sender.test", "--out", str(out), "--type", "rsa"],
                            capture_output=True, text=True, check=True)
    import re
    return out.read_bytes(), "".join(re.findall(r'"([^"]*)"', result.stdout))


def start_tern(build, root, dns_port, verify):
    root.mkdir()
    port = free_port()
    config = root / "tern.toml"
    config.write_text(f"""
[server]
hostname = "bench.tern.test"
data_dir = "{root / 'data'}"
[log]
level = "warn"
[store]
backend = "sqlite"
[limits]
max_connections_per_ip = 1000
[dns]
servers = ["127.0.0.1:{dns_port}"]
[mailauth]
verify_inbound = {"true" if verify else "false"}
[[listener]]
name = "smtp"
role = "smtp"
address = "127.0.0.1:{port}"
""")
    tern = str(build / "src" / "app" / "tern")
    subprocess.run([tern, "-c", str(config), "domain", "add", DOMAIN], check=True,
                   capture_output=True)
    subprocess.run([tern, "-c", str(config), "user", "add", USER, "--password-stdin"],
                   input="bench password\n", text=True, check=True, capture_output=True)
    proc = subprocess.Popen([str(build / "src" / "app" / "ternd"), "-c", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, b"220")
    return proc, port


def send_all(port, message, count, sessions):
    per = [count // sessions + (1 if i < count % sessions else 0) for i in range(sessions)]
    errors = []

    def run(n):
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="client.sender.test",
                              timeout=120) as client:
                for _ in range(n):
                    client.sendmail("bounces@sender.test", [USER], message)
        except (smtplib.SMTPException, OSError) as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in per]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    build = Path(args.build).resolve()
    root = Path(tempfile.mkdtemp(prefix="tern-mailauth-bench-"))
    try:
        key, record = rsa_key(root, build / "src" / "app" / "tern")
        chunks = " ".join(f'"{record[i:i + 255]}"' for i in range(0, len(record), 255))
        dns = DnsServer(root / "dns", {
            "sender.test": ["@ TXT \"v=spf1 ip4:127.0.0.1 -all\"", "client A 127.0.0.1",
                            "client TXT \"v=spf1 a -all\"", f"s._domainkey TXT {chunks}",
                            "_dmarc TXT \"v=DMARC1; p=reject\""],
            "127.in-addr.arpa": ["1.0.0 PTR client.sender.test."],
        })
        body = "".join(f"line {i:04d} " + "x" * 68 + "\r\n" for i in range(50))
        raw = (f"From: Ann <ann@sender.test>\r\nTo: {USER}\r\nSubject: bench\r\n"
               "Date: Fri, 27 Nov 2026 20:00:00 +0000\r\nMessage-ID: <b@sender.test>\r\n\r\n"
               + body).encode()
        message = dkim.sign(raw, b"s", b"sender.test", key) + raw
        servers = {}
        for name, verify in (("on", True), ("off", False)):
            servers[name] = start_tern(build, root / name, dns.port, verify)
        results = {"on": [], "off": []}
        send_all(servers["on"][1], message, 20, 2)  # warm-up (and a check that it works)
        send_all(servers["off"][1], message, 20, 2)
        for _ in range(args.rounds):
            for name in ("on", "off"):
                proc, port = servers[name]
                cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                send_all(port, message, args.messages, args.sessions)
                wall, cpu = time.monotonic() - t0, cpu_seconds(proc.pid) - cpu0
                results[name].append((args.messages / wall, cpu * 1000 / args.messages))
        print(f"{args.messages} messages of {len(message)} bytes x {args.rounds} rounds, "
              f"{args.sessions} sessions, interleaved; medians:")
        for name in ("on", "off"):
            rates = [r for r, _ in results[name]]
            cpus = [c for _, c in results[name]]
            print(f"  verify_inbound={name:3}: {statistics.median(rates):8.1f} msg/s, "
                  f"{statistics.median(cpus):6.2f} ternd CPU s per 1000 messages "
                  f"(rounds: {', '.join(f'{r:.0f}' for r in rates)} msg/s)")
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)
        dns.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.umask(0o022)
    main()
