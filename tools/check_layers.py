#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Checks tern's layering (ARCHITECTURE.md §2, docs/architecture.md).

Reads the component graph CMake wrote (layers.json: name, folder, declared deps)
and every source file under src/, and fails when
  - a declared dependency points up a layer, sideways where that is not allowed
    (a store backend on another backend or on runtime, a service on a backend or
    on another service), or at an unknown component;
  - a file includes "x/..." from a component that is neither its own nor among its
    declared dependencies (directly or transitively);
  - a file below L3 includes a banned header (Asio, SQLite, libpq, sockets,
    threads, file streams, libssl);
  - a source file lies in no component.
Tests, fuzzers and benchmarks beside the code may include more (tests/support,
store/memory), so their includes are not checked.
"""
import argparse
import json
import os
import re
import sys

L1 = {"address", "dns", "mime", "sasl", "smtp", "imap", "pop3", "maildir", "mbox", "managesieve", "sieve",
      "mailauth", "spam", "clamd", "milter", "dnsbl", "http", "jmap", "dav", "config"}
BANNED_BELOW_L3 = [
    re.compile(r"^asio(\.hpp|/)"), re.compile(r"^sqlite3\.h$"), re.compile(r"^libpq-fe\.h$"),
    re.compile(r"^sys/socket\.h$"), re.compile(r"^thread$"), re.compile(r"^fstream$"),
    re.compile(r"^openssl/ssl\.h$"), re.compile(r"^netinet/"), re.compile(r"^unistd\.h$"),
]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE_EXT = (".hpp", ".cpp", ".h", ".cc")


def layer_of(directory):
    top = directory.split("/")[0]
    if top == "base":
        return 0
    if top in L1:
        return 1
    if top == "domain":
        return 2
    if top in ("store", "runtime"):
        return 3
    if top == "services":
        return 4
    if top == "app":
        return 5
    return None


def is_test_file(name):
    return re.search(r"_(test|fuzz|bench)\.cpp$", name) is not None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", required=True)
    parser.add_argument("--graph", required=True)
    args = parser.parse_args()

    with open(args.graph) as f:
        components = {c["name"]: c for c in json.load(f)["components"]}
    errors = []

    # 1. Declared edges.
    for comp in components.values():
        layer = layer_of(comp["dir"])
        if layer is None:
            errors.append(f"component {comp['name']}: folder src/{comp['dir']} is in no layer")
            continue
        for dep in comp["deps"]:
            if dep not in components:
                errors.append(f"component {comp['name']}: unknown dependency {dep}")
                continue
            dep_dir = components[dep]["dir"]
            dep_layer = layer_of(dep_dir)
            if dep_layer is None:
                continue
            ok = dep_layer < layer or (layer == 1 and dep_layer == 1)
            # What the services share sits beside them in L4 (ARCHITECTURE.md §2).
            if dep_dir == "services/common" and comp["dir"].startswith("services/"):
                ok = True
            top, dep_top = comp["dir"].split("/")[0], dep_dir.split("/")[0]
            if top == "store" and dep_top in ("store", "runtime", "services"):
                # A backend never names another backend; the conformance suite is
                # test-only and may name none either.
                ok = False
            if top == "services" and (dep_top == "store" or
                                      (dep_top == "services" and dep_dir != "services/common")):
                ok = False
            # runtime implements the dns::Resolver port, so it may name that
            # vocabulary (pure L1 types) besides base.
            if top == "runtime" and dep_top not in ("base", "dns"):
                ok = False
            if not ok:
                errors.append(f"component {comp['name']} (src/{comp['dir']}, L{layer}) may not "
                              f"depend on {dep} (src/{dep_dir}, L{dep_layer})")

    # Transitive closure of declared deps.
    closure = {}

    def reach(name, seen=None):
        if name in closure:
            return closure[name]
        seen = seen or set()
        out = {name}
        for dep in components.get(name, {}).get("deps", []):
            if dep in seen:
                continue
            out |= reach(dep, seen | {name})
        closure[name] = out
        return out

    # Folder -> component, longest folder first.
    by_dir = sorted(((c["dir"], c["name"]) for c in components.values()),
                    key=lambda t: -len(t[0]))

    def owner(path):
        for directory, name in by_dir:
            if path == directory or path.startswith(directory + "/"):
                return name
        return None

    # 2. Includes.
    for root, _, files in os.walk(args.src):
        for file_name in sorted(files):
            if not file_name.endswith(SOURCE_EXT):
                continue
            full = os.path.join(root, file_name)
            rel = os.path.relpath(full, args.src)
            comp = owner(os.path.dirname(rel))
            if comp is None:
                errors.append(f"src/{rel}: lies in no component (declare it with tern_library)")
                continue
            layer = layer_of(components[comp]["dir"])
            test_file = is_test_file(file_name)
            allowed = reach(comp)
            with open(full, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, target = m.groups()
                    if layer is not None and layer < 3 and not test_file:
                        if any(p.search(target) for p in BANNED_BELOW_L3):
                            errors.append(f"src/{rel}:{number}: <{target}> is banned below L3")
                    if kind != '"' or test_file:
                        continue
                    target_comp = owner(os.path.dirname(target))
                    if target_comp is None:
                        errors.append(f"src/{rel}:{number}: \"{target}\" is in no component")
                    elif target_comp not in allowed:
                        errors.append(f"src/{rel}:{number}: {comp} includes \"{target}\" from "
                                      f"{target_comp}, which it does not declare in DEPS")

    for e in errors:
        print(e)
    print(f"check_layers: {len(components)} components, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
