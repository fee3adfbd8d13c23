# SPDX-License-Identifier: Apache-2.0
"""kill -9 of ternd during 20 concurrent SMTP sessions: after a restart every
message that got 250 is in the mailbox, and none is there twice
(ARCHITECTURE.md §4: 250 only after the message is durable)."""
import collections
import smtplib
import threading
import time

from conftest import Ternd
from store_view import inbox
from test_smtp import DOMAIN, provision, start_mail_server

SESSIONS = 20


def test_kill_9_during_20_sessions_loses_nothing_acknowledged(ternd_factory):
    server, ports = start_mail_server(ternd_factory, [("smtp", "smtp", "none")])
    provision(server, users=("alice",))
    port = ports["smtp"]
    acked = []
    lock = threading.Lock()
    stop = threading.Event()
    started = threading.Barrier(SESSIONS + 1)

    def sender(index):
        try:
            client = smtplib.SMTP("127.0.0.1", port, timeout=30)
            client.ehlo("crash.example")
        except OSError:
            started.wait()
            return
        started.wait()
        n = 0
        while not stop.is_set():
            tag = f"s{index}-m{n}"
            n += 1
            body = (f"Subject: {tag}\r\nMessage-ID: <{tag}@crash.example>\r\n\r\n" +
                    ("x" * 76 + "\r\n") * 26)
            try:
                client.sendmail("load@remote.example", [f"alice@{DOMAIN}"], body.encode())
            except (smtplib.SMTPException, OSError):
                return  # ternd is gone; this message may or may not be stored
            with lock:
                acked.append(tag)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(SESSIONS)]
    for t in threads:
        t.start()
    started.wait()
    # Let the sessions get going, then kill in the middle of the traffic.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 300:
                break
        time.sleep(0.05)
    server.proc.kill()
    server.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(60)
    with lock:
        acknowledged = list(acked)
    assert len(acknowledged) >= 300, "the load never got going"

    restarted = Ternd(server.config)
    try:
        restarted.wait_listening("smtp")
        stored = collections.Counter()
        for message in inbox(restarted, f"alice@{DOMAIN}"):
            subject = message.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
            stored[subject] += 1
        missing = [tag for tag in acknowledged if stored[tag] == 0]
        duplicated = [tag for tag, count in stored.items() if count > 1]
        assert missing == [], f"{len(missing)} acknowledged messages lost"
        assert duplicated == []
        # At most one unacknowledged message per session can have been stored (the
        # one whose 250 the kill cut off).
        assert len(stored) - len(acknowledged) <= SESSIONS
    finally:
        restarted.stop()
