"""The project's converter of dlib's face network to ONNX: the same embeddings, and damaged weight
files refused with a named error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesearch.config import Settings
from facesearch.errors import DlibFormatError
from facesearch.pipeline.convert import convert_resnet_v1
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.models import DlibModels, OnnxResNet, weights_path

from helpers import require_lfw

pytestmark = pytest.mark.model


def _chips(photos: list[Path], models: DlibModels, limit: int) -> list[np.ndarray]:
    """The aligned 150x150 chip (dlib's) of the first face found in each photo, up to ``limit`` chips."""
    pipeline = FacePipeline(Settings(recognizer="dlib"), models)
    chips = []
    for photo in photos:
        found = pipeline.find(decode(photo, pipeline.settings))
        if found:
            chips.append(found[0].aligned.chip)
        if len(chips) == limit:
            break
    return chips


def _agreement(chips: list[np.ndarray], models: DlibModels) -> tuple[float, float]:
    """(lowest cosine similarity, largest absolute difference) between ONNX and dlib vectors."""
    onnx = models.descriptors(chips, "onnx")
    dlib = models.descriptors(chips, "dlib")
    cosine = np.sum(onnx * dlib, axis=1) / np.linalg.norm(onnx, axis=1) / np.linalg.norm(dlib, axis=1)
    return float(cosine.min()), float(np.abs(onnx - dlib).max())


def test_converted_network_embeds_the_sample_faces_as_dlib_does(
    photos: dict[str, Path], models: DlibModels, tmp_path: Path
) -> None:
    variants = []
    for name in ("astronaut", "hopper", "probe"):
        image = Image.open(photos[name])
        for k, turn in enumerate((0, 8, -8)):
            variants.append(tmp_path / f"{name}{k}.jpg")
            image.rotate(turn).save(variants[-1], quality=90)
    chips = _chips(variants, models, limit=len(variants))
    assert len(chips) == 9
    lowest, largest = _agreement(chips, models)
    assert lowest >= 0.9999 and largest < 1e-5
    one_by_one = np.vstack([models.descriptors([c], "onnx") for c in chips])
    assert np.allclose(one_by_one, models.descriptors(chips, "onnx"), atol=1e-6)  # batching changes nothing


def test_converted_network_matches_dlib_on_200_lfw_faces(models: DlibModels) -> None:
    lfw = require_lfw()
    chips = _chips(sorted((lfw / "images").glob("*/*.jpg")), models, limit=200)
    assert len(chips) == 200
    lowest, _ = _agreement(chips, models)
    assert lowest >= 0.9999


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "end of file"),
        (lambda data: data + b"\x00\x01", "bytes left"),
        (lambda data: b"\x7f" + data[1:], "control byte"),
    ],
)
def test_damaged_weights_are_refused_by_name(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "resnet.dat"
    bad.write_bytes(damage(Path(weights_path("resnet")).read_bytes()))
    with pytest.raises(DlibFormatError, match=message):
        convert_resnet_v1(bad)


def test_another_dlib_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DlibFormatError):
        convert_resnet_v1(weights_path("cnn"))  # dlib's face detector: a different network
    with pytest.raises(DlibFormatError):
        OnnxResNet(weights_path("landmarks5"))
