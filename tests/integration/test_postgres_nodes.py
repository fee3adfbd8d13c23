# SPDX-License-Identifier: Apache-2.0
"""Two ternd nodes on one PostgreSQL database (issue #9).

- An IMAP IDLE session on node B hears of a delivery through node A within a
  second (store/postgres NOTIFY -> services/cluster ChangeListener -> ChangeHub),
  and one on node A of a delivery through node A (in process, the echo dropped).
- 20 concurrent SMTP senders split over both nodes, IMAP sessions on both, and a
  kill -9 of node A mid-load: every message a node acknowledged (250 after DATA)
  is in each local recipient's INBOX exactly once, UIDs never collide, and node B
  delivers the whole outbound queue (a forwarding alias to a remote domain) to
  an smtp-sink once the sink comes up, including entries node A had claimed.
- A TLS report waiting for its HTTPS POST in the shared store, with both nodes'
  report timers woken at once (SIGHUP), reaches the receiver exactly once
  (ReportStore::claim_report_posts leases it to one node).
"""
import gzip
import imaplib
import json
import re
import signal
import smtplib
import socket
import threading
import time
import uuid
from collections import Counter

import pytest

from conftest import Ternd, base_config, make_certificate, tern_cli, write_config
from dns_server import dns_server  # noqa: F401  (pytest fixture)
from test_outbound_security import issue, make_ca
from test_reports import ReportReceiver
from test_outbound import SmtpSink
from test_smtp import AUTH_FAST, DOMAIN, PASSWORD, listeners

SENDERS = 20
PER_SENDER = 10
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
FORWARD = f"fwd@{DOMAIN}"  # an alias to carol@sink.test: goes through the outbound queue


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One ternd on the shared database, with its own data dir."""

    def __init__(self, root, name, url, sink_port, certs, extra=""):
        self.dir = root / name
        self.dir.mkdir()
        data = self.dir / "data"
        data.mkdir()
        store_keys = f'url = "{url}"\npool_size = 6\n'
        body = base_config(data, certs[0], certs[1],
                           listeners(("mx", "smtp", "none"), ("imap", "imap", "none")),
                           AUTH_FAST + f"""
[imap]
idle_poll_ms = 60000

[queue]
retry_schedule_seconds = "1"
lease_seconds = 4
poll_interval_ms = 100

[[transport]]
domain = "sink.test"
route = "smtp:[127.0.0.1]:{sink_port}"
""" + extra, backend="postgres", store_keys=store_keys)
        self.config = write_config(self.dir / "tern.toml", body)
        self.server = None

    def start(self):
        self.server = Ternd(self.config)
        self.mx = self.server.wait_listening("mx")
        self.imap = self.server.wait_listening("imap")
        return self

    def kill(self):
        self.server.proc.kill()
        self.server.proc.wait()

    def stop(self):
        if self.server and self.server.proc.poll() is None:
            self.server.stop()

    def cli(self, *args, **kwargs):
        return tern_cli(self.config, *args, **kwargs)


@pytest.fixture
def nodes(tmp_path, pg_database):
    certs = make_certificate(tmp_path / "tls")
    sink_port = free_port()
    a = Node(tmp_path, "a", pg_database.url, sink_port, certs)
    b = Node(tmp_path, "b", pg_database.url, sink_port, certs)
    started = []
    try:
        # Both start at once: migrations must be applied exactly once.
        threads = [threading.Thread(target=n.start) for n in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        started = [a, b]
        assert a.server and b.server
        a.cli("domain", "add", DOMAIN)
        for user in ("alice", "bob"):
            b.cli("user", "add", f"{user}@{DOMAIN}", "--password-stdin", input=PASSWORD + "\n")
        a.cli("alias", "add", FORWARD, "carol@sink.test")
        yield a, b, sink_port, pg_database
    finally:
        for n in started:
            n.stop()


def imap_login(port, user=ALICE):
    client = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    client.login(user, PASSWORD)
    return client


def send(port, sender_id, i, run):
    """One message to alice, bob and the forwarding alias; its Message-ID if the
    node acknowledged it, else None."""
    mid = f"n.{run}.{sender_id}.{i}.{uuid.uuid4().hex[:6]}@test"
    body = (f"From: s{sender_id}@remote.example\r\nTo: {ALICE}\r\nSubject: load {sender_id}/{i}\r\n"
            f"Message-ID: <{mid}>\r\n\r\nmessage {i} of sender {sender_id}\r\n")
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            refused = client.sendmail(f"s{sender_id}@remote.example", [ALICE, BOB, FORWARD], body)
            if refused:
                return None
            return mid
    except (OSError, smtplib.SMTPException):
        return None


def inbox_ids(port, user):
    """(uid, Message-ID) of every message in the user's INBOX."""
    client = imap_login(port, user)
    try:
        client.select("INBOX", readonly=True)
        typ, data = client.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK"
        out = []
        for part in data:
            if not isinstance(part, tuple):
                continue
            uid = int(re.search(rb"UID (\d+)", part[0]).group(1))
            m = re.search(rb"<([^>]+)>", part[1])
            out.append((uid, m.group(1).decode() if m else ""))
        return out
    finally:
        client.logout()


def assert_idle_hears(listening, delivering, tag_text):
    """An IDLE session on `listening` hears of a delivery through `delivering`
    within a second of its acknowledgement (the IDLE poll interval is a minute
    here, so only a change notification can be this fast)."""
    client = imap_login(listening.imap)
    try:
        client.select("INBOX")
        tag = client._new_tag().decode()
        client.send(f"{tag} IDLE\r\n".encode())
        assert client.readline().startswith(b"+")
        started = time.monotonic()
        mid = send(delivering.mx, 0, 0, tag_text)
        assert mid
        acked = time.monotonic()
        client.sock.settimeout(10)
        line = client.readline()
        heard = time.monotonic()
        assert re.match(rb"\* \d+ EXISTS", line), line
        assert heard - acked < 1.0, (heard - acked, acked - started)
        client.send(b"DONE\r\n")
        while not client.readline().startswith(tag.encode()):
            pass
    finally:
        client.logout()


def test_idle_on_one_node_hears_delivery_through_the_other(nodes):
    # store/postgres NOTIFY -> services/cluster ChangeListener -> ChangeHub.
    a, b, _, _ = nodes
    assert_idle_hears(b, a, "idle")


def test_idle_on_a_node_hears_delivery_through_the_same_node(nodes):
    # The node's own change wakes its hub in process (the store's change
    # observer); its NOTIFY echo is dropped by the listener's self-filter.
    a, _, _, _ = nodes
    assert_idle_hears(a, a, "idle-self")


def test_kill_9_of_one_node_mid_load(nodes):
    a, b, sink_port, db = nodes
    run = uuid.uuid4().hex[:8]
    acked = []
    lock = threading.Lock()
    stop_imap = threading.Event()
    imap_errors = []

    def sender(sid):
        for i in range(PER_SENDER):
            # Half of the senders start on node A; once A is gone they use B.
            port = a.mx if sid % 2 == 0 and a.server.proc.poll() is None else b.mx
            mid = send(port, sid, i, run)
            if mid is None and port == a.mx:
                mid = send(b.mx, sid, i, run)  # a fresh Message-ID: no legitimate duplicate
            if mid:
                with lock:
                    acked.append(mid)

    def imap_reader(node, survives):
        while not stop_imap.is_set():
            try:
                client = imap_login(node.imap)
                client.select("INBOX")
                while not stop_imap.is_set():
                    client.noop()
                    if client.select("INBOX")[1][0] != b"0":
                        client.fetch("1:*", "(FLAGS)")
                        client.store("1", "+FLAGS", "(\\Seen)")
                    time.sleep(0.05)
                client.logout()
            except (OSError, imaplib.IMAP4.error) as e:
                if survives:
                    imap_errors.append(repr(e))
                    return
                time.sleep(0.2)  # node A died: its sessions end, as they should

    sink = SmtpSink(f"127.0.0.1:{sink_port}")
    sink.stop()  # the remote MX is down during the load: the queue fills on both nodes
    try:
        readers = [threading.Thread(target=imap_reader, args=(n, n is b)) for n in (a, b)]
        for t in readers:
            t.start()
        senders = [threading.Thread(target=sender, args=(s,)) for s in range(SENDERS)]
        for t in senders:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < SENDERS * PER_SENDER // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        a.kill()
        at_kill = len(acked)
        for t in senders:
            t.join()
        stop_imap.set()
        for t in readers:
            t.join()
        assert not imap_errors, imap_errors
        assert at_kill < SENDERS * PER_SENDER, "the load ended before the kill"
        assert len(acked) >= SENDERS * PER_SENDER * 0.9, len(acked)

        for user in (ALICE, BOB):
            rows = inbox_ids(b.imap, user)
            uids = [u for u, _ in rows]
            assert len(uids) == len(set(uids))
            counts = Counter(mid for _, mid in rows)
            missing = set(acked) - set(counts)
            assert not missing, (user, sorted(missing)[:5])
            twice = {m: n for m, n in counts.items() if n > 1}
            assert not twice, (user, twice)

        # The survivor delivers the whole outbound queue (node A's claims included,
        # once their lease ends) when the remote MX comes up.
        sink.start()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and "queue is empty" not in b.cli("queue", "list").stdout:
            time.sleep(0.5)
        assert "queue is empty" in b.cli("queue", "list").stdout
        got = Counter()
        for raw in sink.messages():
            m = re.search(rb"^Message-ID: <([^>]+)>", raw, re.M | re.I)
            if m and m.group(1).decode().startswith(f"n.{run}."):
                got[m.group(1).decode()] += 1
        missing = set(acked) - set(got)
        assert not missing, sorted(missing)[:5]
        # Nothing was in flight at the kill (the sink was down): nothing may repeat.
        assert not {m: n for m, n in got.items() if n > 1}
        print(f"\nkill -9 of node A after {at_kill} acknowledged; {len(acked)} acknowledged in all, "
              f"{sum(got.values())} forwarded copies at the sink")
    finally:
        sink.close()


def test_two_nodes_post_a_pending_tls_report_once(tmp_path, pg_database, dns_server):  # noqa: F811
    ca_dir = tmp_path / "ca"
    ca = make_ca(ca_dir)
    receiver = ReportReceiver(*issue(tmp_path / "rcv", "rcv", ["reports.rpt.test"], ca_dir), [200])
    dns = dns_server({"test": [], "rpt.test": ["reports A 127.0.0.1"]})
    extra = (f'\n[dns]\nservers = ["127.0.0.1:{dns.port}"]\ntimeout_ms = 3000\n'
             f'\n[outbound]\nca_file = "{ca}"\n')
    certs = make_certificate(tmp_path / "tls")
    pair = [Node(tmp_path, name, pg_database.url, free_port(), certs, extra) for name in "ab"]
    try:
        threads = [threading.Thread(target=n.start) for n in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(n.server for n in pair)
        uri = f"https://reports.rpt.test:{receiver.port}/tlsrpt"
        rounds = 5
        for i in range(rounds):
            # Due since a few seconds ago; neither node's idle timer knows of it
            # until the SIGHUP, which both get at once: both look, one POSTs.
            pg_database.query(
                "INSERT INTO report_posts (uri, report_id, policy_domain, document, queued, "
                "next_attempt, attempts, last_error) VALUES "
                f"('{uri}', 'round-{i}', 'rpt.test', '{{\"report-id\": \"round-{i}\"}}', "
                "extract(epoch from now())::bigint - 5, extract(epoch from now())::bigint - 5, "
                "0, '')")
            for n in pair:
                n.server.signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while pg_database.query(f"SELECT 1 FROM report_posts WHERE report_id = 'round-{i}'"):
                assert time.monotonic() < deadline, "the post was not delivered; logs:\n" + \
                    "\n".join(pair[0].server.lines[-30:] + pair[1].server.lines[-30:])
                time.sleep(0.2)
        time.sleep(1)  # a second POST, if any, would be in flight by now
        ids = Counter(json.loads(gzip.decompress(body))["report-id"]
                      for _, _, body in receiver.posts)
        assert ids == Counter({f"round-{i}": 1 for i in range(rounds)}), ids
    finally:
        for n in pair:
            n.stop()
        receiver.close()
