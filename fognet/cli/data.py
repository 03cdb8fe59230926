"""`fognet data`: look at a dataset the way fognet reads it, or write one in a real layout."""

from __future__ import annotations

import sys
from pathlib import Path

import click

# The writers' names (fognet.data.generate.WRITERS but `folder`, which is `fognet frames`),
# spelled out so `fognet --help` does not import Pillow and PyAV; a test keeps them equal.
GENERATED_LAYOUTS = ("bdd100k", "kitti", "udacity", "udacity-sim", "video")


def parse_size(size: str) -> tuple[int, int]:
    """(height, width) from `HxW`; a usage error for anything else or under 16x16."""
    try:
        height, width = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{size!r}: expected HxW like 720x1280", param_hint="--size") from None
    if min(height, width) < 16:
        raise click.BadParameter(f"{size!r}: frames must be at least 16x16", param_hint="--size")
    return height, width


@click.group()
def data() -> None:
    """Frame sources: BDD100K, KITTI raw, Udacity, videos and image folders."""


@data.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--layout", default=None, metavar="LAYOUT",
              help="Read PATH as this layout (default: detected), e.g. bdd100k-video beside images.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None, help="BDD100K: one split only.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Rate of frames without timestamps (default: the dataset's camera rate).")
@click.option("--decode/--headers-only", default=True, show_default=True,
              help="Decode every frame (finds truncated files) or read image headers only.")
@click.option("--max-problems", type=click.IntRange(min=0), default=20, show_default=True, help="Problems listed.")
def inspect(path: Path, layout: str | None, split: str | None, fps: float | None, decode: bool,
            max_problems: int) -> None:
    """Which layout PATH is, how many frames, their resolution and rate, which labels, and
    every problem (missing or truncated files, bad rows), one line each."""
    from fognet.data.layouts import open_source
    from fognet.data.survey import describe, steps, survey

    source = open_source(path, fps=fps, split=split, layout=layout, warn=False)
    with click.progressbar(length=steps(source), label="checking", file=sys.stderr) as bar:
        found = survey(source, decode=decode, progress=lambda: bar.update(1))
    for line in describe(found, max_problems):
        click.echo(line)


@data.command()
@click.option("--layout", type=click.Choice(GENERATED_LAYOUTS), required=True, help="The dataset layout to write.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Directory to write it in.")
@click.option("--n", "n_frames", type=click.IntRange(min=1), default=30, show_default=True, help="Number of frames.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Frame rate (default: the dataset's camera rate; 30 for BDD100K and video).")
@click.option("--seed", default=0, show_default=True, help="Seed of the generated scene.")
@click.option("--size", default=None, metavar="HxW", help="Frame size (default: the dataset's camera resolution).")
def generate(layout: str, out_dir: Path, n_frames: int, fps: float | None, seed: int, size: str | None) -> None:
    """Write the generated driving stream in a dataset's exact layout (images, labels JSON,
    timestamps, OXTS, CSV), readable by `fognet data inspect` and `fognet infer --source`."""
    from fognet.data.driving import DrivingStream
    from fognet.data.generate import DEFAULT_SIZES, write_layout
    from fognet.data.layouts import DEFAULT_FPS

    height, width = parse_size(size) if size else DEFAULT_SIZES[layout]
    rate = fps or DEFAULT_FPS.get(layout, 30.0)
    stream = DrivingStream(n_frames, fps=rate, seed=seed, size=(height, width))
    with click.progressbar(stream, length=n_frames, label=layout, file=sys.stderr) as bar:
        written = write_layout(layout, bar, out_dir, rate)
    click.echo(f"wrote {n_frames} frames ({width}x{height}, {rate:g} fps, seed {seed}) as {layout} to {out_dir}")
    for path in written:
        click.echo(f"  {path}")
