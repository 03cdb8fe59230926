"""`fognet frames`: dump the generated driving stream as PNG files, to look at or replay."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from fognet.errors import FrameError


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Directory for frame_NNNNN.png and steering.csv.")
@click.option("--n", "n_frames", type=click.IntRange(min=1), default=30, show_default=True, help="Number of frames.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True, help="Frame rate (sets timestamps and motion per frame).")
@click.option("--seed", default=0, show_default=True, help="Seed of the generated scene.")
@click.option("--size", default="720x1280", show_default=True, metavar="HxW", help="Frame size, height x width.")
def frames(out_dir: Path, n_frames: int, fps: float, seed: int, size: str) -> None:
    """Write N generated dash-cam frames as PNGs, with their steering labels in steering.csv.

    The folder can be read back as a frame source (`fognet.data.folder.ImageFolder`).
    """
    from fognet.data.driving import DrivingStream
    from fognet.data.png import write_png

    try:
        height, width = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{size!r}: expected HxW like 720x1280", param_hint="--size") from None
    if min(height, width) < 16:
        raise click.BadParameter(f"{size!r}: frames must be at least 16x16", param_hint="--size")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FrameError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from exc
    stream = DrivingStream(n_frames, fps=fps, seed=seed, size=(height, width))
    with click.progressbar(stream, length=n_frames, label="frames", file=sys.stderr) as bar, \
            open(out_dir / "steering.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "timestamp_s", "steering_rad"])
        for frame in bar:
            name = f"frame_{frame.index:05d}.png"
            write_png(out_dir / name, frame.image)
            writer.writerow([name, f"{frame.timestamp:.6f}", f"{frame.steering:.6f}"])
    click.echo(f"wrote {n_frames} frames ({width}x{height}, seed {seed}) and steering.csv to {out_dir}")
