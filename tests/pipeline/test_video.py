"""Reading videos (issue 20): every container the issue names, made by the test from real face
photos with PyAV, sampled, its faces followed into tracks and cited by their time."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from facesearch.config import Settings
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.models import DlibModels
from facesearch.pipeline.tracks import iou, video_faces
from facesearch.pipeline.video import VideoFile, file_sha256, looks_like_video, timecode
from facesearch.types import Box

from helpers import write_video

pytestmark = pytest.mark.model

# container suffix -> the codec the test encodes it with (each decoded by the FFmpeg PyAV ships)
FORMATS = {".mp4": "h264", ".mov": "h264", ".mkv": "h264", ".avi": "mpeg4", ".webm": "libvpx-vp9"}


@pytest.fixture(scope="module")
def people(photos: dict[str, Path]) -> tuple[Image.Image, Image.Image]:
    return Image.open(photos["astronaut"]).convert("RGB"), Image.open(photos["hopper"]).convert("RGB")


@pytest.fixture(scope="module")
def pipeline(models: DlibModels) -> FacePipeline:
    return FacePipeline(Settings(), models)


def tracks_of(path: Path, pipeline: FacePipeline) -> list[tuple[int, float, float, float]]:
    """(track, shown at, first seen, last seen) of each face of the video, by track number."""
    faces = list(video_faces(VideoFile(path, path.name), file_sha256(path), pipeline))
    return sorted((f.track, f.time_s, f.start_s, f.end_s) for f in faces)


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_container_is_read_and_each_person_is_one_track(
    suffix: str, people: tuple[Image.Image, Image.Image], pipeline: FacePipeline, tmp_path: Path
) -> None:
    astronaut, hopper = people
    # Eileen Collins, a cut to Grace Hopper, a cut back: she is followed across the cut by her face.
    video = write_video(
        tmp_path / f"clip{suffix}", [(astronaut, 2), (hopper, 2), (astronaut, 2)], codec=FORMATS[suffix]
    )
    tracks = tracks_of(video, pipeline)
    assert len(tracks) == 2
    (_, _, first_a, last_a), (_, shown_b, first_b, last_b) = tracks
    assert first_a == 0.0 and last_a >= 4.0  # one track, both of her scenes
    assert 2.0 <= first_b <= shown_b <= last_b < 4.0  # Grace Hopper's scene only


def test_the_sharpest_most_frontal_views_make_the_template(
    people: tuple[Image.Image, Image.Image], pipeline: FacePipeline, tmp_path: Path
) -> None:
    astronaut, _ = people
    blurred = astronaut.resize((128, 128)).resize(astronaut.size)  # the same face, out of focus
    video = write_video(tmp_path / "focus.mp4", [(blurred, 2), (astronaut, 1), (blurred, 2)], fps=5)
    [face] = list(video_faces(VideoFile(video, video.name), file_sha256(video), pipeline))
    assert 2.0 <= face.time_s < 3.0  # the face shown is from the sharp second
    assert face.templates == 3 and face.sightings >= 5


def test_a_video_is_told_from_a_photo_by_its_name_or_its_first_bytes() -> None:
    assert looks_like_video("clip.MKV", b"")
    assert looks_like_video("upload", b"\x00\x00\x00\x18ftypisom")
    assert not looks_like_video("photo.avif", b"\x00\x00\x00\x1cftypavif")
    assert looks_like_video("x", b"\x1a\x45\xdf\xa3....")
    assert looks_like_video("x", b"RIFF\x00\x00\x00\x00AVI LIST")
    assert not looks_like_video("photo.jpg", b"\xff\xd8\xff\xe0")


def test_times_are_cited_as_a_player_shows_them() -> None:
    assert timecode(12 * 60 + 31.44) == "00:12:31.4"
    assert timecode(3 * 3600 + 59.96) == "03:01:00.0"
    assert timecode(0) == "00:00:00.0"


def test_box_overlap() -> None:
    assert iou(Box(0, 0, 10, 10), Box(0, 0, 10, 10)) == 1.0
    assert iou(Box(0, 0, 10, 10), Box(10, 10, 20, 20)) == 0.0
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 15, 10)) == pytest.approx(1 / 3)
