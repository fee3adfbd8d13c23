#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""clang-tidy 14 with the project's .clang-tidy over the C++ sources of a build's
compile database: `make tidy`, or tools/tidy.py [--build DIR] [--jobs N] [FILE...].

Prints the findings .clang-tidy makes errors (WarningsAsErrors) and exits 1 when
there are any. clang 14 cannot parse C++20 coroutines against GCC 12's library
(asio::awaitable code reports `clang-diagnostic-error`), and its findings in such a
file are guesses about code it did not understand: those files are listed as not
checked instead. Not a CI test: the whole tree takes about 30 minutes on 2 cores."""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINDING = re.compile(r"^(/\S+?):(\d+):(\d+): error: (.*) \[([\w.,-]+)\]$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def tidy(build, path):
    """Runs clang-tidy on one file: (findings, parsed)."""
    result = subprocess.run(["clang-tidy-14", "-p", build, "--quiet", path],
                            capture_output=True, text=True)
    findings, parsed = set(), True
    for line in ANSI.sub("", result.stdout + result.stderr).splitlines():
        m = FINDING.match(line)
        if not m:
            continue
        if m.group(5).startswith("clang-diagnostic-error"):
            parsed = False
        elif m.group(1).startswith(os.path.join(ROOT, "src")):
            where = os.path.relpath(m.group(1), ROOT)
            findings.add(f"{where}:{m.group(2)}:{m.group(3)}: {m.group(4)} [{m.group(5)}]")
    return findings, parsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build", "asan"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("files", nargs="*", help="sources to check (default: every src/ file)")
    args = parser.parse_args()
    with open(os.path.join(args.build, "compile_commands.json")) as f:
        database = [entry["file"] for entry in json.load(f)]
    wanted = {os.path.abspath(f) for f in args.files}
    files = sorted(f for f in database if f.startswith(os.path.join(ROOT, "src", ""))
                   and (not wanted or f in wanted))
    findings, unparsed = set(), []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for path, (found, parsed) in zip(files, pool.map(lambda p: tidy(args.build, p), files)):
            if parsed:
                findings |= found
            else:
                unparsed.append(os.path.relpath(path, ROOT))
    for line in sorted(findings):
        print(line)
    if unparsed:
        print(f"not checked ({len(unparsed)}; clang 14 cannot parse their coroutines): "
              + " ".join(unparsed), file=sys.stderr)
    print(f"{len(files) - len(unparsed)} files checked, {len(findings)} findings", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
