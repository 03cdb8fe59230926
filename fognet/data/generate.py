"""Write frames (the generated driving stream) in each dataset's exact layout.

So every reader is tested on files laid out as the real dataset lays them out, and a
user can try `fognet infer --source` on any layout without downloading one. Each writer
takes the frames and the directory; what it writes is documented at the reader
(fognet/data/bdd100k.py, kitti.py, udacity.py, folder.py, video.py). Positions for
KITTI's OXTS and Udacity's lat/long are integrated from each frame's speed and yaw,
starting in Karlsruhe; wall-clock times start at a fixed instant, so the same frames
give the same files.

API
    WRITERS: layout -> writer(frames, out, fps)     bdd100k kitti udacity udacity-sim video folder
    DEFAULT_SIZES: layout -> (height, width)        each dataset's camera resolution
    write_layout(layout, frames, out, fps) -> list[Path] of the index files written
"""

from __future__ import annotations

import calendar
import csv
import json
import math
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import av

from fognet.data.folder import STEERING_COLUMNS, STEERING_CSV
from fognet.data.image import save_image
from fognet.data.source import Frame
from fognet.data.udacity import MPH, SIM_MAX_STEER
from fognet.errors import FrameError

START_NS = calendar.timegm((2020, 7, 6, 12, 0, 0, 0, 0, 0)) * 1_000_000_000  # INFOCOM 2020
ORIGIN = (49.011, 8.4167, 110.0)  # lat, lon (deg), alt (m): Karlsruhe, where KITTI drove
EARTH_RADIUS = 6_378_137.0  # m
DEFAULT_SIZES = {
    "bdd100k": (720, 1280), "kitti": (375, 1242), "udacity": (480, 640),
    "udacity-sim": (160, 320), "video": (720, 1280), "folder": (720, 1280),
}


def _track(frames: Iterable[Frame]) -> Iterator[tuple[Frame, tuple[float, float, float]]]:
    """Each frame with its (lat, lon, alt), dead-reckoned from its speed and yaw."""
    east = north = 0.0
    prev: Frame | None = None
    lat0, lon0, alt0 = ORIGIN
    for f in frames:
        if prev is not None and prev.labels is not None:
            dt = f.timestamp - prev.timestamp
            yaw, speed = prev.labels.yaw or 0.0, prev.labels.speed or 0.0
            east += speed * dt * math.cos(yaw)
            north += speed * dt * math.sin(yaw)
        lat = lat0 + math.degrees(north / EARTH_RADIUS)
        lon = lon0 + math.degrees(east / (EARTH_RADIUS * math.cos(math.radians(lat0))))
        yield f, (lat, lon, alt0)
        prev = f


def _clock(frame: Frame) -> int:
    return START_NS + round(frame.timestamp * 1e9)


def _mkdir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FrameError(f"cannot create output directory {path}: {exc.strerror or exc}") from exc
    return path


def _write_text(path: Path, text: str) -> Path:
    try:
        path.write_text(text)
    except OSError as exc:
        raise FrameError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def _labels(frame: Frame):
    if frame.labels is None:
        raise FrameError(f"{frame.name or frame.index}: the generated layouts need labelled frames")
    return frame.labels


def write_bdd100k(frames: Iterable[Frame], out: Path, fps: float) -> list[Path]:
    """images/100k/val/<name>.jpg and labels/bdd100k_labels_images_val.json."""
    images = _mkdir(out / "images" / "100k" / "val")
    items = []
    for f in frames:
        name = f"f0e1d2c3-{f.index:08x}.jpg"  # BDD100K names are two 8-digit hex groups
        save_image(images / name, f.image)
        boxes = [{"category": b.category, "id": k, "attributes": {"occluded": False, "truncated": False},
                  "manualShape": True, "manualAttributes": True,
                  "box2d": {"x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2}}
                 for k, b in enumerate(_labels(f).boxes)]
        items.append({"name": name, "attributes": {"weather": "clear", "scene": "highway", "timeofday": "daytime"},
                      "timestamp": 10000, "labels": boxes})
    labels = _mkdir(out / "labels")
    return [_write_text(labels / "bdd100k_labels_images_val.json", json.dumps(items, indent=1))]


def _oxts_line(frame: Frame, position: tuple[float, float, float]) -> str:
    lab = _labels(frame)
    yaw, speed = lab.yaw or 0.0, lab.speed or 0.0
    vn, ve = speed * math.sin(yaw), speed * math.cos(yaw)
    values = [*position, 0.0, 0.0, yaw, vn, ve, speed, 0.0, 0.0] + [0.0] * 12 + [0.1, 0.05, 4, 10, 4, 4, 4]
    return " ".join(f"{v:.12g}" if isinstance(v, float) else str(v) for v in values) + "\n"


def _kitti_time(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}"


def write_kitti(frames: Iterable[Frame], out: Path, fps: float) -> list[Path]:
    """DATE/DATE_drive_0001_sync/image_02/{data/*.png,timestamps.txt} and oxts/{data/*.txt,...}."""
    date = time.strftime("%Y_%m_%d", time.gmtime(START_NS // 1_000_000_000))
    drive = out / date / f"{date}_drive_0001_sync"
    data, oxts = _mkdir(drive / "image_02" / "data"), _mkdir(drive / "oxts" / "data")
    stamps = []
    for f, position in _track(frames):
        save_image(data / f"{f.index:010d}.png", f.image)
        _write_text(oxts / f"{f.index:010d}.txt", _oxts_line(f, position))
        stamps.append(_kitti_time(_clock(f)) + "\n")
    return [_write_text(drive / "image_02" / "timestamps.txt", "".join(stamps)),
            _write_text(drive / "oxts" / "timestamps.txt", "".join(stamps))]


def write_udacity(frames: Iterable[Frame], out: Path, fps: float) -> list[Path]:
    """interpolated.csv with center/left/right rows and center/ left/ right/ <ns>.jpg."""
    dirs = {cam: _mkdir(out / cam) for cam in ("center", "left", "right")}
    rows = [["index", "timestamp", "width", "height", "frame_id", "filename", "angle", "torque",
             "speed", "lat", "long", "alt"]]
    for f, (lat, lon, alt) in _track(frames):
        ns, lab = _clock(f), _labels(f)
        save_image(dirs["center"] / f"{ns}.jpg", f.image)
        for cam, folder in dirs.items():
            if cam != "center":
                shutil.copyfile(dirs["center"] / f"{ns}.jpg", folder / f"{ns}.jpg")
            rows.append([len(rows) - 1, ns, f.width, f.height, f"{cam}_camera", f"{cam}/{ns}.jpg",
                         lab.steering, 0.0, lab.speed, lat, lon, alt])
    return [_write_csv(out / "interpolated.csv", rows)]


def _write_csv(path: Path, rows: list[list[object]]) -> Path:
    try:
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    except OSError as exc:
        raise FrameError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def write_udacity_sim(frames: Iterable[Frame], out: Path, fps: float) -> list[Path]:
    """driving_log.csv (no header, absolute paths, as the simulator writes) and IMG/*.jpg."""
    img = _mkdir(out / "IMG")
    rows: list[list[object]] = []
    for f in frames:
        ns, lab = _clock(f), _labels(f)
        stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(ns // 1_000_000_000)) + f"_{ns // 1_000_000 % 1000:03d}"
        paths = [img / f"{cam}_{stamp}.jpg" for cam in ("center", "left", "right")]
        save_image(paths[0], f.image)
        for p in paths[1:]:
            shutil.copyfile(paths[0], p)
        steer = max(-1.0, min(1.0, (lab.steering or 0.0) / SIM_MAX_STEER))
        rows.append([str(p.resolve()) for p in paths] + [steer, 0.5, 0.0, (lab.speed or 0.0) / MPH])
    return [_write_csv(out / "driving_log.csv", rows)]


def write_video(frames: Iterable[Frame], out: Path, fps: float) -> list[Path]:
    """drive.mp4 (MPEG-4 part 2, which every FFmpeg build encodes), even-sized frames."""
    path = _mkdir(out) / "drive.mp4"
    try:
        with av.open(str(path), "w") as container:
            stream = None
            for f in frames:
                image = f.image[: f.height // 2 * 2, : f.width // 2 * 2]
                if stream is None:
                    stream = container.add_stream("mpeg4", rate=round(fps))
                    stream.height, stream.width = image.shape[:2]
                    stream.pix_fmt = "yuv420p"
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            if stream is not None:
                container.mux(stream.encode())
    except (av.FFmpegError, OSError) as exc:
        raise FrameError(f"cannot write video {path}: {exc}") from exc
    return [path]


def write_folder(frames: Iterable[Frame], out: Path, fps: float) -> list[Path]:
    """frame_NNNNN.png and steering.csv (file, timestamp_s, steering_rad): `fognet frames`."""
    _mkdir(out)
    rows: list[list[object]] = [list(STEERING_COLUMNS)]
    for f in frames:
        name = f"frame_{f.index:05d}.png"
        save_image(out / name, f.image)
        rows.append([name, f"{f.timestamp:.6f}", f"{_labels(f).steering:.6f}"])
    return [_write_csv(out / STEERING_CSV, rows)]


WRITERS: dict[str, Callable[[Iterable[Frame], Path, float], list[Path]]] = {
    "bdd100k": write_bdd100k, "kitti": write_kitti, "udacity": write_udacity,
    "udacity-sim": write_udacity_sim, "video": write_video, "folder": write_folder,
}


def write_layout(layout: str, frames: Iterable[Frame], out: str | Path, fps: float) -> list[Path]:
    """Write `frames` under `out` in `layout`; the index files written (labels, CSV, ...)."""
    if layout not in WRITERS:
        raise FrameError(f"unknown layout {layout!r}; use one of {', '.join(WRITERS)}")
    return WRITERS[layout](frames, Path(out), fps)
