"""What a frame source yields, and how a frame becomes a model input.

Every source (the generated driving stream, an image folder, later BDD100K or KITTI
readers) yields `Frame`s: an HxWx3 uint8 RGB image plus what we know about it. Models
want something else (NCHW or NHWC float, a fixed size, normalised); `to_model_input`
is the one place that converts, so a requester and a test prepare frames the same way.
Resizing is bilinear in pure numpy (half-pixel centres, as OpenCV and onnxruntime's
Resize do) to avoid an image-library dependency.

API
    Frame(index, image, steering, timestamp)      frozen; steering in radians or None
    FrameSource                                   protocol: iterable of Frame, .fps, len() if known
    FrameError (fognet.errors)                    a frame source cannot be read
    to_model_input(image, shape=(1, 3, 224, 224), dtype="float32", normalize="imagenet")
    resize_bilinear(image, height, width) -> float32 HxWxC
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from fognet.errors import ModelError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
NORMALIZATIONS = ("imagenet", "unit")


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera frame.

    `image` is HxWx3 uint8 RGB. `steering` is the steering-wheel angle in radians
    (positive = right, as in the Udacity data), or None when the source has no label.
    `timestamp` is seconds in stream time (index / fps for generated and folder streams).
    """

    index: int
    image: np.ndarray
    steering: float | None
    timestamp: float

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields frames at a nominal rate; sources of known size have len()."""

    fps: float

    def __iter__(self) -> Iterator[Frame]: ...


def _axis_weights(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (lo, hi) and weight of hi for one axis, half-pixel centres."""
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an HxWxC image to height x width, as float32.

    Separable: rows first, then columns, each a gather of two neighbours and a blend.
    Like OpenCV's INTER_LINEAR it does not low-pass before shrinking.
    """
    src = np.asarray(image)
    if src.shape[0] == height and src.shape[1] == width:
        return src.astype(np.float32, copy=False)
    y0, y1, wy = _axis_weights(height, src.shape[0])
    x0, x1, wx = _axis_weights(width, src.shape[1])
    top = src[y0].astype(np.float32)
    bottom = src[y1].astype(np.float32)
    rows = top + (bottom - top) * wy[:, None, None]
    left = rows[:, x0]
    right = rows[:, x1]
    return left + (right - left) * wx[None, :, None]


def _layout(shape: Sequence[object]) -> tuple[str, int, int]:
    """('nchw' | 'nhwc', H, W) for a 4-d model input shape that can take one RGB image."""
    dims = tuple(shape)
    if len(dims) != 4 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in dims):
        raise ModelError(
            f"model input shape {dims} cannot take an image: expected 4 positive integers "
            "(1,3,H,W) or (1,H,W,3); give a concrete --input-shape for symbolic dimensions"
        )
    n, a, b, c = (int(d) for d in dims)
    if n != 1:
        raise ModelError(f"model input shape {dims} has batch {n}; one frame fills batch 1 only")
    if a == 3:
        return "nchw", b, c
    if c == 3:
        return "nhwc", a, b
    raise ModelError(
        f"model input shape {dims} has no 3-channel axis at position 1 (NCHW) or 3 (NHWC)"
    )


def to_model_input(
    image: np.ndarray,
    shape: Sequence[int] = (1, 3, 224, 224),
    dtype: str | np.dtype = "float32",
    normalize: str = "imagenet",
) -> np.ndarray:
    """Turn an HxWx3 uint8 RGB image into a model input of `shape` and `dtype`.

    The layout is read from `shape`: a 3 at position 1 means NCHW (checked first, as
    most ONNX vision models use it), a 3 at position 3 means NHWC. `normalize` is
    "imagenet" (scale to [0,1], subtract the ImageNet mean, divide by its std) or
    "unit" (scale to [0,1] only).
    """
    layout, height, width = _layout(shape)
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ModelError(f"expected an HxWx3 RGB image, got an array of shape {img.shape}")
    if normalize not in NORMALIZATIONS:
        raise ModelError(f"unknown normalization {normalize!r}; use one of {NORMALIZATIONS}")
    scale = 1.0 / 255.0 if img.dtype == np.uint8 else 1.0
    x = resize_bilinear(img, height, width) * np.float32(scale)
    if normalize == "imagenet":
        x = (x - IMAGENET_MEAN) / IMAGENET_STD
    if layout == "nchw":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.dtype(dtype))
