"""KITTI raw: the left colour camera of each synced drive, its timestamps and its OXTS.

Layout (the path given is the raw root, one DATE folder, one drive, or its image_02):

    DATE/DATE_drive_NNNN_sync/image_02/data/NNNNNNNNNN.png
    DATE/DATE_drive_NNNN_sync/image_02/timestamps.txt   one `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`
                                                        per frame, line k for frame k
    DATE/DATE_drive_NNNN_sync/oxts/data/NNNNNNNNNN.txt  when present: 30 numbers, the
                                                        first lat lon alt roll pitch yaw,
                                                        vn ve vf (forward speed, m/s) ...

Frame k of a drive is line k of timestamps.txt and image k; its timestamp is seconds
from the drive's first line (nanosecond integers, so no precision is lost). A line
whose image is missing, an image with no line, a bad line, and a missing or malformed
OXTS file are problems (the frame is skipped, or keeps no OXTS labels). A drive without
timestamps.txt is a problem too; its frames are timed index / fps.

API
    find_drives(path) -> list[Path]
    open_kitti(path, fps=10.0) -> ImageSource      layout "kitti"
    parse_timestamp(text) -> int nanoseconds since the epoch (UTC)
    read_oxts(path) -> Labels
"""

from __future__ import annotations

import calendar
import re
from functools import partial
from pathlib import Path

from fognet.data.files import Entry, ImageSource, sequences_source
from fognet.data.source import Labels
from fognet.errors import DatasetError

CAMERA = "image_02"
_DRIVE = re.compile(r"^\d{4}_\d{2}_\d{2}_drive_\d{4}_sync$")
_STAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")


def find_drives(path: Path) -> list[Path]:
    """The synced drive folders at, under, or two levels under `path`, in name order
    (a drive's image_02 or image_02/data folder stands for its drive)."""
    if path.name == "data" and path.parent.name == CAMERA:
        path = path.parents[1]
    elif path.name == CAMERA:
        path = path.parent
    if (path / CAMERA).is_dir():
        return [path]
    found = [p for p in path.glob("*_drive_*_sync") if _DRIVE.match(p.name)]
    found += [p for p in path.glob("*/*_drive_*_sync") if _DRIVE.match(p.name)]
    return sorted((p for p in found if (p / CAMERA).is_dir()), key=lambda p: p.name)


def parse_timestamp(text: str) -> int:
    """`YYYY-MM-DD HH:MM:SS.nnnnnnnnn` as integer nanoseconds since the epoch (UTC)."""
    m = _STAMP.match(text.strip())
    if m is None:
        raise DatasetError(f"not YYYY-MM-DD HH:MM:SS.nnnnnnnnn: {text.strip()!r}")
    y, mo, d, h, mi, s = (int(v) for v in m.groups()[:6])
    frac = (m.group(7) or "0").ljust(9, "0")
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1_000_000_000 + int(frac)


def read_oxts(path: Path) -> Labels:
    """Position, heading and forward speed from one OXTS file (DatasetError if malformed)."""
    try:
        values = [float(v) for v in path.read_text().split()]
    except ValueError as exc:
        raise DatasetError(f"{path}: not numbers ({exc})") from exc
    if len(values) < 9:
        raise DatasetError(f"{path}: {len(values)} numbers, expected 30")
    lat, lon, alt, _roll, _pitch, yaw, _vn, _ve, vf = values[:9]
    return Labels(speed=vf, position=(lat, lon, alt), yaw=yaw)


def _stamps(drive: Path, problems: list[str]) -> dict[int, int] | None:
    stamps_path = drive / CAMERA / "timestamps.txt"
    if not stamps_path.is_file():
        problems.append(f"{stamps_path}: missing; frames timed index / fps")
        return None
    out = {}
    for k, line in enumerate(stamps_path.read_text().splitlines()):
        try:
            out[k] = parse_timestamp(line)
        except DatasetError as exc:
            problems.append(f"{stamps_path} line {k + 1}: {exc}; frame {k} skipped")
    return out


def _oxts(drive: Path, k: int, problems: list[str]) -> Labels | None:
    if not (drive / "oxts" / "data").is_dir():
        return None
    path = drive / "oxts" / "data" / f"{k:010d}.txt"
    try:
        return read_oxts(path)
    except FileNotFoundError:
        problems.append(f"{path}: no such file; frame {k} has no OXTS labels")
    except OSError as exc:
        problems.append(f"{path}: cannot read ({exc.strerror or exc}); frame {k} has no OXTS labels")
    except DatasetError as exc:
        problems.append(f"malformed OXTS {exc}; frame {k} has no OXTS labels")
    return None


def _drive_entries(drive: Path, problems: list[str], clock: list, fps: float) -> list[Entry]:
    """The drive's frames; `clock` gets (drive, seconds) of every timestamps.txt line, so
    the rate is the camera's even where images are missing."""
    data = drive / CAMERA / "data"
    images = {int(p.stem): p for p in data.glob("*.png") if p.stem.isdigit()} if data.is_dir() else {}
    stamps = _stamps(drive, problems)
    if stamps is None:
        stamps = {k: round(k / fps * 1e9) for k in images}
    else:
        problems.extend(f"{images[k]}: no line in timestamps.txt; skipped" for k in sorted(images) if k not in stamps)
    problems.extend(f"{data / f'{k:010d}.png'}: no such file (timestamps.txt line {k + 1})"
                    for k in sorted(stamps) if k not in images)
    keys = sorted(k for k in stamps if k in images)
    t0 = stamps[keys[0]] if keys else 0
    clock.extend((drive.name, (stamps[k] - t0) / 1e9) for k in sorted(stamps))
    return [Entry(images[k], (stamps[k] - t0) / 1e9, _oxts(drive, k, problems), drive.name) for k in keys]


def open_kitti(path: str | Path, fps: float = 10.0) -> ImageSource:
    """Every synced drive's image_02 frames under `path`, with timestamps and OXTS labels."""
    path = Path(path)
    drives = find_drives(path)
    timed = all((d / CAMERA / "timestamps.txt").is_file() for d in drives)
    return sequences_source("kitti", path, drives, partial(_drive_entries, fps=fps), fps, timed,
                            f"no KITTI DATE_drive_NNNN_sync/{CAMERA} folder")
