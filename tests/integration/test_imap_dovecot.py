# SPDX-License-Identifier: Apache-2.0
"""Differential test: tern's IMAP server against Dovecot 2.3 (issue #5).

The same scripted sessions (imap_dovecot_scenarios.py) run against a ternd and a
private Dovecot (Maildir in a temp dir, dovecot_fixture.py), each scenario as its
own fresh user on both. Every command's untagged responses and tagged status are
compared after imap_diff.Normalizer has removed what legitimately differs
(UIDVALIDITY values, mod-sequence values beyond their order, response text,
CAPABILITY lists). A difference must be listed in docs/imap-differences.md with its
RFC reason (the table rows name scenario and step); an unlisted difference fails,
and so does a listed one that no longer occurs."""
import os
import re
from pathlib import Path

import pytest

from conftest import SOURCE_DIR, TERN
from dovecot_fixture import DOVECOT, Dovecot
from imap_diff import Recorder
from imap_dovecot_scenarios import DOVECOT_CONF, SCENARIOS, USER_PASSWORD
from test_smtp import DOMAIN, start_mail_server

DIFFERENCES_DOC = SOURCE_DIR / "docs" / "imap-differences.md"
# A listed difference: | `scenario` | `session:step` | what | RFC reason |
ROW = re.compile(r"^\|\s*`([\w-]+|\*)`\s*\|\s*`([\w-]+:[\w.-]+|[\w-]+)`\s*\|(.*)\|(.*)\|\s*$")
# Differences listed for every step (scenario `*`), each with the normalisation that
# hides it; such an entry is stale once tern no longer differs that way.
GLOBAL = {"recent", "highestmodseq"}
IN_CI = os.environ.get("CI") == "true"


def listed_differences():
    listed = {}
    for line in DIFFERENCES_DOC.read_text().splitlines():
        m = ROW.match(line)
        if m:
            key = (m.group(1), m.group(2))
            assert key not in listed, f"{key} listed twice in {DIFFERENCES_DOC}"
            assert "RFC" in m.group(4), f"{key} has no RFC reason in {DIFFERENCES_DOC}"
            listed[key] = m.group(3).strip()
    return listed


def describe(step, ours, theirs):
    def show(side):
        responses, status = side
        return "\n".join([*(f"    * {r!r}" for r in responses), f"    tagged {status!r}"])
    return f"{step}:\n  tern:\n{show(ours)}\n  dovecot:\n{show(theirs)}"


def run_scenario(scenario, port, user, password, listed):
    rec = Recorder(port, user, password, {step for scenario, step in listed if scenario == "*"})
    try:
        scenario(rec)
    finally:
        rec.close()
    return rec.result(), rec.norm


@pytest.fixture
def servers(ternd_factory):
    if not Path(DOVECOT).exists():
        if IN_CI:
            pytest.fail("CI=true but dovecot is not installed (scripts/install-deps)")
        pytest.skip("dovecot is not installed (scripts/install-deps installs dovecot-imapd)")
    server, ports = start_mail_server(ternd_factory, [("imap", "imap", "starttls")])
    from conftest import tern_cli
    tern_cli(server.config, "domain", "add", DOMAIN)
    users = {f"{name}@{DOMAIN}": USER_PASSWORD for name in SCENARIOS}
    for user in users:
        tern_cli(server.config, "user", "add", user, "--password-stdin",
                 input=USER_PASSWORD + "\n")
    dovecot = Dovecot(users=users, extra=DOVECOT_CONF)
    try:
        yield ports["imap"], dovecot
    finally:
        dovecot.stop()


def test_tern_and_dovecot_agree_on_every_scripted_session(servers, tmp_path):
    assert TERN.exists()
    tern_port, dovecot = servers
    listed = listed_differences()
    for scenario, step in listed:
        assert scenario != "*" or step in GLOBAL, f"unknown global difference {step}"
    differences = {}
    tern_recent = tern_early_highestmodseq = False
    for name, scenario in SCENARIOS.items():
        user = f"{name}@{DOMAIN}"
        ours, norm = run_scenario(scenario, tern_port, user, USER_PASSWORD, listed)
        tern_recent |= norm.saw_recent
        tern_early_highestmodseq |= norm.saw_early_highestmodseq
        theirs, _ = run_scenario(scenario, dovecot.port, user, USER_PASSWORD, listed)
        assert list(ours) == list(theirs), f"{name}: the scenario took different paths"
        for step in ours:
            if ours[step] != theirs[step]:
                differences[(name, step)] = describe(step, ours[step], theirs[step])

    # The global differences, as long as tern still differs that way.
    if not tern_recent:
        differences[("*", "recent")] = "tern reports no message as \\Recent"
    if tern_early_highestmodseq:
        differences[("*", "highestmodseq")] = "tern sends HIGHESTMODSEQ before CONDSTORE"
    unlisted = {k: v for k, v in differences.items() if k not in listed}
    stale = sorted(k for k in listed if k not in differences)
    report = "\n\n".join(f"[{scenario}] {detail}" for (scenario, _), detail in
                         sorted(differences.items()))
    (tmp_path / "differences.txt").write_text(report)
    print(f"{len(differences)} differences, {len(listed)} listed; all in "
          f"{tmp_path / 'differences.txt'}")
    assert not unlisted, (f"{len(unlisted)} differences from Dovecot not listed in "
                          f"{DIFFERENCES_DOC}:\n\n" + "\n\n".join(
                              f"[{s}] {d}" for (s, _), d in sorted(unlisted.items()))[:30000])
    assert not stale, f"listed in {DIFFERENCES_DOC} but no longer different: {stale}"
