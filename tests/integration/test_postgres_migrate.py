# SPDX-License-Identifier: Apache-2.0
"""`tern migrate` and `tern store checksum` (issue #9): a sqlite store with
flags, keywords, expunged UIDs (tombstones), aliases and a queued forward is
copied into PostgreSQL and from there into a new sqlite store; the checksum listings of both stores (every account,
mailbox with UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ, entry with UID, modseq, flags,
keywords, dates and the SHA-256 of its bytes, vanished UID, queue entry, pending
TLS report post, received report, report cursor and spam filter model) must be
equal, `tern spam stats` and `tern spam check` must answer the same on every
copy, and a ternd on each copy must serve the same UIDs and modseqs."""
import imaplib
import re

from conftest import Ternd, tern_cli, write_config
from test_smtp import DOMAIN, PASSWORD, provision, start_mail_server

ALICE = f"alice@{DOMAIN}"


def imap_state(port):
    """What an IMAP client caches: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and every
    message's UID, MODSEQ and flags."""
    c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    c.login(ALICE, PASSWORD)
    c.enable("CONDSTORE")
    typ, _ = c.select("INBOX")
    assert typ == "OK"
    status = c.status("INBOX", "(UIDVALIDITY UIDNEXT HIGHESTMODSEQ MESSAGES)")[1][0]
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS MODSEQ)")
    c.logout()
    # \Recent belongs to a process's sessions (RFC 3501 §2.3.2), not to the store.
    return status, sorted(d.replace(b"\\Recent ", b"").replace(b"\\Recent", b"") for d in data if d)


AGGREGATE = """<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>Migrate Tester</org_name>
    <email>dmarc@reporter.example</email>
    <report_id>id-migrate-1</report_id>
    <date_range><begin>1767225600</begin><end>1767312000</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>migrate.example</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.7</source_ip><count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers><header_from>migrate.example</header_from></identifiers>
    <auth_results><dkim><domain>migrate.example</domain><result>pass</result></dkim>
      <spf><domain>migrate.example</domain><result>fail</result></spf></auth_results>
  </record>
</feedback>
"""


def add_report_state(server, tmp_path, imap_status):
    """Report data a migrate must carry: two TLS reports waiting for an HTTPS POST
    (one already tried), a received DMARC report, the generator's cursor, the
    report inbox's ingest cursor and recorded DMARC/TLS rows. The posts and cursors go straight into the
    sqlite tables (ternd makes them only with live DNS and HTTPS receivers)."""
    import sqlite3
    xml = tmp_path / "aggregate.xml"
    xml.write_text(AGGREGATE)
    assert "stored report" in tern_cli(server.config, "report", "import", str(xml)).stdout
    uidvalidity = re.search(rb"UIDVALIDITY (\d+)", imap_status).group(1).decode()
    db = sqlite3.connect(tmp_path / "data" / "store" / "tern.db")
    with db:
        db.executemany(
            "INSERT INTO report_posts (uri, report_id, policy_domain, document, queued, "
            "next_attempt, attempts, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [("https://tlsrpt.rpt.test/v1", "2026-01-01T00:00:00Z!rpt.test", "rpt.test",
              '{"report-id": "a"}', 1767312000, 1767312030, 1, "HTTP 500"),
             ("https://other.rpt.test/", "2026-01-01T00:00:00Z!rpt.test", "rpt.test",
              '{"report-id": "a"}', 1767312000, 1767312000, 0, "")])
        db.executemany("INSERT INTO report_cursors (name, value) VALUES (?, ?)",
                       [("reports", 1767312000), (f"ingest:{ALICE}:{uidvalidity}", 4)])
        # Recorded rows not reported yet (copied raw: the encodings are opaque here).
        hour = 1767312000 // 3600
        db.execute("INSERT INTO report_dmarc_rows (domain, hour, row, count) VALUES (?, ?, ?, ?)",
                   ("migrate.example", hour, "row-1", 7))
        db.execute("INSERT INTO report_dmarc_policies (domain, hour, policy) VALUES (?, ?, ?)",
                   ("migrate.example", hour, "policy-1"))
        db.execute("INSERT INTO report_tls_rows (domain, hour, policy, detail, count) "
                   "VALUES (?, ?, ?, ?, ?)", ("rpt.test", hour, "policy-2", "detail-2", 3))
    db.close()


def train_spam_models(config, tmp_path):
    """A site model trained on spam and an account's own on ham, as `tern spam
    train` teaches them (the models a migrate must carry)."""
    spam, ham = tmp_path / "train-spam", tmp_path / "train-ham"
    spam.mkdir()
    ham.mkdir()
    for i in range(12):
        (spam / f"{i:02d}.eml").write_text(
            f"From: deals{i}@offers.example\r\nSubject: cheap pills casino bonus {i}\r\n"
            f"Message-ID: <s{i}@offers.example>\r\n\r\nwinner discount pharmacy click {i}\r\n")
        (ham / f"{i:02d}.eml").write_text(
            f"From: carol@remote.example\r\nSubject: project meeting agenda {i}\r\n"
            f"Message-ID: <h{i}@remote.example>\r\n\r\nrelease branch review notes {i}\r\n")
    out = tern_cli(config, "spam", "train", "--site", "--spam", str(spam)).stdout
    assert "site model: learned 12 as spam" in out, out
    out = tern_cli(config, "spam", "train", ALICE, "--ham", str(ham)).stdout
    assert "learned 12 as ham" in out, out
    probe = tmp_path / "probe.eml"
    probe.write_text("From: deals@offers.example\r\nSubject: cheap pills project\r\n\r\n"
                     "casino bonus meeting\r\n")
    return probe


def spam_state(config, probe):
    """What the filter knows: both models' stats and a verdict with its clues."""
    return (tern_cli(config, "spam", "stats", "--site").stdout,
            tern_cli(config, "spam", "stats", ALICE).stdout,
            tern_cli(config, "spam", "check", ALICE, str(probe)).stdout)


def checksum(config):
    out = tern_cli(config, "store", "checksum").stdout
    return re.search(r"checksum ([0-9a-f]{64})", out).group(1), out


def test_sqlite_to_postgres_and_back_keeps_uids_modseqs_flags_and_queue(ternd_factory, tmp_path,
                                                               pg_database):
    server, ports = start_mail_server(
        ternd_factory, [("imap", "imap", "none")],
        '\n[[transport]]\ndomain = "remote.example"\nroute = "smtp:[127.0.0.1]:1"\n'
        '[queue]\nretry_schedule_seconds = "3600"\n')
    provision(server, aliases=[(f"fwd@{DOMAIN}", "carol@remote.example")])
    for i in range(6):
        tern_cli(server.config, "deliver", ALICE, input=f"Subject: m{i}\r\n\r\nbody {i}\r\n")
    # A forward: the entry waits in the queue (its route is a closed port).
    tern_cli(server.config, "deliver", f"fwd@{DOMAIN}", input="Subject: fwd\r\n\r\nx\r\n")
    c = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30)
    c.login(ALICE, PASSWORD)
    c.select("INBOX")
    c.uid("STORE", "1,3", "+FLAGS", "(\\Seen $Important)")
    c.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    c.expunge()
    c.create("Later")
    c.uid("COPY", "4", "Later")
    c.logout()
    before_imap = imap_state(ports["imap"])
    server.stop()
    add_report_state(server, tmp_path, before_imap[0])
    probe = train_spam_models(server.config, tmp_path)
    source_spam = spam_state(server.config, probe)
    assert "12 spam and 0 ham messages learned" in source_spam[0], source_spam
    # 12 lessons, and the IMAP COPY into "Later" above taught Alice's model one more.
    assert "0 spam and 13 ham messages learned" in source_spam[1], source_spam
    source_sum, source_listing = checksum(server.config)
    assert "1 queued" in source_listing and "1 vanished" in source_listing, source_listing
    assert "2 report posts, 1 received reports, 2 report rows" in source_listing, source_listing
    assert "2 spam models" in source_listing, source_listing
    source_posts = tern_cli(server.config, "report", "posts").stdout
    assert source_posts.count("https://") == 2, source_posts

    target = write_config(tmp_path / "pg.toml", server.config.read_text().replace(
        'backend = "sqlite"', f'backend = "postgres"\nurl = "{pg_database.url}"'))
    done = tern_cli(server.config, "migrate", "--from", str(server.config), "--to", str(target))
    assert f"verified: checksum {source_sum} on both" in done.stdout, done.stdout + done.stderr
    target_sum, _ = checksum(target)
    assert target_sum == source_sum
    # The pending posts, the received report and the cursors came along.
    assert tern_cli(target, "report", "posts").stdout == source_posts
    listed = tern_cli(target, "report", "dmarc", "--list").stdout
    assert "migrate.example" in listed and "id-migrate-1" in listed, listed
    cursors = [line for line in tern_cli(target, "store", "checksum", "--list").stdout.splitlines()
               if line.startswith("report-cursor ")]
    assert len(cursors) == 2, cursors
    assert spam_state(target, probe) == source_spam

    # A second migrate into the same (now full) database is refused.
    again = tern_cli(server.config, "migrate", "--from", str(server.config), "--to",
                     pg_database.url, check=False)
    assert again.returncode == 1 and "not empty" in again.stderr

    # And back: postgres -> a new sqlite store, same listing.
    back_data = tmp_path / "back"
    back = write_config(tmp_path / "back.toml", server.config.read_text().replace(
        f'data_dir = "{tmp_path / "data"}"', f'data_dir = "{back_data}"'))
    assert str(back_data) in back.read_text()
    done = tern_cli(server.config, "migrate", "--from", pg_database.url, "--to", str(back))
    assert f"verified: checksum {source_sum} on both" in done.stdout, done.stdout + done.stderr
    assert checksum(back)[0] == source_sum
    assert tern_cli(back, "report", "posts").stdout == source_posts
    assert spam_state(back, probe) == source_spam
    models = [line for line in tern_cli(back, "store", "checksum", "--list").stdout.splitlines()
              if line.startswith("spam-model ")]
    assert [m.split()[1] for m in models] == ["site", ALICE], models

    # ternd on the postgres copy (after the way back: a running ternd works its queue,
    # which changes the listing) serves what the client cached.
    node = Ternd(target)
    try:
        port = node.wait_listening("imap")
        assert imap_state(port) == before_imap
    finally:
        node.stop()
    node = Ternd(back)
    try:
        assert imap_state(node.wait_listening("imap")) == before_imap
    finally:
        node.stop()


def test_migrate_usage_errors(ternd_factory, tmp_path):
    server, _ = start_mail_server(ternd_factory, [("imap", "imap", "none")])
    bad = tern_cli(server.config, "migrate", "--from", str(server.config), check=False)
    assert bad.returncode == 2 and "--from and --to are required" in bad.stderr
    same = tern_cli(server.config, "migrate", "--from", str(server.config), "--to",
                    str(server.config), check=False)
    assert same.returncode == 2 and "same store" in same.stderr
