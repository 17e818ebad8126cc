"""Stage 1: read a photo into RGB pixels, refusing anything unsafe or broken with a named error."""

from __future__ import annotations

import hashlib
import io
import math
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from facesearch.config import Settings
from facesearch.errors import (
    EmptyImageError,
    ImageFileNotFoundError,
    ImageTooLargeError,
    InputError,
    NotAnImageError,
    TruncatedImageError,
)
from facesearch.types import DecodedImage, RGBArray


class NamedPhoto(bytes):
    """A photo's bytes with the name it came under (an upload's file name), which enrollment
    records as the image's filename and errors cite, as they do a path's. ``complete`` is False
    for an upload whose reading stopped past ``max_image_bytes``: the core refuses it as too large
    (and audits the refusal), as it does a file."""

    name: str
    complete: bool

    def __new__(cls, data: bytes, name: str = "", *, complete: bool = True) -> NamedPhoto:
        photo = super().__new__(cls, data)
        photo.name = name
        photo.complete = complete
        return photo


PhotoInput = str | Path | bytes  # bytes may be a NamedPhoto


def photo_name(photo: PhotoInput) -> str:
    """What errors and rejections call a photo: its path, an upload's file name, else its size."""
    if isinstance(photo, NamedPhoto):
        return photo.name
    return f"<{len(photo)} bytes>" if isinstance(photo, bytes) else str(photo)


def shipped(photo: PhotoInput, settings: Settings) -> PhotoInput:
    """The photo as a worker on another machine can read it: a file's bytes, named by its path. A file
    over ``max_image_bytes`` travels unread (an incomplete NamedPhoto, refused there as too large); one that
    is missing or not a regular file travels as its path, refused there as here."""
    if isinstance(photo, bytes):
        return photo
    path = Path(photo)
    try:
        size = path.stat().st_size if path.is_file() else None
        if size is None:
            return photo
        if size > settings.max_image_bytes:
            return NamedPhoto(b"", str(path), complete=False)
        return NamedPhoto(path.read_bytes(), str(path))
    except OSError:
        return photo


def read_photo(photo: PhotoInput, settings: Settings) -> tuple[bytes, str]:
    """Return the photo's bytes and a display name, enforcing the byte-size limit."""
    name = photo_name(photo)
    if isinstance(photo, bytes):
        data = photo
    else:
        path = Path(photo)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ImageFileNotFoundError(f"{name}: no such file") from None
        if not path.is_file():
            raise ImageFileNotFoundError(f"{name}: not a regular file")
        if size > settings.max_image_bytes:
            raise ImageTooLargeError(
                f"{name}: file is {size} bytes, over the limit of {settings.max_image_bytes} bytes"
            )
        data = path.read_bytes()
    if isinstance(photo, NamedPhoto) and not photo.complete:
        raise ImageTooLargeError(f"{name}: larger than the {settings.max_image_bytes} bytes allowed (max_image_bytes)")
    if len(data) > settings.max_image_bytes:
        raise ImageTooLargeError(f"{name}: {len(data)} bytes, over the limit of {settings.max_image_bytes} bytes")
    return data, name


def photo_facts(photo: PhotoInput, settings: Settings) -> dict[str, int | str | None]:
    """What an audit event may say of a refused photo, never its content: its size in ``bytes``
    (None if there is no such file, or an upload cut off past the limit) and, when it is within
    ``max_image_bytes``, its ``sha256``."""
    if isinstance(photo, NamedPhoto) and not photo.complete:
        return {"bytes": None}  # only its first bytes were read
    if isinstance(photo, bytes):
        data = bytes(photo)
    else:
        path = Path(photo)
        try:
            size = path.stat().st_size if path.is_file() else None
            if size is None or size > settings.max_image_bytes:
                return {"bytes": size}
            data = path.read_bytes()
        except OSError:
            return {"bytes": None}
    facts: dict[str, int | str | None] = {"bytes": len(data)}
    if len(data) <= settings.max_image_bytes:
        facts["sha256"] = hashlib.sha256(data).hexdigest()
    return facts


def decode(photo: PhotoInput, settings: Settings) -> DecodedImage:
    """Decode a photo (a path or its bytes) to 8-bit RGB pixels with EXIF orientation applied,
    reduced to at most ``settings.decode_max_side`` on the longer side.

    Raises EmptyImageError, NotAnImageError (also for a JPEG of more than MAX_JPEG_SCANS scans),
    TruncatedImageError or ImageTooLargeError (the header declares more than
    ``settings.max_image_pixels``, or decoding would take more than ``settings.max_decode_bytes``:
    both checked before any pixel is decoded). No other error escapes, whatever the bytes.
    """
    data, name = read_photo(photo, settings)
    return decode_bytes(data, name, settings)


# Peak memory of decoding, in bytes per pixel the header declares, rounded up from what
# `bench/bombs.py --decode-only` measured (PNG 5.7 black and 7.6 for a photo, GIF 6.7, TIFF 5.7,
# WebP 16.0, JPEG 2000 19.3, AVIF 9.2). Most decoders hold the image and a resampled copy (a
# progressive JPEG keeps every DCT coefficient, 2 bytes each); libwebp holds its canvas, the frame
# it hands over and Pillow's copy; OpenJPEG an int32 per component.
DECODE_BYTES_PER_PIXEL = {"WEBP": 18, "JPEG2000": 21, "AVIF": 10}
DEFAULT_DECODE_BYTES_PER_PIXEL = 8
# A progressive JPEG decodes each scan over the whole image: thousands of empty scans in a few KB
# make a CPU bomb. libjpeg writes 10 scans, the most elaborate encoders a few dozen.
MAX_JPEG_SCANS = 100

# What Pillow raises, besides UnidentifiedImageError, on bytes it cannot parse: its plugins raise
# OSError ("Truncated File Read", webp's "could not create decoder object", jp2's "Expected to read
# N bytes", "Unsupported BMP header type"), ValueError, SyntaxError, EOFError, struct.error, and the
# AVIF codec RuntimeError, some while the file is opened, some while it is loaded. Every one means
# the file cannot be used: bad input, never a crash. (MemoryError is not among them.)
PILLOW_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    RuntimeError,
    struct.error,
    IndexError,
    TypeError,
    KeyError,
)


def decode_bytes(data: bytes, name: str, settings: Settings) -> DecodedImage:
    if not data:
        raise EmptyImageError(f"{name}: file is empty (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        # Pillow's own bomb check warns first (ours below is the one that decides), and its plugins
        # warn about odd files ("Image was not the expected size"): none of it is for the user.
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise NotAnImageError(f"{name}: not an image in a format Pillow can read") from None
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(f"{name}: {exc}") from None
        except PILLOW_ERRORS as exc:
            raise _unreadable(name, exc) from None
        with image:
            width, height = image.size
            if width * height > settings.max_image_pixels:
                raise ImageTooLargeError(
                    f"{name}: header declares {width}x{height} = {width * height} pixels, over the "
                    f"limit of {settings.max_image_pixels}"
                )
            fmt = image.format or "unknown"
            _refuse_work_bombs(image, data, name, settings)
            try:
                loaded = _loaded(image, settings.decode_max_side)
                if _turned(loaded.size, width, height):  # Pillow turns a TIFF by its orientation as it loads
                    width, height = height, width
                turn = _orientation(loaded)
                oriented = _resampled(loaded, settings.decode_max_side)
                if turn is not None:
                    oriented = oriented.transpose(turn)
                    if turn in _QUARTER_TURNS:  # the photo's own size turns too
                        width, height = height, width
                scale = max(oriented.size) / max(width, height)  # the longer side: the least rounded
                pixels = rgb_pixels(oriented)
            except Image.DecompressionBombError as exc:
                raise NotAnImageError(f"{name}: image data is corrupt ({exc})") from None
            except PILLOW_ERRORS as exc:
                raise _unreadable(name, exc) from None
    return DecodedImage(
        pixels=pixels,
        sha256=digest,
        width=width,
        height=height,
        format=fmt,
        name=name,
        scale=scale,
    )


def _refuse_work_bombs(image: Image.Image, data: bytes, name: str, settings: Settings) -> None:
    """Refuse, before any pixel is decoded, a file whose decoding would take more memory than
    ``settings.max_decode_bytes`` or a progressive JPEG with more scans than any encoder writes."""
    width, height = image.size
    per_pixel = DECODE_BYTES_PER_PIXEL.get(image.format or "", DEFAULT_DECODE_BYTES_PER_PIXEL)
    needed = width * height * per_pixel
    if needed > settings.max_decode_bytes:
        raise ImageTooLargeError(
            f"{name}: decoding this {image.format} of {width}x{height} pixels would take about "
            f"{needed // 2**20} MiB, over the limit of {settings.max_decode_bytes // 2**20} MiB (max_decode_bytes)"
        )
    if image.format == "JPEG" and data.count(b"\xff\xda") > MAX_JPEG_SCANS:
        raise NotAnImageError(
            f"{name}: a JPEG of more than {MAX_JPEG_SCANS} scans (each is a pass over the whole image): "
            "no encoder writes that many, a decompression bomb does"
        )


_TRANSPOSITIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS = {
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
}


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The turn or flip the photo's EXIF orientation asks for, if Pillow has not applied it (a
    malformed value asks for none)."""
    value = image.getexif().get(ExifTags.Base.Orientation)
    return _TRANSPOSITIONS.get(value) if isinstance(value, int) else None


def _turned(size: tuple[int, int], width: int, height: int) -> bool:
    """Whether pixels of ``size`` (perhaps decoded at reduced scale) are the photo declared as
    ``width`` x ``height`` turned a quarter."""
    return width != height and abs(size[0] * width - size[1] * height) < abs(size[0] * height - size[1] * width)


def _loaded(image: Image.Image, max_side: int) -> Image.Image:
    """The image loaded; a JPEG over ``max_side`` on its longer side decoded at 1/2, 1/4 or 1/8
    scale by its DCT (a fraction of the work), the smallest that keeps ``max_side``."""
    width, height = image.size
    factor = max_side / max(width, height)
    if image.format == "JPEG" and factor < 1.0:
        image.draft(None, (max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))))
    image.load()
    return image


def _resampled(image: Image.Image, max_side: int) -> Image.Image:
    """The loaded image with at most ``max_side`` pixels on its longer side: detection looks no
    closer, and its time and memory grow with the pixels it scans."""
    width, height = image.size
    factor = max_side / max(width, height)
    if factor >= 1.0:
        return image
    if image.mode in ("1", "P", "PA"):  # Pillow resamples these nearest-neighbour: take them to colour first
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    target = (max(1, round(width * factor)), max(1, round(height * factor)))
    return image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _unreadable(name: str, exc: Exception) -> InputError:
    """The named error for a file Pillow recognised but could not read, with Pillow's reason."""
    if "truncated" in str(exc).lower():
        return TruncatedImageError(f"{name}: image data is truncated ({exc})")
    return NotAnImageError(f"{name}: image data is corrupt or unsupported ({exc})")


def rgb_pixels(image: Image.Image) -> RGBArray:
    """8-bit RGB pixels of an image of any mode. Pillow's own conversion clips deeper greyscale to
    8 bits, turning a 16-bit photo white and a 0-1 floating one black, so those are scaled here:
    16-bit greyscale is divided by 257 (65535 becomes 255); 32-bit integer and floating greyscale
    are read as the depth their values fit (0-1 for floats, 0-255, 0-65535), else stretched from
    their own lowest to their highest value."""
    if image.mode.startswith("I;16"):
        grey = (np.asarray(image).astype(np.uint32) + 128) // 257
    elif image.mode in ("I", "F"):
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 65535:
            values = (values - low) * (255.0 / max(high - low, 1e-12))
        elif high > 255:
            values = values / 257.0
        elif image.mode == "F" and high <= 1.0:
            values = values * 255.0
        grey = np.clip(np.rint(values), 0, 255)
    else:
        return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    return np.ascontiguousarray(np.repeat(grey.astype(np.uint8)[..., np.newaxis], 3, axis=2))
