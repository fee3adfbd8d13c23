# SPDX-License-Identifier: Apache-2.0
"""DKIM signing on submission: a message an authenticated user submits is signed
with every `sign = true` [[dkim]] key of its From: domain (keys from `tern dkim
keygen`, RSA-2048 and Ed25519), and Debian's python3-dkim (dkimpy, an independent
implementation) verifies each signature against the published record. A key kept
for rotation (`sign = false`) is not used; a missing key file stops ternd with a
message naming the config line and key."""
import re
import smtplib
import subprocess

import pytest

from conftest import TERN, TERND, HTTP_LISTENER, base_config, write_config
from test_smtp import DOMAIN, PASSWORD, inbox, provision, start_mail_server

# dkimpy, and the autouse fixture that skips (or, with CI=true, fails) without it.
from test_dkim_interop import dkim, need_dkimpy  # noqa: F401

ALICE = f"alice@{DOMAIN}"


def keygen(directory, selector, key_type):
    """A key from `tern dkim keygen` and the TXT record text it prints."""
    out = directory / f"{selector}.pem"
    result = subprocess.run([str(TERN), "dkim", "keygen", "--selector", selector, "--domain",
                             DOMAIN, "--out", str(out), "--type", key_type],
                            capture_output=True, text=True, timeout=120, check=True)
    return out, "".join(re.findall(r'"([^"]*)"', result.stdout))


def dkim_entries(entries):
    return "".join(f'\n[[dkim]]\ndomain = "{domain}"\nselector = "{selector}"\nkey = "{key}"\n'
                   f"sign = {'true' if sign else 'false'}\n"
                   for domain, selector, key, sign in entries)


def test_submitted_mail_is_signed_and_verifies_with_dkimpy(ternd_factory, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    rsa_key, rsa_record = keygen(keys, "rsa2026", "rsa")
    ed_key, ed_record = keygen(keys, "ed2026", "ed25519")
    old_key, old_record = keygen(keys, "old", "ed25519")
    records = {f"rsa2026._domainkey.{DOMAIN}.": rsa_record,
               f"ed2026._domainkey.{DOMAIN}.": ed_record,
               f"old._domainkey.{DOMAIN}.": old_record}
    extra = "\n" + dkim_entries([(DOMAIN, "rsa2026", rsa_key, True),
                                 (DOMAIN, "ed2026", ed_key, True),
                                 (DOMAIN, "old", old_key, False),
                                 ("other.example", "s", ed_key, True)])
    server, ports = start_mail_server(ternd_factory, [("submission", "submission", "none"),
                                                      ("mx", "smtp", "none")], extra)
    provision(server)
    message = (f"From: Alice <{ALICE}>\r\nTo: bob@{DOMAIN}\r\nSubject: signed  mail\r\n"
               "Date: Fri, 27 Nov 2026 18:00:00 +0000\r\nMessage-ID: <s1@example.org>\r\n"
               "\r\nHello Bob,  \r\n\r\n").encode()
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30) as client:
        client.login(ALICE, PASSWORD)
        assert client.sendmail(ALICE, [f"bob@{DOMAIN}"], message) == {}
    [stored] = inbox(server, f"bob@{DOMAIN}")
    fields = re.findall(rb"^DKIM-Signature:.*?(?=^\S)", stored, re.M | re.S)
    assert len(fields) == 2, stored
    assert b"s=rsa2026;" in stored and b"s=ed2026;" in stored and b"s=old;" not in stored
    assert b"a=rsa-sha256;" in stored and b"a=ed25519-sha256;" in stored
    # Over-signed From: (RFC 6376 §8.15): h= names it once more than it occurs.
    assert all(re.search(rb"h=[^;]*from:[^;]*from", f.replace(b"\r\n", b"").replace(b" ", b""),
                         re.I) for f in fields), fields

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return records.get(name if name.endswith(".") else name + ".", "").encode()

    verifier = dkim.DKIM(stored)
    for index in range(2):
        assert verifier.verify(idx=index, dnsfunc=dnsfunc), f"signature {index}: {stored!r}"
    # A changed body breaks them: the check above can fail.
    tampered = stored.replace(b"Hello Bob", b"Hello Eve")
    with pytest.raises(dkim.ValidationError, match="body hash mismatch"):
        dkim.DKIM(tampered).verify(idx=0, dnsfunc=dnsfunc)

    # MX mail is never signed, even with a From: in our domain.
    with smtplib.SMTP("127.0.0.1", ports["mx"], timeout=30) as client:
        client.sendmail("x@remote.example", [f"bob@{DOMAIN}"],
                        f"From: {ALICE}\r\nSubject: not ours\r\n\r\nx\r\n".encode())
    assert b"DKIM-Signature" not in inbox(server, f"bob@{DOMAIN}")[1]


def test_missing_key_file_names_the_config_line(tmp_path, certs):
    data = tmp_path / "data"
    data.mkdir()
    missing = tmp_path / "nope.pem"
    cfg = write_config(tmp_path / "tern.toml", base_config(
        data, certs[0], certs[1], HTTP_LISTENER,
        dkim_entries([(DOMAIN, "s1", missing, True)])))
    result = subprocess.run([str(TERND), "-c", str(cfg)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    lineno = next(i for i, l in enumerate(cfg.read_text().splitlines(), 1) if l == "[[dkim]]")
    assert f"tern.toml:{lineno}: dkim[0].key: cannot read {missing}" in result.stderr, result.stderr


@pytest.mark.parametrize("configured", [None, "Auth.Example.org"])
def test_mx_removes_authentication_results_claiming_our_id(ternd_factory, configured):
    """RFC 8601 §5: a field naming our authserv-id (default the host name) that
    arrives from outside is removed; others' fields stay."""
    extra = f'\n[mailauth]\nauthserv_id = "{configured}"\n' if configured else ""
    ours = configured or "mail.example.test"
    server, ports = start_mail_server(ternd_factory, [("mx", "smtp", "none")], extra)
    provision(server)
    with smtplib.SMTP("127.0.0.1", ports["mx"], timeout=30) as client:
        client.sendmail("x@remote.example", [f"bob@{DOMAIN}"],
                        (f"Authentication-Results: {ours.upper()};\r\n dkim=pass (spoofed)\r\n"
                         "Authentication-Results: relay.example; spf=pass\r\n"
                         f"From: ceo@{DOMAIN}\r\nSubject: pay\r\n\r\nbody\r\n").encode())
    [stored] = inbox(server, f"bob@{DOMAIN}")
    assert b"spoofed" not in stored, stored
    assert b"Authentication-Results: relay.example; spf=pass\r\n" in stored, stored
