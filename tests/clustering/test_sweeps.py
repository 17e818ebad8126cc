"""A whole collection searched against the gallery in one step (issue 20): every cluster and every
face no other joined, each an identify search of its own under every rule of one, the candidates
kept in the case per cluster, nominated and exported like any search's. On real photos, a real
recognizer and a SQLite gallery; the videos are made by the tests from real photos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import facesearch
from facesearch.engine import Engine
from facesearch.errors import (
    CaseMembershipError,
    CollectionCaseError,
    InputError,
    MissingPurposeError,
    PermissionDeniedError,
    PurposeNotAllowedError,
    QuotaExceededError,
)
from facesearch.pipeline.models import DlibModels

from helpers import write_video

pytestmark = pytest.mark.model

WHY = {"purpose": "missing person search", "case": "MP-50"}


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """Two photos of each of two people, and a video of the first."""
    root = tmp_path_factory.mktemp("sweep-drive")
    astronaut = Image.open(photos["astronaut"]).convert("RGB")
    hopper = Image.open(photos["hopper"]).convert("RGB")
    for name, image in (("astronaut", astronaut), ("hopper", hopper)):
        image.save(root / f"{name}-0.jpg", quality=90)
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / f"{name}-1.jpg", quality=90)
    write_video(root / "clip.mp4", [(astronaut, 2)])
    return root


def searches(engine: Engine) -> list[facesearch.types.AuditEvent]:
    return engine.acting_as("auditor").audit_events(action="search.identify")


def test_every_cluster_and_singleton_is_searched_and_kept_in_the_case(enrolled: Engine, drive: Path) -> None:
    operator = enrolled.acting_as("operator")
    run = operator.collections.cluster(drive, name="sweep-1", **WHY)
    astro = next(c for c in run.clusters if "astronaut-0.jpg" in c.photos)
    assert "clip.mp4" in astro.photos  # the video's track is one of the astronaut's faces
    single = operator.collections.split(astro.cluster_id, [astro.face_ids[0]])  # a cluster of one face
    everyone = {c.cluster_id for c in operator.collections.clusters("sweep-1")}
    assert single.cluster_id in everyone and len(everyone) == 3
    progress: list[tuple[int, int]] = []
    sweep = operator.identify_collection("sweep-1", **WHY, on_progress=lambda d, t: progress.append((d, t)))
    assert {c.cluster_id for c in sweep.clusters} == everyone and progress[-1] == (3, 3)
    assert (sweep.case, sweep.collection, sweep.swept_by) == ("MP-50", "sweep-1", "operator")
    assert "not identifications" in sweep.notice and sweep.threshold.scope == "1:N" and sweep.threshold.meaning
    by_id = {c.cluster_id: c for c in sweep.clusters}
    assert by_id[single.cluster_id].faces == 1
    best = {cid: c.candidates[0].subject for cid, c in by_id.items()}
    hopper = next(c.cluster_id for c in run.clusters if "hopper-0.jpg" in c.photos)
    assert best[astro.cluster_id] == best[single.cluster_id] == "Eileen Collins"
    assert best[hopper] == "Grace Hopper"
    assert all(c.candidates[0].clears_threshold for c in sweep.clusters)
    # Each cluster is an identify search of its own, and the sweep one event naming them all.
    events = {e.seq: e for e in searches(enrolled)}
    for swept in sweep.clusters:
        assert events[swept.search_seq].details["cluster"]["cluster_id"] == swept.cluster_id
        assert (events[swept.search_seq].purpose, events[swept.search_seq].case) == (WHY["purpose"], "MP-50")
    [event] = enrolled.acting_as("auditor").audit_events(action="collection.sweep")
    assert event.seq == sweep.audit_seq and event.details["clusters"] == 3
    assert sorted(event.details["searches"]) == sorted(c.search_seq for c in sweep.clusters)
    # Kept in the case: its view lists the sweep as it was answered.
    assert operator.cases.sweeps("MP-50") == [sweep]
    assert enrolled.acting_as("auditor").cases.sweeps("MP-50") == [sweep]
    # A candidate is nominated from its cluster's search, confirmed by two verifiers, and exported.
    nominated = operator.cases.nominate(by_id[hopper].search_seq, "Grace Hopper")
    enrolled.accounts.add_user("verifier-2", "verifier")
    for verifier in ("verifier", "verifier-2"):
        enrolled.acting_as(verifier).cases.confirm(nominated.nomination_id)
    export = operator.cases.export("MP-50")
    assert [i.nomination.subject for i in export.identifications] == ["Grace Hopper"]
    [exported] = export.sweeps
    assert exported == sweep and "not identifications" in export.sweeps_notice
    data = export.to_dict()
    assert {c["cluster_id"] for c in data["sweeps"][0]["clusters"]} == everyone
    assert enrolled.audit_verify().ok


def test_the_same_verb_as_one_cluster_and_the_nominating_rules_are_unchanged(enrolled: Engine, drive: Path) -> None:
    operator = enrolled.acting_as("operator")
    operator.collections.cluster(drive, name="sweep-2", **WHY)
    sweep = operator.identify_collection("sweep-2", **WHY, top_k=1)
    assert all(len(c.candidates) == 1 for c in sweep.clusters)
    swept = sweep.clusters[0]
    nominated = operator.cases.nominate(swept.search_seq, swept.candidates[0].subject)
    with pytest.raises(InputError, match="already nominated"):
        operator.cases.nominate(swept.search_seq, swept.candidates[0].subject)
    # The operator who ran the sweep ran each search: they may not confirm (they are no verifier either).
    with pytest.raises(PermissionDeniedError):
        operator.cases.confirm(nominated.nomination_id)
    # The verifier sees a face of the cluster as the probe face.
    probe = enrolled.acting_as("verifier").cases.probe_face(nominated.nomination_id)
    assert probe is not None and probe[:2] == b"\xff\xd8"
    # A subject erased after the sweep is no longer listed as its candidate.
    enrolled.erase(swept.candidates[0].subject, reason="erasure request")
    [kept] = operator.cases.sweeps("MP-50")
    assert all(c.subject != swept.candidates[0].subject for k in kept.clusters for c in k.candidates)


def test_a_sweep_is_refused_whole_under_every_rule_and_each_refusal_audited(enrolled: Engine, drive: Path) -> None:
    operator = enrolled.acting_as("operator")
    operator.collections.cluster(drive, name="sweep-3", **WHY)
    enrolled.accounts.add_user("operator-2", "operator")
    before = len(searches(enrolled))
    attempts: list[tuple[Callable[[], object], type[Exception], str]] = [
        (lambda: enrolled.acting_as("verifier").identify_collection("sweep-3", **WHY), PermissionDeniedError, "role"),
        (lambda: enrolled.acting_as("enroller").identify_collection("sweep-3", **WHY), PermissionDeniedError, "role"),
        # a collection of a case they do not work, even under a case of their own
        (
            lambda: enrolled.acting_as("operator-2").identify_collection("sweep-3", purpose=WHY["purpose"], case="X"),
            CaseMembershipError,
            "may not search its collections",
        ),
        # a member of both cases: the sweep lands in the collection's own case, not another
        (
            lambda: operator.identify_collection("sweep-3", purpose=WHY["purpose"], case="MP-51"),
            CollectionCaseError,
            "search it under case 'MP-50'",
        ),
        (lambda: operator.identify_collection("sweep-3", purpose="", case="MP-50"), MissingPurposeError, "purpose"),
        (
            lambda: operator.identify_collection("sweep-3", purpose="curiosity", case="MP-50"),
            PurposeNotAllowedError,
            "curiosity",
        ),
        (lambda: operator.identify_collection("no-such", **WHY), InputError, "there is no collection"),
        (lambda: operator.identify_collection("sweep-3", **WHY, top_k=0), InputError, "top-k"),
    ]
    for attempt, error, words in attempts:
        with pytest.raises(error, match=words):
            attempt()
    assert len(searches(enrolled)) == before  # not one search ran
    assert operator.cases.sweeps("MP-50") == []
    refusals = [
        (e.actor, e.details["rule"]) for e in enrolled.acting_as("auditor").audit_events(action="policy.refused")
    ]
    assert ("operator-2", "case") in refusals and ("operator", "case") in refusals
    assert enrolled.audit_verify().ok


def test_a_sweep_that_would_pass_the_quota_is_refused_before_any_search(
    enrolled: Engine, drive: Path, models: DlibModels
) -> None:
    enrolled.acting_as("operator").collections.cluster(drive, name="sweep-4", **WHY)
    clusters = len(enrolled.acting_as("operator").collections.clusters("sweep-4"))
    assert clusters == 2
    smaller = enrolled.settings.replace(search_quota_per_hour=0, search_quota_per_day=1)
    with facesearch.open(enrolled.home.root, actor="operator", settings=smaller, models=models) as operator:
        with pytest.raises(QuotaExceededError, match="2 searches were asked for at once, more than the 1 allowed") as e:
            operator.identify_collection("sweep-4", **WHY)
        assert e.value.retry_at is None  # no wait would let it run whole
    tight = enrolled.settings.replace(search_quota_per_hour=2, search_quota_per_day=0)
    with facesearch.open(enrolled.home.root, actor="operator", settings=tight, models=models) as operator:
        [cluster, _] = operator.collections.clusters("sweep-4")
        operator.identify_cluster(cluster.cluster_id, **WHY)  # one of the two searches an hour used
        before = len(searches(enrolled))
        with pytest.raises(QuotaExceededError, match="asked for 2 more at once; none was run") as e:
            operator.identify_collection("sweep-4", **WHY)
        assert e.value.retry_at is not None
        assert len(searches(enrolled)) == before
    refusals = enrolled.acting_as("auditor").audit_events(action="policy.refused")
    assert [e.details["rule"] for e in refusals[-2:]] == ["quota", "quota"]
    assert enrolled.acting_as("operator").cases.sweeps("MP-50") == []
