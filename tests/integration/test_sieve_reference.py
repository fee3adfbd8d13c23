# SPDX-License-Identifier: Apache-2.0
"""`tern sieve test` against Dovecot Pigeonhole's sieve-test over the corpus of
sieve_cases.py: for every case, the same actions in the same canonical lines
(sieve_reference.py), the same compile errors, the same runtime errors.

test_pigeonhole_expected keeps the corpus honest: Pigeonhole still decides what the
corpus records (run just this half with `-k pigeonhole`; the other test's name leaves
the word out so that -k does not select it). test_tern_matches_reference is the
differential itself; where a case records that Pigeonhole departs from the RFC
(`rfc_expected`, explained in its `note`), tern is held to the RFC instead.
Skips without sieve-test, except under CI=true, where that is a failure."""
import pytest

from sieve_cases import CASES, COMPILE_ERROR
from sieve_reference import (SieveCompileError, pigeonhole_actions, require_pigeonhole,
                             tern_actions)

IDS = [case.name for case in CASES]


def decide(interpreter, case):
    """The interpreter's Actions for the case, or COMPILE_ERROR."""
    try:
        return interpreter(case.script, case.message, case.envelope_from, case.envelope_to,
                           case.mailboxes)
    except SieveCompileError:
        return COMPILE_ERROR


def describe(result):
    if result == COMPILE_ERROR:
        return COMPILE_ERROR
    return f"{list(result)} (runtime error: {result.error})"


def test_corpus_is_well_formed():
    assert len(set(IDS)) == len(IDS), "case names repeat"
    assert len(CASES) >= 60
    for case in CASES:
        assert case.expected == COMPILE_ERROR or isinstance(case.expected, list), case.name
        assert case.rfc_expected is None or case.note, f"{case.name}: rfc_expected needs a note"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pigeonhole_expected(case):
    require_pigeonhole()
    got = decide(pigeonhole_actions, case)
    assert got == case.expected, describe(got)
    if got != COMPILE_ERROR:
        assert (got.error is not None) == case.runtime_error, describe(got)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tern_matches_reference(case):
    require_pigeonhole()
    reference = decide(pigeonhole_actions, case)
    want = case.rfc_expected if case.rfc_expected is not None else reference
    got = decide(tern_actions, case)
    assert got == want, (f"tern: {describe(got)}\nPigeonhole: {describe(reference)}"
                         + (f"\nRFC: {want} ({case.note})" if want is not reference else ""))
    if got != COMPILE_ERROR and reference != COMPILE_ERROR:
        assert (got.error is None) == (reference.error is None), \
            f"tern: {describe(got)}\nPigeonhole: {describe(reference)}"
