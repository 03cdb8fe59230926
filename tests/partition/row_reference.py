"""A 1-D numpy reference of each op kind's row arithmetic, and hypothesis strategies for them.

Shared by test_row_geometry (the deps are the op) and test_halo (rows declared valid are).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from fognet.partition.row_geometry import Linear, Nearest, Shift, Transposed, Window


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
