# SPDX-License-Identifier: Apache-2.0
"""PostgreSQL for whole-server tests (issue #9): the test run's throwaway server
and a fresh database per test.

ctest starts one server per build directory (fixture tern_postgres,
scripts/pg-test-server) and exports TERN_TEST_POSTGRES, a libpq URL. Run by hand
(pytest without ctest), the first test that needs it starts a server of its own
the same way, stopped when pytest exits.

Every test gets a database of its own: NOTIFY channels are per database, so
two-node tests never hear other tests' nodes."""
import atexit
import os
import secrets
import subprocess
from pathlib import Path

import pytest

SOURCE_DIR = Path(__file__).resolve().parents[2]
PG_TEST_SERVER = SOURCE_DIR / "scripts" / "pg-test-server"
PSQL = "psql"

_own_server = None


def server_url():
    """The server's libpq URL (TERN_TEST_POSTGRES, or a server started here)."""
    global _own_server
    url = os.environ.get("TERN_TEST_POSTGRES", "")
    if url:
        return url
    if _own_server is None:
        directory = f"/tmp/tern-pg-py-{os.getpid()}"
        started = subprocess.run([str(PG_TEST_SERVER), "start", directory],
                                 capture_output=True, text=True)
        if started.returncode != 0:
            pytest.fail(f"cannot start a test PostgreSQL: {started.stderr.strip()}")
        atexit.register(subprocess.run, [str(PG_TEST_SERVER), "stop", directory],
                        capture_output=True)
        user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "")
        _own_server = f"postgresql://{user}@/postgres?host={directory}"
    return _own_server


def with_database(url, name):
    """`url` naming database `name` instead (a URL or a key=value string)."""
    if url.startswith("postgres"):
        return url + ("&" if "?" in url else "?") + "dbname=" + name
    return f"{url} dbname={name}"


def psql(url, sql):
    """Runs `sql`, returns the rows as lists of strings."""
    done = subprocess.run([PSQL, url, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                           "-c", sql], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"psql: {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


class Database:
    """One database on the test server, dropped (sessions and all) by drop()."""

    def __init__(self):
        self.server = server_url()
        self.name = f"tern_it_{os.getpid()}_{secrets.token_hex(4)}"
        psql(self.server, f"CREATE DATABASE {self.name}")
        self.url = with_database(self.server, self.name)

    def query(self, sql):
        return psql(self.url, sql)

    def drop(self):
        psql(self.server, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


@pytest.fixture
def pg_database():
    db = Database()
    yield db
    db.drop()


def store_section_keys(url, pool_size=None):
    """The [store] lines that put a ternd on `url`."""
    lines = f'url = "{url}"\n'
    if pool_size is not None:
        lines += f"pool_size = {pool_size}\n"
    return lines
