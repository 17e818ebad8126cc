"""Stage 1 for videos: read a video as a stream of sampled frames, refusing anything broken or
hostile with a named error, in bounded time and memory.

A video is decoded by PyAV (whose wheel ships FFmpeg), imported on first use, a frame at a time:
nothing holds more than the frame being looked at, whatever the video's length. Frames are
sampled at a steady rate (``video_sample_fps``) and on each scene change (the first frame that
differs from the one before it by more than :data:`SCENE_CHANGE`). The guards, each a named error:

- not a container any allowed demuxer reads (only MP4/MOV, Matroska/WebM and AVI demuxers are
  admitted, and no protocol but the file: a playlist cannot make FFmpeg open other files or URLs);
- no video stream; a codec the bundled FFmpeg cannot decode;
- longer than ``video_max_seconds`` (declared, or reached while decoding);
- far more frame pixels than its bytes explain (``video_max_pixels_per_byte``): a decoding bomb;
- data that stops or turns to garbage before the end the container declares: truncated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.config import Settings
from facesearch.errors import (
    EmptyImageError,
    ImageFileNotFoundError,
    InputError,
    NotAVideoError,
    NoVideoStreamError,
    TruncatedVideoError,
    UnsupportedCodecError,
    VideoTooLargeError,
)
from facesearch.types import DecodedImage

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
# The demuxers admitted: MP4/MOV, Matroska/WebM and AVI. Among the others FFmpeg has are playlists
# (HLS, concat) that open further files or URLs named inside them.
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi"
_IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
SCENE_STEP = 16  # scene changes are measured on every 16th luma sample of every 16th row
SCENE_THUMBNAIL = (80, 45)  # or, for a frame whose luma is not a plane of its own, on a grey thumbnail
_PLANAR_LUMA = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray"}
SCENE_CHANGE = 30.0  # mean absolute grey-level difference (of 255) between consecutive thumbnails
MIN_SCENE_GAP_S = 0.5  # at most two scene-change samples a second, however the picture flashes
FREE_FRAMES = 300  # frames decoded before the pixels-per-byte guard applies (a short clip of a still)
TRUNCATION_SLACK_S = 0.5  # how far before its declared end, past a frame, a video may stop and not be truncated


@dataclasses.dataclass(frozen=True)
class VideoFile:
    """A video on disk and the name it is cited by (an upload's file name; else its path).
    ``complete`` is False for an upload whose reading stopped past ``max_video_bytes``."""

    path: Path
    name: str
    complete: bool = True


@dataclasses.dataclass(frozen=True)
class SampledFrame:
    """A frame looked at for faces: its time from the video's start, its pixels (reduced to
    ``video_max_side``, ``image.scale`` below 1 then), and whether a scene change chose it."""

    time_s: float
    image: DecodedImage
    scene_change: bool


def looks_like_video(name: str, head: bytes) -> bool:
    """Whether a file is to be read as a video: by its name's suffix, or by its first 12 bytes (an
    ISO base media file that is no HEIF/AVIF image, Matroska/WebM's EBML header, RIFF AVI)."""
    if Path(name).suffix.lower() in VIDEO_SUFFIXES:
        return True
    if head[4:8] == b"ftyp":
        return head[8:12] not in _IMAGE_BRANDS
    return head[:4] == b"\x1a\x45\xdf\xa3" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")


def is_video_file(path: Path) -> bool:
    """:func:`looks_like_video` for a file on disk (read: its first 12 bytes)."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError:
        head = b""
    return looks_like_video(path.name, head)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (a video of gigabytes is never held whole)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def video_facts(video: VideoFile, settings: Settings) -> dict[str, int | str | None]:
    """What an audit event may say of a refused video, never its content: its size in ``bytes``
    (None if there is no such file, or an upload cut off past the limit) and its ``sha256``."""
    if not video.complete:
        return {"bytes": None}
    try:
        size = video.path.stat().st_size if video.path.is_file() else None
        if size is None or size > settings.max_video_bytes:
            return {"bytes": size}
        return {"bytes": size, "sha256": file_sha256(video.path)}
    except OSError:
        return {"bytes": None}


def as_video(probe: object) -> VideoFile | None:
    """The probe as a video, if it is one: a VideoFile, or a path whose name or first bytes say so."""
    if isinstance(probe, VideoFile):
        return probe
    if isinstance(probe, str | Path) and is_video_file(Path(probe)):
        return VideoFile(Path(probe), str(probe))
    return None


def timecode(seconds: float) -> str:
    """A time in a video as a player shows it, to the tenth: ``00:12:31.4``."""
    tenths = round(max(0.0, seconds) * 10)
    hours, rest = divmod(tenths, 36_000)
    minutes, rest = divmod(rest, 600)
    whole, tenth = divmod(rest, 10)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}.{tenth}"


def checked_size(video: VideoFile, settings: Settings) -> int:
    """The video's size in bytes, if it is a non-empty regular file within ``max_video_bytes``."""
    name = video.name
    try:
        size = video.path.stat().st_size
    except OSError:
        raise ImageFileNotFoundError(f"{name}: no such file") from None
    if not video.path.is_file():
        raise ImageFileNotFoundError(f"{name}: not a regular file")
    if not video.complete or size > settings.max_video_bytes:
        raise VideoTooLargeError(f"{name}: over the limit of {settings.max_video_bytes} bytes (max_video_bytes)")
    if size == 0:
        raise EmptyImageError(f"{name}: file is empty (0 bytes)")
    return size


def _av() -> Any:
    import av  # FFmpeg: imported on first use, so that starting facesearch stays quick

    av.logging.set_level(None)  # its complaints about a broken file are ours to word, not stderr's
    return av


def _errors(av: Any) -> tuple[type[BaseException], ...]:
    """What PyAV raises on bytes it cannot use: FFmpeg's errors (InvalidDataError is a ValueError,
    its EOFError an EOFError), and the Python errors of its own parsing. Never MemoryError."""
    return (av.error.FFmpegError, OSError, ValueError, EOFError, RuntimeError, IndexError, KeyError, TypeError)


def sampled_frames(video: VideoFile, sha256: str, settings: Settings) -> Iterator[SampledFrame]:
    """The frames of VIDEO to look for faces in, in order, one at a time. Raises (while iterating)
    NotAVideoError, NoVideoStreamError, UnsupportedCodecError, VideoTooLargeError or
    TruncatedVideoError; no other error escapes, whatever the bytes."""
    checked_size(video, settings)
    av = _av()
    try:
        container = av.open(
            str(video.path),
            mode="r",
            metadata_errors="ignore",
            container_options={"format_whitelist": DEMUXERS, "protocol_whitelist": "file"},
        )
    except _errors(av) as exc:
        raise NotAVideoError(
            f"{video.name}: cannot be read as a video (MP4/MOV, MKV/WebM or AVI): the container is corrupt, "
            f"truncated or of another kind ({_reason(exc)})"
        ) from None
    with container:
        yield from _decoded(container, video.name, sha256, settings, av)


def _decoded(container: Any, name: str, sha256: str, settings: Settings, av: Any) -> Iterator[SampledFrame]:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["nothing"]
        raise NoVideoStreamError(f"{name}: holds no video stream, only {', '.join(kinds)}")
    stream = container.streams.video[0]
    codec = stream.codec_context
    if codec is None or not getattr(codec, "name", ""):
        raise UnsupportedCodecError(f"{name}: its pictures are in a codec this FFmpeg cannot decode")
    declared = _declared_seconds(container, stream)
    if declared is not None and declared > settings.video_max_seconds:
        raise VideoTooLargeError(
            f"{name}: {timecode(declared)} long, over the limit of {settings.video_max_seconds} s (video_max_seconds)"
        )
    stream.thread_type = "AUTO"  # FFmpeg decodes on every core, ahead of the frame looked at
    # Frames no other frame refers to (most B-frames) are not decoded: half the work, and a steady rate
    # of a frame or two a second never needs them. A codec without such frames decodes them all.
    codec.skip_frame = "NONREF"
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    step = 1.0 / settings.video_sample_fps
    per_byte = settings.video_max_pixels_per_byte
    next_sample, last_scene, last_s = 0.0, -math.inf, 0.0
    decoded = pixels = read = 0
    previous: np.ndarray | None = None
    try:
        for frame, read in _frames(container, stream):
            decoded += 1
            pixels += frame.width * frame.height
            if decoded > FREE_FRAMES and pixels > read * per_byte:
                raise VideoTooLargeError(
                    f"{name}: {decoded} frames of {frame.width}x{frame.height} in its first {read} bytes decode to "
                    f"more than {per_byte} pixels a byte (video_max_pixels_per_byte): a decoding bomb, not a "
                    "recording"
                )
            t = float(frame.time) - start if frame.time is not None else decoded / float(stream.average_rate or 25)
            if t > settings.video_max_seconds:
                raise VideoTooLargeError(
                    f"{name}: runs past the limit of {settings.video_max_seconds} s (video_max_seconds)"
                )
            thumbnail = _luma_grid(frame)
            scene = (
                previous is not None
                and float(np.abs(thumbnail - previous).mean()) > SCENE_CHANGE
                and t - last_scene >= MIN_SCENE_GAP_S
            )
            previous = thumbnail
            last_s = max(last_s, t)
            if scene:
                last_scene = t
            if t >= next_sample or scene:
                if t >= next_sample:
                    next_sample = (math.floor(t / step) + 1) * step
                yield SampledFrame(round(t, 3), _image(frame, name, sha256, settings), scene)
    except InputError:
        raise
    except _errors(av) as exc:
        if decoded == 0:
            raise UnsupportedCodecError(
                f"{name}: no frame of its {codec.name} stream could be decoded ({_reason(exc)})"
            ) from None
        raise TruncatedVideoError(
            f"{name}: the video's data is corrupt or cut off after {timecode(last_s)} ({_reason(exc)})"
        ) from None
    if decoded == 0:
        raise TruncatedVideoError(f"{name}: the container declares a {codec.name} stream but holds no frame of it")
    frame_s = 1.0 / float(stream.average_rate or 1)
    if declared is not None and last_s + frame_s + TRUNCATION_SLACK_S < declared:
        raise TruncatedVideoError(
            f"{name}: the video stops at {timecode(last_s)}, before the {timecode(declared)} its container "
            "declares: the file is truncated"
        )


def _frames(container: Any, stream: Any) -> Iterator[tuple[Any, int]]:
    """Each decoded frame, with the bytes of the stream's packets read so far (the work a frame
    costs is weighed against them: a bomb is caught in its first seconds, not at its end)."""
    read = 0
    for packet in container.demux(stream):
        read += packet.size
        for frame in packet.decode():
            yield frame, read


def _luma_grid(frame: Any) -> np.ndarray:
    """A coarse grid of the frame's brightness, read from its luma plane without converting it
    (every SCENE_STEP-th pixel of every SCENE_STEP-th row): what a scene change is measured on."""
    if frame.format.name not in _PLANAR_LUMA:
        return np.asarray(frame.reformat(*SCENE_THUMBNAIL, format="gray").to_ndarray(), dtype=np.int16)
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
    return rows[::SCENE_STEP, : plane.width : SCENE_STEP].astype(np.int16)


def _declared_seconds(container: Any, stream: Any) -> float | None:
    """The length the container (else the stream) declares, in seconds, if it declares one."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    return None


def _image(frame: Any, name: str, sha256: str, settings: Settings) -> DecodedImage:
    """A frame as the pipeline takes a photo: RGB, turned as the video says it is shown, reduced
    to ``video_max_side``; ``width`` and ``height`` are the frame's own, as shown."""
    width, height = frame.width, frame.height
    scale = min(1.0, settings.video_max_side / max(width, height))
    if scale < 1.0:
        size = max(2, round(width * scale)), max(2, round(height * scale))
        pixels = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
    else:
        pixels = frame.to_ndarray(format="rgb24")
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # counterclockwise, as the display matrix says
    if turns:
        pixels = np.rot90(pixels, turns)
        if turns % 2:
            width, height = height, width
    return DecodedImage(
        pixels=np.ascontiguousarray(pixels, dtype=np.uint8),
        sha256=sha256,
        width=width,
        height=height,
        format="video",
        name=name,
        scale=scale,
    )


def _reason(exc: BaseException) -> str:
    """FFmpeg's reason, without the file's path (an upload's is a temporary file's, not the user's)."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return str(text)[:200]
