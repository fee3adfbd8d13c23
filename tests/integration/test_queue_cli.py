# SPDX-License-Identifier: Apache-2.0
"""`tern queue list|show|flush|retry|hold|release|delete|bounce` over a SQLite store.

Entries are made with `tern deliver` to an alias that forwards to another domain
(the LDA queues forwards). No ternd runs here, so nothing changes the entries behind
the test's back; test_outbound*.py drive the same commands against a running ternd.
"""
import re

import pytest

from conftest import base_config, make_certificate, tern_cli, write_config

MESSAGE = "From: alice@example.org\r\nTo: fwd@example.org\r\nSubject: queued\r\n\r\nbody\r\n"


@pytest.fixture
def config(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cert, key = make_certificate(tmp_path / "tls")
    cfg = write_config(tmp_path / "tern.toml", base_config(data, cert, key, ""))
    tern_cli(cfg, "domain", "add", "example.org")
    tern_cli(cfg, "user", "add", "alice@example.org", "--password-stdin", input="pw\n")
    tern_cli(cfg, "alias", "add", "fwd@example.org", "bob@remote.test")
    return cfg


def enqueue(config, sender="alice@example.org"):
    out = tern_cli(config, "deliver", "--from", sender, "fwd@example.org", input=MESSAGE).stdout
    m = re.search(r"queued for .* as (\d+)", out)
    assert m, out
    return m.group(1)


def test_empty_queue_and_usage_errors(config):
    assert tern_cli(config, "queue", "list").stdout == "queue is empty\n"
    for args in (("queue",), ("queue", "frobnicate"), ("queue", "show"), ("queue", "show", "x"),
                 ("queue", "hold"), ("queue", "retry", "ALL"), ("queue", "list", "extra")):
        r = tern_cli(config, *args, check=False)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "usage" in r.stderr
    missing = tern_cli(config, "queue", "show", "999", check=False)
    assert missing.returncode == 1 and "no entry 999" in missing.stderr


def test_list_and_show(config):
    first = enqueue(config)
    second = enqueue(config, sender="")
    listing = tern_cli(config, "queue", "list").stdout
    lines = listing.splitlines()
    assert lines[0].split() == ["ID", "STATE", "SIZE", "ARRIVED", "(UTC)", "ATTEMPTS", "NEXT", "SENDER"]
    row = next(l for l in lines if l.startswith(first + " "))
    assert row.split()[1] == "queued" and row.split()[-1] == "alice@example.org"
    assert "now" in row.split()
    assert next(l for l in lines if l.startswith(second + " ")).split()[-1] == "<>"
    assert lines.count("    bob@remote.test") == 2
    assert lines[-1] == "-- 2 messages, {} bytes, 2 recipients pending".format(
        int(lines[-1].split()[3]))
    shown = tern_cli(config, "queue", "show", first).stdout
    assert f"id:           {first}\n" in shown
    assert "sender:       alice@example.org\n" in shown
    assert "state:        queued\n" in shown
    assert "  pending   bob@remote.test\n" in shown
    assert "Subject: queued" in shown


def test_hold_release_retry_flush_delete(config):
    a = enqueue(config)
    b = enqueue(config)
    assert tern_cli(config, "queue", "hold", a).stdout == f"{a}: held\n"
    assert "held" in tern_cli(config, "queue", "show", a).stdout.split("state:")[1].split("\n")[0]
    row = next(l for l in tern_cli(config, "queue", "list").stdout.splitlines() if l.startswith(a + " "))
    assert row.split()[1] == "held"
    assert tern_cli(config, "queue", "release", a).stdout == f"{a}: released\n"
    assert tern_cli(config, "queue", "retry", a, b).stdout == f"{a}: due now\n{b}: due now\n"
    assert tern_cli(config, "queue", "flush").stdout == "2 entries due now\n"
    tern_cli(config, "queue", "hold", "ALL")
    assert tern_cli(config, "queue", "flush").stdout == "0 entries due now\n"
    tern_cli(config, "queue", "release", "ALL")
    partial = tern_cli(config, "queue", "delete", a, "424242", check=False)
    assert partial.returncode == 1
    assert partial.stdout == f"{a}: deleted\n" and "424242" in partial.stderr
    tern_cli(config, "queue", "delete", "ALL")
    assert tern_cli(config, "queue", "list").stdout == "queue is empty\n"


def test_bounce_queues_an_rfc3464_notice_to_the_sender(config):
    entry = enqueue(config)
    out = tern_cli(config, "queue", "bounce", entry).stdout
    assert out == f"{entry}: bounced, notice queued\n"
    listing = tern_cli(config, "queue", "list").stdout
    assert not re.search(rf"^{entry} ", listing, re.M)
    # The notice is a new entry from the null sender to alice (delivered locally by
    # ternd's scheduler); read it back and parse it as RFC 3464.
    notice_id = re.search(r"^(\d+) .*<>$", listing, re.M).group(1)
    shown = tern_cli(config, "queue", "show", notice_id).stdout
    assert "  pending   alice@example.org\n" in shown
    assert "multipart/report" in shown and "report-type=delivery-status" in shown
    # A notice is never bounced again: bouncing it queues nothing.
    again = tern_cli(config, "queue", "bounce", notice_id).stdout
    assert again == f"{notice_id}: bounced, no notice owed\n"
    assert tern_cli(config, "queue", "list").stdout == "queue is empty\n"
