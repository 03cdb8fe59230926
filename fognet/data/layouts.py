"""One entry point for every frame source: `open_source(path)` finds the layout and opens it.

Detection looks at what is at the path, most specific first:

    udacity       interpolated.csv (the file, in the folder, or in its sub-folders)
    udacity-sim   driving_log.csv
    kitti         DATE_drive_NNNN_sync/image_02 (the drive, its DATE folder, or the root)
    bdd100k       images/100k/<split> or images/10k/<split> (+ labels/**/*.json)
    bdd100k-video a BDD100K root with videos/ and no images (or asked for by name)
    video         a video file, or a folder of video files
    folder        a folder of images (+ steering.csv as written by `fognet frames`)

API
    LAYOUTS
    detect(path) -> layout name       DatasetError saying what was looked for
    open_source(path, fps=None, split=None, layout=None, warn=True) -> ImageSource | VideoSource
"""

from __future__ import annotations

import logging
from pathlib import Path

from fognet.data import bdd100k, kitti, udacity
from fognet.data.files import ImageSource
from fognet.data.folder import list_images, open_folder
from fognet.data.video import VIDEO_SUFFIXES, VideoSource
from fognet.errors import DatasetError

log = logging.getLogger(__name__)
LAYOUTS = ("udacity", "udacity-sim", "kitti", "bdd100k", "bdd100k-video", "video", "folder")
DEFAULT_FPS = {"udacity": 20.0, "udacity-sim": 15.0, "kitti": 10.0}  # the datasets' camera rates


def _videos_in(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def detect(path: str | Path) -> str:
    """The layout at `path`; DatasetError naming what was looked for when there is none."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file():
        if path.name == udacity.CHALLENGE_CSV:
            return "udacity"
        if path.name == udacity.SIM_CSV:
            return "udacity-sim"
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return "video"
        raise DatasetError(f"{path}: not a dataset file (expected {udacity.CHALLENGE_CSV}, "
                           f"{udacity.SIM_CSV} or a video: {', '.join(VIDEO_SUFFIXES)})")
    if udacity.challenge_csvs(path):
        return "udacity"
    if (path / udacity.SIM_CSV).is_file():
        return "udacity-sim"
    if kitti.find_drives(path):
        return "kitti"
    if bdd100k.find_root(path) is not None:
        return "bdd100k"
    if bdd100k.video_paths(path):
        return "bdd100k-video"
    if list_images(path):
        return "folder"
    if _videos_in(path):
        return "video"
    raise DatasetError(
        f"{path}: no dataset layout found (looked for Udacity {udacity.CHALLENGE_CSV} or "
        f"{udacity.SIM_CSV}, KITTI DATE_drive_NNNN_sync/image_02, BDD100K images/100k/<split>, "
        "videos, or image files)"
    )


def _bdd_videos(path: Path, split: str | None) -> VideoSource:
    root = (bdd100k.find_root(path) or (path, []))[0]
    paths = bdd100k.video_paths(root, split)
    if not paths:
        raise DatasetError(f"{path}: no BDD100K videos/*.mov")
    return VideoSource(paths, "bdd100k-video", bdd100k.video_labels(root, split), root)


def open_source(
    path: str | Path,
    fps: float | None = None,
    split: str | None = None,
    layout: str | None = None,
    warn: bool = True,
) -> ImageSource | VideoSource:
    """Open the frames at `path` in its layout (detected, or `layout`).

    `fps` is the rate of sources without timestamps (their frames are timed index / fps;
    default each dataset's camera rate, 30 for stills); timed sources report their own.
    `split` picks one BDD100K split (train, val, test). With `warn`, problems met while
    opening (missing files, bad rows) are one warning line; `.problems` has them all.
    """
    source = _open(Path(path), fps, split, layout)
    if warn and source.problems:
        log.warning("%s: %d problem(s), first: %s; `fognet data inspect %s` lists them",
                    path, len(source.problems), source.problems[0], path)
    return source


def _open(path: Path, fps: float | None, split: str | None, layout: str | None) -> ImageSource | VideoSource:
    if fps is not None and fps <= 0:
        raise DatasetError(f"fps must be positive, got {fps}")
    layout = layout or detect(path)
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if split is not None and not layout.startswith("bdd100k"):
        raise DatasetError(f"{path}: a split ({split}) is for BDD100K; this is the {layout} layout")
    rate = fps or DEFAULT_FPS.get(layout, 30.0)
    if layout == "udacity":
        return udacity.open_challenge(path, rate)
    if layout == "udacity-sim":
        return udacity.open_simulator(path, rate)
    if layout == "kitti":
        return kitti.open_kitti(path, rate)
    if layout == "bdd100k":
        return bdd100k.open_bdd100k(path, rate, split)
    if layout == "bdd100k-video":
        return _bdd_videos(path, split)
    if layout == "video":
        return VideoSource([path] if path.is_file() else _videos_in(path), root=path)
    return open_folder(path, rate)
