#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""DKIM sign and verify operations per second for a 10 KiB message: tern
(mailauth_dkim_bench, a release build) against dkimpy (Debian python3-dkim) in
the same run, in interleaved rounds; reports medians of wall-clock ops/s and of
ops per CPU second (user+sys of the measuring process). Not a test.

    /usr/bin/python3 src/mailauth/dkim_bench.py build/release-mailauth [ROUNDS]
"""
import base64
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import dkim
import nacl.signing

ITERATIONS = {"rsa": 200, "ed25519": 400}


def message_10k():
    head = (b"From: Ann <ann@example.org>\r\nTo: bob@example.net\r\nSubject: bench\r\n"
            b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@example.org>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n")
    line = b"The quick brown fox jumps over the lazy dog, again and  again.\t \r\n"
    body = line * ((10 * 1024 - len(head)) // len(line) + 1)
    return (head + body)[:10 * 1024 - 2] + b"\r\n"


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def dkimpy_run(op, kind, key, message, record, iterations):
    algo = b"rsa-sha256" if kind == "rsa" else b"ed25519-sha256"

    def sign():
        return dkim.sign(message, b"bench", b"example.org", key, signature_algorithm=algo,
                         include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])

    signed = sign() + message

    def dnsfunc(name, timeout=5):
        return record

    c0, w0 = cpu(), time.perf_counter()
    for _ in range(iterations):
        if op == "sign":
            sign()
        else:
            assert dkim.verify(signed, dnsfunc=dnsfunc)
    return time.perf_counter() - w0, cpu() - c0


def tern_run(binary, op, key_path, message_path, iterations):
    out = subprocess.run([binary, op, key_path, message_path, str(iterations)], check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out)
    return result["wall_s"], result["cpu_s"]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build/release-mailauth"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    binary = os.path.join(build, "src/mailauth/mailauth_dkim_bench")
    with tempfile.TemporaryDirectory() as tmp:
        message = message_10k()
        message_path = os.path.join(tmp, "message.eml")
        with open(message_path, "wb") as f:
            f.write(message)
        rsa_path = os.path.join(tmp, "rsa.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", rsa_path], check=True, capture_output=True)
        seed = os.urandom(32)
        ed_path = os.path.join(tmp, "ed25519.key")
        with open(ed_path, "wb") as f:
            f.write(base64.b64encode(seed))
        rsa_pub = subprocess.run(["openssl", "pkey", "-in", rsa_path, "-pubout", "-outform", "DER"],
                                 check=True, capture_output=True).stdout
        keys = {
            "rsa": (rsa_path, open(rsa_path, "rb").read(),
                    b"v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_pub)),
            "ed25519": (ed_path, base64.b64encode(seed),
                        b"v=DKIM1; k=ed25519; p=" +
                        base64.b64encode(bytes(nacl.signing.SigningKey(seed).verify_key))),
        }
        print(f"message {len(message)} bytes, {rounds} interleaved rounds, "
              f"iterations per round {ITERATIONS}")
        print(f"{'case':<18}{'tern ops/s':>12}{'dkimpy ops/s':>14}{'ratio':>8}"
              f"{'tern ops/cpu-s':>16}{'dkimpy ops/cpu-s':>18}")
        for kind in ("rsa", "ed25519"):
            path, key, record = keys[kind]
            n = ITERATIONS[kind]
            for op in ("sign", "verify"):
                samples = {"tern": [], "dkimpy": []}
                for _ in range(rounds):
                    samples["tern"].append(tern_run(binary, op, path, message_path, n))
                    samples["dkimpy"].append(dkimpy_run(op, kind, key, message, record, n))
                wall = {k: statistics.median(n / w for w, _ in v) for k, v in samples.items()}
                per_cpu = {k: statistics.median(n / c for _, c in v) for k, v in samples.items()}
                print(f"{kind + ' ' + op:<18}{wall['tern']:>12.0f}{wall['dkimpy']:>14.0f}"
                      f"{wall['tern'] / wall['dkimpy']:>8.1f}{per_cpu['tern']:>16.0f}"
                      f"{per_cpu['dkimpy']:>18.0f}")


if __name__ == "__main__":
    main()
