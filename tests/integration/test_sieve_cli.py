# SPDX-License-Identifier: Apache-2.0
"""`tern sieve list|put|get|activate|deactivate|rename|del`: an account's Sieve
scripts managed from the shell while ternd runs on the same store (sqlite, or
PostgreSQL under TERN_TEST_STORE=postgres), scripts that do not compile refused
with the compiler's line number, `tern migrate` carrying the scripts over, and
one smoke case of `tern sieve test` (test_sieve_reference.py compares its
decisions with Pigeonhole's)."""
import re
import subprocess

import pytest

from conftest import TERN, base_config, http_get, tern_cli, write_config

ALICE = "alice@example.org"
BOB = "bob@example.org"
LISTS = 'require "fileinto";\nif header :contains "subject" "[tern]" {\n  fileinto "Lists";\n}\n'
AWAY = 'require "vacation";\nvacation :days 3 "I am away.";\n'
AWAY_LONGER = 'require "vacation";\r\nvacation :days 14 "I am away, caf\u00e9 closed.";\r\n'
# Line 3: fileinto was not required.
BROKEN = 'require "envelope";\n\nfileinto "Work";\n'


@pytest.fixture
def server(ternd_factory):
    server = ternd_factory()
    server.wait_listening("http")
    tern_cli(server.config, "domain", "add", "example.org")
    for user in (ALICE, BOB):
        tern_cli(server.config, "user", "add", user, "--password-stdin", input="pw\n")
    return server


def sieve(server, *args, input=None, check=True, config=None):
    return tern_cli(config or server.config, "sieve", *args, input=input, check=check)


def listing(server, user=ALICE, config=None):
    return sieve(server, "list", user, config=config).stdout


def script_bytes(config, user, name):
    """`tern sieve get` as bytes: text mode would turn the CRLFs into LFs."""
    return subprocess.run([str(TERN), "-c", str(config), "sieve", "get", user, name],
                          capture_output=True, check=True, timeout=120).stdout


def refused(result, pattern):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert re.search(pattern, result.stderr), result.stderr


def test_scripts_are_managed_while_ternd_runs(server, tmp_path):
    assert listing(server) == ""
    lists = tmp_path / "lists.sieve"
    lists.write_text(LISTS)
    assert "stored" in sieve(server, "put", ALICE, "lists", str(lists)).stdout
    sieve(server, "put", ALICE, "away", "-", "--activate", input=AWAY)
    assert listing(server) == "away ACTIVE\nlists\n"
    assert sieve(server, "get", ALICE, "lists").stdout == LISTS
    assert listing(server, BOB) == ""

    # Replacing a script keeps it active; its text is stored byte for byte.
    sieve(server, "put", ALICE, "away", "-", input=AWAY_LONGER)
    assert listing(server) == "away ACTIVE\nlists\n"
    assert script_bytes(server.config, ALICE, "away") == AWAY_LONGER.encode()

    sieve(server, "activate", ALICE, "lists")
    assert listing(server) == "away\nlists ACTIVE\n"
    sieve(server, "rename", ALICE, "lists", "Mailing lists")
    assert listing(server) == "Mailing lists ACTIVE\naway\n"  # sorted bytewise
    assert sieve(server, "get", ALICE, "Mailing lists").stdout == LISTS

    # The active script cannot be deleted (RFC 5804 DELETESCRIPT).
    refused(sieve(server, "del", ALICE, "Mailing lists", check=False),
            r'^tern: sieve del: "Mailing lists" is the active script')
    sieve(server, "deactivate", ALICE)
    assert listing(server) == "Mailing lists\naway\n"
    sieve(server, "del", ALICE, "Mailing lists")
    assert listing(server) == "away\n"

    refused(sieve(server, "get", ALICE, "nope", check=False),
            f'^tern: sieve get: {ALICE} has no sieve script "nope"')
    refused(sieve(server, "activate", ALICE, "nope", check=False), 'no sieve script "nope"')
    refused(sieve(server, "rename", ALICE, "nope", "x", check=False), 'no sieve script "nope"')
    refused(sieve(server, "rename", ALICE, "away", "away", check=False),
            'already has a sieve script "away"')
    refused(sieve(server, "del", ALICE, "nope", check=False), 'no sieve script "nope"')
    refused(sieve(server, "put", ALICE, "a/b", "-", input=AWAY, check=False),
            '"a/b" cannot name a script')
    refused(sieve(server, "list", "carol@example.org", check=False),
            "no such user carol@example.org")
    for args in (("frob",), ("list",), ("put", ALICE, "x"), ("deactivate", ALICE, "x"),
                 ("get", ALICE, "away", "--activate")):
        usage = sieve(server, *args, check=False)
        assert usage.returncode == 2 and "usage" in usage.stderr, (args, usage.stderr)

    # A user's scripts go with the user.
    tern_cli(server.config, "user", "del", ALICE)
    tern_cli(server.config, "user", "add", ALICE, "--password-stdin", input="pw\n")
    assert listing(server) == ""

    # ternd served throughout.
    assert server.proc.poll() is None
    status, _, _ = http_get(server.wait_listening("http"), "/healthz")
    assert status == 200


def test_a_script_that_does_not_compile_is_not_stored(server, tmp_path):
    broken = tmp_path / "broken.sieve"
    broken.write_text(BROKEN)
    result = sieve(server, "put", ALICE, "work", str(broken), "--activate", check=False)
    assert result.returncode == 1
    assert re.fullmatch(r'tern: sieve put: work: line 3: [^\n]*fileinto[^\n]*\n', result.stderr), \
        result.stderr
    assert listing(server) == ""
    # Nor does it replace a script that compiled.
    sieve(server, "put", ALICE, "work", "-", "--activate", input=LISTS)
    refused(sieve(server, "put", ALICE, "work", "-", input=BROKEN, check=False),
            r"^tern: sieve put: work: line 3: ")
    assert sieve(server, "get", ALICE, "work").stdout == LISTS
    assert listing(server) == "work ACTIVE\n"
    refused(sieve(server, "put", ALICE, "work", str(tmp_path / "missing.sieve"), check=False),
            r"missing\.sieve: No such file or directory")


def test_sieve_test_runs_a_script_without_a_store(tmp_path):
    script = tmp_path / "lists.sieve"
    script.write_text(LISTS)
    message = tmp_path / "message.eml"
    message.write_bytes(b"From: a@example.net\r\nSubject: [tern] release\r\n\r\nbody\r\n")
    # No -c, and no ./var/tern.toml in the working directory: nothing is opened.
    result = subprocess.run([str(TERN), "sieve", "test", str(script), str(message),
                             "--from", "a@example.net", "--to", ALICE],
                            capture_output=True, text=True, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, 'store "Lists"\n', "")
    broken = tmp_path / "broken.sieve"
    broken.write_text(BROKEN)
    result = subprocess.run([str(TERN), "sieve", "test", str(broken), str(message)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("tern: sieve test: line 3: ")


def test_migrate_copies_the_scripts(server, certs, tmp_path):
    sieve(server, "put", ALICE, "lists", "-", input=LISTS)
    sieve(server, "put", ALICE, "away", "-", "--activate", input=AWAY_LONGER)
    sieve(server, "put", BOB, "lists", "-", input=LISTS)
    data = tmp_path / "target-data"
    data.mkdir()
    target = write_config(tmp_path / "target.toml", base_config(data, certs[0], certs[1], ""))
    done = tern_cli(server.config, "migrate", "--from", str(server.config), "--to", str(target))
    assert "3 sieve scripts" in done.stdout, done.stdout
    assert "verified" in done.stdout, done.stdout
    assert listing(server, config=target) == "away ACTIVE\nlists\n"
    assert listing(server, BOB, config=target) == "lists\n"
    assert script_bytes(target, ALICE, "away") == AWAY_LONGER.encode()


def test_import_takes_a_pigeonhole_script_directory(server, tmp_path):
    """Pigeonhole's default layout (sieve = file:~/sieve;active=~/.dovecot.sieve):
    the scripts in ~/sieve, the active one the target of the ~/.dovecot.sieve link."""
    home = tmp_path / "home"
    scripts = home / "sieve"
    (scripts / "tmp").mkdir(parents=True)  # Pigeonhole's scratch directory: not a script
    (scripts / "lists.sieve").write_text(LISTS)
    (scripts / "away.sieve").write_text(AWAY)
    (scripts / "broken.sieve").write_text(BROKEN)
    (scripts / "notes.txt").write_text("not a script")
    (home / ".dovecot.sieve").symlink_to("sieve/lists.sieve")

    result = tern_cli(server.config, "import", "sieve", ALICE, str(scripts), check=False)
    # The broken one is reported with its line and left out; the others come over.
    refused(result, r"broken\.sieve: line 3: ")
    assert "imported 2 sieve scripts" in result.stdout and '"lists" active' in result.stdout
    assert listing(server) == "away\nlists ACTIVE\n"
    assert sieve(server, "get", ALICE, "away").stdout == AWAY

    # Again, with the active script named explicitly: scripts are replaced, not doubled.
    (scripts / "broken.sieve").unlink()
    result = tern_cli(server.config, "import", "sieve", ALICE, str(scripts),
                      str(scripts / "away.sieve"))
    assert "imported 2 sieve scripts" in result.stdout
    assert listing(server) == "away ACTIVE\nlists\n"
    # A plain file where the link would be is a script of its own, made active.
    (home / "plain").mkdir()
    (home / "plain" / ".dovecot.sieve").write_text(AWAY)
    tern_cli(server.config, "import", "sieve", ALICE, str(scripts), str(home / "plain" / ".dovecot.sieve"))
    assert listing(server) == "away\ndovecot ACTIVE\nlists\n"

    tern_cli(server.config, "import", "sieve", BOB, str(scripts), str(home / ".dovecot.sieve"))
    assert listing(server, BOB) == "away\nlists ACTIVE\n"
