"""Candidate ranking: a subject's score is its best face, and k distinct subjects are returned."""

from __future__ import annotations

import numpy as np

from facesearch.index import ExactIndex
from facesearch.operations.ranking import rank_subjects
from facesearch.pipeline.faces import main_face
from facesearch.pipeline.models import DLIB_RESNET_V1
from facesearch.scoring.scores import score_meaning
from facesearch.types import AlignedFace, Box, Detection, Embedding, FaceObservation, Metric, Quality

MODEL = DLIB_RESNET_V1.model_id


def test_many_faces_of_one_subject_do_not_crowd_out_others() -> None:
    rng = np.random.default_rng(0)
    probe = rng.normal(0, 0.06, 128).astype(np.float32)
    crowd = probe + rng.normal(0, 0.01, (200, 128)).astype(np.float32)  # 200 photos of subject A
    others = probe + rng.normal(0, 0.05, (3, 128)).astype(np.float32)  # one photo each of B, C, D
    index = ExactIndex(MODEL, 128, Metric.EUCLIDEAN)
    index.add(np.arange(1, 204), np.vstack([crowd, others]))
    owner = {i: ("a", "A") for i in range(1, 201)} | {201: ("b", "B"), 202: ("c", "C"), 203: ("d", "D")}

    candidates = rank_subjects(
        index,
        Embedding(probe, MODEL, Metric.EUCLIDEAN),
        k=3,
        meaning=score_meaning(DLIB_RESNET_V1, None),
        lookup=lambda ids: {i: owner[i] for i in ids},
    )

    assert [c.subject for c in candidates][0] == "A"
    assert len(candidates) == 3 and len({c.subject for c in candidates}) == 3
    assert [c.rank for c in candidates] == [1, 2, 3]
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True)
    best_a = 1 - np.linalg.norm(crowd - probe, axis=1).min()
    assert abs(candidates[0].score - best_a) < 1e-4
    assert all(c.clears_threshold == (c.score >= 0.4) for c in candidates)


def _face_at(left: int, top: int, size: int) -> FaceObservation:
    box = Box(left, top, left + size, top + size)
    aligned = AlignedFace(Detection(box, 1.0, "hog"), ((0, 0),) * 5, np.zeros((150, 150, 3), np.uint8))
    return FaceObservation(
        aligned, Quality(size, 50.0, 1.0), Embedding(np.zeros(128, np.float32), MODEL, Metric.EUCLIDEAN)
    )


def test_main_face_is_the_central_subject_not_a_larger_face_cut_by_the_edge() -> None:
    subject = _face_at(45, 53, 63)  # centred in a 150x150 photo
    bystander = _face_at(79, 5, 71)  # larger, but cut by the top-right edge
    assert main_face([bystander, subject], 150, 150) is subject


def test_main_face_ignores_small_faces_near_the_centre() -> None:
    speaker = _face_at(0, 0, 200)
    small_in_centre = _face_at(480, 480, 60)
    assert main_face([small_in_centre, speaker], 1000, 1000) is speaker
    assert main_face([], 100, 100) is None
