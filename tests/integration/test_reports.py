# SPDX-License-Identifier: Apache-2.0
"""DMARC aggregate reports end to end (RFC 9990; issue #8): Knot on loopback
publishes sender.test's DMARC policy with rua=mailto:rua@example.org (a local
account; example.org authorises it with sender.test._report._dmarc.example.org).
A DKIM-signed message from sender.test arrives at the MX, which records the DMARC
evaluation; `tern report dmarc --send-now` queues the report; the running ternd
delivers it into rua@example.org's INBOX, where it is checked byte for byte
(Subject, file name, gzip, XML rows), then read back with `tern report ingest` and
listed; the report mail carries the DKIM signature of example.org's [[dkim]] key
and verifies with dkimpy (the CLI signs as ternd's timer does). Also: `tern report
import` of the parsedmarc samples (../shared/testdata/dmarc, read in place) and
refusal of what is not a report; and TLS reports (RFC 8460) POSTed to https: rua
destinations: a real outbound session records a TLS result for rpt.test, whose
TLSRPT record names two HTTPS receivers (python http.server + ssl) — one with a
certificate from the test CA that answers 500 then 200 (ternd retries), one with
a self-signed certificate (refused: it never sees a request)."""
import gzip
import http.server
import json
import os
import re
import signal
import smtplib
import time
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from xml.etree import ElementTree

import pytest

from conftest import tern_cli
from dns_server import dns_server  # noqa: F401  (pytest fixture)
from test_dkim_interop import dkim, need_dkimpy  # noqa: F401  (skips without dkimpy)
from test_mailauth_inbound import ed25519_key, message, send, sign, zones
from test_mailauth_signing import dkim_entries, keygen
from test_outbound_security import HttpsServer, issue, make_ca, self_signed
from test_outbound_transport import free_port
from test_smtp import AUTH_FAST, DOMAIN, inbox, provision, start_mail_server

RUA = f"rua@{DOMAIN}"
NS = "{urn:ietf:params:xml:ns:dmarc-2.0}"
TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "dmarc"


def report_zones(dkim_record):
    z = zones(dkim_record)
    z["sender.test"] = [r for r in z["sender.test"] if not r.startswith("_dmarc")]
    z["sender.test"].append(f"_dmarc TXT \"v=DMARC1; p=reject; rua=mailto:{RUA}\"")
    z[DOMAIN] = ["sender.test._report._dmarc TXT \"v=DMARC1\""]
    return z


def wait_for_inbox(server, address, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = inbox(server, address)
        if len(messages) >= count:
            return messages
        time.sleep(0.5)
    raise AssertionError(f"{address} has no report after {timeout}s; log:\n" +
                         "\n".join(server.lines[-60:]))


def test_dmarc_report_is_generated_delivered_and_read_back(ternd_factory, dns_server,  # noqa: F811
                                                           need_dkimpy, tmp_path):  # noqa: F811
    seed, record = ed25519_key()
    keys = tmp_path / "keys"
    keys.mkdir()
    report_key, report_record = keygen(keys, "rep", "ed25519")
    dns = dns_server(report_zones(record))
    config = dkim_entries([(DOMAIN, "rep", report_key, True)]) + f"""
[dns]
servers = ["127.0.0.1:{dns.port}"]
timeout_ms = 3000

[queue]
poll_interval_ms = 200

[reports]
enabled = true
org_name = "Example Receiver"
email = "reports@{DOMAIN}"
submitter = "{DOMAIN}"
inbox = "{RUA}"
"""
    server, ports = start_mail_server(ternd_factory, [("mx", "smtp", "none")], config)
    provision(server, users=("alice", "rua"))

    for i in range(2):
        raw = sign(message("Ann <ann@sender.test>", f"figures-{i}"), seed)
        assert send(ports["mx"], "bounces@sender.test", raw) == {}

    printed = tern_cli(server.config, "report", "dmarc", "--print").stdout
    root = ElementTree.fromstring(printed)
    assert root.tag == NS + "feedback"
    assert root.findtext(f"{NS}policy_published/{NS}domain") == "sender.test"
    assert root.findtext(f"{NS}policy_published/{NS}p") == "reject"
    assert root.findtext(f"{NS}policy_published/{NS}discovery_method") == "treewalk"

    sent = tern_cli(server.config, "report", "dmarc", "--send-now")
    assert f"for {RUA}" in sent.stdout, sent.stdout + sent.stderr
    [report_mail] = wait_for_inbox(server, RUA, 1)

    # Signed by the CLI with the [[dkim]] key of the reporter's domain, as ternd's
    # timer signs (RFC 9990 §3.5.2: report mail should pass DMARC aligned).
    assert report_mail.startswith(b"DKIM-Signature:") or b"\nDKIM-Signature:" in report_mail
    records = {f"rep._domainkey.{DOMAIN}.": report_record}

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return records.get(name if name.endswith(".") else name + ".", "").encode()

    signature = re.search(rb"^DKIM-Signature:.*?(?=^\S)", report_mail, re.M | re.S).group(0)
    assert b"d=example.org;" in signature and b"s=rep;" in signature, signature
    assert dkim.DKIM(report_mail).verify(dnsfunc=dnsfunc), report_mail[:800]
    # A changed Subject (a signed field) fails: the check above can fail.
    tampered = report_mail.replace(b"Subject: Report Domain:", b"Subject: Report Damain:")
    assert tampered != report_mail
    try:
        assert not dkim.DKIM(tampered).verify(dnsfunc=dnsfunc)
    except dkim.ValidationError:
        pass

    mail = message_from_bytes(report_mail, policy=default_policy)
    subject = re.sub(r"\s+", " ", str(mail["Subject"]))
    assert re.fullmatch(r"Report Domain: sender\.test Submitter: example\.org "
                        r"Report-ID: <\d+\.sender\.test@example\.org>", subject), subject
    assert mail["From"] == f"reports@{DOMAIN}"
    [attachment] = [p for p in mail.iter_attachments()]
    assert attachment.get_content_type() == "application/gzip"
    name = attachment.get_filename()
    assert re.fullmatch(r"example\.org!sender\.test!\d+!\d+\.xml\.gz", name), name
    xml = gzip.decompress(attachment.get_content())
    root = ElementTree.fromstring(xml)
    meta = root.find(NS + "report_metadata")
    assert meta.findtext(NS + "org_name") == "Example Receiver"
    assert meta.findtext(NS + "email") == f"reports@{DOMAIN}"
    begin = int(meta.findtext(f"{NS}date_range/{NS}begin"))
    end = int(meta.findtext(f"{NS}date_range/{NS}end"))
    assert end - begin == 86400 and begin % 86400 == 0
    assert name == f"example.org!sender.test!{begin}!{end}.xml.gz"
    [record] = root.findall(NS + "record")
    assert record.findtext(f"{NS}row/{NS}source_ip") == "127.0.0.1"
    assert record.findtext(f"{NS}row/{NS}count") == "2"
    assert record.findtext(f"{NS}row/{NS}policy_evaluated/{NS}disposition") == "none"
    assert record.findtext(f"{NS}row/{NS}policy_evaluated/{NS}dkim") == "pass"
    assert record.findtext(f"{NS}identifiers/{NS}header_from") == "sender.test"
    assert record.findtext(f"{NS}identifiers/{NS}envelope_from") == "sender.test"
    auth = record.find(f"{NS}auth_results/{NS}dkim")
    assert auth.findtext(NS + "domain") == "sender.test"
    assert auth.findtext(NS + "selector") == "ed"
    assert auth.findtext(NS + "result") == "pass"

    ingested = tern_cli(server.config, "report", "ingest").stdout
    assert "1 reports stored" in ingested or "0 reports stored, 1 already" in ingested, ingested
    listed = tern_cli(server.config, "report", "dmarc", "--list").stdout
    assert "sender.test" in listed and "from Example Receiver" in listed, listed
    assert re.search(r"\b2 messages, 2 passed", listed), listed
    assert re.search(r"2\s+127\.0\.0\.1\s+disposition=none dkim=pass", listed), listed


def test_import_lists_samples_and_refuses_non_reports(ternd_factory):
    if not TESTDATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{TESTDATA} is missing (CI=true: the sample reports are required)")
        pytest.skip("../shared/testdata is absent; the sample reports are skipped")
    server = ternd_factory()
    server.wait_listening("http")
    files = sorted(str(p) for p in (TESTDATA / "aggregate").iterdir())
    files += sorted(str(p) for p in (TESTDATA / "smtp_tls").iterdir())
    result = tern_cli(server.config, "report", "import", *files)
    # Some samples are copies of one report (same org and Report-ID): stored once.
    out = result.stdout
    assert out.count("stored report") + out.count("already had report") == len(files), out
    assert out.count("stored report") >= len(files) - 2, out
    again = tern_cli(server.config, "report", "import", files[0])
    assert "already had report" in again.stdout
    refused = tern_cli(server.config, "report", "import", str(TESTDATA / "empty.xml"), check=False)
    assert refused.returncode == 1 and "not a DMARC or TLS report" in refused.stderr
    dmarc = tern_cli(server.config, "report", "dmarc", "--list").stdout
    assert "borschow.com" in dmarc and "from google.com" in dmarc, dmarc
    tls = tern_cli(server.config, "report", "tls", "--list", "company-y.example").stdout
    assert "Company-X" in tls and "starttls-not-supported" in tls, tls
    assert "borschow.com" not in tls
    usage = tern_cli(server.config, "report", "dmarc", "--bogus", check=False)
    assert usage.returncode == 2


class ReportReceiver(HttpsServer):
    """An HTTPS endpoint on 127.0.0.1 taking TLS report POSTs: answers with the next
    status of `statuses` (the last one repeats) and keeps (path, headers, body)."""

    def __init__(self, cert, key, statuses):
        outer = self
        self.statuses = list(statuses)
        self.posts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                outer.posts.append((self.path, dict(self.headers.items()), self.rfile.read(length)))
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                body = b"thanks\n" if status < 300 else b"try later\n"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(cert, key, Handler)


def pending_posts(server):
    return tern_cli(server.config, "report", "posts").stdout


def test_tls_report_is_posted_over_https_retried_and_refused_on_a_bad_certificate(
        ternd_factory, dns_server, tmp_path):  # noqa: F811
    ca_dir = tmp_path / "ca"
    ca = make_ca(ca_dir)
    good = ReportReceiver(*issue(tmp_path / "good", "good", ["reports.rpt.test"], ca_dir),
                          [500, 200])
    bad = ReportReceiver(*self_signed(tmp_path / "bad", ["bad.rpt.test"]), [200])
    try:
        good_uri = f"https://reports.rpt.test:{good.port}/v1/tlsrpt"
        bad_uri = f"https://bad.rpt.test:{bad.port}/tlsrpt"
        dns = dns_server({
            "test": [],
            "org": [],
            "rpt.test": ["@ MX 10 mx", "mx A 127.0.0.1", "reports A 127.0.0.1",
                         "bad A 127.0.0.1",
                         f"_smtp._tls TXT \"v=TLSRPTv1; rua={good_uri},{bad_uri}\""],
        })
        # The MX of rpt.test is this ternd's own MX listener: the outbound session
        # (STARTTLS, then a relay refusal) records a TLS result for rpt.test.
        mx_port = free_port()
        listeners = (f'\n[[listener]]\nname = "mx"\nrole = "smtp"\n'
                     f'address = "127.0.0.1:{mx_port}"\ntls = "starttls"\n')
        config = AUTH_FAST + f"""
[dns]
servers = ["127.0.0.1:{dns.port}"]
timeout_ms = 3000

[queue]
poll_interval_ms = 200

[outbound]
mx_port = {mx_port}
ca_file = "{ca}"

[reports]
org_name = "Example Sender"
email = "reports@{DOMAIN}"
submitter = "{DOMAIN}"
"""
        server = ternd_factory(listeners, extra=config)
        server.wait_listening("mx")
        provision(server, users=("alice",), aliases=((f"fwd@{DOMAIN}", "someone@rpt.test"),))
        with smtplib.SMTP("127.0.0.1", mx_port, timeout=30) as client:
            # A null reverse path: the relay refusal at the far end makes no bounce,
            # so one session is all rpt.test sees.
            client.sendmail("", [f"fwd@{DOMAIN}"],
                            b"From: ann@remote.example\r\nSubject: to rpt\r\n\r\nhi\r\n")
        deadline = time.monotonic() + 60
        while True:
            printed = tern_cli(server.config, "report", "tls", "--print", check=False).stdout
            if "rpt.test" in printed:
                break
            assert time.monotonic() < deadline, "no TLS result for rpt.test; log:\n" + \
                "\n".join(server.lines[-60:])
            time.sleep(0.5)
        document = json.loads(printed)

        sent = tern_cli(server.config, "report", "tls", "--send-now", check=False)
        out = sent.stdout + sent.stderr
        # The first attempt: 500 from one receiver, the other's certificate refused.
        assert sent.returncode == 1, out
        assert "HTTP 500" in out and "0 delivered by HTTPS, 2 to be retried" in out, out
        assert re.search(r"bad\.rpt\.test.*certificate", out), out
        assert bad.posts == [], "a POST reached the endpoint with the untrusted certificate"
        assert len(good.posts) == 1
        listed = pending_posts(server)
        assert good_uri in listed and bad_uri in listed and "attempts 1" in listed, listed
        assert "last error: HTTP 500" in listed, listed

        # ternd's report timer sleeps (reports are not enabled and nothing was
        # pending when it last looked): SIGHUP wakes it, it finds the posts and
        # retries them after the 30 s backoff: 200 this time.
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 120
        while len(good.posts) < 2:
            assert time.monotonic() < deadline, "no retry; log:\n" + "\n".join(server.lines[-60:])
            time.sleep(0.5)
        deadline = time.monotonic() + 30
        while good_uri in pending_posts(server):
            assert time.monotonic() < deadline, pending_posts(server)
            time.sleep(0.5)
        assert bad_uri in pending_posts(server)  # still refused, still pending
        assert bad.posts == []

        for path, headers, body in good.posts:
            assert path == "/v1/tlsrpt"
            headers = {k.lower(): v for k, v in headers.items()}
            assert headers["content-type"] == "application/tlsrpt+gzip", headers
            assert headers["host"] == f"reports.rpt.test:{good.port}", headers
            assert int(headers["content-length"]) == len(body)
            report = json.loads(gzip.decompress(body))
            assert report == document
            assert report["organization-name"] == "Example Sender"
            assert report["contact-info"] == f"reports@{DOMAIN}"
            [policy] = report["policies"]
            assert policy["policy"]["policy-domain"] == "rpt.test"
            assert policy["policy"]["policy-type"] == "no-policy-found"
        server.wait_for_log("TLS reports delivered by HTTPS", timeout=10)
    finally:
        good.close()
        bad.close()
