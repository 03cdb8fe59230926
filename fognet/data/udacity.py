"""Udacity's driving data: the self-driving challenge export and the simulator's log.

Challenge export (the path is its folder, the CSV, or a folder of such exports):

    interpolated.csv   index,timestamp,width,height,frame_id,filename,angle,torque,speed,lat,long,alt
    center/<ns>.jpg    filename is relative to the CSV; timestamp in nanoseconds

Only `center_camera` rows are frames; `angle` is the steering-wheel angle (rad), `speed`
m/s. Simulator log (the path is its folder or the CSV):

    driving_log.csv    center,left,right,steering,throttle,brake,speed (a header row or none)
    IMG/center_YYYY_MM_DD_HH_MM_SS_mmm.jpg

The simulator writes absolute paths of the machine it ran on: a path that does not exist
is looked up as IMG/<file name> and then relative to the CSV. Its steering is in
[-1, 1] of a 25 degree maximum (stored as radians) and its speed in mph (stored as m/s);
timestamps come from the file names when every one carries one, else index / fps. A row
whose image is missing or whose numbers do not parse is a problem and is skipped.

API
    CHALLENGE_CSV, SIM_CSV
    open_challenge(path, fps=20.0) -> ImageSource    layout "udacity"
    open_simulator(path, fps=15.0) -> ImageSource    layout "udacity-sim"
"""

from __future__ import annotations

import calendar
import csv
import math
import re
from pathlib import Path, PureWindowsPath

from fognet.data.files import Entry, ImageSource, rate, sequences_source
from fognet.data.source import Labels
from fognet.errors import DatasetError

CHALLENGE_CSV = "interpolated.csv"
SIM_CSV = "driving_log.csv"
CHALLENGE_COLUMNS = ("timestamp", "frame_id", "filename", "angle", "torque", "speed", "lat", "long", "alt")
SIM_MAX_STEER = math.radians(25.0)
MPH = 0.44704  # m/s
_SIM_STAMP = re.compile(r"(\d{4})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{3})")


def _rows(csv_path: Path) -> list[list[str]]:
    try:
        with csv_path.open(newline="") as fh:
            return [row for row in csv.reader(fh) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{csv_path}: cannot read ({exc})") from exc


# -- the challenge export -------------------------------------------------------------------


def challenge_csvs(path: Path) -> list[Path]:
    """interpolated.csv at `path` (a file or folder) or in its sub-folders, in name order."""
    if path.is_file() and path.name == CHALLENGE_CSV:
        return [path]
    if (path / CHALLENGE_CSV).is_file():
        return [path / CHALLENGE_CSV]
    return sorted(path.glob(f"*/{CHALLENGE_CSV}")) if path.is_dir() else []


def _challenge_entries(csv_path: Path, problems: list[str], clock: list) -> list[Entry]:
    """The export's center-camera frames; `clock` gets (sequence, seconds) of every center
    row, so the rate is the camera's even where images are missing."""
    rows = _rows(csv_path)
    header = [c.strip() for c in rows[0]] if rows else []
    missing = [c for c in CHALLENGE_COLUMNS if c not in header]
    if missing:
        raise DatasetError(f"{csv_path}: not a Udacity interpolated.csv (no column {', '.join(missing)})")
    col = {name: header.index(name) for name in CHALLENGE_COLUMNS}
    stamped, every = [], []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) < len(header) or row[col["frame_id"]].strip() != "center_camera":
            continue
        try:
            ns = int(row[col["timestamp"]])
            angle, torque, speed, lat, lon, alt = (
                float(row[col[c]]) for c in ("angle", "torque", "speed", "lat", "long", "alt"))
        except ValueError:
            problems.append(f"{csv_path} row {n}: a number does not parse; skipped")
            continue
        every.append(ns)
        image = csv_path.parent / row[col["filename"]].strip()
        if not image.is_file():
            problems.append(f"{csv_path} row {n}: {image}: no such file")
            continue
        labels = Labels(steering=angle, speed=speed, torque=torque, position=(lat, lon, alt))
        stamped.append((ns, image, labels))
    t0 = min((s[0] for s in stamped), default=0)
    seq = csv_path.parent.name
    clock.extend((seq, (ns - t0) / 1e9) for ns in sorted(every))
    return [Entry(image, (ns - t0) / 1e9, labels, seq) for ns, image, labels in stamped]


def open_challenge(path: str | Path, fps: float = 20.0) -> ImageSource:
    """Every challenge export's center-camera frames under `path`, with their labels."""
    path = Path(path)
    return sequences_source("udacity", path, challenge_csvs(path), _challenge_entries, fps, True,
                            f"no Udacity {CHALLENGE_CSV}")


# -- the simulator's log --------------------------------------------------------------------


def _resolve(csv_dir: Path, text: str) -> Path | None:
    """The image a log cell names: as written, then IMG/<name>, then relative to the CSV."""
    text = text.strip()
    name = PureWindowsPath(text).name if "\\" in text else Path(text).name
    for candidate in (Path(text), csv_dir / "IMG" / name, csv_dir / text):
        if candidate.is_file():
            return candidate
    return None


def _sim_ms(name: str) -> int | None:
    """Milliseconds since the epoch from a simulator file name, or None without a stamp."""
    m = _SIM_STAMP.search(name)
    if m is None:
        return None
    y, mo, d, h, mi, s, ms = (int(v) for v in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms


def _is_header(row: list[str]) -> bool:
    try:
        float(row[3])
    except (IndexError, ValueError):
        return True
    return False


def open_simulator(path: str | Path, fps: float = 15.0) -> ImageSource:
    """The simulator's center-camera frames from driving_log.csv, with steering and speed."""
    path = Path(path)
    csv_path = path if path.is_file() else path / SIM_CSV
    if not csv_path.is_file():
        raise DatasetError(f"{path}: no Udacity simulator {SIM_CSV}")
    rows = _rows(csv_path)
    start = 1 if rows and _is_header(rows[0]) else 0
    problems: list[str] = []
    found = []
    for n, row in enumerate(rows[start:], start=start + 1):
        if len(row) < 7:
            problems.append(f"{csv_path} row {n}: {len(row)} columns, expected 7; skipped")
            continue
        try:
            steering, throttle, brake, speed = (float(v) for v in row[3:7])
        except ValueError:
            problems.append(f"{csv_path} row {n}: a number does not parse; skipped")
            continue
        image = _resolve(csv_path.parent, row[0])
        if image is None:
            problems.append(f"{csv_path} row {n}: {row[0].strip()}: no such file")
            continue
        labels = Labels(steering=steering * SIM_MAX_STEER, speed=speed * MPH, throttle=throttle, brake=brake)
        found.append((image, labels))
    times = [_sim_ms(image.name) for image, _ in found]
    timed = bool(times) and all(t is not None for t in times)
    stamps = [(t - times[0]) / 1000 for t in times] if timed else [i / fps for i in range(len(found))]
    entries = [Entry(image, t, labels) for (image, labels), t in zip(found, stamps, strict=True)]
    fps = rate([("", e.timestamp) for e in entries], fps) if timed else fps
    return ImageSource("udacity-sim", csv_path.parent, entries, fps, timed, problems)
