"""The analysis pipeline: decoded image -> detect -> align -> quality -> embed."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from facesearch.config import Settings
from facesearch.pipeline.models import THREADS_ENV, EmbedderSpec, Models
from facesearch.pipeline.quality import assess
from facesearch.pipeline.ray_pool import RayRun, map_on_ray
from facesearch.pipeline.recognizers import recognizer_for, spec_for_settings
from facesearch.types import AlignedFace, DecodedImage, FaceObservation, Quality

BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", THREADS_ENV)
T = TypeVar("T")
R = TypeVar("R")


def main_face(observations: list[FaceObservation], width: int, height: int) -> FaceObservation | None:
    """The face a 1:1 comparison uses: of the faces at least half as large as the largest, the one
    nearest the centre of the photo (the photographer's subject, not a bystander cut by the edge)."""
    if not observations:
        return None

    def area(o: FaceObservation) -> int:
        return o.box.width * o.box.height

    largest = max(area(o) for o in observations)
    prominent = [o for o in observations if area(o) * 2 >= largest]

    def off_centre(o: FaceObservation) -> float:
        box = o.box
        return float(((box.left + box.right) / 2 - width / 2) ** 2 + ((box.top + box.bottom) / 2 - height / 2) ** 2)

    return min(prominent, key=lambda o: (off_centre(o), -area(o)))


class FacePipeline:
    """Runs every stage on one image with one recognizer; models load on first use.

    ``spec`` is the recipe (a gallery's); without it, the built-in recognizer the settings name.
    """

    def __init__(
        self,
        settings: Settings,
        models: Models | None = None,
        spec: EmbedderSpec | None = None,
    ) -> None:
        self.settings = settings
        self.models = models or Models()
        self.spec = spec or spec_for_settings(settings)
        self.recognizer = recognizer_for(self.spec, settings, self.models)

    def analyze(self, image: DecodedImage, upsample: int | None = None) -> list[FaceObservation]:
        """Every face found in the image, most confident detection first; boxes and landmarks in
        the photo's own pixels. ``upsample`` overrides the setting."""
        found = self.find(image, upsample)
        return self.observe(found)

    def find(self, image: DecodedImage, upsample: int | None = None, fallback: bool = True) -> list[FoundFace]:
        """Detect, align and assess every face, without embedding (the costly step): callers that
        keep only some faces embed just those with :meth:`observe`. ``fallback=False`` skips the
        fallback detector."""
        overrides: dict[str, object] = {}
        if upsample is not None:
            overrides["upsample"] = upsample
        if not fallback:
            overrides["fallback_detector"] = "none"
        settings = self.settings.replace(**overrides) if overrides else self.settings
        faces = []
        for aligned in self.recognizer.find(image.pixels, settings):
            aligned = _in_photo_pixels(aligned, image.scale)
            faces.append(FoundFace(aligned, assess(aligned, self.settings)))
        return faces

    def observe(self, found: Sequence[FoundFace]) -> list[FaceObservation]:
        """Embed found faces (of one photo or many) in one call to the network."""
        embeddings = self.recognizer.embed([f.aligned for f in found])
        return [
            FaceObservation(aligned=f.aligned, quality=f.quality, embedding=e)
            for f, e in zip(found, embeddings, strict=True)
        ]


@dataclasses.dataclass(frozen=True)
class FoundFace:
    """A face detected, aligned and assessed, not yet embedded."""

    aligned: AlignedFace
    quality: Quality


def _in_photo_pixels(face: AlignedFace, scale: float) -> AlignedFace:
    """A face found in pixels decoded at ``scale``, with its box and landmarks in the photo's own."""
    if scale == 1.0:
        return face
    detection = dataclasses.replace(face.detection, box=face.detection.box.scaled(1 / scale))
    landmarks = tuple((round(x / scale), round(y / scale)) for x, y in face.landmarks)
    return dataclasses.replace(face, detection=detection, landmarks=landmarks)


# --- running the pipeline over many photos in worker processes ---------------------------------------

_worker_pipeline: FacePipeline | None = None


def _start_worker(settings: Settings, spec: EmbedderSpec) -> None:
    global _worker_pipeline
    _worker_pipeline = FacePipeline(settings, spec=spec)  # one per process; its models load on first use


def _in_worker(job: Callable[[T, FacePipeline], R], item: T) -> R:
    assert _worker_pipeline is not None
    return job(item, _worker_pipeline)


def map_photos(
    job: Callable[[T, FacePipeline], R],
    items: Sequence[T],
    pipeline: FacePipeline,
    workers: int,
    chunksize: int = 1,
    ray: RayRun[T, R] | None = None,
) -> Iterator[R]:
    """``job(item, pipeline)`` for every item, results in order: in ``workers`` spawned processes
    (each with its own pipeline of the same settings and recipe), or here with ``pipeline`` when one worker
    is asked or there is too little work to share; or, given ``ray``, on that Ray cluster's workers
    (:mod:`facesearch.pipeline.ray_pool`; ``workers`` below 1: one per CPU of the cluster). ``job`` must be
    a module-level function."""
    if ray is not None:
        make = functools.partial(FacePipeline, pipeline.settings, spec=pipeline.spec)
        yield from map_on_ray(job, items, make, workers, ray, environment=dict.fromkeys(BLAS_THREADS, "1"))
        return
    if workers <= 1 or len(items) < 2 * workers:
        for item in items:
            yield job(item, pipeline)
        return
    context = multiprocessing.get_context("spawn")  # no fork under the caller's threads (progress bars)
    with _one_blas_thread_each():
        pool = context.Pool(workers, initializer=_start_worker, initargs=(pipeline.settings, pipeline.spec))
    with pool:
        yield from pool.imap(functools.partial(_in_worker, job), items, chunksize=chunksize)


@contextlib.contextmanager
def _one_blas_thread_each() -> Iterator[None]:
    """Workers started inside run their BLAS and ONNX Runtime on one thread: the processes share
    the cores, not each process's threads (each library would otherwise start one per core in
    every worker)."""
    saved = {name: os.environ.get(name) for name in BLAS_THREADS}
    os.environ.update(dict.fromkeys(BLAS_THREADS, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
