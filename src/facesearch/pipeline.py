"""The analysis pipeline: decoded image -> detect -> align -> quality -> embed."""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from facesearch.align import align_face
from facesearch.config import Settings
from facesearch.detect import detect_faces
from facesearch.embed import embed_faces
from facesearch.models import DlibModels, EmbedderSpec, embedder_spec
from facesearch.quality import assess
from facesearch.types import DecodedImage, FaceObservation

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
    """Runs every stage on one image; models load on first use."""

    def __init__(
        self,
        settings: Settings,
        models: DlibModels | None = None,
        spec: EmbedderSpec | None = None,
    ) -> None:
        self.settings = settings
        self.models = models or DlibModels()
        self.spec = spec or embedder_spec(settings.embed_mirrored)

    def analyze(self, image: DecodedImage) -> list[FaceObservation]:
        """Every face found in the image, most confident detection first."""
        detections = detect_faces(image.pixels, self.settings, self.models)
        aligned = [align_face(image.pixels, d, self.spec, self.models) for d in detections]
        embeddings = embed_faces(aligned, self.spec, self.models, self.settings.num_jitters)
        return [
            FaceObservation(aligned=a, quality=assess(a, self.settings), embedding=e)
            for a, e in zip(aligned, embeddings, strict=True)
        ]


# --- running the pipeline over many photos in worker processes ---------------------------------------

_worker_pipeline: FacePipeline | None = None


def _start_worker(settings: Settings) -> None:
    global _worker_pipeline
    _worker_pipeline = FacePipeline(settings)  # one per process; its models load on first use


def _in_worker(job: Callable[[T, FacePipeline], R], item: T) -> R:
    assert _worker_pipeline is not None
    return job(item, _worker_pipeline)


def map_photos(
    job: Callable[[T, FacePipeline], R], items: Sequence[T], pipeline: FacePipeline, workers: int
) -> Iterator[R]:
    """``job(item, pipeline)`` for every item, results in order: in ``workers`` spawned processes
    (each with its own pipeline of the same settings), or here with ``pipeline`` when one worker
    is asked or there is too little work to share. ``job`` must be a module-level function."""
    if workers <= 1 or len(items) < 2 * workers:
        for item in items:
            yield job(item, pipeline)
        return
    context = multiprocessing.get_context("spawn")  # no fork under the caller's threads (progress bars)
    with context.Pool(workers, initializer=_start_worker, initargs=(pipeline.settings,)) as pool:
        yield from pool.imap(functools.partial(_in_worker, job), items, chunksize=4)
