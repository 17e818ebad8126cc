"""Distributed ingestion (issue 19, item 4): enroll-dir and cluster analyse photos on a Ray cluster's
workers, and this process alone writes the gallery, under every rule local enrollment keeps.

The cluster is real (tests/ray_fixtures.py: a head and two worker nodes on 127.0.0.1); a worker is
killed for real, with SIGKILL, in the middle of a run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance

import facesearch
from facesearch.engine import Engine
from facesearch.errors import MissingExtraError, RayClusterError
from facesearch.pipeline import faces as faces_module
from facesearch.pipeline.decode import NamedPhoto
from facesearch.pipeline.models import DlibModels
from facesearch.pipeline.prepare import EMBED_BATCH
from facesearch.types import EnrollProgress
from ray_fixtures import kill_one_analyst

from helpers import file_digest, init_staffed

pytestmark = [pytest.mark.model, pytest.mark.slow]
SOURCE = {"source": "archive box 7", "basis": "legitimate-interest"}
WHY = {"purpose": "missing person search", "case": "MP-40"}


def _gallery(home: Path, models: DlibModels, **settings: object) -> Engine:
    return init_staffed(home, actor="t", settings=facesearch.Settings(**settings), models=models)  # type: ignore[arg-type]


def _enrolled(engine: Engine) -> tuple[int, set[tuple[str, str]]]:
    """(faces in the gallery, its (subject, photo sha256) pairs)."""
    with engine.store.transaction() as session:
        return engine.store.face_count(session), engine.store.enrolled_images(session)


def test_enroll_dir_on_ray_stores_what_local_processes_store_with_the_same_rules(
    tmp_path: Path, models: DlibModels, labelled_dataset: Path, bad_files: dict[str, Path], ray_cluster: str
) -> None:
    root = tmp_path / "photos"
    shutil.copytree(labelled_dataset, root)
    for code in ("truncated-image", "image-too-large", "not-an-image"):
        shutil.copy(bad_files[code], root / "Grace Hopper" / f"{code}.jpg")
    seen = {}
    for where, address in (("local", ""), ("ray", ray_cluster)):
        with _gallery(tmp_path / where, models, ray_address=address) as engine:
            result = engine.acting_as("enroller").enroll_directory(root, **SOURCE, workers=2)
            auditor = engine.acting_as("auditor")
            enrolls = auditor.audit_events(action="face.enroll")
            [refused] = auditor.audit_events(action="photo.refused")
            assert {(e.actor, e.details["source"], e.details["lawful_basis"]) for e in enrolls} == {
                ("enroller", "archive box 7", "legitimate-interest")
            }
            assert engine.audit_verify().ok
            seen[where] = (
                result.enrolled,
                result.rejected_by_reason(),
                sorted((r.name, r.message) for r in result.rejected),
                _enrolled(engine),
                refused.details["by_reason"],
            )
    assert seen["ray"] == seen["local"]
    assert seen["ray"][0] == 8
    assert seen["ray"][1] == {"image-too-large": 1, "no-face": 1, "not-an-image": 1, "truncated-image": 1}
    assert any(str(root / "Grace Hopper" / "truncated-image.jpg") in m for _, m in seen["ray"][2])


def _many_photos(root: Path, photos: dict[str, Path], per_person: int) -> int:
    for person, source in (("Eileen Collins", "astronaut"), ("Grace Hopper", "hopper")):
        folder = root / person
        folder.mkdir(parents=True)
        original = Image.open(photos[source]).convert("RGB")
        for n in range(per_person):
            image = original.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if n % 2 else original
            image = image.resize((320 + 8 * n, (320 + 8 * n) * image.height // image.width))
            ImageEnhance.Brightness(image).enhance(0.9 + 0.01 * n).save(folder / f"{n:03d}.jpg", quality=90)
    return 2 * per_person


def test_a_killed_worker_costs_only_its_unfinished_photos_and_a_rerun_enrolls_exactly_those(
    tmp_path: Path, models: DlibModels, photos: dict[str, Path], ray_cluster: str
) -> None:
    root = tmp_path / "photos"
    total = _many_photos(root, photos, per_person=24)
    killed: list[int] = []

    def kill_after_first_photos(progress: EnrollProgress) -> None:
        if progress.done >= 1 and not killed:  # the first batch is back: both workers hold unfinished ones
            killed.append(kill_one_analyst())

    with _gallery(tmp_path / "home", models, ray_address=ray_cluster, enroll_batch_faces=4) as engine:
        enroller = engine.acting_as("enroller")
        first = enroller.enroll_directory(root, **SOURCE, workers=2, on_progress=kill_after_first_photos)
        assert killed
        lost = [r for r in first.rejected if r.reason == "analysis-lost"]
        # whole batches the killed worker held (at most two), nothing else: the other worker finished the rest
        assert lost and len(lost) % EMBED_BATCH == 0 and len(lost) <= 2 * EMBED_BATCH
        assert all("Ray worker" in r.message and "a rerun analyses it" in r.message for r in lost)
        assert first.enrolled + len(lost) == total and len(first.rejected) == len(lost)
        faces, images = _enrolled(engine)
        assert faces == len(images) == first.enrolled  # each enrolled photo once
        lost_photos = {(Path(r.name).parent.name, file_digest(Path(r.name))) for r in lost}
        assert len(lost_photos) == len(lost) and lost_photos.isdisjoint(images)
        assert not engine.acting_as("auditor").audit_events(action="photo.refused")  # nothing was refused

        again = enroller.enroll_directory(root, **SOURCE, workers=2)
        assert (again.enrolled, again.already_enrolled, again.rejected) == (len(lost), first.enrolled, ())
        faces, images = _enrolled(engine)
        assert faces == len(images) == total
        assert len(engine.acting_as("auditor").audit_events(action="face.enroll")) == total
        assert engine.audit_verify().ok


def test_cluster_on_ray_groups_as_local_processes_do(
    tmp_path: Path, models: DlibModels, labelled_dataset: Path, ray_cluster: str
) -> None:
    found = {}
    for where, address in (("local", ""), ("ray", ray_cluster)):
        with _gallery(tmp_path / where, models, ray_address=address) as engine:
            run = engine.acting_as("operator").collections.cluster(labelled_dataset, name="drive", **WHY, workers=2)
            clusters = sorted(c.size for c in run.clusters)
            found[where] = (run.photos_embedded, run.faces, clusters, run.photos_rejected, run.photos_copied)
    assert found["ray"] == found["local"]
    # copies of one picture (found here, before any analysis) are analysed once, on Ray as locally
    assert found["ray"][:3] == (5, 4, [2, 2]) and len(found["ray"][4]) == 4


def test_under_ray_a_video_is_analysed_here_from_its_path_and_only_photos_travel(
    tmp_path: Path, models: DlibModels, photos: dict[str, Path], ray_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import write_video

    drive = tmp_path / "drive"
    (drive / "videos").mkdir(parents=True)
    astronaut = Image.open(photos["astronaut"]).convert("RGB")
    hopper = Image.open(photos["hopper"]).convert("RGB")
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(drive / "astronaut.jpg", quality=90)
    hopper.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(drive / "hopper.jpg", quality=90)
    write_video(drive / "videos" / "clip.mp4", [(astronaut, 2), (hopper, 2)])
    shipped: list[object] = []
    real = faces_module.map_on_ray

    def recording(job: Any, items: Any, *args: Any, **kwargs: Any) -> Any:
        run = args[2]
        shipped.extend(run.ship(item) for item in items)
        return real(job, items, *args, **kwargs)

    monkeypatch.setattr(faces_module, "map_on_ray", recording)
    found = {}
    for where, address in (("local", ""), ("ray", ray_cluster)):
        with _gallery(tmp_path / where, models, ray_address=address) as engine:
            run = engine.acting_as("operator").collections.cluster(drive, name="drive", **WHY, workers=2)
            seen = sorted(s for c in run.clusters for s in c.seen)
            found[where] = (run.photos_embedded, run.faces, sorted(c.photos for c in run.clusters), seen)
    assert found["ray"] == found["local"]
    assert found["ray"][:2] == (3, 4) and any(s.startswith("videos/clip.mp4 at ") for s in found["ray"][3])
    # the two photos went to the workers as bytes; the video never left this machine
    assert len(shipped) == 2 and all(isinstance(job[0], NamedPhoto) for job in shipped)  # type: ignore[index]
    assert sorted(Path(job[0].name).name for job in shipped) == ["astronaut.jpg", "hopper.jpg"]  # type: ignore[index]


def test_a_cluster_that_cannot_be_used_is_one_clear_error(
    tmp_path: Path, models: DlibModels, labelled_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'facesearch[ray]')")
    enroll: Callable[[Engine], object] = lambda engine: engine.acting_as("enroller").enroll_directory(  # noqa: E731
        labelled_dataset, **SOURCE
    )
    with _gallery(tmp_path / "home", models, ray_address="127.0.0.1:9") as engine:  # the discard port: nobody
        with pytest.raises(RayClusterError, match="no Ray cluster answers at '127.0.0.1:9'"):
            enroll(engine)
        monkeypatch.setattr("facesearch.extras.missing", lambda extra: ["ray"])
        with pytest.raises(MissingExtraError, match=r"pip install 'facesearch\[ray\]'"):
            enroll(engine)
        assert _enrolled(engine) == (0, set())


def test_cluster_reports_photos_lost_with_a_killed_worker_and_a_rerun_analyses_them(
    tmp_path: Path, models: DlibModels, photos: dict[str, Path], ray_cluster: str
) -> None:
    root = tmp_path / "drive"
    total = _many_photos(root, photos, per_person=8)
    killed: list[int] = []

    def kill_after_first_photo(done: int, total: int) -> None:
        if done > total // 2 and not killed:  # past the fingerprints (here): the first analysis is back
            killed.append(kill_one_analyst())

    # the photos are resized copies of two: each is its own picture here, so every one goes to a worker
    with _gallery(tmp_path / "home", models, ray_address=ray_cluster, near_copy_max_distance_bits=-1) as engine:
        operator = engine.acting_as("operator").collections
        first = operator.cluster(root, name="drive", **WHY, workers=2, on_progress=kill_after_first_photo)
        lost = [name for name, reason in first.photos_rejected if reason == "analysis-lost"]
        assert killed and 1 <= len(lost) <= 2  # a worker holds at most two photos
        assert len(first.photos_rejected) == len(lost) and first.photos_embedded == total - len(lost)
        again = operator.cluster(root, name="drive", **WHY, workers=2)
        assert (again.photos_embedded, again.photos_rejected) == (len(lost), ())
        assert again.faces > first.faces
        [event, _] = engine.acting_as("auditor").audit_events(action="collection.cluster")
        assert event.details["photos_embedded"] == total - len(lost)
