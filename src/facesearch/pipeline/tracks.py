"""Following each face across a video's sampled frames into a track, and keeping its best views.

A face found in a frame continues the track whose box it overlaps most in the frame sampled just
before (intersection over union at least :data:`MIN_IOU`, never across a scene change). A face
that overlaps none is embedded and continues the track, lost within :data:`RELINK_S`, whose face
it matches at the recipe's clustering threshold (someone who turned away, was hidden, or came back
after a cut); else it starts a track. A track unseen for :data:`RELINK_S` is finished: its
``video_track_templates`` best faces (the sharpest and most frontal) are embedded and averaged into
its one template. Only live tracks are held, each with a few face chips: memory does not grow with
the video's length.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence

import numpy as np

from facesearch.pipeline.faces import FacePipeline, FoundFace
from facesearch.pipeline.video import SampledFrame, VideoFile, sampled_frames
from facesearch.types import Box, Embedding, Metric, Quality, RGBArray

MIN_IOU = 0.3
RELINK_S = 10.0
MAX_FACES_PER_FRAME = 32  # the most confident faces of a frame that are followed (a crowd: the nearest)
MAX_LIVE_TRACKS = 64  # past this the track seen longest ago is finished early


@dataclasses.dataclass(frozen=True)
class VideoFace:
    """One person's face followed across a video: a track. ``time_s`` is the frame its shown face
    (the best: ``box``, ``quality``, ``chip``) comes from; ``start_s`` and ``end_s`` bound the frames
    it was seen in, ``sightings`` counts them; ``embedding`` fuses its best faces' templates."""

    track: int
    time_s: float
    start_s: float
    end_s: float
    sightings: int
    box: Box
    quality: Quality
    embedding: Embedding = dataclasses.field(repr=False, compare=False)
    chip: RGBArray = dataclasses.field(repr=False, compare=False)
    templates: int = 1


def view_rank(face: FoundFace) -> float:
    """How good a view of a face is, higher is better: its sharpness (log of the Laplacian
    variance), times how frontal it is (its landmarks centred in its box: a face turned aside has
    them all on one side), times its size up to 112 pixels (the chips' own)."""
    box = face.aligned.detection.box
    marks = face.aligned.landmarks
    frontal = 1.0
    if marks and box.width > 0:
        centre = (box.left + box.right) / 2
        mean_x = sum(x for x, _ in marks) / len(marks)
        frontal = max(0.0, 1.0 - 2.0 * abs(mean_x - centre) / box.width)
    return math.log1p(max(0.0, face.quality.sharpness)) * frontal * min(1.0, face.quality.face_px / 112)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0: apart, 1: the same)."""
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.width * a.height + b.width * b.height - inter)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _score(a: np.ndarray, b: np.ndarray, metric: Metric) -> float:
    """Higher is more alike, as the recipe scores: cosine similarity, or 1 - Euclidean distance."""
    if metric is Metric.COSINE:
        return float(np.dot(_unit(a), _unit(b)))
    return 1.0 - float(np.linalg.norm(a - b))


class _Track:
    def __init__(self, number: int, face: FoundFace, time_s: float, vector: np.ndarray) -> None:
        self.number = number
        self.vector = vector  # the template of a face of it, to relink it by
        self.start_s = self.last_s = time_s
        self.box = face.aligned.detection.box
        self.sightings = 0
        # (rank, time, face, its template if it was embedded to link it), best first
        self.views: list[tuple[float, float, FoundFace, Embedding | None]] = []
        self.add(face, time_s, 1)

    def add(self, face: FoundFace, time_s: float, keep: int, embedding: Embedding | None = None) -> None:
        self.box, self.last_s = face.aligned.detection.box, time_s
        self.sightings += 1
        self.views.append((view_rank(face), time_s, face, embedding))
        self.views.sort(key=lambda view: -view[0])
        del self.views[keep:]


class Tracker:
    """Faces of successive sampled frames, followed into tracks (see the module's text)."""

    def __init__(self, pipeline: FacePipeline) -> None:
        self.pipeline = pipeline
        self.keep = pipeline.settings.video_track_templates
        self.link = pipeline.spec.cluster_threshold
        self.step_s = 1.0 / pipeline.settings.video_sample_fps
        self.live: list[_Track] = []
        self.count = 0

    def see(self, frame: SampledFrame) -> list[VideoFace]:
        """Follow the faces of FRAME; returns the tracks this finished."""
        found = [f for f in self.pipeline.find(frame.image, upsample=0, fallback=False) if f.quality.usable]
        found = found[:MAX_FACES_PER_FRAME]
        t = frame.time_s
        done = [track for track in self.live if t - track.last_s > RELINK_S]
        self.live = [track for track in self.live if track not in done]
        recent = [tr for tr in self.live if not frame.scene_change and t - tr.last_s <= 1.5 * self.step_s + 1e-6]
        claimed: set[int] = set()
        pairs = sorted(
            ((iou(tr.box, f.aligned.detection.box), n, i) for n, tr in enumerate(recent) for i, f in enumerate(found)),
            reverse=True,
        )
        matched: set[int] = set()
        for overlap, n, i in pairs:
            if overlap < MIN_IOU:
                break
            if n in claimed or i in matched:
                continue
            recent[n].add(found[i], t, self.keep)
            claimed.add(n)
            matched.add(i)
        unmatched = [f for i, f in enumerate(found) if i not in matched]
        if unmatched:
            self._relink(unmatched, t, {id(tr) for n, tr in enumerate(recent) if n in claimed})
        while len(self.live) > MAX_LIVE_TRACKS:
            oldest = min(self.live, key=lambda tr: tr.last_s)
            self.live.remove(oldest)
            done.append(oldest)
        return self._finished(done)

    def close(self) -> list[VideoFace]:
        """Finish every live track (the video has ended)."""
        done, self.live = self.live, []
        return self._finished(done)

    def _relink(self, faces: Sequence[FoundFace], t: float, taken: set[int]) -> None:
        """Continue, by embedding, the lost track each face matches best; else start a track."""
        metric = self.pipeline.spec.metric
        for face, observed in zip(faces, self.pipeline.observe(faces), strict=True):
            vector = observed.embedding.vector
            free = [tr for tr in self.live if id(tr) not in taken and tr.last_s < t]
            scored = [(_score(vector, tr.vector, metric), tr) for tr in free]
            best = max(scored, key=lambda pair: pair[0], default=None)
            if best is not None and best[0] >= self.link:
                best[1].add(face, t, self.keep, observed.embedding)
                taken.add(id(best[1]))
                continue
            self.count += 1
            track = _Track(self.count, face, t, vector)
            track.views[0] = (*track.views[0][:3], observed.embedding)
            self.live.append(track)
            taken.add(id(track))

    def _finished(self, tracks: Sequence[_Track]) -> list[VideoFace]:
        if not tracks:
            return []
        spec = self.pipeline.spec
        tracks = sorted(tracks, key=lambda tr: tr.number)
        # the views not embedded yet (to link a track) are embedded now, all in one call
        fresh = [face for track in tracks for _, _, face, known in track.views if known is None]
        observed = iter(self.pipeline.observe(fresh))
        out = []
        for track in tracks:
            templates = [known or next(observed).embedding for _, _, _, known in track.views]
            vectors = np.stack([e.vector for e in templates]).astype(np.float32)
            if spec.metric is Metric.COSINE:
                vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            fused = vectors.mean(axis=0).astype(np.float32)
            _, time_s, shown, _ = track.views[0]
            out.append(
                VideoFace(
                    track=track.number,
                    time_s=time_s,
                    start_s=track.start_s,
                    end_s=track.last_s,
                    sightings=track.sightings,
                    box=shown.aligned.detection.box,
                    quality=shown.quality,
                    embedding=Embedding(fused, spec.model_id, spec.metric),
                    chip=shown.aligned.chip,
                    templates=len(templates),
                )
            )
        return out


def video_faces(video: VideoFile, sha256: str, pipeline: FacePipeline) -> Iterator[VideoFace]:
    """Every track of a face in VIDEO, as each is finished (in the order they end). Raises the
    errors of :func:`~facesearch.pipeline.video.sampled_frames` while iterating."""
    tracker = Tracker(pipeline)
    for frame in sampled_frames(video, sha256, pipeline.settings):
        yield from tracker.see(frame)
    yield from tracker.close()
