"""Decoding refuses broken or unsafe files with a named error, and orients photos by EXIF."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from facesearch.config import Settings
from facesearch.errors import (
    EmptyImageError,
    ImageFileNotFoundError,
    ImageTooLargeError,
    InputError,
    NotAnImageError,
    TruncatedImageError,
)
from facesearch.pipeline.decode import decode

from helpers import zero_png

EXPECTED = {
    "not-an-image": NotAnImageError,
    "truncated-image": TruncatedImageError,
    "empty-file": EmptyImageError,
    "image-too-large": ImageTooLargeError,
}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_malformed_file_is_refused_with_named_error(bad_files: dict[str, Path], code: str) -> None:
    with pytest.raises(EXPECTED[code]) as caught:
        decode(bad_files[code], Settings())
    assert caught.value.code == code
    assert str(bad_files[code]) in caught.value.message


def test_bytes_input_gets_same_checks(bad_files: dict[str, Path]) -> None:
    with pytest.raises(TruncatedImageError):
        decode(bad_files["truncated-image"].read_bytes(), Settings())


def test_pixel_limit_is_configurable(photos: dict[str, Path]) -> None:
    image = decode(photos["astronaut"], Settings())
    assert (image.width, image.height) == (512, 512)
    with pytest.raises(ImageTooLargeError, match="512x512"):
        decode(photos["astronaut"], Settings(max_image_pixels=512 * 511))


def test_byte_limit_refuses_before_reading(photos: dict[str, Path]) -> None:
    size = photos["astronaut"].stat().st_size
    with pytest.raises(ImageTooLargeError, match=f"{size} bytes"):
        decode(photos["astronaut"], Settings(max_image_bytes=size - 1))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageFileNotFoundError):
        decode(tmp_path / "nowhere.jpg", Settings())
    with pytest.raises(InputError, match="not a regular file"):
        decode(tmp_path, Settings())


def test_exif_orientation_is_applied() -> None:
    # A 40x20 image, red on its left half, saved with orientation 6 ("rotate 90 clockwise to view").
    image = Image.new("RGB", (40, 20), "blue")
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode(buffer.getvalue(), Settings())
    assert (decoded.width, decoded.height) == (20, 40)
    top_pixel = decoded.pixels[2, 10]
    assert top_pixel[0] > 200 and top_pixel[2] < 60  # the red half is now on top


def test_grey_and_alpha_images_become_rgb() -> None:
    for mode in ("L", "RGBA", "P"):
        buffer = io.BytesIO()
        Image.new(mode, (8, 6)).save(buffer, format="PNG")
        decoded = decode(buffer.getvalue(), Settings())
        assert decoded.pixels.shape == (6, 8, 3)


MALFORMED = (
    "jpeg-head.jpg",
    "webp-half.webp",
    "jp2-box-too-long.jp2",
    "bmp-header-type.bmp",
    "bmp-pixel-depth.bmp",
    "ico-half.ico",
)


@pytest.mark.parametrize("name", MALFORMED)
def test_files_pillow_fails_on_are_bad_input_naming_the_problem(
    malformed_files: dict[str, tuple[Path, str]], name: str
) -> None:
    path, code = malformed_files[name]
    with pytest.raises(InputError) as caught:
        decode(path, Settings())
    assert caught.value.code == code
    assert caught.value.message.startswith(f"{path}: image data is ")
    assert "(" in caught.value.message  # Pillow's own reason is quoted: what is wrong with the file


@pytest.mark.parametrize("name", ["png16.png", "tiff16.tif", "int32-16bit.tif", "int32-full.tif", "float-0-1.tif"])
def test_greyscale_deeper_than_8_bits_is_scaled_not_clipped(deep_photos: dict[str, Path], name: str) -> None:
    grey = np.asarray(Image.fromarray(skimage.data.astronaut()).convert("L"), dtype=np.int16)
    decoded = decode(deep_photos[name], Settings())
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape == (512, 512, 3)
    assert np.abs(decoded.pixels[..., 0].astype(np.int16) - grey).max() <= 1  # the photo's own tones


# --- work bombs under the pixel limit (issue 17, item 8): answered, at the scale detection needs ---


def test_a_large_featureless_png_is_decoded_reduced_to_decode_max_side() -> None:
    image = decode(zero_png(6300, 6300), Settings())  # 6300x6300 black in ~120 KB: once 2.3 GB, 52 s
    assert (image.width, image.height, image.format) == (6300, 6300, "PNG")
    assert image.pixels.shape == (2048, 2048, 3) and image.scale == 2048 / 6300


def test_a_large_jpeg_is_decoded_at_reduced_scale_to_decode_max_side() -> None:
    buffer = io.BytesIO()
    Image.new("L", (6000, 6600)).save(buffer, format="JPEG", quality=10)
    image = decode(buffer.getvalue(), Settings())
    assert (image.width, image.height) == (6000, 6600)
    assert image.pixels.shape == (2048, 1862, 3) and image.scale == 2048 / 6600


def test_a_reduced_tiff_keeps_its_orientation() -> None:
    image = Image.new("RGB", (3000, 1000), "blue")
    image.paste((255, 0, 0), (0, 0, 1000, 1000))
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # a TIFF's own tag, which a resampled copy no longer carries
    image.save(buffer, format="TIFF", exif=exif)
    decoded = decode(buffer.getvalue(), Settings(decode_max_side=600))
    assert (decoded.width, decoded.height) == (1000, 3000) and decoded.pixels.shape == (600, 200, 3)
    assert decoded.pixels[10, 100, 0] > 200 and decoded.pixels[10, 100, 2] < 60  # red is on top


def test_a_progressive_jpeg_of_thousands_of_scans_is_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="JPEG", progressive=True)
    data = buffer.getvalue()
    first_scan = data.index(b"\xff\xda")
    header, scans = data[:first_scan], data[first_scan:-2]
    bomb = header + scans * 20 + b"\xff\xd9"  # each scan a pass over the whole image
    with pytest.raises(NotAnImageError, match="more than 100 scans"):
        decode(bomb, Settings())
    assert decode(data, Settings()).pixels.shape == (16, 16, 3)  # an ordinary progressive JPEG


def test_a_file_whose_decoder_would_take_too_much_memory_is_refused_before_decoding() -> None:
    photo = Image.fromarray(skimage.data.astronaut())  # 512x512
    budget = Settings(max_decode_bytes=3_000_000)
    for fmt, refused in (("PNG", False), ("WEBP", True)):  # 8 and 18 bytes a pixel: 2.1 and 4.7 MB
        buffer = io.BytesIO()
        photo.save(buffer, format=fmt)
        if refused:
            with pytest.raises(ImageTooLargeError, match="max_decode_bytes"):
                decode(buffer.getvalue(), budget)
        else:
            assert decode(buffer.getvalue(), budget).pixels.shape == (512, 512, 3)
