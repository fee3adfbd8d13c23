# SPDX-License-Identifier: Apache-2.0
"""DKIM interop with Debian's python3-dkim (dkimpy, an independent implementation):
tern signs and dkimpy verifies (its dnsfunc hook serves the key), dkimpy signs and
tern verifies (Knot serves the key on a loopback port to `tern dkim verify`), for
RSA-2048 and Ed25519 keys from `tern dkim keygen`, in all four c= modes."""
import base64
import os
import re
import stat
import subprocess

import pytest

from conftest import TERN
from dns_server import dns_server  # noqa: F401  (pytest fixture)

try:
    import dkim
    import nacl.signing
except ImportError:  # pragma: no cover - depends on the machine
    dkim = None

MESSAGE = (b"Received: from client.example.net by mx.example.org\r\n"
           b"From: Ann Example <ann@example.org>\r\n"
           b"To: Bob <bob@example.net>, cid@example.net\r\n"
           b"Subject: interop  test\r\n"
           b"  with a folded subject\r\n"
           b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <interop@example.org>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"\r\n"
           b"Hello Bob,  \r\n"
           b"\tthis line starts with a tab and ends with spaces   \r\n"
           b"\r\n"
           b"\r\n")

CANONS = ["simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed"]


@pytest.fixture(autouse=True)
def need_dkimpy():
    if dkim is None:
        if os.environ.get("CI") == "true":
            pytest.fail("python3-dkim / python3-nacl missing (scripts/install-deps installs them)")
        pytest.skip("python3-dkim / python3-nacl not installed")


def tern(*args, input=None, check=True):
    result = subprocess.run([str(TERN), "dkim", *args], input=input, capture_output=True,
                            timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"tern dkim {' '.join(args)}: {result.returncode} {result.stderr!r}")
    return result


def keygen(tmp_path, selector, key_type):
    out = tmp_path / f"{selector}.pem"
    result = tern("keygen", "--selector", selector, "--domain", "example.org", "--out", str(out),
                  "--type", key_type)
    line = result.stdout.decode()
    match = re.fullmatch(rf'{selector}\._domainkey\.example\.org\. IN TXT \((( "[^"]*")+) \)\n', line)
    assert match, line
    record = "".join(re.findall(r'"([^"]*)"', match.group(1)))
    return out, record


def test_keygen_writes_a_private_key_and_prints_its_record(tmp_path):
    rsa_key, rsa_record = keygen(tmp_path, "rsa", "rsa")
    ed_key, ed_record = keygen(tmp_path, "ed", "ed25519")
    assert stat.S_IMODE(rsa_key.stat().st_mode) == 0o600
    assert rsa_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert rsa_record.startswith("v=DKIM1; k=rsa; p=")
    # 2048-bit SubjectPublicKeyInfo is 294 bytes.
    assert len(base64.b64decode(rsa_record.split("p=")[1])) == 294
    assert ed_record.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(ed_record.split("p=")[1])) == 32
    # An existing key is never overwritten.
    again = tern("keygen", "--selector", "rsa", "--domain", "example.org", "--out", str(rsa_key),
                 check=False)
    assert again.returncode == 1
    assert tern("keygen", "--selector", "x", "--domain", "example.org", "--out",
                str(tmp_path / "small.pem"), "--bits", "512", check=False).returncode == 2


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
@pytest.mark.parametrize("canon", CANONS)
def test_tern_signs_and_dkimpy_verifies(tmp_path, key_type, canon):
    key, record = keygen(tmp_path, "sel", key_type)
    signed = tern("sign", "--key", str(key), "--domain", "example.org", "--selector", "sel",
                  "--canon", canon, input=MESSAGE).stdout
    assert signed.endswith(MESSAGE)
    asked = []

    def dnsfunc(name, timeout=5):
        asked.append(name)
        return record.encode() if name == b"sel._domainkey.example.org." else None

    assert dkim.verify(signed, dnsfunc=dnsfunc), signed.decode()
    assert asked == [b"sel._domainkey.example.org."]
    # And dkimpy sees a tampered copy fail.
    tampered = signed.replace(b"Hello Bob", b"Hello Eve")
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)


def publish(dns_server, records):
    lines = []
    for name, text in records.items():
        chunks = " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))
        lines.append(f"{name} TXT {chunks}")
    return dns_server({"example.org": lines})


def tern_verify(dns, message):
    return tern("verify", "--dns-server", f"127.0.0.1:{dns.port}", input=message, check=False)


@pytest.mark.parametrize("canon", CANONS)
def test_dkimpy_signs_and_tern_verifies(tmp_path, dns_server, canon):  # noqa: F811
    rsa_key, rsa_record = keygen(tmp_path, "rsa", "rsa")
    seed = os.urandom(32)
    ed_public = bytes(nacl.signing.SigningKey(seed).verify_key)
    ed_record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_public).decode()
    dns = publish(dns_server, {"rsa._domainkey": rsa_record, "ed._domainkey": ed_record})
    header, body = canon.split("/")
    c = (header.encode(), body.encode())
    rsa_sig = dkim.sign(MESSAGE, b"rsa", b"example.org", rsa_key.read_bytes(), canonicalize=c)
    ed_sig = dkim.sign(MESSAGE, b"ed", b"example.org", base64.b64encode(seed), canonicalize=c,
                       signature_algorithm=b"ed25519-sha256")
    both = ed_sig + rsa_sig + MESSAGE
    result = tern_verify(dns, both)
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(lines) == 2, lines
    assert lines[0].startswith("dkim=pass header.d=example.org header.s=ed header.a=ed25519-sha256")
    assert lines[1].startswith("dkim=pass header.d=example.org header.s=rsa header.a=rsa-sha256")
    # LF line ends (as stored on disk) verify too.
    assert tern_verify(dns, both.replace(b"\r\n", b"\n")).returncode == 0
    # Re-spacing a header survives relaxed header canonicalisation only.
    respaced = tern_verify(dns, both.replace(b"Subject: interop  test", b"Subject:  interop test"))
    assert respaced.returncode == (1 if header == "simple" else 0), respaced.stdout
    bad = tern_verify(dns, both.replace(b"Hello Bob", b"Hello Eve"))
    assert bad.returncode == 1
    assert bad.stdout.decode().count("dkim=fail (body hash did not verify)") == 2


def test_tern_verify_reports_missing_key_and_no_signature(tmp_path, dns_server):  # noqa: F811
    key, record = keygen(tmp_path, "sel", "ed25519")
    signed = tern("sign", "--key", str(key), "--domain", "example.org", "--selector", "sel",
                  input=MESSAGE).stdout
    dns = publish(dns_server, {"other._domainkey": record})
    result = tern_verify(dns, signed)
    assert result.returncode == 1
    assert result.stdout.decode().startswith("dkim=permerror (no key for signature) header.d=example.org")
    result = tern_verify(dns, MESSAGE)
    assert (result.returncode, result.stdout) == (1, b"dkim=none\n")
