"""Small images and broken files for the reader tests, written with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from fognet.data.image import save_image


def solid(value: int, h: int = 24, w: int = 32) -> np.ndarray:
    """An HxWx3 image of one grey level, so a frame can be told apart after JPEG."""
    return np.full((h, w, 3), value, np.uint8)


def truncated_jpeg(path: Path, value: int = 90) -> None:
    """A JPEG cut in half, as an interrupted download leaves it."""
    rng = np.random.default_rng(value)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def write_image(path: Path, value: int, h: int = 24, w: int = 32) -> Path:
    """A solid-grey image file at `path` (PNG or JPEG by suffix), its folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(path, solid(value, h, w), quality=95)
    return path


def grey(image: np.ndarray) -> float:
    """The mean level of a decoded image (JPEG moves a solid level by a unit or two)."""
    return float(np.asarray(image, float).mean())
