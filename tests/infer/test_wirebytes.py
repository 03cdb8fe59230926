"""A subtask's bytes: as its runner says the wire carried them, else as held (uint8 frames too)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from fognet.data.source import Pixels
from fognet.infer.wirebytes import wire_bytes
from fognet.peer.executor import Job, JobResult, TaskKey

KEY = TaskKey("0" * 64, 0, 3)
FRAME = Pixels(np.zeros((1, 3, 8, 8), np.uint8), "unit", "nchw", "float32")


class Unread(Mapping):
    """Outputs that must not be read: the runner already said what they took."""

    def __getitem__(self, name: str) -> np.ndarray:
        raise AssertionError("read the outputs again")

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("read the outputs again")

    def __len__(self) -> int:
        return 1


def test_without_word_from_the_runner_a_subtask_moved_what_it_holds() -> None:
    job = Job(KEY, {"image": FRAME, "mask": np.zeros(10, np.float32)})
    result = JobResult({"y": np.zeros((2, 5), np.float64)}, 0.0, 0.0)
    assert wire_bytes(job, result) == (192 + 40, 80)  # a frame is its uint8 pixels


def test_the_runners_figures_are_taken_as_said_and_nothing_is_counted_again() -> None:
    job = Job(KEY, {"image": FRAME})
    result = JobResult(Unread(), 0.0, 0.0, in_wire_bytes=150, out_wire_bytes=7)
    assert wire_bytes(job, result) == (150, 7)
