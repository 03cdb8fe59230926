"""The halo plan: rows a slice declares valid equal the full output; walk-back, alignment, joins."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fognet.errors import PartitionError
from fognet.partition.halo import Extent, Step, alignments, plan_rows, propagate
from fognet.partition.row_geometry import Nearest, Pointwise, Shift, Window
from tests.partition.row_reference import geometries, reference


@settings(max_examples=300)
@given(geometries, st.integers(6, 40), st.data())
def test_rows_declared_valid_equal_the_full_output(geometry, n: int, data) -> None:
    full_out = geometry.out_len(n)
    assume(full_out > 0)
    a = data.draw(st.integers(0, n - 1))
    b = data.draw(st.integers(a + 1, n))
    rng = np.random.default_rng(n + a)
    x, weights = rng.standard_normal(n), rng.standard_normal(8)
    out = propagate(geometry, Extent(a, b - a, (True,) * (b - a)), n, full_out)
    mine = reference(geometry, x[a:b], weights)
    full = reference(geometry, x, weights)
    assert len(mine) == out.height  # a slice too thin to run makes no rows, and says so
    valid = np.flatnonzero(np.asarray(out.valid, dtype=bool))
    np.testing.assert_allclose(mine[valid], full[out.offset + valid], rtol=1e-6, atol=1e-12)


@given(geometries, st.integers(6, 40))
def test_the_whole_image_is_always_right(geometry, n: int) -> None:
    full_out = geometry.out_len(n)
    assume(full_out > 0)
    out = propagate(geometry, Extent(0, n, (True,) * n), n, full_out)
    assert (out.offset, out.height) == (0, full_out) and all(out.valid)


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


def test_reflect_pad_plan_reads_more_than_the_pad() -> None:
    steps = [Step(("x",), "y", Shift(3, 3, "reflect"))]
    plan = plan_rows(steps, {"x": 10, "y": 16}, ["x"], {"y": (0, 1)})
    assert plan.inputs["x"][1] - plan.inputs["x"][0] > 3


def test_unreachable_rows_are_reported() -> None:
    with pytest.raises(PartitionError):
        plan_rows([Step(("x",), "y", Pointwise())], {"x": 4, "y": 4}, ["x"], {"y": (2, 6)})
