"""Row arithmetic of each spatially local op kind along H (no onnx, integers only).

Every op kind answers four questions about its height axis: how many output rows a given
number of input rows makes (`out_len`), which input rows (and padding) output row r reads
(`deps`), which full-image row the slice's first output row is (`offset`), and what input
offset alignment keeps slice rows on the full image's grid (`align`). Which ONNX node is
which kind is `fognet.partition.spatial_ops`; how a slice's rows follow from these answers
is `fognet.partition.halo`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Rows that are not data, above (-) or below (+) the image: padding inside the padded extent
# (AveragePool with count_include_pad counts it) and rows beyond even that (ceil_mode windows).
PAD_TOP, PAD_BOTTOM, BEYOND_TOP, BEYOND_BOTTOM = "P-", "P+", "B-", "B+"

Dep = tuple[object, object]  # (tag, row index or one of the non-data states above)


@dataclass(frozen=True)
class Window:
    """Conv, MaxPool, AveragePool, LpPool, SpaceToDepth: a sliding window along H."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    pad_top: int = 0
    pad_bottom: int = 0
    ceil_mode: bool = False

    def out_len(self, n: int) -> int:
        span = n + self.pad_top + self.pad_bottom - self.dilation * (self.kernel - 1) - 1
        if span < 0:
            return 0
        if not self.ceil_mode:
            return span // self.stride + 1
        out = -(-span // self.stride) + 1
        if (out - 1) * self.stride >= n + self.pad_top:  # last window would start in padding
            out -= 1
        return out

    def deps(self, r: int, n: int) -> tuple[Dep, ...]:
        first = r * self.stride - self.pad_top
        return tuple((m, self._state(first + self.dilation * m, n)) for m in range(self.kernel))

    def _state(self, i: int, n: int) -> object:
        if 0 <= i < n:
            return i
        if i < 0:
            return PAD_TOP if i >= -self.pad_top else BEYOND_TOP
        return PAD_BOTTOM if i < n + self.pad_bottom else BEYOND_BOTTOM

    def offset(self, a: int) -> int:
        return a // self.stride

    def align(self, out_align: int) -> int:
        return out_align * self.stride


@dataclass(frozen=True)
class Transposed:
    """ConvTranspose with an integer stride: output row r sums taps from rows (r+pt-d*m)/s."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    pad_top: int = 0
    pad_bottom: int = 0
    output_padding: int = 0

    def out_len(self, n: int) -> int:
        if n <= 0:
            return 0
        full = self.stride * (n - 1) + self.output_padding + self.dilation * (self.kernel - 1) + 1
        return max(0, full - self.pad_top - self.pad_bottom)

    def deps(self, r: int, n: int) -> tuple[Dep, ...]:
        found = []
        for m in range(self.kernel):
            q, rem = divmod(r + self.pad_top - self.dilation * m, self.stride)
            if rem == 0 and 0 <= q < n:
                found.append((m, q))
        return tuple(found)

    def offset(self, a: int) -> int:
        return a * self.stride

    def align(self, out_align: int) -> int:
        return _upscale_align(out_align, self.stride)  # a transposed conv upscales by its stride


# Resize coordinate modes under which an integer upscale commutes with integer row shifts.
SHIFT_INVARIANT_MODES = ("half_pixel", "asymmetric", "pytorch_half_pixel", "tf_half_pixel_for_nn")


def source_coordinate(r: int, factor: int, n: int, mode: str) -> float:
    """The input row (a real number) that output row r of an upscale by `factor` of `n` rows
    maps to under a Resize coordinate mode: one rule for nearest and linear modes alike."""
    if mode == "asymmetric":
        return r / factor
    if mode == "tf_half_pixel_for_nn":
        return (r + 0.5) / factor
    if mode == "pytorch_half_pixel" and n * factor <= 1:
        return 0.0
    return (r + 0.5) / factor - 0.5  # half_pixel, pytorch_half_pixel


@dataclass(frozen=True)
class _Upscale:
    """What every integer upscale shares: n rows become n * factor, offsets scale alike."""

    factor: int

    def out_len(self, n: int) -> int:
        return max(0, n * self.factor)

    def offset(self, a: int) -> int:
        return a * self.factor

    def align(self, out_align: int) -> int:
        return _upscale_align(out_align, self.factor)


def _upscale_align(out_align: int, factor: int) -> int:
    """Input alignment so that output offsets (input offset * factor) stay multiples of out_align."""
    return out_align // math.gcd(out_align, factor)


@dataclass(frozen=True)
class Nearest(_Upscale):
    """Nearest-neighbour upscale by an integer factor (Resize, Upsample, DepthToSpace)."""

    coordinate_mode: str = "asymmetric"
    nearest_mode: str = "floor"

    def deps(self, r: int, n: int) -> tuple[Dep, ...]:
        return ((r % self.factor, self._source(r, n)),)

    def _source(self, r: int, n: int) -> int:
        i = _round(source_coordinate(r, self.factor, n, self.coordinate_mode), self.nearest_mode)
        return min(max(i, 0), n - 1)


@dataclass(frozen=True)
class Linear(_Upscale):
    """Linear (bilinear in H and W) upscale by an integer factor, as onnxruntime computes it:
    the source coordinate is clamped into the image, then the two rows around it are mixed."""

    coordinate_mode: str = "half_pixel"

    def deps(self, r: int, n: int) -> tuple[Dep, ...]:
        x = min(max(source_coordinate(r, self.factor, n, self.coordinate_mode), 0.0), n - 1.0)
        lo = min(int(x), n - 1)
        hi = min(lo + 1, n - 1)
        w = round(x - lo, 6) if lo != hi else 0.5
        return ((("lo", w), lo), (("hi", w), hi))


def _round(x: float, mode: str) -> int:
    if mode == "floor":
        return math.floor(x)
    if mode == "ceil":
        return math.ceil(x)
    if mode == "round_prefer_ceil":
        return math.floor(x + 0.5)
    return math.ceil(x - 0.5)  # round_prefer_floor (the ONNX default)


@dataclass(frozen=True)
class Shift:
    """Pad along H: constant, edge or reflect; negative pads crop."""

    pad_top: int
    pad_bottom: int
    mode: str = "constant"

    def out_len(self, n: int) -> int:
        if self.mode == "reflect" and max(self.pad_top, self.pad_bottom) >= n:
            return 0  # onnxruntime refuses to reflect further than the tensor is tall
        return max(0, n + self.pad_top + self.pad_bottom)

    def deps(self, r: int, n: int) -> tuple[Dep, ...]:
        i = r - self.pad_top
        if 0 <= i < n:
            return ((0, i),)
        if self.mode == "edge":
            return ((0, min(max(i, 0), n - 1)),)
        if self.mode == "reflect" and n > 1:
            period = 2 * (n - 1)
            i = abs(i) % period
            return ((0, period - i if i >= n else i),)
        return ((0, PAD_TOP if i < 0 else PAD_BOTTOM),)

    def offset(self, a: int) -> int:
        return a

    def align(self, out_align: int) -> int:
        return out_align


@dataclass(frozen=True)
class Pointwise:
    """Element-wise and activation ops, BatchNorm, channel Concat: row r reads row r."""

    def out_len(self, n: int) -> int:
        return n

    def deps(self, r: int, n: int) -> tuple[Dep, ...]:
        return ((0, r),)

    def offset(self, a: int) -> int:
        return a

    def align(self, out_align: int) -> int:
        return out_align


Geometry = Window | Transposed | Nearest | Linear | Shift | Pointwise
