"""Stage 5: measure face quality and name every threshold a face falls below."""

from __future__ import annotations

import numpy as np

from facesearch.config import Settings
from facesearch.types import AlignedFace, Quality, RGBArray

FACE_TOO_SMALL = "face-too-small"
FACE_BLURRED = "face-blurred"
LOW_DETECTOR_CONFIDENCE = "low-detector-confidence"


def sharpness(chip: RGBArray) -> float:
    """Variance of the 4-neighbour Laplacian of the chip's grey levels (higher is sharper)."""
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    return float(lap.var())


def assess(face: AlignedFace, settings: Settings) -> Quality:
    """Quality of one aligned face against the enrollment thresholds in ``settings``."""
    box = face.detection.box
    face_px = min(box.width, box.height)
    sharp = sharpness(face.chip)
    score = face.detection.score
    issues = []
    if face_px < settings.enroll_min_face_px:
        issues.append(FACE_TOO_SMALL)
    if sharp < settings.enroll_min_sharpness:
        issues.append(FACE_BLURRED)
    if score < settings.enroll_min_detector_score:
        issues.append(LOW_DETECTOR_CONFIDENCE)
    return Quality(face_px=face_px, sharpness=round(sharp, 2), detector_score=round(score, 4), issues=tuple(issues))
