"""Moving a gallery to another model (issue 16): from the photos found by their SHA-256, all at once
or not at all, audited, the old model's templates destroyed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

import facesearch
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import (
    InputError,
    LegalHoldError,
    ModelMismatchError,
    OptOutsNotMovableError,
    PermissionDeniedError,
    PhotosMissingError,
)
from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import FaceRow
from facesearch.operations.move import FACE_NOT_FOUND, PHOTO_NOT_FOUND, PHOTO_UNUSABLE, same_face
from facesearch.pipeline.faces import FoundFace
from facesearch.pipeline.models import DLIB_RESNET_V1_MIRRORED, DlibModels
from facesearch.pipeline.recognizers.sface import SFACE_MIRRORED
from facesearch.types import AlignedFace, Box, Detection, Quality

from helpers import index_bytes, init_staffed, sealed_bytes, snapshot, vector_bytes

pytestmark = pytest.mark.model


@pytest.fixture
def dlib_gallery(tmp_path: Path, models: DlibModels, photos: dict[str, Path]) -> Iterator[Engine]:
    """A dlib gallery holding Eileen Collins (astronaut: one face, and a patch that HOG scores weakly
    as a second) and Grace Hopper; the test's actor, tester, is its admin."""
    settings = Settings(recognizer="dlib")
    with init_staffed(tmp_path / "home", actor="tester", settings=settings, models=models) as engine:
        enroller = engine.acting_as("enroller")
        enroller.enroll(photos["astronaut"], subject="Eileen Collins", source="scikit-image", basis="consent")
        enroller.enroll(photos["hopper"], subject="Grace Hopper", source="matplotlib", basis="public-task")
        yield engine


def photo_folder(root: Path, photos: dict[str, Path], *names: str) -> Path:
    """The enrolled photos handed back under other names and folders: they are found by their bytes."""
    for n, name in enumerate(names):
        place = root / f"box {n}" / "scans"
        place.mkdir(parents=True)
        shutil.copy(photos[name], place / f"scan-{n:03d}.jpg")
    (root / "notes.txt").write_text("not a photo, ignored\n")
    return root


def faces_of(engine: Engine) -> list[tuple[int, str]]:
    with engine.store.transaction() as session:
        return [(int(i), str(m)) for i, m in session.execute(select(FaceRow.id, FaceRow.model_id).order_by(FaceRow.id))]


def test_a_dlib_gallery_moves_to_sface_and_still_finds_the_person(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path, models: DlibModels
) -> None:
    engine = dlib_gallery
    old = {face: (vector_bytes(engine, face), sealed_bytes(engine, face)) for face, _ in faces_of(engine)}
    old_index = index_bytes(engine)
    assert engine.spec == DLIB_RESNET_V1_MIRRORED and all(vector in old_index for vector, _ in old.values())

    result = engine.move_model(photo_folder(tmp_path / "back", photos, "hopper", "astronaut"), to="sface")

    assert (result.from_model, result.to_model) == (DLIB_RESNET_V1_MIRRORED.model_id, SFACE_MIRRORED.model_id)
    assert (result.subjects_moved, result.faces_reembedded, result.subjects_lost, result.missing) == (2, 2, (), ())
    assert result.threshold.score == SFACE_MIRRORED.published_threshold and result.threshold.source == "published"
    assert engine.spec == SFACE_MIRRORED
    # the same faces (ids kept), every one now of sface; no row of the old model is left
    assert faces_of(engine) == [(face, SFACE_MIRRORED.model_id) for face in old]
    found = engine.acting_as("operator").identify(photos["probe"], purpose="p", case="c")
    top = found.faces[0].candidates[0]
    assert found.model_id == SFACE_MIRRORED.model_id and found.threshold.score == SFACE_MIRRORED.published_threshold
    assert (top.rank, top.subject, top.clears_threshold) == (1, "Eileen Collins", True)
    # the old templates are destroyed: not in the database file (sealed or not), not in the index
    database = engine.home.database.read_bytes()
    new_index = index_bytes(engine)
    for vector, sealed in old.values():
        assert sealed not in database and vector not in database and vector not in new_index
    # one audit event with the counts and both model ids, at the new generation; the chain verifies
    events = engine.acting_as("auditor").audit_events(action="model.move")
    assert len(events) == 1 and events[0].gallery_generation == result.generation and events[0].seq == result.audit_seq
    details = events[0].details
    assert (details["from_model"], details["to_model"]) == (result.from_model, result.to_model)
    assert (details["subjects_moved"], details["faces_reembedded"], details["subjects_lost"]) == (2, 2, 0)
    assert engine.audit_verify().ok
    # reopened with settings that name dlib, the gallery keeps the model it moved to
    engine.close()
    with facesearch.open(
        engine.home.root, actor="operator", settings=Settings(recognizer="dlib"), models=models
    ) as again:
        assert again.spec == SFACE_MIRRORED
        assert again.identify(photos["probe"], purpose="p", case="c").faces[0].candidates[0].subject == "Eileen Collins"


def test_missing_photos_are_refused_by_subject_and_nothing_changes(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path
) -> None:
    before = snapshot(dlib_gallery)
    with pytest.raises(PhotosMissingError) as refused:
        dlib_gallery.move_model(photo_folder(tmp_path / "back", photos, "astronaut"), to="sface")
    assert refused.value.subjects == ("Grace Hopper",) and refused.value.faces == 1
    assert "Grace Hopper (photo-not-found)" in refused.value.message and refused.value.code == "photos-missing"
    assert snapshot(dlib_gallery) == before and dlib_gallery.spec == DLIB_RESNET_V1_MIRRORED


def test_accepted_losses_are_erased_by_the_erasure_path_and_the_rest_moves(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path
) -> None:
    folder = photo_folder(tmp_path / "back", photos, "astronaut")
    result = dlib_gallery.move_model(folder, to="sface", accept_losses=True)
    assert result.subjects_lost == ("Grace Hopper",) and result.subjects_moved == 1 and result.faces_reembedded == 1
    assert [m.reason for m in result.missing] == [PHOTO_NOT_FOUND]
    assert [s.name for s in dlib_gallery.subjects()] == ["Eileen Collins"]
    erasure = result.erasures[0]
    assert (erasure.images_removed, erasure.faces_removed) == (1, 1)
    auditor = dlib_gallery.acting_as("auditor")
    erased = {e.seq: e for e in auditor.audit_events(action="subject.erase")}[erasure.audit_seq]
    assert erased.details["subject_id"] == erasure.subject_id and "model" in erased.details["reason"]
    moved = auditor.audit_events(action="model.move")[0]
    assert moved.details["erasures"] == [erasure.audit_seq] and moved.details["faces_lost"] == 1
    assert dlib_gallery.audit_verify().ok
    top = dlib_gallery.acting_as("operator").identify(photos["probe"], purpose="p", case="c").faces[0].candidates
    assert [c.subject for c in top] == ["Eileen Collins"]


def test_a_failure_in_the_switch_leaves_the_gallery_as_it_was(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(dlib_gallery)
    real = GalleryStore.replace_template
    calls: list[int] = []

    def second_fails(self: GalleryStore, *args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk unplugged")
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(GalleryStore, "replace_template", second_fails)
    with pytest.raises(OSError, match="disk unplugged"):
        dlib_gallery.move_model(photo_folder(tmp_path / "back", photos, "astronaut", "hopper"), to="sface")
    assert len(calls) == 2 and snapshot(dlib_gallery) == before
    assert dlib_gallery.spec == DLIB_RESNET_V1_MIRRORED
    assert {m for _, m in faces_of(dlib_gallery)} == {DLIB_RESNET_V1_MIRRORED.model_id}
    top = dlib_gallery.acting_as("operator").identify(photos["probe"], purpose="p", case="c").faces[0].candidates[0]
    assert top.subject == "Eileen Collins" and top.clears_threshold


def test_a_face_the_new_detector_does_not_find_where_it_was_is_missing(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path
) -> None:
    # the folder holds the right bytes, but the recorded box no longer fits any face found: as if the
    # new detector missed the enrolled face (the other faces of a photo are never taken instead)
    with dlib_gallery.store.transaction() as session:
        row = session.get(FaceRow, 2)
        assert row is not None
        row.box_left, row.box_top, row.box_right, row.box_bottom = 0, 0, 20, 20
    with pytest.raises(PhotosMissingError) as refused:
        dlib_gallery.move_model(photo_folder(tmp_path / "back", photos, "astronaut", "hopper"), to="sface")
    assert refused.value.subjects == ("Grace Hopper",) and f"({FACE_NOT_FOUND})" in refused.value.message


def test_the_recorded_box_picks_the_enrolled_face_among_others() -> None:
    def found(left: int, top: int, right: int, bottom: int) -> FoundFace:
        detection = Detection(Box(left, top, right, bottom), 0.9, "test")
        return FoundFace(AlignedFace(detection, (), np.zeros((1, 1, 3), np.uint8)), Quality(50, 100.0, 0.9))

    bystander, enrolled, tighter = found(0, 0, 100, 100), found(500, 100, 700, 300), found(530, 130, 690, 290)
    assert same_face(Box(520, 120, 690, 300), [bystander, enrolled]) is enrolled
    assert same_face(Box(525, 125, 695, 295), [bystander, tighter, enrolled]) is tighter
    assert same_face(Box(505, 105, 700, 300), [bystander, tighter, enrolled]) is enrolled  # the most overlapping
    assert same_face(Box(300, 300, 400, 400), [bystander, enrolled]) is None


def test_refusals_change_nothing_but_the_audit_of_who_was_refused(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path
) -> None:
    folder = photo_folder(tmp_path / "back", photos, "astronaut", "hopper")
    before = snapshot(dlib_gallery)
    for photos_dir, to, problem in [
        (tmp_path / "nowhere", "sface", "not a directory"),
        (photos["astronaut"], "sface", "not a directory"),
        (folder, "dlib", "already"),
        (folder, "no-such-model", "cannot move to 'no-such-model'"),
    ]:
        with pytest.raises(InputError, match=problem):
            dlib_gallery.move_model(photos_dir, to=to)
        assert snapshot(dlib_gallery) == before
    faces = faces_of(dlib_gallery)
    with pytest.raises(PermissionDeniedError):
        dlib_gallery.acting_as("operator").move_model(folder, to="sface")
    refused = dlib_gallery.acting_as("auditor").audit_events(action="policy.refused")[-1]
    assert refused.actor == "operator" and "manage the gallery" in json.dumps(refused.details)
    assert faces_of(dlib_gallery) == faces and dlib_gallery.spec == DLIB_RESNET_V1_MIRRORED


def test_a_gallery_with_opt_outs_of_the_old_model_is_not_moved(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path
) -> None:
    dlib_gallery.acting_as("enroller").opt_outs.record(photos["probe"], request_ref="DSR-1")
    faces = faces_of(dlib_gallery)
    with pytest.raises(OptOutsNotMovableError, match="do-not-enroll list holds 1 template"):
        dlib_gallery.move_model(photo_folder(tmp_path / "back", photos, "astronaut", "hopper"), to="sface")
    assert faces_of(dlib_gallery) == faces
    assert (
        dlib_gallery.acting_as("auditor").audit_events(action="policy.refused")[-1].details["code"]
        == "opt-outs-not-movable"
    )


def test_another_engine_on_the_moved_gallery_is_refused_until_reopened(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path, models: DlibModels
) -> None:
    settings = Settings(recognizer="dlib")
    with facesearch.open(dlib_gallery.home.root, actor="operator", settings=settings, models=models) as other:
        view = dlib_gallery.acting_as("operator")  # a view made before the move follows it
        dlib_gallery.move_model(photo_folder(tmp_path / "back", photos, "astronaut", "hopper"), to="sface")
        assert view.identify(photos["probe"], purpose="p", case="c").model_id == SFACE_MIRRORED.model_id
        with pytest.raises(ModelMismatchError, match="open the gallery again"):
            other.identify(photos["probe"], purpose="p", case="c")


def test_a_collection_clustered_before_the_move_is_not_searched_against_the_new_templates(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path
) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    for name in ("astronaut", "probe"):
        shutil.copy(photos[name], drive / f"{name}.jpg")
    operator = dlib_gallery.acting_as("operator")
    run = operator.collections.cluster(drive, name="drive", purpose="p", case="c")
    cluster = next(c for c in run.clusters if "astronaut.jpg" in c.photos)
    assert (
        operator.identify_cluster(cluster.cluster_id, purpose="p", case="c").candidates[0].subject == "Eileen Collins"
    )
    dlib_gallery.move_model(photo_folder(tmp_path / "back", photos, "astronaut", "hopper"), to="sface")
    with pytest.raises(ModelMismatchError, match="cluster the collection's photos again"):
        operator.identify_cluster(cluster.cluster_id, purpose="p", case="c")


def test_a_postgres_gallery_indexed_by_pgvector_moves_in_its_transaction(
    postgres_url: str, tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    settings = Settings(recognizer="dlib", database_url=postgres_url, index_backend="pgvector")
    with init_staffed(tmp_path / "home", actor="tester", settings=settings, models=models) as engine:
        engine.acting_as("enroller").enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
        engine.acting_as("enroller").enroll(photos["hopper"], subject="Grace Hopper", source="s", basis="consent")
        result = engine.move_model(photo_folder(tmp_path / "back", photos, "astronaut"), to="sface", accept_losses=True)
        assert result.subjects_lost == ("Grace Hopper",) and engine.spec == SFACE_MIRRORED
        info = engine.index_info()
        assert (info.backend, info.size, info.model_id) == ("pgvector", 1, SFACE_MIRRORED.model_id)
        top = engine.acting_as("operator").identify(photos["probe"], purpose="p", case="c").faces[0].candidates
        assert [c.subject for c in top] == ["Eileen Collins"] and engine.audit_verify().ok
        with engine.store.engine.connect() as conn:  # the table remade: the moved face only, and no other
            assert conn.exec_driver_sql("SELECT id FROM face_vectors").scalars().all() == [1]


def test_a_held_subject_is_never_lost_to_a_move(dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path) -> None:
    dlib_gallery.retention.hold("Grace Hopper", reference="LIT-7")
    faces = faces_of(dlib_gallery)
    with pytest.raises(LegalHoldError):
        dlib_gallery.move_model(photo_folder(tmp_path / "back", photos, "astronaut"), to="sface", accept_losses=True)
    assert faces_of(dlib_gallery) == faces and [s.name for s in dlib_gallery.subjects()] == [
        "Eileen Collins",
        "Grace Hopper",
    ]
    assert dlib_gallery.acting_as("auditor").audit_events(action="model.move") == []


def test_a_photo_that_no_longer_decodes_counts_as_missing(
    dlib_gallery: Engine, photos: dict[str, Path], tmp_path: Path, models: DlibModels
) -> None:
    # the gallery reopened under a file-size limit Grace Hopper's photo now exceeds: the move reads
    # the photos under the limits in force, and a photo refused by them is a real decoding failure
    limit = photos["hopper"].stat().st_size - 1
    assert photos["astronaut"].stat().st_size <= limit
    dlib_gallery.close()
    settings = Settings(recognizer="dlib", max_image_bytes=limit)
    with facesearch.open(dlib_gallery.home.root, actor="tester", settings=settings, models=models) as engine:
        before = snapshot(engine)
        with pytest.raises(PhotosMissingError) as refused:
            engine.move_model(photo_folder(tmp_path / "back", photos, "astronaut", "hopper"), to="sface")
        assert refused.value.subjects == ("Grace Hopper",) and f"({PHOTO_UNUSABLE})" in refused.value.message
        assert snapshot(engine) == before
