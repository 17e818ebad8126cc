"""Stage 1: read a photo into RGB pixels, refusing anything unsafe or broken with a named error."""

from __future__ import annotations

import hashlib
import io
import math
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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
    records as the image's filename and errors cite, as they do a path's."""

    name: str

    def __new__(cls, data: bytes, name: str = "") -> NamedPhoto:
        photo = super().__new__(cls, data)
        photo.name = name
        return photo


PhotoInput = str | Path | bytes  # bytes may be a NamedPhoto


def read_photo(photo: PhotoInput, settings: Settings) -> tuple[bytes, str]:
    """Return the photo's bytes and a display name, enforcing the byte-size limit."""
    if isinstance(photo, bytes):
        data, name = photo, photo.name if isinstance(photo, NamedPhoto) else f"<{len(photo)} bytes>"
    else:
        path = Path(photo)
        name = str(path)
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
    if len(data) > settings.max_image_bytes:
        raise ImageTooLargeError(f"{name}: {len(data)} bytes, over the limit of {settings.max_image_bytes} bytes")
    return data, name


def decode(photo: PhotoInput, settings: Settings) -> DecodedImage:
    """Decode a photo (a path or its bytes) to RGB pixels with EXIF orientation applied.

    Raises EmptyImageError, NotAnImageError, TruncatedImageError or ImageTooLargeError (the
    header declares more than ``settings.max_image_pixels``, checked before any pixel is decoded).
    """
    data, name = read_photo(photo, settings)
    return decode_bytes(data, name, settings)


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
            try:
                scale = _decode_at_reduced_scale(image, settings.decode_max_side)
                image.load()
                oriented = ImageOps.exif_transpose(image)
                if oriented.size != image.size:  # turned a quarter: the photo's own size turns too
                    width, height = height, width
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


def _unreadable(name: str, exc: Exception) -> InputError:
    """The named error for a file Pillow recognised but could not read, with Pillow's reason."""
    if "truncated" in str(exc).lower():
        return TruncatedImageError(f"{name}: image data is truncated ({exc})")
    return NotAnImageError(f"{name}: image data is corrupt or unsupported ({exc})")


def _decode_at_reduced_scale(image: Image.Image, max_side: int) -> float:
    """Ask a JPEG larger than ``max_side`` on its longer side to decode at 1/2, 1/4 or 1/8 scale
    (its DCT does this for a fraction of the work), keeping at least ``max_side``; the scale used."""
    width, height = image.size
    if image.format != "JPEG" or max(width, height) <= 2 * max_side:
        return 1.0
    factor = max_side / max(width, height)
    image.draft("RGB", (math.ceil(width * factor), math.ceil(height * factor)))
    return image.size[0] / width


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
