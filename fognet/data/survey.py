"""What `fognet data inspect` reports about a frame source: one pass over its frames.

With `decode` every image (every video frame) is decoded, so a truncated JPEG or a
damaged video is found and named; without it only headers are read (fast on a large
dataset, but a truncated file passes). Problems are one line each: those the reader
met while opening (missing files, bad rows), then those the pass found.

API
    Survey                                       frozen: layout, root, frames, sizes, fps,
                                                 timed, labels, sequences, problems
    survey(source, decode=True, progress=None) -> Survey
    steps(source) -> int                         how often survey calls `progress`
    describe(survey, max_problems=20) -> list[str]    the lines `inspect` prints
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from fognet.data.files import ImageSource
from fognet.data.image import image_size, load_image
from fognet.data.source import Labels
from fognet.data.video import VideoSource
from fognet.errors import FrameError


@dataclass(frozen=True)
class Survey:
    """A frame source as found: counts per (width, height) and per label field."""

    layout: str
    root: str
    frames: int
    sizes: tuple[tuple[tuple[int, int], int], ...]
    fps: float
    timed: bool
    labels: tuple[tuple[str, int], ...]
    sequences: int
    problems: tuple[str, ...]


def _label_counts(labels: list[Labels | None]) -> tuple[tuple[str, int], ...]:
    counts = Counter(name for lab in labels if lab is not None for name in lab.present())
    return tuple(counts.items())


def _images(source: ImageSource, decode: bool, tick: Callable[[], None]) -> tuple[Counter, list[str]]:
    sizes: Counter = Counter()
    problems = []
    for entry in source.entries:
        try:
            if decode:
                h, w = load_image(entry.path).shape[:2]
                sizes[(w, h)] += 1
            else:
                sizes[image_size(entry.path)] += 1
        except FrameError as exc:
            problems.append(str(exc))
        tick()
    return sizes, problems


def _videos(source: VideoSource, decode: bool, tick: Callable[[], None]) -> tuple[Counter, list[str], int]:
    sizes: Counter = Counter()
    problems, frames = [], 0
    for path in source.paths:
        if not decode:
            n = source.count(path)
            sizes[source.header(path)[1]] += n
            frames += n
            tick()
            continue
        try:
            for f in source.frames_of(path):
                sizes[(f.width, f.height)] += 1
                frames += 1
        except FrameError as exc:
            problems.append(str(exc))
        tick()
    return sizes, problems, frames


def steps(source: ImageSource | VideoSource) -> int:
    """How many times `survey` calls its progress callback: once per image or video file."""
    return len(source.paths) if isinstance(source, VideoSource) else len(source.entries)


def survey(
    source: ImageSource | VideoSource,
    decode: bool = True,
    progress: Callable[[], None] | None = None,
) -> Survey:
    """Count, size and check every frame of `source`; `progress` is called per image or video."""
    tick = progress or (lambda: None)
    if isinstance(source, VideoSource):
        sizes, found, frames = _videos(source, decode, tick)
        labels = _label_counts([source.labels.get(p.stem) for p in source.paths])
        sequences = len(source.paths)
    else:
        sizes, found = _images(source, decode, tick)
        frames = len(source.entries) - len(found)
        labels = _label_counts([e.labels for e in source.entries])
        sequences = len({e.sequence for e in source.entries})
    return Survey(
        layout=source.layout, root=str(source.root), frames=frames,
        sizes=tuple(sorted(sizes.items(), key=lambda kv: -kv[1])), fps=source.fps,
        timed=source.timed, labels=labels, sequences=sequences,
        problems=tuple(source.problems) + tuple(found),
    )


def describe(s: Survey, max_problems: int = 20) -> list[str]:
    """The report as lines: layout, frames, resolution, rate, labels, problems."""
    sizes = ", ".join(f"{w}x{h} ({n})" for (w, h), n in s.sizes) or "-"
    rate = f"{s.fps:.2f} fps " + ("(from the dataset's timestamps)" if s.timed else "(no timestamps: index / fps)")
    unit = "video" if s.layout.endswith("video") else "sequence"
    lines = [
        f"layout      {s.layout}  ({s.root})",
        f"frames      {s.frames} readable in {s.sequences} {unit}{'s' if s.sequences != 1 else ''}",
        f"resolution  {sizes}",
        f"rate        {rate}",
        "labels      " + (", ".join(f"{name} ({n})" for name, n in s.labels) or "none"),
        f"problems    {len(s.problems) or 'none'}",
    ]
    lines += [f"  {p}" for p in s.problems[:max_problems]]
    if len(s.problems) > max_problems:
        lines.append(f"  ... and {len(s.problems) - max_problems} more")
    return lines
