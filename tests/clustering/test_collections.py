"""Grouping the unknown faces of a collection, correcting the groups, and treating them as
biometric data (purpose, retention, erasure, sealing, audit), on real photos."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

import facesearch
from facesearch.engine import Engine
from facesearch.errors import (
    AmbiguousCollectionError,
    CaseMembershipError,
    InputError,
    PermissionDeniedError,
    PurposeNotAllowedError,
)
from facesearch.pipeline.models import DlibModels

pytestmark = pytest.mark.model

WHY = {"purpose": "missing person search", "case": "MP-40"}


@pytest.fixture(scope="module")
def seized(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """Three photos of each of two people (variants of real photos), one photo of both, one of a cat."""
    root = tmp_path_factory.mktemp("seized")
    (root / "sub").mkdir()
    for person in ("astronaut", "hopper"):
        original = Image.open(photos[person]).convert("RGB")
        variants = [
            original,
            original.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            # Framed anew (an eighth off the left and the bottom), brighter and smaller: another photo, not a
            # near-copy of the first (test_copies.py groups the re-saved, resized and bordered ones).
            ImageEnhance.Brightness(original.crop((original.width // 8, 0, original.width, original.height * 7 // 8)))
            .enhance(1.2)
            .resize((original.width * 3 // 4, original.height * 3 // 4)),
        ]
        for n, image in enumerate(variants):
            image.save(root / ("sub" if n == 2 else ".") / f"{person}-{n}.jpg", quality=90)
    (root / "both.jpg").write_bytes(photos["two_faces"].read_bytes())
    (root / "cat.jpg").write_bytes(photos["cat"].read_bytes())
    (root / "notes.txt").write_text("not a photo")
    return root


def by_photo(engine: Engine, collection: str) -> dict[frozenset[str], int]:
    """Each cluster as the set of photo stems it holds (a face of both.jpg appears as 'both')."""
    return {
        frozenset(Path(p).stem for p in s.photos): s.size
        for s in engine.acting_as("operator").collections.clusters(collection)
    }


def test_faces_are_grouped_into_people_and_a_rerun_embeds_nothing_again(engine: Engine, seized: Path) -> None:
    operator = engine.acting_as("operator")
    run = operator.collections.cluster(seized, name="drive-1", **WHY)
    assert (run.photos, run.photos_embedded, run.photos_without_face, run.faces) == (9, 9, 1, 8)
    assert dict(run.photos_rejected) == {"notes.txt": "not-an-image"}
    groups = {frozenset(Path(p).stem for p in c.photos) for c in run.clusters}
    assert groups == {
        frozenset({"astronaut-0", "astronaut-1", "astronaut-2", "both"}),
        frozenset({"hopper-0", "hopper-1", "hopper-2", "both"}),
    }
    [event] = engine.acting_as("auditor").audit_events(action="collection.cluster")
    assert (event.actor, event.purpose, event.case, event.details["faces"]) == ("operator", *WHY.values(), 8)
    again = operator.collections.cluster(seized, name="drive-1", **WHY)
    # Photos whose faces the collection holds are not analysed again; the cat and the text file are.
    assert again.photos_embedded == 2 and again.faces == 8
    assert {frozenset(c.photos) for c in again.clusters} == {frozenset(c.photos) for c in run.clusters}


def test_clustering_is_bound_to_an_allowed_purpose_and_a_role(engine: Engine, seized: Path) -> None:
    with pytest.raises(PurposeNotAllowedError):
        engine.acting_as("operator").collections.cluster(seized, purpose="curiosity", case="X")
    with pytest.raises(PermissionDeniedError):
        engine.acting_as("verifier").collections.cluster(seized, **WHY)
    refusals = engine.acting_as("auditor").audit_events(action="policy.refused")
    assert [(e.actor, e.details["rule"]) for e in refusals[-2:]] == [("operator", "purpose"), ("verifier", "role")]


def test_people_correct_the_clusters_and_reruns_keep_their_decisions(engine: Engine, seized: Path) -> None:
    operator = engine.acting_as("operator").collections
    run = operator.cluster(seized, name="drive-2", **WHY)
    astro, hopper = sorted(run.clusters, key=lambda c: "hopper-0.jpg" in c.photos)
    merged = operator.merge(astro.cluster_id, hopper.cluster_id)
    assert merged.size == 8
    operator.name(astro.cluster_id, "person A")
    rerun = operator.cluster(seized, name="drive-2", **WHY)
    [together] = rerun.clusters
    assert together.size == 8 and together.label == "person A"  # the merge and the name survive
    operator.split(together.cluster_id, list(hopper.face_ids))
    rerun = operator.cluster(seized, name="drive-2", **WHY)
    assert sorted(c.size for c in rerun.clusters) == [4, 4]
    astro_now = next(c for c in rerun.clusters if "astronaut-0.jpg" in c.photos)
    assert astro_now.label == "person A"
    first, second = astro_now.face_ids[:2]
    operator.cannot_link(first, second)
    rerun = operator.cluster(seized, name="drive-2", **WHY, min_size=1)
    holding = {f: c.cluster_id for c in rerun.clusters for f in c.face_ids}
    assert holding[first] != holding[second]
    steps = [e.action for e in engine.acting_as("auditor").audit_events() if e.action.startswith("cluster.")]
    assert steps == ["cluster.merge", "cluster.name", "cluster.split", "cluster.cannot_link"]
    assert engine.audit_verify().ok


def test_a_collection_is_sealed_reported_erased_and_purged(
    engine: Engine, seized: Path, models: DlibModels, tmp_path: Path
) -> None:
    operator = engine.acting_as("operator").collections
    run = operator.cluster(seized, name="drive-3", **WHY)
    sheet = operator.contact_sheet("drive-3", tmp_path / "sheet", min_size=2)
    assert sheet.read_text().count("<img") == sum(c.size for c in run.clusters) == 8
    assert engine.acting_as("auditor").audit_events(action="collection.report")
    with engine.store.engine.connect() as conn:
        crop = conn.exec_driver_sql("SELECT crop_jpeg FROM collection_faces LIMIT 1").scalar_one()
    assert not bytes(crop).startswith(b"\xff\xd8")  # sealed, not a JPEG
    removed = engine.collections.delete("drive-3", reason="case closed")
    assert removed == 8
    with engine.store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM collection_faces").scalar_one() == 0
    operator.cluster(seized, name="drive-4", **WHY)
    with engine.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE collections SET retain_until = '2001-01-01'")
    with facesearch.open(engine.home.root, actor="auditor", models=models) as reopened:
        [certificate] = reopened.audit_events(action="gallery.purge")
    assert (certificate.details["collections_removed"], certificate.details["collection_faces_removed"]) == (1, 8)
    with engine.store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM collections").scalar_one() == 0


def test_a_cluster_is_searched_against_the_gallery_and_its_candidate_nominated(enrolled: Engine, seized: Path) -> None:
    operator = enrolled.acting_as("operator")
    run = operator.collections.cluster(seized, name="drive-5", **WHY)
    astro = next(c for c in run.clusters if "astronaut-0.jpg" in c.photos)
    with pytest.raises(PurposeNotAllowedError):
        operator.identify_cluster(astro.cluster_id, purpose="curiosity", case="X")
    found = operator.identify_cluster(astro.cluster_id, **WHY)
    assert found.faces == 4 and found.candidates[0].subject == "Eileen Collins"
    assert found.candidates[0].clears_threshold and "not identifications" in found.notice
    event = enrolled.acting_as("auditor").audit_events(action="search.identify")[-1]
    assert event.details["cluster"] == {"collection_id": run.collection_id, "cluster_id": astro.cluster_id, "faces": 4}
    nominated = operator.cases.nominate(found.audit_seq, "Eileen Collins")
    assert nominated.case == "MP-40"
    # The verifier sees, as the probe face, the cluster's face nearest its fused template.
    [queued] = enrolled.acting_as("verifier").cases.queue()
    probe = enrolled.acting_as("verifier").cases.probe_face(nominated.nomination_id)
    assert queued.probe_kept and probe is not None and probe[:2] == b"\xff\xd8"
    # Clustering for a case is work in it: another operator may not cluster photos for MP-40.
    enrolled.accounts.add_user("operator-2", "operator")
    with pytest.raises(CaseMembershipError, match="may not cluster photos for it"):
        enrolled.acting_as("operator-2").collections.cluster(seized, name="drive-6", **WHY)
    with pytest.raises(CaseMembershipError, match="may not search under it"):
        enrolled.acting_as("operator-2").identify_cluster(astro.cluster_id, **WHY)


def test_a_reference_that_is_one_collections_name_and_anothers_id_is_refused(
    engine: Engine, seized: Path, tmp_path: Path
) -> None:
    operator = engine.acting_as("operator")
    first = operator.collections.cluster(seized, name="drive-7", **WHY)
    other = tmp_path / "other"
    other.mkdir()
    (other / "hopper-0.jpg").write_bytes((seized / "hopper-0.jpg").read_bytes())
    second = operator.collections.cluster(other, name=first.collection_id, **WHY)  # named as the first's id
    assert second.collection_id != first.collection_id
    with pytest.raises(AmbiguousCollectionError, match="could mean two collections"):
        operator.collections.clusters(first.collection_id)
    unchanged = by_photo(engine, "drive-7")
    with pytest.raises(AmbiguousCollectionError):
        engine.collections.delete(first.collection_id, reason="wrong one?")
    assert by_photo(engine, "drive-7") == unchanged  # neither collection was deleted
    assert len(operator.collections.clusters(second.collection_id)) == 1  # an id no other collection is named


def test_two_copies_of_one_photo_are_one_photo(engine: Engine, seized: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copies"
    folder.mkdir()
    for name in ("hopper-0.jpg", "same-bytes.jpg", "astronaut-0.jpg"):
        source = "astronaut-0.jpg" if name == "astronaut-0.jpg" else "hopper-0.jpg"
        (folder / name).write_bytes((seized / source).read_bytes())
    run = engine.acting_as("operator").collections.cluster(folder, name="copies", min_size=1, **WHY)
    assert (run.photos, run.photos_embedded, run.faces) == (3, 2, 2)  # the copy's face is not stored twice
    assert run.photos_rejected == ()
    assert dict(run.photos_copied) == {"same-bytes.jpg": "hopper-0.jpg"}


def test_a_collection_is_read_and_corrected_only_by_its_cases_members(engine: Engine, seized: Path) -> None:
    operator = engine.acting_as("operator")
    run = operator.collections.cluster(seized, name="drive-8", **WHY)
    cluster = run.clusters[0]
    [listed] = operator.collections.collections()
    assert (listed.name, listed.case, listed.faces, listed.clusters) == ("drive-8", "MP-40", 8, len(run.clusters))
    assert operator.collections.collection(run.collection_id) == listed
    assert operator.collections.cluster_summary("drive-8", cluster.cluster_id) == cluster
    crop = operator.collections.face_crop(cluster.face_ids[0])
    assert crop is not None and crop[:2] == b"\xff\xd8"
    [view] = engine.acting_as("auditor").audit_events(action="collection.face_view")
    assert (view.actor, view.case, view.details["face"]) == ("operator", "MP-40", cluster.face_ids[0])
    assert operator.collections.face_crop(10_000_000) is None  # no such face: nothing shown, nothing audited
    # Another operator works no case of this collection: they neither see it nor read nor correct it.
    engine.accounts.add_user("operator-3", "operator")
    other = engine.acting_as("operator-3").collections
    assert other.collections() == []
    for attempt in (
        lambda: other.collection("drive-8"),
        lambda: other.clusters("drive-8"),
        lambda: other.cluster_summary("drive-8", cluster.cluster_id),
        lambda: other.face_crop(cluster.face_ids[0]),
        lambda: other.name(cluster.cluster_id, "someone"),
        lambda: other.split(cluster.cluster_id, [cluster.face_ids[0]]),
        lambda: other.cannot_link(cluster.face_ids[0], cluster.face_ids[1]),
        # nor search it against the gallery, even under a case of their own
        lambda: engine.acting_as("operator-3").identify_cluster(cluster.cluster_id, purpose=WHY["purpose"], case="OP3"),
    ):
        with pytest.raises(CaseMembershipError):
            attempt()
    refusals = [e for e in engine.acting_as("auditor").audit_events(action="policy.refused") if e.actor == "operator-3"]
    assert len(refusals) == 8 and {e.case for e in refusals} == {"MP-40"}
    assert [s.label for s in operator.collections.clusters("drive-8")] == [None] * len(run.clusters)  # unchanged
    # Auditors oversee every collection; a cluster the collection lacks is named in the core's words.
    auditor = engine.acting_as("auditor").collections
    assert [c.name for c in auditor.collections()] == ["drive-8"]
    with pytest.raises(InputError, match="the collection has no cluster 99999"):
        auditor.cluster_summary("drive-8", 99999)
    with pytest.raises(PermissionDeniedError):
        engine.acting_as("enroller").collections.collections()
