"""Shared fixtures: real photos that installed packages ship, and malformed files the tests make.

- astronaut: scikit-image's photo of astronaut Eileen Collins (one face, plus a patch on her suit
  that dlib's HOG detector scores weakly as a face).
- hopper: matplotlib's photo of Grace Hopper (one face).
- probe: the astronaut photo mirrored and re-scaled, so its pixels differ from the enrolled ones.
- hopper_tilted: Grace Hopper's photo turned 45 degrees (the HOG detector misses the face).
- cat: scikit-image's "chelsea" (no human face).
- small_face: the astronaut photo shrunk until her face is about 30 px across.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageEnhance

from facesearch.engine import Engine
from facesearch.pipeline.models import DlibModels
from facesearch.storage.keys import MASTER_KEY_ENV, MASTER_KEY_FILE_ENV
from milvus_fixtures import milvus_collection, milvus_server, milvus_url  # noqa: F401
from postgres_fixtures import gallery_database, postgres_server, postgres_url  # noqa: F401  (fixtures for every test)
from ray_fixtures import ray_cluster  # noqa: F401  (a fixture for every test)

from helpers import init_staffed


def _jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="session", autouse=True)
def master_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every gallery the tests make is sealed under a master key in a temporary file (created by the
    first init), never under the user's own key in their config folder."""
    path = tmp_path_factory.mktemp("keys") / "master.key"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(MASTER_KEY_ENV, raising=False)
        patch.setenv(MASTER_KEY_FILE_ENV, str(path))
        assert os.environ[MASTER_KEY_FILE_ENV] == str(path)
        yield path


@pytest.fixture(autouse=True)
def credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's CLI runs keep their tokens in a credentials file of the test's own, never in the
    user's config folder; no token comes from the environment unless a test puts it there."""
    path = tmp_path / "credentials" / "credentials.toml"
    monkeypatch.setenv("FACESEARCH_CREDENTIALS", str(path))  # facesearch.cli.credentials.CREDENTIALS_ENV
    monkeypatch.delenv("FACESEARCH_TOKEN", raising=False)  # ... .TOKEN_ENV
    return path


@pytest.fixture(scope="session")
def models() -> DlibModels:
    """One set of loaded models shared by every engine in the test run."""
    return DlibModels()


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    astronaut = Image.fromarray(skimage.data.astronaut())
    hopper = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    probe = astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((400, 400))
    two = Image.new("RGB", (1024, 600), "white")
    two.paste(astronaut, (0, 44))
    two.paste(hopper, (512, 0))
    files = {
        "astronaut": _jpeg(astronaut),
        "hopper": _jpeg(hopper),
        "probe": _jpeg(probe),
        "two_faces": _jpeg(two),
        "hopper_tilted": _jpeg(hopper.rotate(45, expand=True, fillcolor=(128, 128, 128))),
        "cat": _jpeg(Image.fromarray(skimage.data.chelsea())),
        "small_face": _jpeg(astronaut.resize((176, 176))),  # a face about 30 px across
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(data)
    return paths


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims WIDTHxHEIGHT pixels (a decompression bomb's calling card)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> dict[str, Path]:
    """Real malformed files, named by the error code they must produce."""
    folder = tmp_path_factory.mktemp("bad")
    good = photos["astronaut"].read_bytes()
    files = {
        "not-an-image": b"name,source\nAda,badge photos\n",
        "truncated-image": good[: len(good) // 2],
        "empty-file": b"",
        "image-too-large": _png_declaring(20_000, 20_000),
    }
    paths = {}
    for code, data in files.items():
        paths[code] = folder / f"{code}.jpg"
        paths[code].write_bytes(data)
    return paths


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def malformed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Real files that Pillow recognises and then fails on with errors of its own (issue 17: they
    escaped as tracebacks), named by what is wrong, with the error code each must produce."""
    folder = tmp_path_factory.mktemp("malformed")
    photo = Image.fromarray(skimage.data.astronaut()).resize((128, 128))
    jpeg, webp, jp2, bmp, ico = (_encoded(photo, f) for f in ("JPEG", "WEBP", "JPEG2000", "BMP", "ICO"))
    third_box = 32  # the JP2 signature box (12 bytes) and the ftyp box (20) come first
    assert jp2[third_box + 4 : third_box + 8] == b"jp2h"
    files = {
        "jpeg-head.jpg": (jpeg[:200], "truncated-image"),  # Pillow: "Truncated File Read"
        "webp-half.webp": (webp[: len(webp) // 2], "not-an-image"),  # "could not create decoder object"
        # a box declaring 1 MiB: "Expected to read 1048568 bytes but only got ..."
        "jp2-box-too-long.jp2": (jp2[:third_box] + struct.pack(">I", 1 << 20) + jp2[third_box + 4 :], "not-an-image"),
        # "Unsupported BMP header type (10)", "Unsupported BMP pixel depth (227)"
        "bmp-header-type.bmp": (bmp[:14] + struct.pack("<I", 10) + bmp[18:], "not-an-image"),
        "bmp-pixel-depth.bmp": (bmp[:28] + struct.pack("<H", 227) + bmp[30:], "not-an-image"),
        "ico-half.ico": (ico[: len(ico) // 2], "truncated-image"),  # "image file is truncated", raised by open
    }
    paths = {}
    for name, (data, code) in files.items():
        paths[name] = (folder / name, code)
        paths[name][0].write_bytes(data)
    return paths


@pytest.fixture
def engine(tmp_path: Path, models: DlibModels) -> Iterator[Engine]:
    with init_staffed(tmp_path / "home", actor="tester", models=models) as eng:
        yield eng


@pytest.fixture
def enrolled(engine: Engine, photos: dict[str, Path]) -> Engine:
    """A gallery holding Eileen Collins (astronaut) and Grace Hopper."""
    engine.acting_as("enroller").enroll(
        photos["astronaut"], subject="Eileen Collins", source="scikit-image sample", basis="consent"
    )
    engine.acting_as("enroller").enroll(
        photos["hopper"], subject="Grace Hopper", source="matplotlib sample", basis="public-task"
    )
    return engine


@pytest.fixture(scope="session")
def labelled_dataset(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """Four photos each of two people (variants of real photos) and a folder whose photo has no face."""
    root = tmp_path_factory.mktemp("dataset")
    for person, source in (("Eileen Collins", "astronaut"), ("Grace Hopper", "hopper")):
        folder = root / person
        folder.mkdir()
        original = Image.open(photos[source]).convert("RGB")
        variants = [
            original,
            original.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            original.resize((original.width * 4 // 5, original.height * 4 // 5)),
            ImageEnhance.Brightness(original).enhance(1.25),
        ]
        for n, image in enumerate(variants, start=1):
            image.save(folder / f"{person.replace(' ', '_')}_{n:04d}.jpg", quality=90)
    (root / "Chelsea").mkdir()
    (root / "Chelsea" / "Chelsea_0001.jpg").write_bytes(photos["cat"].read_bytes())
    return root


@pytest.fixture(scope="session")
def deep_photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The astronaut photo in greyscale deeper than 8 bits, as scientific and medical tools write
    it: Pillow's conversion to RGB clips these to white (or black), so they once read as no-face."""
    folder = tmp_path_factory.mktemp("deep")
    grey = np.asarray(Image.fromarray(skimage.data.astronaut()).convert("L"), dtype=np.int64)
    arrays = {
        "png16.png": (grey * 257).astype(np.uint16),
        "tiff16.tif": (grey * 257).astype(np.uint16),
        "int32-16bit.tif": (grey * 257).astype(np.int32),
        "int32-full.tif": (grey * 2**23).astype(np.int32),
        "float-0-1.tif": (grey / 255).astype(np.float32),
    }
    paths = {}
    for name, array in arrays.items():
        paths[name] = folder / name
        Image.fromarray(array).save(paths[name])
    return paths
