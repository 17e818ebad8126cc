"""A seeded, bounded fuzz of the decoder: byte-mutated files of ten formats, made here from a real
photo, each either decodes or is refused with an InputError. Nothing else may escape (issue 17
found 190 of 1,500 such files crashing the API and the CLI). About a second; no models."""

from __future__ import annotations

import io
import random

import pytest
import skimage.data
from PIL import Image, features

from facesearch.config import Settings
from facesearch.errors import InputError
from facesearch.pipeline.decode import decode_bytes

SEED = 17
FILES_PER_FORMAT = 60
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "JPEG2000", "ICO", "TGA", "AVIF")


def _samples(photo: Image.Image) -> dict[str, bytes]:
    samples = {}
    for fmt in FORMATS:
        if fmt == "AVIF" and not features.check("avif"):
            continue
        buffer = io.BytesIO()
        photo.save(buffer, format=fmt, **({"progressive": True} if fmt == "JPEG" else {}))
        samples[fmt] = buffer.getvalue()
    return samples


def _mutated(data: bytes, rng: random.Random) -> bytes:
    """Random bytes changed (anywhere, or in the header), a random cut, or a random splice."""
    buf = bytearray(data)
    kind = rng.choice(("flip", "header", "cut", "splice"))
    if kind in ("flip", "header"):
        span = len(buf) if kind == "flip" else min(len(buf), 300)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(span)] = rng.randrange(256)
    elif kind == "cut":
        del buf[rng.randrange(1, len(buf)) :]
    else:
        at = rng.randrange(len(buf))
        buf[at : at + rng.randint(1, 16)] = rng.randbytes(rng.randint(0, 16))
    return bytes(buf)


def test_mutated_files_decode_or_are_refused_as_bad_input() -> None:
    photo = Image.fromarray(skimage.data.astronaut()).resize((96, 96))
    rng = random.Random(SEED)
    settings = Settings()
    escaped: list[str] = []
    outcomes = {"decoded": 0, "refused": 0}
    for fmt, data in _samples(photo).items():
        for i in range(FILES_PER_FORMAT):
            name = f"{fmt.lower()}-{i}"
            try:
                image = decode_bytes(_mutated(data, rng), name, settings)
            except InputError as exc:
                assert exc.message.startswith(f"{name}: "), exc.message
                outcomes["refused"] += 1
            except Exception as exc:  # noqa: BLE001  (the point: nothing else may escape)
                escaped.append(f"{name}: {type(exc).__name__}: {exc}")
            else:
                assert image.pixels.ndim == 3 and image.pixels.shape[2] == 3
                outcomes["decoded"] += 1
    assert not escaped, f"{len(escaped)} files escaped the decoder:\n" + "\n".join(escaped[:20])
    assert outcomes["decoded"] > 0 and outcomes["refused"] > 0  # the mutations hit both ways


@pytest.mark.parametrize("cut", [1, 2, 16, 200, 1000])
def test_heads_of_a_jpeg_are_bad_input(cut: int) -> None:
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buffer, format="JPEG")
    with pytest.raises(InputError):
        decode_bytes(buffer.getvalue()[:cut], "head.jpg", Settings())
