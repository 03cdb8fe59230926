"""Row arithmetic alone: a 1-D numpy reference of each op checks which slice rows are right."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fognet.errors import PartitionError
from fognet.partition.halo import (
    Extent,
    Linear,
    Nearest,
    Pointwise,
    Shift,
    Step,
    Transposed,
    Window,
    alignments,
    plan_rows,
    propagate,
)


def reference(geometry, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """What the op computes on a 1-D signal (zero padding), written from the ONNX definitions."""
    n = len(x)
    out = np.zeros(geometry.out_len(n))
    for r in range(len(out)):
        for tag, i in geometry.deps(r, n):
            value = x[i] if isinstance(i, int) else 0.0
            if isinstance(tag, tuple):  # Linear: ("lo" | "hi", distance from the lower row)
                out[r] += (1 - tag[1] if tag[0] == "lo" else tag[1]) * value
            else:
                out[r] += weights[tag if isinstance(tag, int) else 0] * value
    return out


def direct_window(w: Window, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    padded = np.concatenate([np.zeros(w.pad_top), x, np.zeros(w.pad_bottom + w.kernel * w.dilation)])
    taps = [padded[r * w.stride + w.dilation * m] for r in range(w.out_len(len(x))) for m in range(w.kernel)]
    return (np.array(taps).reshape(-1, w.kernel) * weights[: w.kernel]).sum(axis=1)


windows = st.builds(
    Window,
    kernel=st.integers(1, 7),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    pad_top=st.integers(0, 4),
    pad_bottom=st.integers(0, 4),
)
geometries = st.one_of(
    windows,
    st.builds(Transposed, kernel=st.integers(1, 5), stride=st.integers(1, 3), pad_top=st.integers(0, 2),
              pad_bottom=st.integers(0, 2), output_padding=st.integers(0, 1)),
    st.builds(Nearest, factor=st.integers(1, 4),
              coordinate_mode=st.sampled_from(["half_pixel", "asymmetric", "pytorch_half_pixel"]),
              nearest_mode=st.sampled_from(["floor", "round_prefer_floor", "round_prefer_ceil", "ceil"])),
    st.builds(Linear, factor=st.integers(1, 4),
              coordinate_mode=st.sampled_from(["half_pixel", "asymmetric", "pytorch_half_pixel"])),
    st.builds(Shift, pad_top=st.integers(-1, 3), pad_bottom=st.integers(-1, 3),
              mode=st.sampled_from(["constant", "edge", "reflect"])),
)


@given(windows, st.integers(8, 40))
def test_window_deps_are_the_sliding_window(w: Window, n: int) -> None:
    if w.out_len(n) <= 0:
        return
    rng = np.random.default_rng(n)
    x, weights = rng.standard_normal(n), rng.standard_normal(8)
    np.testing.assert_allclose(reference(w, x, weights), direct_window(w, x, weights))


@settings(max_examples=300)
@given(geometries, st.integers(6, 40), st.data())
def test_rows_declared_valid_equal_the_full_output(geometry, n: int, data) -> None:
    full_out = geometry.out_len(n)
    if full_out <= 0:
        return
    a = data.draw(st.integers(0, n - 1))
    b = data.draw(st.integers(a + 1, n))
    rng = np.random.default_rng(n + a)
    x, weights = rng.standard_normal(n), rng.standard_normal(8)
    slice_ext = Extent(a, b - a, (True,) * (b - a))
    out = propagate(geometry, slice_ext, n, full_out)
    if out.height == 0:
        return
    mine = reference(geometry, x[a:b], weights)
    full = reference(geometry, x, weights)
    assert len(mine) == out.height
    for j, ok in enumerate(out.valid):
        if ok:
            assert mine[j] == pytest.approx(full[out.offset + j])
    if (a, b) == (0, n):
        assert all(out.valid), "the whole image is always right"


def test_ceil_mode_follows_onnxruntime() -> None:
    # onnxruntime drops a last window that would start in the bottom padding
    assert Window(2, 2, pad_bottom=1, ceil_mode=True).out_len(16) == 8
    assert Window(3, 2, pad_top=2, pad_bottom=2, ceil_mode=True).out_len(16) == 9
    assert Window(3, 2, ceil_mode=True).out_len(16) == 8
    assert Window(3, 2).out_len(16) == 7


@pytest.mark.parametrize("mode", ["half_pixel", "asymmetric", "pytorch_half_pixel"])
def test_integer_upscale_reads_row_r_over_f(mode: str) -> None:
    for f in (1, 2, 3, 4):
        up = Nearest(f, mode, "round_prefer_floor" if mode != "asymmetric" else "floor")
        assert [up.deps(r, 10)[0][1] for r in range(40)] == [min(r // f, 9) for r in range(40)]


def test_alignment_is_the_stride_product_divided_by_upscales() -> None:
    steps = [
        Step(("x",), "a", Window(3, 2, pad_top=1, pad_bottom=1)),
        Step(("a",), "b", Window(2, 2)),
        Step(("b",), "c", Nearest(2)),
        Step(("c",), "d", Window(3, 2, pad_top=1, pad_bottom=1)),
    ]
    assert alignments(steps, ["d"]) == {"d": 1, "c": 2, "b": 1, "a": 2, "x": 4}


def test_plan_rows_walks_the_halo_back_and_crops() -> None:
    steps = [Step(("x",), "a", Window(3, 1, 1, 1, 1)), Step(("a",), "y", Window(3, 2, 1, 1, 1))]
    heights = {"x": 20, "a": 20, "y": 10}
    plan = plan_rows(steps, heights, ["x"], {"y": (4, 7)})
    # y rows 4..6 read a rows 7..13, which read x rows 6..14; x starts on the stride grid
    assert plan.inputs == {"x": (6, 15)}
    y = plan.extents["y"]
    assert (y.offset, y.height) == (3, 5) and y.valid_range() == (4, 7)
    edge = plan_rows(steps, heights, ["x"], {"y": (0, 2)})
    assert edge.inputs == {"x": (0, 5)} and edge.extents["y"].valid_range()[0] == 0


def test_skip_join_reads_the_skip_over_the_branch_extent() -> None:
    steps = [
        Step(("c",), "d", Window(3, 1, 1, 1, 1)),
        Step(("d", "skip"), "y", Pointwise()),
    ]
    heights = {"c": 12, "d": 12, "skip": 12, "y": 12}
    plan = plan_rows(steps, heights, ["c", "skip"], {"y": (4, 6)})
    assert plan.inputs == {"c": (3, 7), "skip": (3, 7)}
    assert plan.extents["y"].valid_range() == (4, 6)


def test_extent_valid_range_takes_the_longest_run() -> None:
    assert Extent(5, 6, (False, True, True, False, True, False)).valid_range() == (6, 8)
    assert Extent(5, 2, (False, False)).valid_range() == (5, 5)


def test_reflect_pad_cannot_be_taller_than_its_input() -> None:
    assert Shift(2, 2, "reflect").out_len(2) == 0
    assert Shift(2, 2, "reflect").out_len(3) == 7
    steps = [Step(("x",), "y", Shift(3, 3, "reflect"))]
    plan = plan_rows(steps, {"x": 10, "y": 16}, ["x"], {"y": (0, 1)})
    assert plan.inputs["x"][1] - plan.inputs["x"][0] > 3


def test_unreachable_rows_are_reported() -> None:
    with pytest.raises(PartitionError):
        plan_rows([Step(("x",), "y", Pointwise())], {"x": 4, "y": 4}, ["x"], {"y": (2, 6)})
