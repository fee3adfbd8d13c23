# SPDX-License-Identifier: Apache-2.0
"""ARC interop with Debian's python3-dkim (dkimpy's ARC signer and verifier): a
chain sealed by tern validates in dkimpy, dkimpy's seal on top of tern's validates
in tern, tern seals again on top of dkimpy's, and a changed body breaks the chain
for both. tern runs through mailauth_arc_driver (test support, a FakeResolver for
keys); dkimpy gets the same keys through its dnsfunc hook."""
import base64
import os
import subprocess

import pytest

from conftest import BUILD_DIR

try:
    import dkim
except ImportError:  # pragma: no cover - depends on the machine
    dkim = None

DRIVER = BUILD_DIR / "src" / "mailauth" / "mailauth_arc_driver"

MESSAGE = (b"Authentication-Results: mx.lists.example; spf=pass smtp.mailfrom=ann@example.org;\r\n"
           b"  dkim=pass header.d=example.org\r\n"
           b"From: Ann <ann@example.org>\r\n"
           b"To: list@lists.example\r\n"
           b"Subject: ARC interop\r\n"
           b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <arc@example.org>\r\n"
           b"\r\n"
           b"Hello list.\r\n")


@pytest.fixture(autouse=True)
def need_dkimpy():
    if dkim is None:
        if os.environ.get("CI") == "true":
            pytest.fail("python3-dkim missing (scripts/install-deps installs it)")
        pytest.skip("python3-dkim not installed")


def rsa_key(tmp_path, name):
    path = tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(path)], check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(path), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return path.read_bytes(), "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def tern_seal(message, key, domain, selector, srv_id, cv):
    return subprocess.run([str(DRIVER), "seal", key.decode(), domain, selector, srv_id,
                           "1700000000", cv], input=message, capture_output=True, check=True,
                          timeout=60).stdout


def tern_verify(message, records):
    args = [f"{name}={text}" for name, text in records.items()]
    return subprocess.run([str(DRIVER), "verify", *args], input=message, capture_output=True,
                          check=True, timeout=60).stdout.decode()


def test_arc_chain_across_tern_and_dkimpy(tmp_path):
    key1, record1 = rsa_key(tmp_path, "tern")
    key2, record2 = rsa_key(tmp_path, "dkimpy")
    records = {"arc._domainkey.lists.example": record1,
               "seal._domainkey.relay.example": record2}

    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip("."), "").encode() or None

    # Hop 1: tern seals (cv=none); dkimpy validates.
    hop1 = tern_seal(MESSAGE, key1, "lists.example", "arc", "mx.lists.example", "none")
    assert hop1.startswith(b"ARC-Seal: a=rsa-sha256; b=")
    cv, _, comment = dkim.arc_verify(hop1, dnsfunc=dnsfunc)
    assert cv == b"pass", comment
    assert tern_verify(hop1, records).startswith("arc=pass i=1")

    # Hop 2: dkimpy seals on top (its own A-R says arc=pass); tern validates.
    received = b"Authentication-Results: relay.example; arc=pass\r\n" + hop1
    new_set = dkim.arc_sign(received, b"seal", b"relay.example", key2, b"relay.example",
                            timestamp=1700000100)
    hop2 = b"".join(new_set) + received
    assert tern_verify(hop2, records).startswith("arc=pass i=2")
    cv, _, comment = dkim.arc_verify(hop2, dnsfunc=dnsfunc)
    assert cv == b"pass", comment

    # Hop 3: tern seals again (cv=pass); dkimpy validates the three sets.
    received = b"Authentication-Results: mx.lists.example; arc=pass\r\n" + hop2
    hop3 = tern_seal(received, key1, "lists.example", "arc", "mx.lists.example", "pass")
    assert b"i=3" in hop3.split(b"\r\n")[0]
    cv, results, comment = dkim.arc_verify(hop3, dnsfunc=dnsfunc)
    assert cv == b"pass", comment
    assert len(results) == 3
    assert tern_verify(hop3, records).startswith("arc=pass i=3")

    # A changed body breaks the newest AMS for both validators.
    broken = hop3.replace(b"Hello list.", b"Hello world")
    cv, _, _ = dkim.arc_verify(broken, dnsfunc=dnsfunc)
    assert cv == b"fail"
    assert tern_verify(broken, records).startswith("arc=fail i=3")
