"""Frames from a folder of images, in name order, so recorded drives can be replayed.

Names sort naturally (`frame2.png` before `frame10.png`); every image Pillow reads is a
frame (.png, .jpg, .jpeg, .bmp). A folder written by `fognet frames` also has
`steering.csv` (file, timestamp_s, steering_rad): then its timestamps and steering
labels are used, and a row whose file is missing is a problem. Otherwise frames have no
labels and timestamps are index / fps.

API
    open_folder(path, fps=30.0) -> ImageSource      layout "folder"
    natural_key(path) -> sort key
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from fognet.data.files import Entry, ImageSource, rate
from fognet.data.image import IMAGE_SUFFIXES
from fognet.data.source import Labels
from fognet.errors import DatasetError

STEERING_CSV = "steering.csv"
STEERING_COLUMNS = ["file", "timestamp_s", "steering_rad"]


def natural_key(path: Path) -> list[object]:
    """Sort key that orders digit runs by value: frame2 before frame10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, in natural name order."""
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=natural_key,
    )


def _steering_entries(path: Path, problems: list[str]) -> list[Entry]:
    csv_path = path / STEERING_CSV
    try:
        with csv_path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{csv_path}: cannot read ({exc})") from exc
    if not rows or [c.strip() for c in rows[0]] != STEERING_COLUMNS:
        raise DatasetError(f"{csv_path}: expected the header {','.join(STEERING_COLUMNS)}")
    entries = []
    for n, row in enumerate(rows[1:], start=2):
        try:
            name, t, steering = row[0].strip(), float(row[1]), float(row[2])
        except (IndexError, ValueError):
            problems.append(f"{csv_path} row {n}: expected file,seconds,radians; got {','.join(row)!r}")
            continue
        if not (path / name).is_file():
            problems.append(f"{csv_path} row {n}: {path / name}: no such file")
            continue
        entries.append(Entry(path / name, t, Labels(steering=steering)))
    return entries


def open_folder(path: str | Path, fps: float = 30.0) -> ImageSource:
    """The images of one folder as a frame source (with steering.csv's labels if present)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such folder")
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder")
    problems: list[str] = []
    if (path / STEERING_CSV).is_file():
        entries = _steering_entries(path, problems)
        fps = rate([("", e.timestamp) for e in entries], fps)
        return ImageSource("folder", path, entries, fps, True, problems)
    images = list_images(path)
    if not images:
        raise DatasetError(f"{path}: folder has no {', '.join(IMAGE_SUFFIXES)} images")
    return ImageSource("folder", path, [Entry(p, i / fps) for i, p in enumerate(images)], fps, False)
