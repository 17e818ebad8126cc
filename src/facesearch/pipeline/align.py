"""Stage 3: place five landmarks on each face and cut an aligned chip for the embedder."""

from __future__ import annotations

import numpy as np

from facesearch.pipeline.models import EmbedderSpec, Models
from facesearch.types import AlignedFace, Detection, RGBArray


def align_face(pixels: RGBArray, detection: Detection, spec: EmbedderSpec, models: Models) -> AlignedFace:
    """Five-point landmarks and the aligned chip (``spec.chip_size`` square) for one detection."""
    import dlib  # imported on first use: importing facesearch loads no native library

    box = detection.box
    rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
    shape = models.landmarks5()(pixels, rect)
    landmarks = tuple((int(shape.part(i).x), int(shape.part(i).y)) for i in range(shape.num_parts))
    chip = dlib.get_face_chip(pixels, shape, size=spec.chip_size, padding=spec.chip_padding)
    return AlignedFace(detection=detection, landmarks=landmarks, chip=np.ascontiguousarray(chip))
