"""Videos in a collection (issue 20): a track is one face of the collection, grouped with the
photos' faces, cited by file and time, sealed, audited and erased like them. The videos are made
by the tests from real face photos; none is committed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from facesearch.engine import Engine
from facesearch.gallery.schema import CollectionFaceRow

from helpers import write_video

pytestmark = pytest.mark.model

WHY = {"purpose": "missing person search", "case": "MP-41"}


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """A photo of each of two people, and a video of both (Eileen Collins, Grace Hopper, her again)."""
    root = tmp_path_factory.mktemp("drive")
    astronaut = Image.open(photos["astronaut"]).convert("RGB")
    hopper = Image.open(photos["hopper"]).convert("RGB")
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "astronaut.jpg", quality=90)
    hopper.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "hopper.jpg", quality=90)
    (root / "videos").mkdir()
    write_video(root / "videos" / "clip.mp4", [(astronaut, 2), (hopper, 2), (astronaut, 2)])
    return root


def test_each_track_of_a_video_is_one_face_grouped_with_the_photos(engine: Engine, drive: Path) -> None:
    operator = engine.acting_as("operator")
    run = operator.collections.cluster(drive, name="drive-v", **WHY)
    assert (run.photos, run.photos_embedded, run.photos_rejected, run.faces) == (3, 3, (), 4)
    groups = {frozenset(c.photos) for c in run.clusters}
    assert groups == {frozenset({"astronaut.jpg", "videos/clip.mp4"}), frozenset({"hopper.jpg", "videos/clip.mp4"})}
    cited = sorted(s for c in run.clusters for s in c.seen if s.startswith("videos/"))
    assert cited[0].startswith("videos/clip.mp4 at 00:00:0") and len(cited) == 2
    # A rerun hashes the video as a stream and finds it known: nothing is decoded again.
    again = operator.collections.cluster(drive, name="drive-v", **WHY)
    assert (again.photos_embedded, again.faces) == (0, 4)
    [event, _] = engine.acting_as("auditor").audit_events(action="collection.cluster")
    assert (event.purpose, event.case) == (WHY["purpose"], WHY["case"])


def test_the_contact_sheet_cites_the_video_and_the_time_of_the_frame(
    engine: Engine, drive: Path, tmp_path: Path
) -> None:
    operator = engine.acting_as("operator")
    operator.collections.cluster(drive, name="drive-v", **WHY)
    page = operator.collections.contact_sheet("drive-v", tmp_path / "sheet").read_text()
    assert "videos/clip.mp4 at 00:00:0" in page and "astronaut.jpg" in page
    assert page.count("data:image/jpeg;base64,") == 4  # each track's face, from the frame cited


def test_a_videos_faces_are_sealed_and_erased_with_the_collection(engine: Engine, drive: Path) -> None:
    engine.acting_as("operator").collections.cluster(drive, name="drive-v", **WHY)
    with engine.store.transaction() as session:
        rows = session.query(CollectionFaceRow).filter(CollectionFaceRow.video_time_s.is_not(None)).all()
        assert len(rows) == 2 and all(r.video_start_s <= r.video_time_s <= r.video_end_s for r in rows)
        assert all(b"\xff\xd8" not in r.crop_jpeg[:4] for r in rows)  # sealed, not plain JPEG
    assert engine.collections.delete("drive-v", reason="case closed") == 4
    with engine.store.transaction() as session:
        assert session.query(CollectionFaceRow).count() == 0


def test_a_videos_byte_copy_is_one_video_and_a_re_encoded_one_is_another(
    engine: Engine, drive: Path, tmp_path: Path, photos: dict[str, Path]
) -> None:
    """Videos group only when byte-identical: a frame's perceptual hash says nothing of the rest of a video."""
    folder = tmp_path / "videos"
    folder.mkdir()
    clip = (drive / "videos" / "clip.mp4").read_bytes()
    (folder / "clip.mp4").write_bytes(clip)
    (folder / "clip-copy.mp4").write_bytes(clip)
    hopper = Image.open(photos["hopper"]).convert("RGB")
    write_video(folder / "hopper-a.mp4", [(hopper, 2)])
    write_video(folder / "hopper-b.avi", [(hopper, 2)], codec="mpeg4")  # the same pictures, encoded anew
    run = engine.acting_as("operator").collections.cluster(folder, name="drive-vc", min_size=1, **WHY)
    assert dict(run.photos_copied) == {"clip.mp4": "clip-copy.mp4"}  # the first in the folder's order stands
    assert run.photos_embedded == 3 and run.faces == 2 + 1 + 1  # the clip's two tracks once; each Hopper video's
    [hopper_cluster] = [c for c in run.clusters if "hopper-a.mp4" in c.photos]
    assert set(hopper_cluster.photos) == {"clip-copy.mp4", "hopper-a.mp4", "hopper-b.avi"}  # two videos of her
    assert [also for also in hopper_cluster.copies if also] == [("clip.mp4",)]  # only the clip's track has a copy
