"""Refused attempts that name no one: counted in memory, written when due, never audited."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import facesearch
from facesearch.engine import Engine
from facesearch.governance import attempts
from facesearch.governance.attempts import Tally, Unattributed

from helpers import init_staffed


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_tally_says_when_its_counts_are_due() -> None:
    clock = Clock()
    tally = Tally(flush_interval_s=60, clock=clock)
    assert not tally.count(Unattributed.NO_CREDENTIAL)
    clock.now = 59.9
    assert not tally.count(Unattributed.UNKNOWN_TOKEN)
    clock.now = 60.0
    assert tally.count(Unattributed.UNKNOWN_TOKEN) and tally.pending == 3
    taken = tally.take()
    today = datetime.now(UTC).date()
    assert taken == {(today, "no-credential"): 1, (today, "unknown-token"): 2} and tally.pending == 0
    assert not tally.count(Unattributed.NO_CREDENTIAL)  # the interval starts again at the take
    tally.restore(taken)
    assert tally.pending == 4


def test_only_the_closed_list_of_reasons_is_counted() -> None:
    with pytest.raises(ValueError):
        Tally().count("anything a client sent")  # type: ignore[arg-type]


def test_failed_credentials_that_name_nothing_issued_are_counted_the_rest_audited() -> None:
    assert attempts.unattributed("unknown") is Unattributed.UNKNOWN_TOKEN
    assert attempts.unattributed("unknown", code=True) is Unattributed.UNKNOWN_CODE
    assert attempts.unattributed("unknown-session") is Unattributed.UNKNOWN_SESSION
    for audited in ("wrong-secret", "revoked", "expired", "disabled-user", "used", "withdrawn", "session-ended"):
        assert attempts.unattributed(audited) is None


def test_counts_add_up_per_day_and_are_read_for_a_period(tmp_path: Path) -> None:
    engine: Engine = init_staffed(tmp_path / "home", actor="tester")
    with engine:
        before = [e.hash for e in engine.acting_as("auditor").audit_events()]
        with engine.store.transaction() as session:
            attempts.add(session, {(date(2026, 1, 1), "no-credential"): 2, (date(2026, 1, 2), "no-credential"): 1})
            attempts.add(session, {(date(2026, 1, 1), "no-credential"): 3, (date(2026, 1, 1), "unknown-token"): 1})
            assert attempts.counted(session, date(2026, 1, 1), date(2026, 1, 1)) == {
                "no-credential": 5,
                "unknown-token": 1,
            }
            assert attempts.counted(session, date(2026, 1, 1), date(2026, 1, 2))["no-credential"] == 6
            assert attempts.counted(session, date(2026, 1, 3), date(2026, 1, 9)) == {}
        engine.count_attempt(Unattributed.CROSS_SITE)  # pending in memory until the engine closes
    with facesearch.open(tmp_path / "home", actor="auditor") as again:
        today = datetime.now(UTC).date()
        assert again.transparency_report(today, today).oversight.unattributed_by_reason == {"cross-site-request": 1}
        log = again.audit_events()
        assert [e.hash for e in log][: len(before)] == before  # counting wrote nothing to the chain
        assert [e.action for e in log][len(before) :] == ["report.transparency"]
