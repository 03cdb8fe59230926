"""The halo plan of one slice: which input rows it reads and which of its rows are right.

A slice's output row j is declared *valid* only when its dependency list (the op's `deps`
in `fognet.partition.row_geometry`), computed on the slice's own height and shifted by the
slice's offset, is identical to that of the full-image row it stands for, and every data row
it reads is itself valid. Rows that read the slice's artificial padding, clamp at the slice's
own edge, or fall off the stride grid, are then garbage by construction and cropped. So
correctness does not rest on reasoning about each op: the halo walk-back (`walk_back`) only
has to be generous enough; the forward check (`forward`) decides, and `plan_rows` repeats
the two until every wanted row is valid.

Everything here is integers (numpy only to vectorise the sliding-window check); no onnx.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fognet.errors import PartitionError
from fognet.partition.row_geometry import Geometry, Pointwise, Window

Range = tuple[int, int]


@dataclass(frozen=True)
class Step:
    """One node of a run as the row arithmetic sees it: its 4-D inputs, its output, its op."""

    inputs: tuple[str, ...]
    output: str
    geometry: Geometry


@dataclass(frozen=True)
class Extent:
    """A tensor as a slice holds it: full-image rows [offset, offset+height), which are right."""

    offset: int
    height: int
    valid: tuple[bool, ...]

    def valid_range(self) -> Range:
        """The longest run of valid rows, in full-image rows (empty at offset when none)."""
        best = (self.offset, self.offset)
        start = None
        for j, ok in enumerate((*self.valid, False)):
            if ok and start is None:
                start = j
            elif not ok and start is not None:
                if j - start > best[1] - best[0]:
                    best = (self.offset + start, self.offset + j)
                start = None
        return best


def input_need(step: Step, need: Range, heights: Mapping[str, int]) -> Range | None:
    """Hull of the input rows that output rows `need` read (clipped to the image).

    A row that reads padding below (above) the image needs the slice to reach the image's
    bottom (top), so that the slice's own padding is the real one.
    """
    n = heights[step.inputs[0]]
    g = step.geometry
    if isinstance(g, Pointwise):
        return (max(need[0], 0), min(need[1], n)) if need[0] < n else None
    if isinstance(g, Window):  # the endpoints of the first and last windows, clipped
        first = need[0] * g.stride - g.pad_top
        last = (need[1] - 1) * g.stride - g.pad_top + g.dilation * (g.kernel - 1)
        return (min(max(first, 0), n - 1), min(max(last, 0), n - 1) + 1)
    rows = []
    for r in range(*need):
        for _, i in step.geometry.deps(r, n):
            if isinstance(i, int):
                rows.append(i)
            else:
                rows.append(0 if str(i).endswith("-") else n - 1)
    return (min(rows), max(rows) + 1) if rows else None


def alignments(steps: Sequence[Step], outputs: Sequence[str]) -> dict[str, int]:
    """Per tensor, the multiple its slice offset must be so that every strided op stays on grid."""
    align = dict.fromkeys(outputs, 1)
    for step in reversed(steps):
        out = align.get(step.output, 1)
        for name in step.inputs:
            align[name] = math.lcm(align.get(name, 1), step.geometry.align(out))
    return align


def _hull(a: Range | None, b: Range | None) -> Range | None:
    if a is None or a[0] >= a[1]:
        return b
    if b is None or b[0] >= b[1]:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


def walk_back(
    steps: Sequence[Step], heights: Mapping[str, int], need: dict[str, Range]
) -> dict[str, Range]:
    """Grow `need` (full-image rows per tensor) backwards through the steps; returns it."""
    for step in reversed(steps):
        wanted = need.get(step.output)
        if wanted is None or wanted[0] >= wanted[1]:
            continue
        rows = input_need(step, wanted, heights)
        if rows is None:  # output rows made of padding alone
            continue
        for name in step.inputs:
            need[name] = _hull(need.get(name), rows)
    return need


def forward(
    steps: Sequence[Step], heights: Mapping[str, int], inputs: Mapping[str, Range]
) -> tuple[dict[str, Extent], Step | None]:
    """Each tensor's extent in a slice fed `inputs`; stops at the first misaligned join."""
    ext = {name: Extent(a, b - a, (True,) * (b - a)) for name, (a, b) in inputs.items()}
    for step in steps:
        parts = [ext[name] for name in step.inputs]
        if any((e.offset, e.height) != (parts[0].offset, parts[0].height) for e in parts[1:]):
            return ext, step
        valid = parts[0].valid
        if len(parts) > 1:
            valid = tuple(all(e.valid[j] for e in parts) for j in range(parts[0].height))
        ext[step.output] = propagate(step.geometry, Extent(parts[0].offset, parts[0].height, valid),
                                     heights[step.inputs[0]], heights[step.output])
    return ext, None


def propagate(geometry: Geometry, src: Extent, full_in: int, full_out: int) -> Extent:
    """The output extent of one op in a slice, each row checked against the full image."""
    if isinstance(geometry, Pointwise):  # the general check below, without the work
        valid = tuple(ok and src.offset + j < full_out for j, ok in enumerate(src.valid))
        return Extent(src.offset, src.height, valid)
    height = geometry.out_len(src.height) if src.height > 0 else 0
    if height <= 0:  # too thin to run at all: the caller widens the slice
        return Extent(geometry.offset(src.offset), 0, ())
    if isinstance(geometry, Window) and src.offset % geometry.stride == 0:
        return _propagate_window(geometry, src, height, full_in, full_out)
    offset = geometry.offset(src.offset)
    valid = []
    for j in range(height):
        r = offset + j
        ok = 0 <= r < full_out
        if ok:
            mine = geometry.deps(j, src.height)
            theirs = geometry.deps(r, full_in)
            ok = len(mine) == len(theirs) and all(
                tag == t2 and _same_row(i, i2, src)
                for (tag, i), (t2, i2) in zip(mine, theirs, strict=True)
            )
        valid.append(ok)
    return Extent(offset, height, tuple(valid))


def _propagate_window(w: Window, src: Extent, height: int, full_in: int, full_out: int) -> Extent:
    """`propagate` for an on-grid sliding window, vectorised (the hot path of planning)."""
    offset = src.offset // w.stride
    r = offset + np.arange(height)
    full_idx = r[:, None] * w.stride - w.pad_top + w.dilation * np.arange(w.kernel)[None, :]
    mine_idx = full_idx - src.offset
    full_data = (full_idx >= 0) & (full_idx < full_in)
    mine_data = (mine_idx >= 0) & (mine_idx < src.height)
    valid_src = np.asarray(src.valid, dtype=bool)[np.clip(mine_idx, 0, src.height - 1)]
    same_state = _states(w, full_idx, full_in) == _states(w, mine_idx, src.height)
    ok = (full_data & mine_data & valid_src) | (~full_data & ~mine_data & same_state)
    valid = ok.all(axis=1) & (r >= 0) & (r < full_out)
    return Extent(offset, height, tuple(bool(v) for v in valid))


def _states(w: Window, idx: np.ndarray, n: int) -> np.ndarray:
    """0 data, 1/2 padding/beyond above, 3/4 padding/beyond below (as Window._state)."""
    above = np.where(idx >= -w.pad_top, 1, 2)
    below = np.where(idx < n + w.pad_bottom, 3, 4)
    return np.where(idx < 0, above, np.where(idx >= n, below, 0))


def _same_row(mine: object, theirs: object, src: Extent) -> bool:
    if isinstance(mine, int):
        return mine + src.offset == theirs and src.valid[mine]
    return mine == theirs


@dataclass(frozen=True)
class RowPlan:
    """What one slice needs and yields, in full-image rows."""

    inputs: dict[str, Range]
    extents: dict[str, Extent]


def aligned_rows(
    need: Mapping[str, Range], align: Mapping[str, int], heights: Mapping[str, int], inputs: Sequence[str]
) -> dict[str, Range]:
    """Each input's rows from the walk-back `need`: the start rounded down to the input's
    alignment, at least one row, clipped to the image (an input nothing reads gets row 0).
    The planner's slice pricing and `plan_rows` both start here."""
    rows = {}
    for name in inputs:
        lo, hi = need.get(name, (0, 1))
        step = align.get(name, 1)
        a = lo // step * step
        rows[name] = (a, min(max(hi, a + 1), heights[name]))
    return rows


def plan_rows(
    steps: Sequence[Step],
    heights: Mapping[str, int],
    inputs: Sequence[str],
    wanted: Mapping[str, Range],
    max_rounds: int = 64,
) -> RowPlan:
    """Input rows for a slice that must yield rows `wanted` of each output, and their extents.

    Offsets are rounded down to each input's alignment. Where two branches meet with
    different extents (a skip entering mid-run), both are widened to their hull and the
    walk is repeated; extents only grow, and the full image always agrees with itself.
    """
    align = alignments(steps, list(wanted))
    ancestors = _ancestors(steps, inputs)
    need = {name: r for name, r in wanted.items() if r[0] < r[1]}
    for _ in range(max_rounds):
        walk_back(steps, heights, need)
        rows = aligned_rows(need, align, heights, inputs)
        ext, clash = forward(steps, heights, rows)
        if clash is None:
            short = _shortfall(ext, wanted)
            if any(e.height <= 0 for e in ext.values()):
                short = (True, True)
            if short is None:
                return RowPlan(rows, ext)
            # A slice's own bottom padding can be cropped by the op (ConvTranspose pads), and
            # a row can be valid only through a longer chain: read a little more and retry.
            top, bottom = short
            if not any((top and a > 0) or (bottom and b < heights[n]) for n, (a, b) in rows.items()):
                raise PartitionError(
                    f"slice rows {dict(wanted)} are not reproducible from any halo; this is a fognet bug"
                )
            for name, (a, b) in rows.items():
                need[name] = (a - align[name] if top else a, b + align[name] if bottom else b)
                need[name] = (max(need[name][0], 0), min(need[name][1], heights[name]))
            continue
        _widen_shorter_branches(clash, ext, ancestors, align, need, heights)
    raise PartitionError("the branches of this run cannot be aligned for a slice; split it elsewhere")


def _ancestors(steps: Sequence[Step], inputs: Sequence[str]) -> dict[str, frozenset[str]]:
    """Per tensor, the run inputs it is computed from."""
    anc = {name: frozenset([name]) for name in inputs}
    for step in steps:
        anc[step.output] = frozenset().union(*(anc[name] for name in step.inputs))
    return anc


def _widen_shorter_branches(
    clash: Step,
    ext: Mapping[str, Extent],
    ancestors: Mapping[str, frozenset[str]],
    align: Mapping[str, int],
    need: dict[str, Range],
    heights: Mapping[str, int],
) -> None:
    """Where branches meet with different extents, read more rows into the shorter ones.

    Only the run inputs that feed the shorter branch alone grow (when there are any), so
    the longer branch, typically a conv chain eating its halo, does not grow in step.
    """
    spans = {name: (ext[name].offset, ext[name].offset + ext[name].height) for name in clash.inputs}
    lo = min(a for a, _ in spans.values())
    hi = max(b for _, b in spans.values())
    for name, (a, b) in spans.items():
        if (a, b) == (lo, hi):
            continue
        others = frozenset().union(*(ancestors[o] for o in clash.inputs if spans[o] != (a, b)))
        grow = (ancestors[name] - others) or ancestors[name]
        for src in grow:
            # The rows missing here, counted in the input's rows (its H over this tensor's),
            # then snapped to the input's grid: branches that floor-divide by different
            # strides agree when the slice's height is a multiple of the stride product.
            scale, step = heights[src] / heights[name], align[src]
            r0, r1 = need.get(src, (0, 1))
            if a > lo:
                r0 = max(0, (r0 - max(1, math.ceil((a - lo) * scale))) // step * step)
            base = r0 // step * step
            if b < hi:
                if (r1 - base) % step == 0:  # on the grid already: read more rows
                    r1 += max(1, math.ceil((hi - b) * scale))
                r1 = min(heights[src], base + math.ceil((r1 - base) / step) * step)
            need[src] = (r0, r1)


def _shortfall(ext: Mapping[str, Extent], wanted: Mapping[str, Range]) -> tuple[bool, bool] | None:
    """None when every wanted row is valid, else (missing at the top, missing at the bottom)."""
    top = bottom = False
    for name, (lo, hi) in wanted.items():
        if lo >= hi:
            continue
        e = ext[name]
        bad = [r for r in range(lo, hi) if not e.offset <= r < e.offset + e.height or not e.valid[r - e.offset]]
        if bad:
            first, last = e.valid_range()
            top |= bad[0] < first or first == last
            bottom |= bad[-1] >= last or first == last
    return None if not (top or bottom) else (top, bottom)
