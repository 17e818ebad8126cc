"""Needless work is skipped without changing answers: large JPEGs decode at reduced scale, and
enrollment upsamples only when no large face is found. Greyscale deeper than 8 bits is read as the
photo it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import NoFaceError
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline, main_face
from facesearch.pipeline.models import DlibModels
from facesearch.pipeline.prepare import prepare

from helpers import zero_png

pytestmark = pytest.mark.model


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# how alike the same face's embeddings are, from a 512-pixel photo and its 4400-pixel copy: dlib's
# landmarks and chips barely move with the face's size, YuNet's landmarks by a few per cent of it
LARGE_COPY_COSINE = {"dlib": 0.99, "sface": 0.9}


@pytest.mark.parametrize("recognizer", ["sface", "dlib"])
def test_large_jpeg_is_decoded_at_reduced_scale_with_boxes_in_photo_pixels(
    photos: dict[str, Path], models: DlibModels, tmp_path: Path, recognizer: str
) -> None:
    big = tmp_path / "big.jpg"
    Image.open(photos["astronaut"]).resize((4400, 4400), Image.Resampling.LANCZOS).save(big, quality=92)
    pipeline = FacePipeline(Settings(recognizer=recognizer), models)

    image = decode(big, pipeline.settings)
    assert (image.width, image.height, image.scale) == (4400, 4400, 2048 / 4400)
    assert image.pixels.shape == (2048, 2048, 3)  # decoded at half scale, then reduced to decode_max_side
    full = decode(big, Settings(decode_max_side=5000))
    assert full.scale == 1.0 and full.pixels.shape == (4400, 4400, 3)

    small = main_face(pipeline.analyze(decode(photos["astronaut"], pipeline.settings)), 512, 512)
    reduced = main_face(pipeline.analyze(image), image.width, image.height)
    assert small is not None and reduced is not None
    ratio = 4400 / 512  # the same face, its box in the big photo's own pixels
    for got, want in zip(
        (reduced.box.left, reduced.box.top, reduced.box.right, reduced.box.bottom),
        (small.box.left, small.box.top, small.box.right, small.box.bottom),
        strict=True,
    ):
        # HOG's image pyramid steps by 5/6: the same face found at two scales may differ by a tenth
        assert abs(got - want * ratio) < 0.15 * small.box.width * ratio
    assert _cosine(reduced.embedding.vector, small.embedding.vector) > LARGE_COPY_COSINE[recognizer]


def test_exif_rotated_large_jpeg_reports_its_turned_size(photos: dict[str, Path], tmp_path: Path) -> None:
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to display
    Image.open(photos["astronaut"]).resize((4400, 2000)).save(turned, exif=exif)
    image = decode(turned, Settings())
    assert (image.width, image.height, image.scale) == (2000, 4400, 2048 / 4400)
    assert image.pixels.shape == (2048, 931, 3)


def test_enrollment_upsamples_only_when_no_large_face_is_found(photos: dict[str, Path], models: DlibModels) -> None:
    """dlib's detectors find faces under about 80 pixels only in an upsampled photo."""
    pipeline = FacePipeline(Settings(recognizer="dlib"), models)
    large = prepare(photos["astronaut"], pipeline)
    native = pipeline.analyze(decode(photos["astronaut"], pipeline.settings), upsample=0)
    assert any(np.allclose(large.face.embedding.vector, o.embedding.vector, atol=1e-5) for o in native)

    tiny = Image.open(photos["astronaut"]).resize((260, 260))
    data = _jpeg_bytes(tiny)
    assert pipeline.analyze(decode(data, pipeline.settings), upsample=0) == []  # too small without upsampling
    small = prepare(data, pipeline)  # ...so enrollment upsamples, and finds it
    assert small.face.box.width < 80
    assert _cosine(small.face.embedding.vector, large.face.embedding.vector) > 0.9


def _jpeg_bytes(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.mark.model
@pytest.mark.parametrize("recognizer", ["sface", "dlib", "fusion"])
def test_one_set_of_models_serves_many_threads_at_once(
    photos: dict[str, Path], models: DlibModels, recognizer: str
) -> None:
    """The service analyses photos on a thread pool with one set of models: dlib's models release the
    GIL and keep scratch state, so unserialised concurrent calls crashed the process (segfault)."""
    import threading

    settings = Settings(recognizer=recognizer)
    pipeline = FacePipeline(settings, models)
    images = [decode(photos[name], settings) for name in ("astronaut", "probe", "hopper")]
    expected = [len(pipeline.analyze(image)) for image in images]
    found: list[list[int]] = []

    def analyse() -> None:
        found.append([len(pipeline.analyze(image)) for image in images])

    threads = [threading.Thread(target=analyse) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert found == [expected] * 4


def test_deep_greyscale_photos_enroll_and_are_found(engine: Engine, deep_photos: dict[str, Path]) -> None:
    enrolled = engine.acting_as("enroller").enroll(
        deep_photos["png16.png"], subject="Eileen Collins", source="16-bit scan", basis="consent"
    )
    assert len(enrolled.images) == 1
    for probe in ("int32-full.tif", "float-0-1.tif"):
        result = engine.acting_as("operator").identify(deep_photos[probe], purpose="p", case="c")
        top = result.faces[0].candidates[0]
        assert (top.subject, top.clears_threshold) == ("Eileen Collins", True)


@pytest.mark.slow
def test_a_featureless_40_megapixel_png_is_answered_no_face(engine: Engine) -> None:
    # issue 17: 115 KB declaring 6300x6300 took 52 s and 2.3 GB; bench/bombs.py measures it now
    with pytest.raises(NoFaceError):
        engine.acting_as("operator").identify(zero_png(6300, 6300), purpose="p", case="c")
