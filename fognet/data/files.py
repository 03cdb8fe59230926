"""A frame source over a list of image files: what every image-based reader builds.

A reader (BDD100K, KITTI, Udacity, a folder) only parses its layout's index into
`Entry`s (file, timestamp, labels, sequence) and the problems it met (a listed file that
is missing, a malformed row), one line each. `ImageSource` does the rest in one place:
frames decoded on demand, in entry order, each decode failure a FrameError naming the
file. Problems found while opening are kept on `.problems` (open_source warns once).

API
    Entry(path, timestamp, labels=None, sequence="")    frozen
    ImageSource(layout, root, entries, fps, timed, problems=())
        iter / len / [i] -> Frame;  .layout .root .entries .fps .timed .problems
    rate(pairs, default) -> fps     1 / mean step of (sequence, timestamp) pairs, gaps left out
    sequences_source(layout, root, sequences, read, fps, timed, none) -> ImageSource
        a dataset of timed sequences (KITTI drives, Udacity exports), each read by `read`
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from fognet.data.image import load_image
from fognet.data.source import Frame, Labels
from fognet.errors import DatasetError


@dataclass(frozen=True)
class Entry:
    """One frame of a dataset's index, before its image is decoded."""

    path: Path
    timestamp: float
    labels: Labels | None = None
    sequence: str = ""


def rate(timestamps: Sequence[tuple[str, float]], default: float) -> float:
    """The frame rate of (sequence, timestamp) pairs: 1 / the mean step inside sequences.

    Steps longer than 1.5x the median are gaps (dropped frames, a pause), not the camera's
    period, and are left out; the mean of the rest is exact where stamps are rounded (the
    simulator's milliseconds). Steps across a sequence boundary are not steps; with no
    positive step (one frame per sequence) the rate is `default`.
    """
    steps = [b[1] - a[1] for a, b in pairwise(timestamps) if a[0] == b[0] and b[1] > a[1]]
    if not steps:
        return float(default)
    typical = statistics.median(steps)
    return 1.0 / statistics.fmean(s for s in steps if s <= 1.5 * typical)


class ImageSource:
    """Frames from image files listed by a dataset reader, decoded when reached."""

    def __init__(
        self,
        layout: str,
        root: Path,
        entries: Sequence[Entry],
        fps: float,
        timed: bool,
        problems: Sequence[str] = (),
    ) -> None:
        self.layout, self.root = layout, Path(root)
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.fps, self.timed = float(fps), bool(timed)
        self.problems: tuple[str, ...] = tuple(problems)
        if not self.entries:
            more = f" ({len(self.problems)} problems, first: {self.problems[0]})" if self.problems else ""
            raise DatasetError(f"{self.root}: {layout} layout with no readable frame{more}")

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Frame:
        if not 0 <= index < len(self.entries):
            raise IndexError(f"frame {index} out of range 0..{len(self.entries) - 1}")
        e = self.entries[index]
        return Frame(index, load_image(e.path), e.timestamp, e.labels, str(e.path), e.sequence)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self.entries)):
            yield self[i]


# A sequence's reader: (sequence, problems, clock) -> its entries; it appends one line per
# problem, and to `clock` the (sequence name, seconds) of every frame its index lists.
ReadSequence = Callable[[Path, list[str], list[tuple[str, float]]], list[Entry]]


def sequences_source(
    layout: str, root: Path, sequences: Sequence[Path], read: ReadSequence, fps: float, timed: bool, none: str
) -> ImageSource:
    """The frames of every sequence in order, their problems, and the rate of their clocks
    (`rate`, `fps` without a step): how KITTI's drives and Udacity's exports open. No
    sequence is a DatasetError, `root: none`."""
    if not sequences:
        raise DatasetError(f"{root}: {none}")
    problems: list[str] = []
    clock: list[tuple[str, float]] = []
    entries = [e for s in sequences for e in read(s, problems, clock)]
    return ImageSource(layout, root, entries, rate(clock, fps), timed, problems)
