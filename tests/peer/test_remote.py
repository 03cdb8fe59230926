"""What tensors weigh as held: the raw side of the wire ratio and a subtask's bytes unsent."""

from __future__ import annotations

import numpy as np

from fognet.data.source import Pixels
from fognet.peer.remote import held_bytes


def test_held_bytes_count_arrays_and_a_frames_uint8_pixels() -> None:
    frame = Pixels(np.zeros((1, 3, 4, 4), np.uint8), "imagenet", "nchw", "float32")
    assert held_bytes({"a": np.zeros((2, 3), np.float32), "f": frame, "s": np.float64(1.0)}) == 24 + 48 + 8
    assert held_bytes({}) == 0
