"""Stage 1: read a photo into RGB pixels, refusing anything unsafe or broken with a named error."""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facesearch.config import Settings
from facesearch.errors import (
    EmptyImageError,
    ImageFileNotFoundError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
)
from facesearch.types import DecodedImage

PhotoInput = str | Path | bytes


def read_photo(photo: PhotoInput, settings: Settings) -> tuple[bytes, str]:
    """Return the photo's bytes and a display name, enforcing the byte-size limit."""
    if isinstance(photo, bytes):
        data, name = photo, f"<{len(photo)} bytes>"
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


def decode_bytes(data: bytes, name: str, settings: Settings) -> DecodedImage:
    if not data:
        raise EmptyImageError(f"{name}: file is empty (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        # Pillow's own bomb check warns first; ours below is the one that decides.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise NotAnImageError(f"{name}: not an image in a format Pillow can read") from None
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(f"{name}: {exc}") from None
        with image:
            width, height = image.size
            if width * height > settings.max_image_pixels:
                raise ImageTooLargeError(
                    f"{name}: header declares {width}x{height} = {width * height} pixels, over the "
                    f"limit of {settings.max_image_pixels}"
                )
            fmt = image.format or "unknown"
            try:
                image.load()
                oriented = ImageOps.exif_transpose(image)
                rgb = oriented.convert("RGB")
            except OSError as exc:
                if "truncated" in str(exc).lower():
                    raise TruncatedImageError(f"{name}: image data is truncated ({exc})") from None
                raise NotAnImageError(f"{name}: image data is corrupt ({exc})") from None
            except (ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                raise NotAnImageError(f"{name}: image data is corrupt ({exc})") from None
    pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    return DecodedImage(
        pixels=pixels,
        sha256=digest,
        width=pixels.shape[1],
        height=pixels.shape[0],
        format=fmt,
        name=name,
    )
