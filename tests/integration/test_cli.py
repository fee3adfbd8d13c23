# SPDX-License-Identifier: Apache-2.0
"""The tern CLI: domains, users, aliases and quotas, also while ternd runs."""
import pytest

from conftest import tern_cli


@pytest.fixture
def config(ternd_factory):
    server = ternd_factory()
    server.wait_listening("http")  # the CLI must work beside a running ternd
    return server.config


def test_domains(config):
    tern_cli(config, "domain", "add", "Example.ORG")
    tern_cli(config, "domain", "add", "example.net")
    out = tern_cli(config, "domain", "list").stdout.split()
    assert out == ["example.net", "example.org"]
    dup = tern_cli(config, "domain", "add", "example.org", check=False)
    assert dup.returncode != 0 and "exists" in dup.stderr
    tern_cli(config, "domain", "del", "example.net")
    assert tern_cli(config, "domain", "list").stdout.split() == ["example.org"]


def test_users_passwords_and_quota(config):
    tern_cli(config, "domain", "add", "example.org")
    tern_cli(config, "user", "add", "Alice@Example.org", "--password-stdin", input="s3cret pass\n")
    listed = tern_cli(config, "user", "list").stdout
    assert "alice@example.org" in listed
    ok = tern_cli(config, "auth", "test", "alice@example.org", "--password-stdin", input="s3cret pass\n")
    assert "ok" in ok.stdout
    bad = tern_cli(config, "auth", "test", "alice@example.org", "--password-stdin", input="wrong\n",
                   check=False)
    assert bad.returncode != 0
    tern_cli(config, "user", "passwd", "alice@example.org", "--password-stdin", input="n3w\n")
    assert tern_cli(config, "auth", "test", "alice@example.org", "--password-stdin",
                    input="n3w\n").returncode == 0
    tern_cli(config, "user", "quota", "alice@example.org", "10M")
    assert "10485760" in tern_cli(config, "user", "list").stdout or "10M" in tern_cli(config, "user", "list").stdout
    unknown_domain = tern_cli(config, "user", "add", "bob@nowhere.test", "--password-stdin",
                              input="x\n", check=False)
    assert unknown_domain.returncode != 0 and "nowhere.test" in unknown_domain.stderr
    busy = tern_cli(config, "domain", "del", "example.org", check=False)
    assert busy.returncode != 0
    tern_cli(config, "user", "del", "alice@example.org")
    assert "alice@example.org" not in tern_cli(config, "user", "list").stdout


def test_new_user_gets_special_use_mailboxes(config):
    tern_cli(config, "domain", "add", "example.org")
    tern_cli(config, "user", "add", "carol@example.org", "--password-stdin", input="pw\n")
    boxes = tern_cli(config, "user", "mailboxes", "carol@example.org").stdout
    for name in ("INBOX", "Drafts", "Sent", "Junk", "Trash", "Archive"):
        assert name in boxes


def test_aliases_catch_all_and_subaddress(config):
    tern_cli(config, "domain", "add", "example.org")
    tern_cli(config, "user", "add", "alice@example.org", "--password-stdin", input="pw\n")
    tern_cli(config, "alias", "add", "postmaster@example.org", "alice@example.org")
    tern_cli(config, "alias", "add", "@example.org", "alice@example.org")
    listed = tern_cli(config, "alias", "list").stdout
    assert "postmaster@example.org" in listed and "@example.org" in listed
    for address in ("postmaster@example.org", "alice+news@example.org", "anyone@example.org"):
        out = tern_cli(config, "address", "resolve", address).stdout
        assert "alice@example.org" in out, (address, out)
    tern_cli(config, "alias", "del", "@example.org")
    gone = tern_cli(config, "address", "resolve", "anyone@example.org", check=False)
    assert gone.returncode != 0
    remote = tern_cli(config, "address", "resolve", "x@elsewhere.test", check=False)
    assert "not local" in remote.stdout + remote.stderr


def test_password_is_never_taken_from_argv(config):
    tern_cli(config, "domain", "add", "example.org")
    r = tern_cli(config, "user", "add", "dave@example.org", "hunter2", check=False)
    assert r.returncode != 0


def test_deliver_is_an_lda_with_sendmail_exit_codes(config):
    tern_cli(config, "domain", "add", "example.org")
    tern_cli(config, "user", "add", "alice@example.org", "--password-stdin", input="pw\n")
    tern_cli(config, "alias", "add", "team@example.org", "alice@example.org")
    tern_cli(config, "alias", "add", "team@example.org", "friend@elsewhere.test")
    message = "From: bob@elsewhere.test\nSubject: hello\n\nHi Alice\n"
    out = tern_cli(config, "deliver", "--from", "bob@elsewhere.test", "team@example.org",
                   input=message)
    assert "delivered to alice@example.org uid 1" in out.stdout, out.stdout
    assert "queued for friend@elsewhere.test" in out.stdout, out.stdout
    inbox = next(l for l in tern_cli(config, "user", "mailboxes", "alice@example.org").stdout.splitlines()
                 if l.startswith("INBOX"))
    assert "uidnext=2" in inbox, inbox
    unknown = tern_cli(config, "deliver", "nobody@example.org", input=message, check=False)
    assert unknown.returncode == 67, unknown
    tern_cli(config, "user", "quota", "alice@example.org", "10")
    over = tern_cli(config, "deliver", "alice@example.org", input=message, check=False)
    assert over.returncode == 75, over
