"""Image files through Pillow: the one place data/ reads or writes an image file.

Every reader decodes through `load_image`, so a missing, truncated or foreign file fails
the same way everywhere: one FrameError naming the file and saying what is wrong.
`image_size` reads only the header (cheap, for `fognet data inspect` without decoding).

API
    IMAGE_SUFFIXES                          the suffixes readers list as images
    load_image(path) -> np.ndarray          HxWx3 uint8 RGB
    image_size(path) -> (width, height)     from the header only
    save_image(path, image, quality=90)     PNG or JPEG by suffix
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fognet.errors import FrameError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _why(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read"
    text = str(exc)
    if "truncated" in text:
        return f"truncated image ({text})"
    return f"corrupt image ({getattr(exc, 'strerror', None) or text})"


def load_image(path: str | Path) -> np.ndarray:
    """Decode one image file to HxWx3 uint8 RGB; FrameError names the file if it cannot."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise FrameError(f"{path}: {_why(exc)}") from exc


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header; FrameError if it has none."""
    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise FrameError(f"{path}: {_why(exc)}") from exc


def save_image(path: str | Path, image: np.ndarray, quality: int = 90) -> None:
    """Write an HxWx3 uint8 RGB image; the format follows the suffix (.png, .jpg, ...)."""
    path = Path(path)
    try:
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(path, quality=quality)
    except (OSError, ValueError, KeyError) as exc:
        raise FrameError(f"cannot write image {path}: {getattr(exc, 'strerror', None) or exc}") from exc
