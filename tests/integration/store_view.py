# SPDX-License-Identifier: Apache-2.0
"""What the store holds, read the same way on every backend (issue #9): mailboxes
through `tern mailbox cat`, the outbound queue through `tern queue list|show`.

Each call runs the CLI, a second process that opens the store beside the running
ternd (or after it died), so what it finds is what the store has committed: on
sqlite the rows and blob files another process reads, on postgres the committed
rows. A test that checks a message after its 250 therefore checks that the message
is durable, not that one process remembers it."""
import re
import subprocess

from conftest import TERN


def _tern(server, *args):
    """Runs `tern -c <server's config> args...`; its standard output as bytes."""
    done = subprocess.run([str(TERN), "-c", str(server.config), *args], capture_output=True,
                          timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"tern {' '.join(args)} failed ({done.returncode}): "
                             f"{done.stderr.decode(errors='replace')}")
    return done.stdout


def parse_frames(data):
    """`tern mailbox cat` output: "<uid> <size>\\n" + size bytes + "\\n" per message.
    Returns [(uid, bytes)]; fails on a malformed stream."""
    out = []
    pos = 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        uid, size = (int(x) for x in data[pos:eol].split(b" "))
        start = eol + 1
        body = data[start:start + size]
        assert len(body) == size and data[start + size:start + size + 1] == b"\n", \
            f"truncated frame for UID {uid}"
        out.append((uid, body))
        pos = start + size + 1
    return out


def mailbox_messages(server, address, mailbox="INBOX"):
    """[(uid, raw bytes)] of the mailbox, in UID order."""
    return parse_frames(_tern(server, "mailbox", "cat", address, mailbox))


def inbox(server, address):
    """The raw messages in the account's INBOX, in UID order."""
    return [raw for _, raw in mailbox_messages(server, address)]


QUEUE_ID = re.compile(rb"^(\d+) ")


def queue_ids(server):
    """The ids of every queue entry, ascending (`tern queue list`)."""
    return [int(m.group(1)) for line in _tern(server, "queue", "list").splitlines()
            if (m := QUEUE_ID.match(line))]


def queue_entry(server, queue_id):
    """One entry from `tern queue show`: {"sender", "envelope": set of keywords,
    "recipients": [{"state", "address", "notify", "orcpt"}]} ("" for no NOTIFY or
    ORCPT, as the store keeps them)."""
    entry = {"id": queue_id, "recipients": []}
    in_recipients = False
    for line in _tern(server, "queue", "show", str(queue_id)).decode().splitlines():
        if line.startswith("header:"):
            break
        if line == "recipients:":
            in_recipients = True
        elif not in_recipients:
            key, _, value = line.partition(":")
            if key == "sender":
                entry["sender"] = value.strip()
            elif key == "envelope":
                entry["envelope"] = set(value.split())
        elif line.startswith("            NOTIFY="):
            notify, _, orcpt = line.strip()[len("NOTIFY="):].partition(" ORCPT=")
            recipient = entry["recipients"][-1]
            recipient["notify"] = "" if notify == "-" else notify
            recipient["orcpt"] = "" if orcpt == "-" else orcpt
        elif line.startswith("  ") and not line.startswith("   "):
            state, address = line.split()
            entry["recipients"].append({"state": state, "address": address, "notify": "",
                                        "orcpt": ""})
    return entry


def queue_entries(server):
    return [queue_entry(server, queue_id) for queue_id in queue_ids(server)]


def queue_rows(server):
    """(address, notify, orcpt) of every queued recipient, entry by entry."""
    return [(r["address"], r["notify"], r["orcpt"])
            for entry in queue_entries(server) for r in entry["recipients"]]
