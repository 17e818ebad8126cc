"""Bad videos (issue 20, item 5): a truncated or corrupt container, no video stream, a codec
FFmpeg cannot decode, a decoding bomb, a playlist that names other files. Each is a real broken
file the test makes; each gets its own named error in bounded time, and in a collection the
other files are still processed."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import (
    InputError,
    NotAVideoError,
    NoVideoStreamError,
    TruncatedVideoError,
    UnsupportedCodecError,
    VideoTooLargeError,
)
from facesearch.pipeline.video import VideoFile, sampled_frames

from helpers import write_video, write_video_bomb

BOUNDED_S = 20.0  # each refusal costs seconds at most, on a shared, busy machine


@pytest.fixture(scope="module")
def broken(
    tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]
) -> dict[str, tuple[Path, type[InputError]]]:
    """name -> (a broken video made here, the error it must be refused with)."""
    root = tmp_path_factory.mktemp("broken")
    face = Image.open(photos["astronaut"]).convert("RGB")
    mp4 = write_video(root / "whole.mp4", [(face, 1)])
    mkv = write_video(root / "whole.mkv", [(face, 6)])
    files: dict[str, tuple[bytes, type[InputError]]] = {
        # MP4 writes its index last: cut in half, it has none
        "cut.mp4": (mp4.read_bytes()[: mp4.stat().st_size // 2], NotAVideoError),
        # Matroska streams: cut in half, it stops at 3 s of the 6 it declares
        "cut.mkv": (mkv.read_bytes()[: mkv.stat().st_size // 2], TruncatedVideoError),
        "garbage.mkv": (b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 50, NotAVideoError),
        "playlist.mp4": (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
            NotAVideoError,
        ),
        "unknown-codec.mkv": (
            mkv.read_bytes().replace(b"V_MPEG4/ISO/AVC", b"V_UNKNOWN/CODEC", 1),
            UnsupportedCodecError,
        ),
    }
    paths = {}
    for name, (data, error) in files.items():
        (root / name).write_bytes(data)
        paths[name] = (root / name, error)
    with av.open(str(root / "sound-only.mkv"), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        second = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        second.sample_rate = 8000
        for packet in [*stream.encode(second), *stream.encode()]:
            container.mux(packet)
    paths["sound-only.mkv"] = (root / "sound-only.mkv", NoVideoStreamError)
    paths["bomb.mkv"] = (write_video_bomb(root / "bomb.mkv"), VideoTooLargeError)
    mp4.unlink()
    mkv.unlink()
    return paths


def test_each_broken_video_is_refused_with_its_own_error_in_bounded_time(
    broken: dict[str, tuple[Path, type[InputError]]],
) -> None:
    assert broken["bomb.mkv"][0].stat().st_size < 4_000_000  # 100,000 frames of 720p in a few MB
    for name, (path, error) in broken.items():
        started = time.monotonic()
        with pytest.raises(error) as refused:
            for _ in sampled_frames(VideoFile(path, name), "", Settings()):
                pass
        assert time.monotonic() - started < BOUNDED_S, name
        assert refused.value.message.startswith(f"{name}: ") and str(path.parent) not in refused.value.message


def test_too_long_and_too_large_videos_are_refused_before_decoding(
    broken: dict[str, tuple[Path, type[InputError]]], tmp_path: Path, photos: dict[str, Path]
) -> None:
    clip = write_video(tmp_path / "clip.mp4", [(Image.open(photos["hopper"]), 3)])
    with pytest.raises(VideoTooLargeError, match="video_max_seconds"):
        next(sampled_frames(VideoFile(clip, "clip.mp4"), "", Settings(video_max_seconds=2)))
    with pytest.raises(VideoTooLargeError, match="max_video_bytes"):
        next(sampled_frames(VideoFile(clip, "clip.mp4"), "", Settings(max_video_bytes=1000)))
    with pytest.raises(VideoTooLargeError):  # an upload cut off past the limit
        next(sampled_frames(VideoFile(clip, "clip.mp4", complete=False), "", Settings()))


@pytest.mark.model
def test_a_collection_names_each_broken_video_and_processes_the_rest(
    engine: Engine, broken: dict[str, tuple[Path, type[InputError]]], photos: dict[str, Path], tmp_path: Path
) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    for name, (path, _) in broken.items():
        (drive / name).write_bytes(path.read_bytes())
    write_video(drive / "fine.webm", [(Image.open(photos["hopper"]).convert("RGB"), 2)], codec="libvpx-vp9")
    (drive / "photo.jpg").write_bytes(photos["astronaut"].read_bytes())
    why = {"purpose": "missing person search", "case": "MP-60"}
    run = engine.acting_as("operator").collections.cluster(drive, name="drive", min_size=1, **why)
    assert dict(run.photos_rejected) == {name: error.code for name, (_, error) in broken.items()}
    assert run.faces == 2 and {c.photos for c in run.clusters} == {("fine.webm",), ("photo.jpg",)}
