"""The engine end to end on real photos through the real dlib models."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facesearch
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import (
    DuplicateImageError,
    FacesearchError,
    GalleryNotInitialisedError,
    LowQualityFaceError,
    ModelMismatchError,
    NoFaceError,
    PermissionDeniedError,
    SubjectNotFoundError,
)
from facesearch.pipeline.decode import NamedPhoto
from facesearch.pipeline.models import DlibModels
from facesearch.pipeline.recognizers.sface import SFACE_MIRRORED
from facesearch.scoring.scores import compare
from facesearch.types import Embedding, EnrollStatus, Metric

from helpers import (
    PURPOSES,
    file_digest,
    file_plaintext,
    index_bytes,
    index_form_bytes,
    init_staffed,
    refused_photos_since,
    sealed_bytes,
    snapshot,
    vector_bytes,
)

pytestmark = pytest.mark.model


def test_identify_finds_enrolled_person_at_rank_one(enrolled: Engine, photos: dict[str, Path]) -> None:
    result = enrolled.acting_as("operator").identify(
        photos["probe"], purpose="missing person search", case="MP-7", top_k=5
    )
    assert len(result.faces) == 1
    candidates = result.faces[0].candidates
    assert [c.rank for c in candidates] == [1, 2]
    assert candidates[0].subject == "Eileen Collins"
    assert candidates[0].clears_threshold
    assert not candidates[1].clears_threshold
    assert candidates[0].score > candidates[1].score
    assert result.threshold.score == enrolled.spec.published_threshold
    assert result.threshold.source == "published"
    # expected false-match rates from the shipped LFW reference, per comparison and per search
    assert candidates[1].expected_fmr is not None and candidates[1].expected_fmr > candidates[0].expected_fmr
    assert "over this gallery's 2 faces" in candidates[1].fmr_meaning
    assert result.model_id == enrolled.spec.model_id == SFACE_MIRRORED.model_id  # new galleries' default
    assert "not identifications" in result.notice


def test_same_person_scores_closer_than_different_people(engine: Engine, photos: dict[str, Path]) -> None:
    same = engine.acting_as("operator").verify(photos["astronaut"], photos["probe"], purpose="check", case="C-1")
    different = engine.acting_as("operator").verify(photos["astronaut"], photos["hopper"], purpose="check", case="C-1")
    assert same.score > different.score
    assert same.same_person and not different.same_person
    assert same.threshold.score == different.threshold.score == engine.spec.published_threshold


def test_probe_with_several_faces_searches_each(enrolled: Engine, photos: dict[str, Path]) -> None:
    result = enrolled.acting_as("operator").identify(photos["two_faces"], purpose="review", case="C-2")
    best = {face.candidates[0].subject for face in result.faces if face.candidates[0].clears_threshold}
    assert best == {"Eileen Collins", "Grace Hopper"}
    lefts = {face.candidates[0].subject: face.box.left for face in result.faces if face.candidates[0].clears_threshold}
    assert lefts["Eileen Collins"] < 512 <= lefts["Grace Hopper"]


def test_top_k_limits_candidates(enrolled: Engine, photos: dict[str, Path]) -> None:
    result = enrolled.acting_as("operator").identify(photos["probe"], purpose="review", case="C-3", top_k=1)
    assert [c.subject for c in result.faces[0].candidates] == ["Eileen Collins"]


def test_enrolling_same_file_twice_is_a_reported_no_op(enrolled: Engine, photos: dict[str, Path]) -> None:
    before = snapshot(enrolled)
    again = enrolled.acting_as("enroller").enroll(
        photos["astronaut"], subject="Eileen Collins", source="scikit-image sample", basis="consent"
    )
    assert [i.status for i in again.images] == [EnrollStatus.ALREADY_ENROLLED]
    assert snapshot(enrolled) == before


def test_one_bad_photo_refuses_the_whole_enrollment(
    enrolled: Engine, photos: dict[str, Path], bad_files: dict[str, Path]
) -> None:
    before = snapshot(enrolled)
    with pytest.raises(FacesearchError):
        enrolled.acting_as("enroller").enroll(
            [photos["probe"], bad_files["truncated-image"]], subject="Eileen Collins", source="s", basis="consent"
        )
    assert refused_photos_since(enrolled, before) == ["truncated-image"]  # audited; nothing stored


def test_same_file_under_another_subject_is_refused(enrolled: Engine, photos: dict[str, Path]) -> None:
    before = snapshot(enrolled)
    with pytest.raises(DuplicateImageError):
        enrolled.acting_as("enroller").enroll(photos["hopper"], subject="Someone Else", source="s", basis="consent")
    assert snapshot(enrolled) == before


def test_enrollment_records_provenance(engine: Engine, photos: dict[str, Path]) -> None:
    engine.acting_as("enroller").enroll(
        photos["hopper"],
        subject="Grace Hopper",
        source="US Navy archive",
        basis="public-task",
        retain_until="2030-12-31",
    )
    [summary] = engine.subjects()
    assert (summary.name, summary.images, summary.faces, str(summary.retain_until)) == (
        "Grace Hopper",
        1,
        1,
        "2030-12-31",
    )
    [event] = engine.acting_as("auditor").audit_events(action="face.enroll")
    assert event.details["source"] == "US Navy archive"
    assert event.details["lawful_basis"] == "public-task"
    assert event.details["subject_id"] == summary.subject_id
    assert "Grace Hopper" not in str(event.to_dict())  # audit names subjects by opaque id only


def test_erase_is_physical(enrolled: Engine, photos: dict[str, Path]) -> None:
    [hopper] = [s for s in enrolled.subjects() if s.name == "Grace Hopper"]
    face_id = (
        enrolled.acting_as("operator").identify(photos["hopper"], purpose="p", case="c").faces[0].candidates[0].face_id
    )
    template = vector_bytes(enrolled, face_id)
    sealed = sealed_bytes(enrolled, face_id)
    indexed = index_form_bytes(enrolled, face_id)
    assert sealed in enrolled.home.database.read_bytes() and template not in enrolled.home.database.read_bytes()
    assert indexed in index_bytes(enrolled) or template in index_bytes(enrolled)  # index file or add log

    result = enrolled.erase("Grace Hopper", reason="data subject request DSR-12")

    assert (result.images_removed, result.faces_removed, result.index_entries_removed) == (1, 1, 1)
    assert sealed not in enrolled.home.database.read_bytes()
    assert indexed not in index_bytes(enrolled) and template not in index_bytes(enrolled)
    files = [f for f in enrolled.home.root.rglob("*") if f.is_file()]
    assert not [f for f in files if template in f.read_bytes() or indexed in f.read_bytes()]
    assert [s.name for s in enrolled.subjects()] == ["Eileen Collins"]
    erasure = enrolled.acting_as("auditor").audit_events(action="subject.erase")[-1]
    assert erasure.details["subject_id"] == hopper.subject_id
    assert "Grace Hopper" not in str(erasure.to_dict())
    candidates = enrolled.acting_as("operator").identify(photos["hopper"], purpose="p", case="c").faces[0].candidates
    assert [c.subject for c in candidates] == ["Eileen Collins"]
    assert enrolled.audit_verify().ok


def test_erase_unknown_subject(enrolled: Engine) -> None:
    before = snapshot(enrolled)
    with pytest.raises(SubjectNotFoundError):
        enrolled.erase("Nobody", reason="r")
    assert snapshot(enrolled) == before


def test_every_use_is_audited_and_chain_verifies(enrolled: Engine, photos: dict[str, Path]) -> None:
    enrolled.acting_as("operator").identify(photos["probe"], purpose="missing person search", case="MP-7")
    enrolled.acting_as("operator").verify(photos["probe"], photos["astronaut"], purpose="check", case="MP-7")
    actions = [e.action for e in enrolled.acting_as("auditor").audit_events()]
    staff = ["user.add"] * 5  # the creator as admin, then one user of each other role
    rules = ["gallery.retention"] + ["purpose.add"] * (len(PURPOSES) + 1)  # helpers.staffed
    used = ["face.enroll", "face.enroll", "case.open", "search.identify", "search.verify"]  # the search opened MP-7
    assert actions == ["gallery.init", *staff, *rules, *used]
    search = enrolled.acting_as("auditor").audit_events(action="search.identify")[0]
    assert (search.purpose, search.case, search.actor) == ("missing person search", "MP-7", "operator")
    assert search.probe_sha256 and len(search.probe_sha256) == 64
    assert search.details["faces"][0][0]["rank"] == 1
    report = enrolled.audit_verify()
    assert report.ok and report.events == len(actions)


@pytest.mark.parametrize(
    "tamper, first_bad",
    [
        # {user}: the first user added, {enroll}: the first enrollment, {search}: the search (the last event)
        (["UPDATE audit_events SET purpose = 'curiosity' WHERE seq = {search}"], "search"),
        (["UPDATE audit_events SET details = replace(details, 'consent', 'contract') WHERE seq = {enroll}"], "enroll"),
        (["UPDATE audit_events SET details = replace(details, 'admin', 'auditor') WHERE seq = {user}"], "user"),
        (["DELETE FROM audit_events WHERE seq = {user}"], "user"),
        (["DELETE FROM audit_events WHERE seq = {search}"], "search"),
        (  # two events swapped: each keeps its content and hash, only the order changes
            [
                "UPDATE audit_events SET seq = -1 WHERE seq = {enroll}",
                "UPDATE audit_events SET seq = {enroll} WHERE seq = {enroll} + 1",
                "UPDATE audit_events SET seq = {enroll} + 1 WHERE seq = -1",
            ],
            "enroll",
        ),
    ],
    ids=["edit search", "edit enrollment", "edit user", "delete user", "delete last", "reorder"],
)
def test_tampered_audit_row_is_detected(
    enrolled: Engine, photos: dict[str, Path], tamper: list[str], first_bad: str
) -> None:
    enrolled.acting_as("operator").identify(photos["probe"], purpose="missing person search", case="MP-7")
    events = enrolled.acting_as("auditor").audit_events()
    seqs = {
        "user": next(e.seq for e in events if e.action == "user.add"),
        "enroll": next(e.seq for e in events if e.action == "face.enroll"),
        "search": events[-1].seq,
    }
    with enrolled.store.engine.begin() as conn:
        for statement in tamper:
            conn.exec_driver_sql(statement.format(**seqs))
    report = enrolled.audit_verify()
    assert not report.ok
    assert report.first_bad_seq == seqs[first_bad]


def test_index_is_rebuilt_when_missing_corrupt_or_stale(
    enrolled: Engine, photos: dict[str, Path], models: DlibModels
) -> None:
    index_file = enrolled.home.index_dir / "exact.idx"
    good = index_file.read_bytes()
    stale_home = enrolled.home.root
    for damage in (
        lambda: index_file.unlink(),
        lambda: index_file.write_bytes(b"garbage"),
        lambda: index_file.write_bytes(good[: len(good) // 2]),
    ):
        damage()
        with facesearch.open(stale_home, actor="tester", models=models) as reopened:
            result = reopened.acting_as("operator").identify(photos["probe"], purpose="p", case="c")
            assert result.faces[0].candidates[0].subject == "Eileen Collins"
            assert result.gallery_size == 2
    # stale: an index saved before the last enrollment must not be used
    index_file.write_bytes(good)
    enrolled.erase("Grace Hopper", reason="r")
    index_file.write_bytes(good)
    with facesearch.open(stale_home, actor="tester", models=models) as reopened:
        assert reopened.index_info().size == 1


def test_enrollments_are_appended_to_a_log_that_reopening_replays(
    enrolled: Engine, photos: dict[str, Path], models: DlibModels
) -> None:
    index_file, log = enrolled.home.index_dir / "exact.idx", enrolled.home.index_dir / "exact.log"
    hopper = (
        enrolled.acting_as("operator").identify(photos["hopper"], purpose="p", case="c").faces[0].candidates[0].face_id
    )
    assert log.exists() and vector_bytes(enrolled, hopper) in file_plaintext(enrolled, log)
    assert index_form_bytes(enrolled, hopper) not in file_plaintext(enrolled, index_file)  # the file was not rewritten
    saved = file_digest(index_file)
    with facesearch.open(enrolled.home.root, actor="t", models=models) as reopened:
        found = reopened.acting_as("operator").identify(photos["hopper"], purpose="p", case="c")
        assert found.gallery_size == 2 and found.faces[0].candidates[0].subject == "Grace Hopper"
    assert file_digest(index_file) == saved  # replayed, not rebuilt

    log.write_bytes(log.read_bytes()[:-10])  # a record torn by a crash mid-append
    with facesearch.open(enrolled.home.root, actor="t", models=models) as reopened:
        found = reopened.acting_as("operator").identify(photos["hopper"], purpose="p", case="c")
        assert found.gallery_size == 2 and found.faces[0].candidates[0].subject == "Grace Hopper"
    assert file_digest(index_file) != saved and not log.exists()  # rebuilt from the gallery


def test_an_index_from_another_gallery_at_the_same_generation_is_not_used(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    """Generation numbers coincide across galleries (and after a restore from backup); the content
    hash does not, so a foreign index is rebuilt instead of answering for the wrong faces."""
    homes = {}
    for name, second in (("x", "hopper"), ("y", "probe")):
        with init_staffed(tmp_path / name, actor="t", models=models) as engine:
            engine.acting_as("enroller").enroll(
                photos["astronaut"], subject="Eileen Collins", source="s", basis="consent"
            )
            engine.acting_as("enroller").enroll(photos[second], subject=f"Second {name}", source="s", basis="consent")
            homes[name] = engine.home
    y_index = homes["y"].index_dir
    shutil.rmtree(y_index)
    shutil.copytree(homes["x"].index_dir, y_index)  # x's index: same generation, other faces
    with facesearch.open(homes["y"].root, actor="t", models=models) as engine:
        top = engine.acting_as("operator").identify(photos["hopper"], purpose="p", case="c").faces[0].candidates[0]
        assert not top.clears_threshold  # Grace Hopper is not in gallery y
        assert engine.index_info().size == 2


def test_embeddings_of_different_models_cannot_be_compared() -> None:
    a = Embedding(np.zeros(128, np.float32), "dlib_face_recognition_resnet_model_v1", Metric.EUCLIDEAN)
    b = Embedding(np.zeros(128, np.float32), "some_onnx_model", Metric.EUCLIDEAN)
    with pytest.raises(ModelMismatchError):
        compare(a, b)


def test_open_requires_init(tmp_path: Path) -> None:
    with pytest.raises(GalleryNotInitialisedError, match="facesearch init"):
        facesearch.open(tmp_path / "none")


def test_gallery_of_another_model_is_refused_at_open(engine: Engine) -> None:
    with engine.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE gallery_state SET model_id = 'arcface_r100'")
    with pytest.raises(ModelMismatchError, match="arcface_r100"):
        facesearch.open(engine.home.root)
    with pytest.raises(ModelMismatchError, match="arcface_r100"):
        init_staffed(engine.home.root)  # re-running init is no way around it


def test_probe_without_face(enrolled: Engine, photos: dict[str, Path]) -> None:
    before = snapshot(enrolled)
    with pytest.raises(NoFaceError):
        enrolled.acting_as("operator").identify(photos["cat"], purpose="p", case="c")
    assert refused_photos_since(enrolled, before) == ["no-face"]  # audited; no search recorded


def test_enroll_directory_reports_rejections_by_reason(
    engine: Engine, photos: dict[str, Path], bad_files: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "collection"
    for name, files in {
        "Eileen Collins": [photos["astronaut"], bad_files["truncated-image"]],
        "Grace Hopper": [photos["hopper"], photos["cat"]],
    }.items():
        (root / name).mkdir(parents=True)
        for f in files:
            (root / name / f.name).write_bytes(f.read_bytes())
    (root / "loose.jpg").write_bytes(photos["probe"].read_bytes())
    progress = []
    result = engine.acting_as("enroller").enroll_directory(
        root, source="archive box 3", basis="legitimate-interest", on_progress=progress.append
    )
    assert (result.subjects, result.enrolled, result.already_enrolled) == (2, 2, 0)
    assert result.rejected_by_reason() == {"no-face": 1, "no-subject-folder": 1, "truncated-image": 1}
    assert [p.done for p in progress] == [0, 1, 2, 3, 4] and progress[-1].total == 4
    assert {s.name for s in engine.subjects()} == {"Eileen Collins", "Grace Hopper"}
    again = engine.acting_as("enroller").enroll_directory(root, source="archive box 3", basis="legitimate-interest")
    assert (again.enrolled, again.already_enrolled) == (0, 2)


def test_enroll_directory_in_parallel_enrolls_the_same_faces(
    tmp_path: Path, models: DlibModels, labelled_dataset: Path
) -> None:
    results = {}
    for workers in (1, 2):
        with init_staffed(tmp_path / f"h{workers}", actor="t", models=models) as engine:
            summary = engine.acting_as("enroller").enroll_directory(
                labelled_dataset, source="s", basis="consent", workers=workers
            )
            with engine.store.transaction() as session:
                images = engine.store.enrolled_images(session)
            results[workers] = (summary.enrolled, summary.rejected_by_reason(), sorted(images))
    assert results[1] == results[2]
    assert results[2][0] == 8 and results[2][1] == {"no-face": 1}


def test_small_face_is_refused_for_enrollment_but_searched_with_warning(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    settings = facesearch.Settings(upsample=2)  # finds faces down to about 20 px
    with init_staffed(tmp_path / "h", actor="t", settings=settings, models=models) as engine:
        with pytest.raises(LowQualityFaceError, match="face-too-small") as caught:
            engine.acting_as("enroller").enroll(
                photos["small_face"], subject="Eileen Collins", source="s", basis="consent"
            )
        assert caught.value.reason == "face-too-small"
        engine.acting_as("enroller").enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
        result = engine.acting_as("operator").identify(photos["small_face"], purpose="p", case="c")
        [face] = [f for f in result.faces if f.candidates[0].clears_threshold]
        assert face.candidates[0].subject == "Eileen Collins"
        assert any(w.startswith("face-too-small") for w in face.warnings)


def _reencoded(photo: Path) -> bytes:
    out = io.BytesIO()
    Image.open(photo).save(out, format="JPEG", quality=80)
    return out.getvalue()


def test_photos_as_bytes_and_optional_crops_are_erased_too(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    settings = facesearch.Settings(keep_crops=True)
    with init_staffed(tmp_path / "h", actor="t", settings=settings, models=models) as engine:
        result = engine.acting_as("enroller").enroll(
            photos["hopper"].read_bytes(), subject="Grace Hopper", source="s", basis="consent"
        )
        [image] = result.images
        assert image.face_id is not None
        with engine.store.transaction() as session:
            crop = engine.store.face_crop(session, image.face_id)
        assert crop is not None and crop[:2] == b"\xff\xd8"  # a JPEG
        sealed = sealed_bytes(engine, image.face_id, "crop_jpeg")  # larger than a page: not contiguous in the file
        pieces = [sealed[i : i + 64] for i in range(0, len(sealed) - 64, 64)]
        assert any(p in engine.home.database.read_bytes() for p in pieces)
        assert crop[100:200] not in engine.home.database.read_bytes()
        found = engine.acting_as("operator").identify(photos["hopper"].read_bytes(), purpose="p", case="c")
        assert found.faces[0].candidates[0].subject == "Grace Hopper"
        # an upload keeps the name it arrived under
        engine.acting_as("enroller").enroll(
            NamedPhoto(_reencoded(photos["hopper"]), "hopper-badge.jpg"),
            subject="Grace Hopper",
            source="s",
            basis="consent",
        )
        report = engine.acting_as("auditor").subject_report("Grace Hopper")
        names = sorted(i.filename for i in report.images)
        assert names == [f"<{len(photos['hopper'].read_bytes())} bytes>", "hopper-badge.jpg"]
        engine.erase("Grace Hopper", reason="r")
        assert not any(p in engine.home.database.read_bytes() for p in pieces)


@pytest.mark.slow
def test_cnn_detector_finds_and_embeds_the_same_face(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    cnn = facesearch.Settings(recognizer="dlib", detector="cnn")
    with init_staffed(tmp_path / "h", actor="t", settings=cnn, models=models) as e:
        e.acting_as("enroller").enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
        result = e.acting_as("operator").identify(photos["probe"], purpose="p", case="c")
        top = result.faces[0].candidates[0]
        assert (top.subject, top.clears_threshold) == ("Eileen Collins", True)


def test_fallback_detector_finds_faces_the_hog_detector_misses(
    photos: dict[str, Path], tmp_path: Path, models: DlibModels
) -> None:
    dlib = facesearch.Settings(recognizer="dlib")  # YuNet, sface's detector, finds the turned face itself
    with init_staffed(tmp_path / "dlib", actor="t", settings=dlib, models=models) as enrolled:
        enrolled.acting_as("enroller").enroll(photos["hopper"], subject="Grace Hopper", source="s", basis="consent")
        result = enrolled.acting_as("operator").identify(photos["hopper_tilted"], purpose="p", case="c")
        top = result.faces[0].candidates[0]
        assert (top.subject, top.clears_threshold) == ("Grace Hopper", True)
    hog_only = facesearch.Settings(recognizer="dlib", fallback_detector="none")
    strict = facesearch.open(tmp_path / "dlib", actor="t", settings=hog_only, models=models)
    with strict, pytest.raises(NoFaceError):
        strict.acting_as("operator").identify(photos["hopper_tilted"], purpose="p", case="c")


def test_mirror_averaged_embeddings_are_symmetric_and_have_their_own_model_id(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    mirrored = Image.open(photos["astronaut"]).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    mirrored.save(buffer, format="JPEG", quality=92)
    plain_settings = facesearch.Settings(recognizer="dlib", embed_mirrored=False)
    with init_staffed(tmp_path / "plain", actor="t", settings=plain_settings, models=models) as plain:
        plain_score = (
            plain.acting_as("operator")
            .verify(photos["astronaut"], buffer.getvalue(), purpose="check", case="C-1")
            .score
        )
        assert plain.spec.model_id == "dlib_face_recognition_resnet_model_v1"
    mirrored = facesearch.Settings(recognizer="dlib")
    with init_staffed(tmp_path / "mirror", actor="t", settings=mirrored, models=models) as mirror:
        mirror_score = (
            mirror.acting_as("operator")
            .verify(photos["astronaut"], buffer.getvalue(), purpose="check", case="C-1")
            .score
        )
    assert mirror_score > 0.9 and mirror_score > plain_score + 0.05  # a face and its mirror embed alike
    with facesearch.open(tmp_path / "plain", models=models) as reopened:  # default settings: sface, mirrored
        assert reopened.spec.model_id == "dlib_face_recognition_resnet_model_v1"  # the gallery keeps its own


@pytest.mark.parametrize("backend", ["hnsw", "ivf"])
def test_approximate_gallery_searches_and_erases_physically(
    tmp_path: Path, models: DlibModels, photos: dict[str, Path], backend: str
) -> None:
    settings = Settings(index_backend=backend)
    with init_staffed(tmp_path / "home", actor="tester", models=models, settings=settings) as engine:
        engine.acting_as("enroller").enroll(
            photos["astronaut"], subject="Eileen Collins", source="scikit-image sample", basis="consent"
        )
        engine.acting_as("enroller").enroll(
            photos["hopper"], subject="Grace Hopper", source="matplotlib sample", basis="public-task"
        )
        assert engine.index_info().backend == backend
        top = engine.acting_as("operator").identify(photos["probe"], purpose="p", case="c").faces[0].candidates[0]
        assert top.subject == "Eileen Collins" and top.clears_threshold
        hopper = (
            engine.acting_as("operator")
            .identify(photos["hopper"], purpose="p", case="c")
            .faces[0]
            .candidates[0]
            .face_id
        )
        stored = [index_form_bytes(engine, hopper), vector_bytes(engine, hopper)]  # index file, add log
        stored.append(np.frombuffer(stored[0], "<f4").astype("<f2").tobytes())  # as the ivf index keeps it
        assert any(form in index_bytes(engine) for form in stored)
        engine.erase("Grace Hopper", reason="erasure request")
        assert not any(form in index_bytes(engine) for form in stored)
    # the same gallery opened with the exact index: rebuilt from the gallery, same answer
    with facesearch.open(tmp_path / "home", actor="tester", models=models) as engine:
        assert engine.index_info().backend == "exact" and engine.index_info().size == 1
        assert sorted(p.name for p in engine.home.index_dir.iterdir()) == ["exact.idx"]  # the other file deleted
        found = engine.acting_as("operator").identify(photos["probe"], purpose="p", case="c")
        assert found.faces[0].candidates[0].subject == "Eileen Collins"


def test_subject_report_lists_what_is_held_and_every_search_that_returned_them(
    enrolled: Engine, photos: dict[str, Path]
) -> None:
    operator = enrolled.acting_as("operator")
    operator.identify(photos["probe"], purpose="missing person search", case="MP-7")
    operator.identify(photos["hopper"], purpose="access review", case="SEC-2")
    report = enrolled.subject_report("Eileen Collins")
    [image] = report.images
    assert (image.source, image.lawful_basis, image.enrolled_by, image.faces) == (
        "scikit-image sample",
        "consent",
        "enroller",
        1,
    )
    assert image.model_ids == (enrolled.spec.model_id,)
    found = {(a.case, a.purpose, a.actor, a.rank) for a in report.appearances}
    assert found == {("MP-7", "missing person search", "operator", 1), ("SEC-2", "access review", "operator", 2)}
    assert "embedding" not in str(report.to_dict()) and "vector" not in str(report.to_dict())
    event = enrolled.acting_as("auditor").audit_events(action="subject.report")[-1]
    assert event.seq == report.audit_seq and event.details["appearances"] == 2
    with pytest.raises(PermissionDeniedError):
        operator.subject_report("Eileen Collins")
    with pytest.raises(SubjectNotFoundError):
        enrolled.subject_report("Nobody")
