"""Frames from a folder of images, in name order, so recorded drives can be replayed.

Names sort naturally (`frame2.png` before `frame10.png`). PNG is decoded by our own
zlib decoder (`fognet.data.png`); JPEG needs Pillow, which fognet does not depend on:
without it a JPEG frame raises one FrameError saying to `pip install pillow`.
The folder is listed when opened (missing or empty folder fails then); each image is
decoded when its frame is reached, and a file that cannot be decoded fails naming it.
Folder frames have no steering label; timestamps are index / fps.

API
    ImageFolder(path, fps=30.0)    iter / len / [i] -> Frame;  .paths: list[Path]
    load_image(path) -> np.ndarray HxWx3 uint8
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fognet.data.png import read_png
from fognet.data.source import Frame
from fognet.errors import FrameError

PNG_SUFFIXES = (".png",)
JPEG_SUFFIXES = (".jpg", ".jpeg")


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def load_image(path: str | Path) -> np.ndarray:
    """Decode one PNG or JPEG file to HxWx3 uint8 RGB."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PNG_SUFFIXES:
        return read_png(path)
    if suffix in JPEG_SUFFIXES:
        return _read_jpeg(path)
    raise FrameError(f"{path}: unsupported image type {suffix!r}; use .png, .jpg or .jpeg")


def _read_jpeg(path: Path) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ModuleNotFoundError:
        raise FrameError(
            f"{path}: reading JPEG needs Pillow; `pip install pillow` or convert the frames to PNG"
        ) from None
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise FrameError(f"{path}: cannot decode JPEG ({exc})") from exc


class ImageFolder:
    """The PNG/JPEG images of one folder as a frame source, in natural name order."""

    def __init__(self, path: str | Path, fps: float = 30.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        if not self.path.exists():
            raise FrameError(f"{self.path}: no such folder")
        if not self.path.is_dir():
            raise FrameError(f"{self.path}: not a folder")
        suffixes = PNG_SUFFIXES + JPEG_SUFFIXES
        self.paths = sorted(
            (p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in suffixes),
            key=_natural_key,
        )
        if not self.paths:
            raise FrameError(f"{self.path}: folder has no .png, .jpg or .jpeg images")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Frame:
        if not 0 <= index < len(self.paths):
            raise IndexError(f"frame {index} out of range 0..{len(self.paths) - 1}")
        return Frame(index, load_image(self.paths[index]), None, index / self.fps)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self.paths)):
            yield self[i]
