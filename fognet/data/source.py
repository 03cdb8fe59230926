"""What a frame source yields, and how a frame becomes a model input.

Every source (the generated driving stream, an image folder, BDD100K, KITTI, Udacity,
a video) yields `Frame`s: an HxWx3 uint8 RGB image, its timestamp, and the labels the
dataset has for it. Models want something else (NCHW or NHWC float, a fixed size,
normalised); `to_model_input` is the one place that converts, so a requester and a test
prepare frames the same way. Resizing is Pillow's bilinear filter (half-pixel centres;
when shrinking it widens its support, so a downscaled frame is low-passed, not aliased).

API
    Box(category, x1, y1, x2, y2)                 frozen; pixels of the original image
    Labels(steering, speed, ..., boxes, attributes)  frozen; every field optional
    Frame(index, image, timestamp, labels=None, name="", sequence="")   frozen
    FrameSource                                   protocol: iterable of Frame, .fps, len()
    to_model_input(image, shape=(1, 3, 224, 224), dtype="float32", normalize="imagenet")
    model_pixels(image, shape, dtype="float32", normalize="imagenet") -> Pixels   the same input, not yet normalised
    Pixels(data, normalize, layout, dtype)     frozen; uint8 in the input's shape; .to_input(), .nbytes, .rows(a, b)
    normalize_pixels(data, normalize, layout, dtype)   the one normalisation (source and executor)
    resize(image, height, width) -> float32 HxWxC
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from fognet.errors import ModelError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
NORMALIZATIONS = ("imagenet", "unit")


@dataclass(frozen=True)
class Box:
    """One labelled object: its category and its box in pixels of the original image."""

    category: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Labels:
    """What a dataset knows about one frame; a field is None (or empty) when it does not.

    Units are fixed whatever the dataset: `steering` radians (positive = right; the
    steering-wheel angle in Udacity's challenge data and the generated stream, the
    simulator's road-wheel angle), `speed` m/s, `throttle`/`brake` 0..1, `torque` as the
    dataset gives it, `position` (latitude, longitude in degrees, altitude in m), `yaw`
    radians counter-clockwise from east (as KITTI's OXTS). `attributes` are (name, value) pairs such as BDD100K's weather, scene and
    timeofday, kept as a tuple so a Labels stays hashable.
    """

    steering: float | None = None
    speed: float | None = None
    throttle: float | None = None
    brake: float | None = None
    torque: float | None = None
    position: tuple[float, float, float] | None = None
    yaw: float | None = None
    boxes: tuple[Box, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()

    def present(self) -> tuple[str, ...]:
        """Names of the fields that carry a value, in declaration order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) not in (None, ()))

    def attribute(self, name: str) -> str | None:
        """The value of attribute `name`, or None."""
        return dict(self.attributes).get(name)


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera frame.

    `image` is HxWx3 uint8 RGB. `timestamp` is seconds from the start of the frame's
    `sequence` (a drive, a video, a split), on the dataset's clock where it has one and
    index / fps where it has none. `name` says where the frame came from (a file, or
    `video.mov#12`), so a problem with it can be named.
    """

    index: int
    image: np.ndarray
    timestamp: float
    labels: Labels | None = None
    name: str = ""
    sequence: str = ""

    @property
    def steering(self) -> float | None:
        """The steering label in radians, or None when the source has none."""
        return None if self.labels is None else self.labels.steering

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields frames at a nominal rate, with a known number of frames."""

    fps: float

    def __iter__(self) -> Iterator[Frame]: ...

    def __len__(self) -> int: ...


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pillow's bilinear resize of an HxWx3 image to height x width, as float32.

    A uint8 image is resized as 8-bit RGB, as torchvision's PIL pipeline does (Pillow's
    fast path: 4-5 ms for 1280x720 here, at most half a level of rounding); any other
    dtype channel by channel as 32-bit float images.
    """
    src = np.asarray(image)
    if src.shape[0] == height and src.shape[1] == width:
        return src.astype(np.float32, copy=False)
    if src.dtype == np.uint8 and src.ndim == 3 and src.shape[2] == 3:
        rgb = Image.fromarray(np.ascontiguousarray(src)).resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.float32)
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(src[..., c], dtype=np.float32)).resize(
            (width, height), Image.Resampling.BILINEAR))
        for c in range(src.shape[2])
    ]
    return np.stack(channels, axis=2)


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
    "unit" (scale to [0,1] only). A uint8 image goes through `model_pixels` and
    `normalize_pixels`, the same two steps a frame sent as uint8 takes (the second where
    the first stage runs), so both give the same bits.
    """
    img = np.asarray(image)
    if img.dtype == np.uint8:
        return model_pixels(img, shape, dtype, normalize).to_input()
    layout, height, width = _input_geometry(img, shape, normalize)
    x = resize(img, height, width)
    if normalize == "imagenet":
        x = (x - IMAGENET_MEAN) / IMAGENET_STD
    if layout == "nchw":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.dtype(dtype))


def _input_geometry(img: np.ndarray, shape: Sequence[object], normalize: str) -> tuple[str, int, int]:
    layout, height, width = _layout(shape)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ModelError(f"expected an HxWx3 RGB image, got an array of shape {img.shape}")
    if normalize not in NORMALIZATIONS:
        raise ModelError(f"unknown normalization {normalize!r}; use one of {NORMALIZATIONS}")
    return layout, height, width


@dataclass(frozen=True, eq=False)
class Pixels:
    """A model input still as the camera's bytes: uint8 in the input's shape and layout,
    with the normalisation left to do. A frame travels like this (a quarter of float32's
    bytes) and is normalised where the first stage runs, by `normalize_pixels`, so the
    result is the float input the source would have made, bit for bit."""

    data: np.ndarray  # uint8, the model input's shape (or a slice of its rows)
    normalize: str  # one of NORMALIZATIONS
    layout: str  # "nchw" | "nhwc"
    dtype: str  # the model input's dtype, e.g. "float32"

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def rows(self, start: int, stop: int) -> Pixels:
        """Rows [start, stop) of an NCHW input (a spatial slice's input, with its halo)."""
        if self.layout != "nchw":
            raise ModelError(f"only an NCHW input is sliced by rows; this frame is {self.layout}")
        return replace(self, data=np.ascontiguousarray(self.data[:, :, start:stop]))

    def to_input(self) -> np.ndarray:
        return normalize_pixels(self.data, self.normalize, self.layout, self.dtype)


def model_pixels(
    image: np.ndarray,
    shape: Sequence[int] = (1, 3, 224, 224),
    dtype: str | np.dtype = "float32",
    normalize: str = "imagenet",
) -> Pixels:
    """An HxWx3 uint8 image resized (Pillow, 8-bit) to the input `shape`, in its layout,
    not yet normalised: what `to_model_input` normalises, and what a frame sends."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ModelError(f"a frame travels as uint8 pixels; this image is {img.dtype}")
    layout, height, width = _input_geometry(img, shape, normalize)
    if img.shape[0] != height or img.shape[1] != width:
        resized = Image.fromarray(np.ascontiguousarray(img)).resize((width, height), Image.Resampling.BILINEAR)
        img = np.asarray(resized, dtype=np.uint8)
    data = img.transpose(2, 0, 1) if layout == "nchw" else img
    return Pixels(np.ascontiguousarray(data[None]), normalize, layout, np.dtype(dtype).name)


def normalize_pixels(data: np.ndarray, normalize: str, layout: str, dtype: str | np.dtype) -> np.ndarray:
    """uint8 pixels (N,3,H,W or N,H,W,3) to the model's float input: scale to [0,1], then
    for "imagenet" subtract the mean and divide by the std, per channel. Element-wise in
    float32, so a slice of rows normalises to the same bits as the rows of the whole."""
    if normalize not in NORMALIZATIONS:
        raise ModelError(f"unknown normalization {normalize!r}; use one of {NORMALIZATIONS}")
    if layout not in ("nchw", "nhwc"):
        raise ModelError(f"unknown layout {layout!r}; use nchw or nhwc")
    x = np.asarray(data, dtype=np.uint8).astype(np.float32) * np.float32(1.0 / 255.0)
    if normalize == "imagenet":
        channel = (1, 3, 1, 1) if layout == "nchw" else (1, 1, 1, 3)
        x = (x - IMAGENET_MEAN.reshape(channel)) / IMAGENET_STD.reshape(channel)
    return np.ascontiguousarray(x, dtype=np.dtype(dtype))
