"""`fognet frames`: dump the generated driving stream as PNG files, to look at or replay."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fognet.cli.data import parse_size


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Directory for frame_NNNNN.png and steering.csv.")
@click.option("--n", "n_frames", type=click.IntRange(min=1), default=30, show_default=True, help="Number of frames.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True, help="Frame rate (sets timestamps and motion per frame).")
@click.option("--seed", default=0, show_default=True, help="Seed of the generated scene.")
@click.option("--size", default="720x1280", show_default=True, metavar="HxW", help="Frame size, height x width.")
def frames(out_dir: Path, n_frames: int, fps: float, seed: int, size: str) -> None:
    """Write N generated dash-cam frames as PNGs, with their steering labels in steering.csv.

    The folder is a frame source (`fognet data inspect`, `fognet infer --source`);
    `fognet data generate` writes the same stream in the datasets' layouts.
    """
    from fognet.data.driving import DrivingStream
    from fognet.data.generate import write_folder

    height, width = parse_size(size)
    stream = DrivingStream(n_frames, fps=fps, seed=seed, size=(height, width))
    with click.progressbar(stream, length=n_frames, label="frames", file=sys.stderr) as bar:
        write_folder(bar, out_dir, fps)
    click.echo(f"wrote {n_frames} frames ({width}x{height}, seed {seed}) and steering.csv to {out_dir}")
