# SPDX-License-Identifier: Apache-2.0
"""Outbound delivery end to end (issue #7): a sending ternd whose resolver asks a
local Knot server (dns_server.py) for MX/A records that point at receivers on
distinct loopback addresses — other ternd instances and Postfix's smtp-sink — all
on one port number, [outbound] mx_port.

Scenarios: MX preference and fallback, a receiver that defers and then accepts
(delivered once), a permanent failure (an RFC 3464 DSN in the sender's INBOX), a dead
receiver (delay warning, then the expiry DSN, with a seconds-long [queue] schedule),
null MX, a smarthost with AUTH, and an alias forward with SRS whose bounce finds its
way back to the original sender.
"""
import email
import email.policy
import os
import random
import re
import smtplib
import socket
import shutil
import sqlite3
import tempfile
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Ternd, base_config, make_certificate, tern_cli, write_config
from dns_server import dns_server  # noqa: F401  (pytest fixture)
from test_smtp import AUTH_FAST, PASSWORD
from test_submission import tls_context

SENDER_IP = "127.0.0.1"


def free_port_on(addresses):
    """A TCP port free on every address (receivers share [outbound] mx_port)."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        sockets = []
        try:
            for address in addresses:
                s = socket.socket()
                s.bind((address, port))
                sockets.append(s)
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no common free port")


class Site:
    """One ternd with its own data dir, host name and listeners."""

    def __init__(self, root: Path, name, hostname, listeners, extra=""):
        self.root = root / name
        self.root.mkdir(parents=True)
        data = self.root / "data"
        data.mkdir()
        cert, key = make_certificate(self.root / "tls", cn=hostname)
        body = base_config(data, cert, key, listeners, AUTH_FAST + extra)
        body = body.replace('hostname = "mail.example.test"', f'hostname = "{hostname}"')
        self.config = write_config(self.root / "tern.toml", body)
        self.server = None

    def start(self):
        self.server = Ternd(self.config)
        return self

    def port(self, listener):
        return self.server.wait_listening(listener)

    def stop(self):
        if self.server:
            self.server.stop()
            self.server = None

    def kill(self):
        self.server.proc.kill()
        self.server.proc.wait()
        self.server = None

    def cli(self, *args, **kwargs):
        return tern_cli(self.config, *args, **kwargs)

    def add_user(self, address):
        domain = address.split("@")[1]
        self.cli("domain", "add", domain, check=False)
        self.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")

    def inbox(self, address):
        return read_inbox(self.root / "data" / "store", address)

    def queue(self):
        return self.cli("queue", "list").stdout

    def log(self):
        return "\n".join(self.server.lines) if self.server else ""


def read_inbox(store: Path, address):
    """The raw messages in an account's INBOX, in UID order, read from the SQLite
    store: a delivered small message's bytes in message_bytes (messages.bytes_id,
    migration 0010), other small blobs in blob_bytes (blobs.data_id, migration
    0005), larger ones under blobs/ab/cd/<hash>."""
    db = sqlite3.connect(f"file:{store / 'tern.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute(
            """SELECT m.blob, mb.data, bb.data FROM entries e
               JOIN mailboxes b ON b.id = e.mailbox_id
               JOIN accounts a ON a.id = b.account_id
               JOIN messages m ON m.id = e.message_id
               LEFT JOIN message_bytes mb ON mb.id = m.bytes_id
               LEFT JOIN blobs b2 ON b2.hash = m.blob AND m.bytes_id IS NULL
               LEFT JOIN blob_bytes bb ON bb.id = b2.data_id
               WHERE a.address = ? AND b.name = 'INBOX' ORDER BY e.uid""", (address,)).fetchall()
        out = []
        for blob, own, shared in rows:
            data = own if own is not None else shared
            if data is None:
                data = (store / "blobs" / blob[0:2] / blob[2:4] / blob).read_bytes()
            out.append(bytes(data))
        return out
    finally:
        db.close()


class SmtpSink:
    """Postfix's smtp-sink on `address`, dumping each message into a private
    directory (smtp-sink drops to `nobody`, which cannot enter pytest's tmp_path)."""

    def __init__(self, address, *flags):
        if shutil.which("smtp-sink") is None:
            message = "smtp-sink (Debian postfix) not installed; scripts/install-deps installs it"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        self.dir = Path(tempfile.mkdtemp(prefix="tern-sink-"))
        self.dir.chmod(0o777)
        self.address = address
        self.proc = None
        self.start(*flags)

    def start(self, *flags):
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-d", f"{self.dir}/", *flags,
                                      self.address, "256"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host, port = self.address.rsplit(":", 1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def messages(self):
        # A rejected transaction still leaves an empty dump file.
        return [b for b in (p.read_bytes() for p in sorted(self.dir.iterdir()) if p.is_file()) if b]

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def listener(name, role, address, tls="none"):
    out = f'\n[[listener]]\nname = "{name}"\nrole = "{role}"\naddress = "{address}"\n'
    if tls != "none":
        out += f'tls = "{tls}"\n'
    return out


def queue_section(schedule="1", warning=14400, lifetime=432000, extra=""):
    return f"""
[queue]
retry_schedule_seconds = "{schedule}"
delay_warning_seconds = {warning}
lifetime_seconds = {lifetime}
poll_interval_ms = 100
{extra}
"""


def outbound_section(dns_port, mx_port, extra=""):
    return f"""
[dns]
servers = ["127.0.0.1:{dns_port}"]
timeout_ms = 2000

[outbound]
mx_port = {mx_port}
connect_timeout_seconds = 2
{extra}
"""


def wait_until(predicate, timeout=60.0, what="condition", site=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    detail = ""
    if site is not None:
        detail = "\nqueue:\n" + site.cli("queue", "list", check=False).stdout + "\nlog:\n" + site.log()
    raise AssertionError(f"timed out waiting for {what}{detail}")


def submit(site, sender, recipients, subject="hello", extra_headers="", mail_options=(),
           rcpt_options=()):
    port = site.port("submission")
    body = (f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@test>\r\n{extra_headers}"
            f"\r\nbody of {subject}\r\n")
    with smtplib.SMTP(SENDER_IP, port, timeout=30) as client:
        client.starttls(context=tls_context())
        client.login(sender, PASSWORD)
        refused = client.sendmail(sender, recipients, body, mail_options=list(mail_options),
                                  rcpt_options=list(rcpt_options))
        assert not refused
    return body


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def delivery_status(raw):
    """(message, [per-recipient dicts]) of an RFC 3464 report, checked for shape."""
    message = parse(raw)
    assert message.get_content_type() == "multipart/report", message.get_content_type()
    assert message.get_param("report-type") == "delivery-status"
    parts = list(message.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    groups = parts[1].get_payload()  # the email package splits the field groups
    per_message = groups[0]
    assert per_message["Reporting-MTA"].startswith("dns;")
    recipients = [{k: v for k, v in g.items()} for g in groups[1:]]
    assert recipients, "no per-recipient fields"
    return message, recipients


def srs_forwarder(world):
    """dest.test's MX on 127.0.0.2 with SRS on, forwarding fwd@dest.test to carol@far.test."""
    mx1 = world.receiver("mx1", "127.0.0.2",
                         extra=queue_section(extra='srs_secret = "k3y"\nsrs_domain = "dest.test"') +
                         outbound_section(world.dns.port, world.mx_port))
    mx1.cli("alias", "add", "fwd@dest.test", "carol@far.test")
    return mx1


@pytest.fixture
def world(tmp_path, dns_server):
    """DNS, a sender site (sender.test on 127.0.0.1) and a common MX port."""
    mx_port = free_port_on([f"127.0.0.{i}" for i in range(2, 10)])
    dns = dns_server({
        "dest.test": ["@ MX 10 mx1", "@ MX 20 mx2", "mx1 A 127.0.0.2", "mx2 A 127.0.0.3"],
        "dead.test": ["@ MX 10 mx", "mx A 127.0.0.9"],
        "null.test": ["@ MX 0 ."],
        "sink.test": ["@ MX 10 mx", "mx A 127.0.0.4"],
        "far.test": ["@ MX 10 mx", "mx A 127.0.0.6"],
        "sender.test": ["@ MX 10 mx", "mx A 127.0.0.7"],
    })
    sites = []

    def site(name, hostname, listeners, extra=""):
        s = Site(tmp_path, name, hostname, listeners, extra)
        sites.append(s)
        return s

    def sender(queue=None, extra=""):
        s = site("sender", "mail.sender.test",
                 listener("submission", "submission", f"{SENDER_IP}:0", "starttls") +
                 listener("mx", "smtp", f"127.0.0.7:{mx_port}"),
                 (queue or queue_section()) + outbound_section(dns.port, mx_port) + extra)
        s.add_user("alice@sender.test")
        return s.start()

    def receiver(name, ip, extra="", users=("bob@dest.test",)):
        s = site(name, f"{name}.dest.test", listener("mx", "smtp", f"{ip}:{mx_port}"), extra)
        for user in users:
            s.add_user(user)
        s.start()
        s.port("mx")
        return s

    yield type("World", (), dict(dns=dns, mx_port=mx_port, sender=staticmethod(sender),
                                 receiver=staticmethod(receiver), site=staticmethod(site)))
    for s in sites:
        s.stop()


def test_mx_preference_then_fallback(world):
    mx1 = world.receiver("mx1", "127.0.0.2")
    mx2 = world.receiver("mx2", "127.0.0.3")
    a = world.sender()
    submit(a, "alice@sender.test", ["bob@dest.test"], subject="first")
    wait_until(lambda: mx1.inbox("bob@dest.test"), what="delivery to the preferred MX", site=a)
    assert mx2.inbox("bob@dest.test") == []
    mx1.stop()  # the preferred host goes away: the next message takes MX 20
    submit(a, "alice@sender.test", ["bob@dest.test"], subject="second")
    got = wait_until(lambda: mx2.inbox("bob@dest.test"), what="fallback to MX 20", site=a)
    assert b"Subject: second" in got[0]
    assert "queue is empty" in a.queue()


def test_deferring_receiver_gets_the_message_once_after_retry(world):
    # smtp-sink answers RCPT with 450 until it is restarted without -r.
    sink = SmtpSink(f"127.0.0.4:{world.mx_port}", "-r", "rcpt")
    try:
        a = world.sender()
        submit(a, "alice@sender.test", ["carol@sink.test"], subject="retried")
        wait_until(lambda: re.search(r"carol@sink\.test\s+\(450", a.queue()),
                   what="a deferral with the sink's 450", site=a)
        assert sink.messages() == []
        sink.stop()
        sink.start()
        wait_until(lambda: "queue is empty" in a.queue(), what="delivery after retry", site=a)
        messages = sink.messages()
        assert len(messages) == 1, messages
        assert b"Subject: retried" in messages[0]
    finally:
        sink.close()


def test_permanent_failure_returns_an_rfc3464_dsn(world):
    world.receiver("mx1", "127.0.0.2")
    a = world.sender()
    submit(a, "alice@sender.test", ["nobody@dest.test"], subject="to nobody")
    got = wait_until(lambda: a.inbox("alice@sender.test"), what="the bounce", site=a)
    message, recipients = delivery_status(got[0])
    assert message["From"].addresses[0].addr_spec == "MAILER-DAEMON@mail.sender.test"
    assert message["Auto-Submitted"] == "auto-replied"
    assert recipients[0]["Final-Recipient"].lower() == "rfc822; nobody@dest.test"
    assert recipients[0]["Action"] == "failed"
    assert recipients[0]["Status"] == "5.1.1"
    assert recipients[0]["Remote-MTA"] == "dns; mx1.dest.test"
    assert "550" in recipients[0]["Diagnostic-Code"]
    # The original comes back whole (no RET=HDRS).
    returned = list(message.iter_parts())[2]
    assert returned.get_content_type() == "message/rfc822"
    assert "body of to nobody" in returned.as_string()
    assert "queue is empty" in a.queue()


def test_dead_receiver_gets_a_delay_warning_then_an_expiry_dsn(world):
    a = world.sender(queue=queue_section(schedule="1", warning=2, lifetime=6))
    submit(a, "alice@sender.test", ["bob@dead.test"], subject="into the void")
    got = wait_until(lambda: a.inbox("alice@sender.test"), what="the delay warning", site=a)
    _, recipients = delivery_status(got[0])
    assert recipients[0]["Action"] == "delayed"
    assert recipients[0]["Status"].startswith("4.")
    assert "Will-Retry-Until" in recipients[0]
    got = wait_until(lambda: len(a.inbox("alice@sender.test")) >= 2, timeout=60,
                     what="the expiry DSN", site=a) and a.inbox("alice@sender.test")
    assert len(got) == 2  # one warning only
    _, recipients = delivery_status(got[1])
    assert recipients[0]["Action"] == "failed"
    assert recipients[0]["Status"] == "4.4.7"
    assert "queue is empty" in a.queue()


def test_null_mx_bounces_at_once(world):
    a = world.sender()
    submit(a, "alice@sender.test", ["anyone@null.test"], subject="null mx")
    got = wait_until(lambda: a.inbox("alice@sender.test"), what="the null MX bounce", site=a)
    _, recipients = delivery_status(got[0])
    assert recipients[0]["Action"] == "failed"
    assert recipients[0]["Status"] == "5.1.10"


def test_smarthost_with_auth(world, tmp_path):
    # The smarthost is a second ternd's submission service on 127.0.0.5; it knows
    # alice@sender.test as an alias of its relay account, so the sender is owned.
    relay = world.site("relay", "relay.dest.test",
                       listener("submission", "submission", f"127.0.0.5:{world.mx_port}"))
    relay.add_user("relay@dest.test")
    relay.cli("domain", "add", "sender.test")
    relay.cli("alias", "add", "alice@sender.test", "relay@dest.test")
    relay.start()
    relay.port("submission")
    password_file = tmp_path / "relay.pw"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    a = world.sender(extra=f"""
[[transport]]
domain = "elsewhere.test"
route = "smtp:[127.0.0.5]:{world.mx_port}"
auth_user = "relay@dest.test"
auth_password_file = "{password_file}"
""")
    submit(a, "alice@sender.test", ["dave@elsewhere.test"], subject="via smarthost")
    wait_until(lambda: "queue is empty" in a.queue(), what="handing over to the smarthost", site=a)
    # The relay authenticated the sender as its relay account and took the message
    # for its own outbound queue (where it is then attempted: no route to elsewhere.test).
    relay.server.wait_for_log(r'"msg":"smtp auth".*"user":"relay@dest\.test"')
    relay.server.wait_for_log(r'"msg":"smtp message".*"from":"<alice@sender\.test>".*"reply":"250"')
    relay.server.wait_for_log(r'"msg":"queue recipient".*"to":"dave@elsewhere\.test"')


def test_alias_forward_uses_srs_and_the_bounce_returns_to_the_origin(world):
    # dest.test forwards fwd@dest.test to carol@far.test (a sink that records the
    # envelope); the test then bounces to the SRS return path like the far side would.
    far = SmtpSink(f"127.0.0.6:{world.mx_port}")
    try:
        mx1 = srs_forwarder(world)
        a = world.sender()
        submit(a, "alice@sender.test", ["fwd@dest.test"], subject="forwarded")
        dump = wait_until(far.messages, what="the forward at far.test", site=mx1)[0]
        return_path = re.search(rb"X-Mail-Args: <([^>]*)>", dump)
        envelope = return_path.group(1).decode() if return_path else ""
        assert envelope.startswith("SRS0=") and envelope.endswith("=sender.test=alice@dest.test"), dump[:400]
        # The bounce from far.test to the SRS address: mx1 reverses it to alice.
        with smtplib.SMTP("127.0.0.2", world.mx_port, timeout=30) as client:
            client.ehlo("mx.far.test")
            assert client.mail("<>")[0] == 250
            assert client.rcpt(envelope)[0] == 250
            bad = envelope.replace("SRS0=", "SRS0=x", 1)
            assert client.rcpt(bad)[0] == 550
            client.data(b"From: MAILER-DAEMON@far.test\r\nSubject: Undelivered: forwarded\r\n\r\n"
                        b"carol is gone\r\n")
        got = wait_until(lambda: a.inbox("alice@sender.test"), what="the bounce back at alice",
                         site=mx1)
        assert b"Subject: Undelivered: forwarded" in got[0]
    finally:
        far.close()


def test_forward_refused_downstream_bounces_back_through_srs(world):
    # far.test refuses the forwarded recipient (smtp-sink -f rcpt: 5xx at RCPT), so
    # dest.test's own bounce goes to the SRS return path, which it reverses to alice.
    far = SmtpSink(f"127.0.0.6:{world.mx_port}", "-f", "rcpt")
    try:
        mx1 = srs_forwarder(world)
        a = world.sender()
        submit(a, "alice@sender.test", ["fwd@dest.test"], subject="refused forward")
        got = wait_until(lambda: a.inbox("alice@sender.test"), what="the bounce back at alice",
                         site=mx1)
        message, recipients = delivery_status(got[0])
        assert message["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx1.dest.test"
        assert recipients[0]["Final-Recipient"].lower() == "rfc822; carol@far.test"
        assert recipients[0]["Original-Recipient"].lower() == "rfc822; fwd@dest.test"
        assert recipients[0]["Action"] == "failed"
        assert recipients[0]["Status"].startswith("5.")
        assert "queue is empty" in mx1.queue()
    finally:
        far.close()
