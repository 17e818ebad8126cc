"""Detection scans a bounded number of pixels, however large or featureless the photo: HOG
upsamples less on a large image, the CNN fallback scans a smaller copy (issue 17, item 8: a black
6300x6300 PNG took 52 s and 2.3 GB). A recording stand-in for dlib's detectors shows what each is
asked to scan; no models run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from facesearch.config import Settings
from facesearch.pipeline.detect import CNN_MAX_PIXELS, HOG_MAX_PIXELS, detect_faces


class Recorder:
    """Stands in for DlibModels: each detector records (height, width, upsample) and finds nothing."""

    def __init__(self) -> None:
        self.scans: list[tuple[str, int, int, int]] = []

    def hog_detector(self) -> Any:
        recorder = self

        class Hog:
            def run(self, pixels: np.ndarray, upsample: int, threshold: float) -> tuple[list[Any], ...]:
                recorder.scans.append(("hog", *pixels.shape[:2], upsample))
                return [], [], []

        return Hog()

    def cnn_detector(self) -> Any:
        def cnn(pixels: np.ndarray, upsample: int) -> list[Any]:
            self.scans.append(("cnn", *pixels.shape[:2], upsample))
            return []

        return cnn


@pytest.mark.parametrize("side", [300, 1024, 2048, 6300])
def test_each_detector_scans_at_most_its_budget_of_pixels(side: int) -> None:
    models = Recorder()
    detect_faces(np.zeros((side, side, 3), np.uint8), Settings(upsample=2), models)  # type: ignore[arg-type]
    (hog, hog_h, hog_w, hog_up), (cnn, cnn_h, cnn_w, cnn_up) = models.scans
    assert (hog, cnn) == ("hog", "cnn")  # HOG found nothing, so the CNN fallback looked
    assert hog_h * hog_w * 4**hog_up <= max(HOG_MAX_PIXELS, side * side)
    assert cnn_h * cnn_w * 4**cnn_up <= CNN_MAX_PIXELS * 1.01
    if side == 300:  # a small photo is still upsampled as asked, to find small faces
        assert hog_up == 2
    if side == 2048:  # a photo reduced to decode_max_side is still upsampled once
        assert hog_up == 1
