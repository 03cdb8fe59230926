"""BDD100K: its images with the detection labels JSON, or its videos.

Layout (the path given is the dataset root, `images/100k` or `images/10k`, or one split
folder under them):

    images/100k/{train,val,test}/<name>.jpg        (or images/10k/...)
    labels/**/<...split...>.json                    e.g. bdd100k_labels_images_val.json,
                                                    det_20/det_val.json
    videos/[split/]<name>.mov                       read by the video reader

A labels JSON is a list of frames: `name` (the image file name), `attributes`
{weather, scene, timeofday}, `labels` [{category, box2d {x1, y1, x2, y2}}] (labels
without a box2d, such as lanes, are skipped). An image is matched to its labels by name;
an image with none (the test split) has no labels, which is not a problem; a name the
JSON lists but the folder lacks is. Images are stills from different drives: timestamps
are index / fps within each split.

API
    SPLITS
    find_root(path) -> (root, image_dirs) | None
    open_bdd100k(path, fps=30.0, split=None) -> ImageSource      layout "bdd100k"
    video_paths(path, split=None) -> list[Path]                  BDD100K's videos
    video_labels(root, split=None) -> dict video stem -> Labels  the attributes of its image
    read_labels(json_path) -> (dict name -> Labels, problems)
"""

from __future__ import annotations

import json
from pathlib import Path

from fognet.data.files import Entry, ImageSource
from fognet.data.source import Box, Labels
from fognet.errors import DatasetError

SPLITS = ("train", "val", "test")
IMAGE_SETS = ("100k", "10k")
VIDEO_SUFFIXES = (".mov",)


def find_root(path: Path) -> tuple[Path, list[Path]] | None:
    """(dataset root, the split folders of images to read), if `path` is in the layout."""
    if path.parent.name in IMAGE_SETS and path.parent.parent.name == "images" and path.name in SPLITS:
        return path.parents[2], [path]
    if path.name in IMAGE_SETS and path.parent.name == "images":
        return path.parents[1], [path / s for s in SPLITS if (path / s).is_dir()]
    for size in IMAGE_SETS:
        splits = [path / "images" / size / s for s in SPLITS if (path / "images" / size / s).is_dir()]
        if splits:
            return path, splits
    return None


def _box(item: object) -> Box | None:
    if not isinstance(item, dict) or not isinstance(item.get("box2d"), dict):
        return None
    b = item["box2d"]
    return Box(str(item.get("category", "")), float(b["x1"]), float(b["y1"]), float(b["x2"]), float(b["y2"]))


def read_labels(json_path: Path) -> tuple[dict[str, Labels], list[str]]:
    """Labels per image name from one detection labels JSON, and the problems in it."""
    try:
        data = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{json_path}: not a readable labels JSON ({exc})") from exc
    if not isinstance(data, list):
        raise DatasetError(f"{json_path}: expected a list of frames with name, attributes, labels")
    out: dict[str, Labels] = {}
    problems = []
    for n, frame in enumerate(data):
        if not isinstance(frame, dict) or not isinstance(frame.get("name"), str):
            problems.append(f"{json_path} frame {n}: no name; skipped")
            continue
        try:
            boxes = tuple(b for b in map(_box, frame.get("labels") or []) if b is not None)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{json_path} frame {frame['name']}: bad box2d ({exc!r}); its boxes skipped")
            boxes = ()
        attrs = frame.get("attributes") or {}
        pairs = tuple((str(k), str(v)) for k, v in attrs.items()) if isinstance(attrs, dict) else ()
        out[frame["name"]] = Labels(boxes=boxes, attributes=pairs)
    return out, problems


def _label_files(root: Path, split: str) -> list[Path]:
    labels = root / "labels"
    if not labels.is_dir():
        return []
    return sorted(p for p in labels.rglob("*.json") if split in p.stem)


def _split_entries(root: Path, folder: Path, fps: float, problems: list[str]) -> list[Entry]:
    split = folder.name
    labels: dict[str, Labels] = {}
    for json_path in _label_files(root, split):
        found, bad = read_labels(json_path)
        labels.update(found)
        problems.extend(bad)
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    on_disk = {p.name for p in images}
    problems.extend(f"{folder / name}: in the labels JSON but no such file"
                    for name in sorted(labels) if name not in on_disk)
    return [Entry(p, i / fps, labels.get(p.name), split) for i, p in enumerate(images)]


def open_bdd100k(path: str | Path, fps: float = 30.0, split: str | None = None) -> ImageSource:
    """BDD100K's images (every split found, or `split`) with their detection labels."""
    path = Path(path)
    found = find_root(path)
    if found is None:
        raise DatasetError(f"{path}: no BDD100K images/100k/<split> or images/10k/<split> folder")
    root, folders = found
    if split is not None:
        folders = [f for f in folders if f.name == split]
        if not folders:
            raise DatasetError(f"{path}: BDD100K has no split {split!r} here")
    problems: list[str] = []
    entries = [e for f in folders for e in _split_entries(root, f, fps, problems)]
    return ImageSource("bdd100k", root, entries, fps, False, problems)


def video_paths(path: str | Path, split: str | None = None) -> list[Path]:
    """BDD100K's videos: videos/*.mov and videos/<split>/*.mov, in name order."""
    videos = Path(path) / "videos"
    if not videos.is_dir():
        return []
    dirs = [videos] + [videos / s for s in SPLITS if split in (None, s)]
    return sorted(p for d in dirs if d.is_dir() for p in d.iterdir()
                  if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def video_labels(root: Path, split: str | None = None) -> dict[str, Labels]:
    """Per video stem, the attributes (weather, scene, timeofday) its keyframe image has.

    A BDD100K image is frame 10 s of the video of the same name; its boxes belong to
    that one frame only, its attributes to the whole clip.
    """
    out: dict[str, Labels] = {}
    for s in SPLITS if split is None else (split,):
        for json_path in _label_files(root, s):
            found, _ = read_labels(json_path)
            out.update({Path(n).stem: Labels(attributes=lab.attributes) for n, lab in found.items()})
    return out
