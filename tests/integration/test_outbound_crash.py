# SPDX-License-Identifier: Apache-2.0
"""kill -9 during the delivery of 1,000 queued messages (issue #7).

1,000 messages wait in the queue (their first attempt found no receiver), the
receiver (Postfix's smtp-sink) comes up, `tern queue flush` makes them due, and
ternd is killed with SIGKILL while it delivers. After a restart every message must
arrive; a message may arrive twice only if the sink had answered its final 250 and
ternd died before recording it. Duplicates are counted by Message-ID and printed
(the count is bounded by the deliveries in flight at the kill). The Message-IDs carry
a token of this run: another run of this test on the machine at the same time may
pick the same free port while both sinks are down, and its messages must not count.
"""
import re
import smtplib
import time
import uuid
from collections import Counter

from dns_server import dns_server  # noqa: F401  (pytest fixture)
from test_outbound import (SENDER_IP, SmtpSink, queue_section, submit, wait_until,  # noqa: F401
                           world)
from test_smtp import PASSWORD
from test_submission import tls_context

COUNT = 1000
CONCURRENCY = 20


def message_ids(messages, run):
    """The Message-IDs of this run's messages among `messages`."""
    ids = []
    for raw in messages:
        m = re.search(rb"^Message-ID: <([^>]+)>", raw, re.M | re.I)
        assert m, raw[:300]
        if m.group(1).decode().startswith(f"crash.{run}."):
            ids.append(m.group(1).decode())
    return ids


def test_kill_9_during_delivery_loses_nothing(world):
    run = uuid.uuid4().hex[:12]
    sink = SmtpSink(f"127.0.0.4:{world.mx_port}")
    sink.stop()  # the receiver is down while the queue fills
    try:
        a = world.sender(queue=queue_section(schedule="3600", extra=f"destination_concurrency = "
                                                                    f"{CONCURRENCY}"))
        port = a.port("submission")
        with smtplib.SMTP(SENDER_IP, port, timeout=60) as client:
            client.starttls(context=tls_context())
            client.login("alice@sender.test", PASSWORD)
            for i in range(COUNT):
                body = (f"From: alice@sender.test\r\nTo: carol@sink.test\r\nSubject: crash {i}\r\n"
                        f"Message-ID: <crash.{run}.{i}@test>\r\n\r\nmessage {i}\r\n")
                assert not client.sendmail("alice@sender.test", ["carol@sink.test"], body)
        # Every entry has had its first (refused) attempt and waits an hour.
        wait_until(lambda: a.queue().count("connection refused") == COUNT, timeout=300,
                   what="1,000 deferred entries", site=a)
        sink.start()
        a.cli("queue", "flush")
        wait_until(lambda: len(message_ids(sink.messages(), run)) >= COUNT // 3, timeout=300,
                   what="a third delivered", site=a)
        a.kill()  # SIGKILL mid-delivery
        at_kill = len(message_ids(sink.messages(), run))
        assert at_kill < COUNT, "everything was delivered before the kill; nothing was tested"
        a.start()
        wait_until(lambda: "queue is empty" in a.queue(), timeout=600,
                   what="the queue to drain after the restart", site=a)
        ids = message_ids(sink.messages(), run)
        counts = Counter(ids)
        missing = {f"crash.{run}.{i}@test" for i in range(COUNT)} - set(counts)
        assert not missing, sorted(missing)[:10]
        duplicates = sum(n - 1 for n in counts.values())
        print(f"\nkill -9 at {at_kill}/{COUNT} delivered: {len(ids)} received after the restart, "
              f"{duplicates} duplicate(s)")
        # Only the deliveries in flight at the kill can repeat.
        assert duplicates <= CONCURRENCY, duplicates
    finally:
        sink.close()
