"""Row arithmetic alone: each op kind's deps and lengths against direct references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fognet.partition.row_geometry import Nearest, Shift, Window
from tests.partition.row_reference import direct_window, reference, windows


@given(windows, st.integers(8, 40))
def test_window_deps_are_the_sliding_window(w: Window, n: int) -> None:
    assume(w.out_len(n) > 0)
    rng = np.random.default_rng(n)
    x, weights = rng.standard_normal(n), rng.standard_normal(8)
    np.testing.assert_allclose(reference(w, x, weights), direct_window(w, x, weights))



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


def test_reflect_pad_cannot_be_taller_than_its_input() -> None:
    assert Shift(2, 2, "reflect").out_len(2) == 0
    assert Shift(2, 2, "reflect").out_len(3) == 7
