"""Lists that grow are read a page at a time: subjects by name with a search, the audit log
newest first by keyset, the cases a user reads."""

from __future__ import annotations

import time

import pytest

from facesearch.engine import Engine
from facesearch.errors import InputError, PermissionDeniedError


def add_subjects(engine: Engine, count: int) -> None:
    with engine.store.transaction() as session:
        for n in range(count):
            engine.store.ensure_subject(session, f"Person {n:05d}")


def test_subjects_page_and_search_at_ten_thousand(engine: Engine) -> None:
    add_subjects(engine, 10_000)
    enroller = engine.acting_as("enroller")
    started = time.perf_counter()
    first = enroller.subjects(limit=50)
    elapsed = time.perf_counter() - started
    assert [s.name for s in first[:2]] == ["Person 00000", "Person 00001"] and len(first) == 50
    assert elapsed < 2.0  # the page is chosen before anything is counted
    later = enroller.subjects(limit=50, offset=9_990)
    assert [s.name for s in later] == [f"Person {n:05d}" for n in range(9_990, 10_000)]
    found = enroller.subjects(search="person 0421")
    assert [s.name for s in found] == [f"Person 0421{n}" for n in range(10)]
    by_id = enroller.subjects(search=f"id:{found[3].subject_id[:10]}")
    assert found[3] in by_id
    assert enroller.subjects(search="100%_") == []  # wildcards are taken literally
    with pytest.raises(InputError):
        enroller.subjects(limit=0)
    with pytest.raises(PermissionDeniedError):
        engine.acting_as("operator").subjects(limit=10)


def test_audit_pages_newest_first_by_keyset(engine: Engine) -> None:
    auditor = engine.acting_as("auditor")
    every = auditor.audit_events()
    page = auditor.audit_events(limit=5, newest_first=True)
    assert [e.seq for e in page] == [e.seq for e in reversed(every)][:5]
    following = auditor.audit_events(limit=5, newest_first=True, before=page[-1].seq)
    assert [e.seq for e in following] == [e.seq for e in reversed(every)][5:10]
    forwards = auditor.audit_events(after=every[2].seq, limit=3)
    assert [e.seq for e in forwards] == [e.seq for e in every[3:6]]
    adds = auditor.audit_events(action="user.add", newest_first=True, limit=2)
    assert [e.action for e in adds] == ["user.add"] * 2 and adds[0].seq > adds[1].seq
    with pytest.raises(InputError):
        auditor.audit_events(before=0)


def test_cases_each_user_reads(engine: Engine) -> None:
    engine.accounts.add_user("operator-2", "operator")
    from facesearch.governance import membership

    with engine.store.transaction() as session:  # two cases opened as by a first search
        for case, owner in (("C-1", "operator"), ("C-2", "operator-2")):
            membership.enter(session, engine.acting_as(owner)._context, case, "search")
    assert [c.case for c in engine.acting_as("operator").cases.cases()] == ["C-1"]
    assert [c.case for c in engine.acting_as("operator-2").cases.cases()] == ["C-2"]
    assert {c.case for c in engine.acting_as("auditor").cases.cases()} == {"C-1", "C-2"}
    assert len(engine.cases.cases(limit=1)) == 1  # the admin, one page
    with pytest.raises(PermissionDeniedError):
        engine.acting_as("verifier").cases.cases()
