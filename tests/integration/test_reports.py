# SPDX-License-Identifier: Apache-2.0
"""DMARC aggregate reports end to end (RFC 9990; issue #8): Knot on loopback
publishes sender.test's DMARC policy with rua=mailto:rua@example.org (a local
account; example.org authorises it with sender.test._report._dmarc.example.org).
A DKIM-signed message from sender.test arrives at the MX, which records the DMARC
evaluation; `tern report dmarc --send-now` queues the report; the running ternd
delivers it into rua@example.org's INBOX, where it is checked byte for byte
(Subject, file name, gzip, XML rows), then read back with `tern report ingest` and
listed. Also: `tern report import` of the parsedmarc samples
(../shared/testdata/dmarc, read in place) and refusal of what is not a report."""
import gzip
import os
import re
import time
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from xml.etree import ElementTree

import pytest

from conftest import tern_cli
from dns_server import dns_server  # noqa: F401  (pytest fixture)
from test_dkim_interop import need_dkimpy  # noqa: F401  (skips without dkimpy)
from test_mailauth_inbound import ALICE, ed25519_key, message, send, sign, zones
from test_smtp import DOMAIN, PASSWORD, inbox, provision, start_mail_server

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


def test_dmarc_report_is_generated_delivered_and_read_back(ternd_factory, dns_server):  # noqa: F811
    seed, record = ed25519_key()
    dns = dns_server(report_zones(record))
    config = f"""
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

    sent = tern_cli(server.config, "report", "dmarc", "--send-now")
    assert f"for {RUA}" in sent.stdout, sent.stdout + sent.stderr
    [report_mail] = wait_for_inbox(server, RUA, 1)

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
    dkim = record.find(f"{NS}auth_results/{NS}dkim")
    assert dkim.findtext(NS + "domain") == "sender.test"
    assert dkim.findtext(NS + "selector") == "ed"
    assert dkim.findtext(NS + "result") == "pass"

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
