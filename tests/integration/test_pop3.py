# SPDX-License-Identifier: Apache-2.0
"""POP3 (issue #6) against a live ternd with real clients: Python poplib (STLS and
implicit TLS), fetchmail (keep and no-keep, UIDL-based incremental fetch), getmail6
(SimplePOP3Retriever and SimplePOP3SSLRetriever into a Maildir) and curl pop3://
and pop3s://. Messages go in with `tern deliver` and must come out byte for byte."""
import os
import poplib
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import tern_cli
from getmail_client import run_getmail
from test_smtp import DOMAIN, PASSWORD, provision, start_mail_server

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def sample_messages():
    """CRLF messages (the stored form) with the cases POP3 must get right: a line
    that is a lone ".", lines starting with dots, 8-bit text, a large body."""
    big = "".join(f"line {i:06d} " + "x" * 90 + "\r\n" for i in range(1000))
    return [
        f"From: bob@{DOMAIN}\r\nTo: {ALICE}\r\nSubject: one\r\n\r\nhello\r\n.\r\n..two\r\n.x\r\nend\r\n",
        f"From: bob@{DOMAIN}\r\nTo: {ALICE}\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Grüße aus Köln\r\n",
        f"From: bob@{DOMAIN}\r\nTo: {ALICE}\r\nSubject: big\r\n\r\n{big}",
    ]


@pytest.fixture
def pop3(ternd_factory):
    server, ports = start_mail_server(
        ternd_factory, [("pop3", "pop3", "starttls"), ("pop3s", "pop3", "implicit")],
        "failures_before_delay = 2\nfailures_before_block = 4\nblock_seconds = 60\n"
        "max_delay_seconds = 1\n")
    provision(server)
    messages = sample_messages()
    for m in messages:
        tern_cli(server.config, "deliver", ALICE, input=m)
    return server, ports, messages


def login(port, user=ALICE, password=PASSWORD, implicit=False, stls=False):
    client = (poplib.POP3_SSL("127.0.0.1", port, context=tls_context(), timeout=30) if implicit
              else poplib.POP3("127.0.0.1", port, timeout=30))
    if stls:
        client.stls(context=tls_context())
    client.user(user)
    client.pass_(password)
    return client


def login_when_free(port, attempts=50):
    """Logs in, retrying [IN-USE] while the server notices that a dropped session
    is gone (a race every POP3 server has)."""
    for _ in range(attempts):
        try:
            return login(port)
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0]:
                raise
            time.sleep(0.1)
    return login(port)


def retr_bytes(client, number):
    _, lines, _ = client.retr(number)
    return b"".join(line + b"\r\n" for line in lines)


def test_poplib_stls_and_implicit_tls_retrieve_byte_identical(pop3):
    server, ports, messages = pop3
    for kwargs in ({"stls": True}, {"implicit": True}):
        port = ports["pop3s"] if kwargs.get("implicit") else ports["pop3"]
        client = login(port, **kwargs)
        count, size = client.stat()
        assert count == 3
        assert size == sum(len(m.encode()) for m in messages)
        for i, m in enumerate(messages, start=1):
            assert retr_bytes(client, i) == m.encode(), f"message {i} differs"
        uidls = [line.split()[1] for line in client.uidl()[1]]
        assert len(set(uidls)) == 3 and all(len(u) == 16 for u in uidls)
        # TOP: headers, blank line, n body lines (RFC 1939 §7).
        _, top, _ = client.top(1, 2)
        assert top[-3:] == [b"", b"hello", b"."] or top[-2:] == [b"hello", b"."]
        client.quit()


def test_capabilities_follow_tls(pop3):
    _, ports, _ = pop3
    client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    caps = client.capa()
    # Loopback with allow_plaintext_on_loopback (the default): USER and PLAIN offered.
    assert "STLS" in caps and "UIDL" in caps and "RESP-CODES" in caps and "PIPELINING" in caps
    assert caps["SASL"] == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
    client.stls(context=tls_context())
    caps = client.capa()
    assert "STLS" not in caps
    assert caps["SASL"][0] == "SCRAM-SHA-256-PLUS"
    client.quit()


def test_deletions_apply_at_quit_only_and_are_visible_afterwards(pop3):
    _, ports, messages = pop3
    client = login(ports["pop3"])
    client.dele(1)
    # Dropping the connection without QUIT deletes nothing (RFC 1939 §6).
    client.close()
    client = login_when_free(ports["pop3"])
    assert client.stat()[0] == 3
    client.dele(1)
    client.dele(3)
    client.quit()
    client = login(ports["pop3"])
    assert client.stat()[0] == 1
    assert retr_bytes(client, 1) == messages[1].encode()
    client.quit()


def test_second_session_gets_in_use(pop3):
    _, ports, _ = pop3
    first = login(ports["pop3"])
    second = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    second.user(ALICE)
    with pytest.raises(poplib.error_proto) as refused:
        second.pass_(PASSWORD)
    assert b"[IN-USE]" in refused.value.args[0]
    second.quit()
    first.quit()
    # Once the first session is over the maildrop is free again.
    login(ports["pop3"]).quit()


def test_throttle_blocks_after_repeated_failures(pop3):
    _, ports, _ = pop3
    errors = []
    for _ in range(5):
        client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
        client.user(BOB)
        try:
            client.pass_("wrong password")
        except poplib.error_proto as e:
            errors.append(e.args[0])
        client.quit()
    assert errors[0].startswith(b"-ERR [AUTH]")
    assert any(b"[SYS/TEMP]" in e for e in errors[3:]), errors
    # Blocked: even the right password is refused now.
    client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    client.user(BOB)
    with pytest.raises(poplib.error_proto) as blocked:
        client.pass_(PASSWORD)
    assert b"[SYS/TEMP]" in blocked.value.args[0]


def test_curl_pop3_and_pop3s(pop3):
    if not shutil.which("curl"):
        pytest.skip("curl not installed")
    _, ports, messages = pop3
    for url in (f"pop3://127.0.0.1:{ports['pop3']}/1", f"pop3s://127.0.0.1:{ports['pop3s']}/3"):
        out = subprocess.run(["curl", "-sS", "--insecure", "--user", f"{ALICE}:{PASSWORD}", url],
                             capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
        expected = messages[0] if url.endswith("/1") else messages[2]
        assert out.stdout == expected.encode()
    listing = subprocess.run(["curl", "-sS", "--user", f"{ALICE}:{PASSWORD}",
                              f"pop3://127.0.0.1:{ports['pop3']}/"],
                             capture_output=True, timeout=60)
    assert listing.stdout.decode().split("\r\n")[:3] == [
        f"{i} {len(m.encode())}" for i, m in enumerate(messages, start=1)]


def run_fetchmail(tmp, port, keep, out_dir):
    rc = tmp / "fetchmailrc"
    rc.write_text(
        f'set no bouncemail\nset invisible\n'
        f'poll 127.0.0.1 service {port} protocol pop3 uidl\n'
        f'  user "{ALICE}" password "{PASSWORD}" is root here\n'
        f'  {"keep" if keep else "no keep"} no rewrite no stripcr no sslcertck\n'
        f'  mda "/bin/sh -c \'cat > {out_dir}/msg.$$.$(date +%s%N)\'"\n')
    rc.chmod(0o600)
    env = dict(os.environ, FETCHMAILHOME=str(tmp), HOME=str(tmp))
    result = subprocess.run(["fetchmail", "-f", str(rc), "--idfile", str(tmp / "fetchids"),
                             "--nodetach", "--nosyslog"],
                            capture_output=True, text=True, env=env, timeout=120)
    # 0: mail retrieved, 1: no mail.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode


def fetched(out_dir):
    return sorted(p.read_bytes() for p in Path(out_dir).iterdir())


def test_fetchmail_keep_uidl_incremental_then_no_keep(pop3, tmp_path):
    if not shutil.which("fetchmail"):
        pytest.skip("fetchmail not installed (scripts/install-deps)")
    server, ports, messages = pop3
    out = tmp_path / "out"
    out.mkdir()
    assert run_fetchmail(tmp_path, ports["pop3"], True, out) == 0
    assert fetched(out) == sorted(m.encode() for m in messages)
    # UIDL: a second keep run fetches nothing new; a new message is fetched alone.
    assert run_fetchmail(tmp_path, ports["pop3"], True, out) == 1
    new = f"From: bob@{DOMAIN}\r\nSubject: four\r\n\r\nfourth\r\n"
    tern_cli(server.config, "deliver", ALICE, input=new)
    for p in out.iterdir():
        p.unlink()
    assert run_fetchmail(tmp_path, ports["pop3"], True, out) == 0
    assert fetched(out) == [new.encode()]
    # no keep: everything is fetched (once) and deleted on the server.
    for p in out.iterdir():
        p.unlink()
    (tmp_path / "fetchids").unlink(missing_ok=True)
    assert run_fetchmail(tmp_path, ports["pop3"], False, out) == 0
    assert len(fetched(out)) == 4
    client = login(ports["pop3"])
    assert client.stat()[0] == 0
    client.quit()


def pop3_retriever(port, ssl):
    return (f"type = {'SimplePOP3SSLRetriever' if ssl else 'SimplePOP3Retriever'}\n"
            f"server = 127.0.0.1\nport = {port}\nusername = {ALICE}\npassword = {PASSWORD}\n")


def test_getmail6_pop3_and_pop3_ssl_into_maildir(pop3, tmp_path):
    if not shutil.which("getmail"):
        pytest.skip("getmail6 not installed (scripts/install-deps)")
    _, ports, messages = pop3
    # Maildir delivery stores LF line ends; compare in that form.
    want = sorted(m.replace("\r\n", "\n").encode() for m in messages)
    with tempfile.TemporaryDirectory(prefix="tern-getmail-") as shared:
        os.chmod(shared, 0o755)
        plain, secure = Path(shared) / "plain", Path(shared) / "ssl"
        got = run_getmail(tmp_path / "plain", pop3_retriever(ports["pop3"], False), plain)
        assert got == want
        # read_all = false: a second run with the same state directory fetches nothing new.
        assert run_getmail(tmp_path / "plain", pop3_retriever(ports["pop3"], False), plain) == want
        got = run_getmail(tmp_path / "ssl", pop3_retriever(ports["pop3s"], True), secure, delete=True)
        assert got == want
    client = login(ports["pop3"])
    assert client.stat()[0] == 0
    client.quit()


def scram_login(client, password, channel_binding=None):
    """AUTH SCRAM-SHA-256(-PLUS) over poplib with a small RFC 5802 client; with
    `channel_binding` (tls-unique bytes) it uses SCRAM-SHA-256-PLUS."""
    import base64
    import hashlib
    import hmac
    nonce = base64.b64encode(os.urandom(18)).decode()
    gs2 = "p=tls-unique,," if channel_binding is not None else "n,,"
    first_bare = f"n={ALICE},r={nonce}"
    mech = "SCRAM-SHA-256-PLUS" if channel_binding is not None else "SCRAM-SHA-256"
    resp = client._shortcmd(f"AUTH {mech} " + base64.b64encode((gs2 + first_bare).encode()).decode())
    server_first = base64.b64decode(resp[2:]).decode()
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    cbind = gs2.encode() + (channel_binding or b"")
    without_proof = f"c={base64.b64encode(cbind).decode()},r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = without_proof + ",p=" + base64.b64encode(proof).decode()
    resp = client._shortcmd(base64.b64encode(final.encode()).decode())
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    expected = hmac.new(server_key, auth_message, "sha256").digest()
    assert base64.b64decode(resp[2:]).decode() == "v=" + base64.b64encode(expected).decode()
    return client._shortcmd("")


def test_scram_sha256_and_plus_with_tls_unique(pop3):
    _, ports, _ = pop3
    client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    assert scram_login(client, PASSWORD).startswith(b"+OK")
    client.quit()
    client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    with pytest.raises(poplib.error_proto) as wrong:
        scram_login(client, "not the password")
    assert b"[AUTH]" in wrong.value.args[0]
    client.quit()
    # TLS 1.2, where Python can give tls-unique (it has no tls-exporter): the
    # server's channel binding must match what the client saw.
    ctx = tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    client = poplib.POP3_SSL("127.0.0.1", ports["pop3s"], context=ctx, timeout=30)
    assert scram_login(client, PASSWORD,
                       client.sock.get_channel_binding("tls-unique")).startswith(b"+OK")
    client.quit()
    client = poplib.POP3_SSL("127.0.0.1", ports["pop3s"], context=ctx, timeout=30)
    with pytest.raises(poplib.error_proto):
        scram_login(client, PASSWORD, b"\0" * 12)  # a different channel: refused
    client.quit()


def test_login_delay_is_advertised_and_enforced(ternd_factory):
    server, ports = start_mail_server(ternd_factory, [("pop3", "pop3", "none")],
                                      "\n[pop3]\nlogin_delay_seconds = 3600\n")
    provision(server)
    client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    assert client.capa()["LOGIN-DELAY"] == ["3600"]
    client.user(ALICE)
    client.pass_(PASSWORD)
    client.quit()
    client = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    client.user(ALICE)
    with pytest.raises(poplib.error_proto) as early:
        client.pass_(PASSWORD)
    assert early.value.args[0].startswith(b"-ERR [LOGIN-DELAY]")
    client.quit()
