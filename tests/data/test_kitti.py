"""KITTI raw: image_02/data/*.png with image_02/timestamps.txt and oxts/data/*.txt."""

from __future__ import annotations

import numpy as np
import pytest

from fognet.data.kitti import parse_timestamp
from fognet.data.layouts import detect, open_source
from fognet.errors import DatasetError
from tests.data.helpers import solid, write_image

STAMPS = """2011-09-26 13:02:25.964389445
2011-09-26 13:02:26.074569056
2011-09-26 13:02:26.174803194
2011-09-26 13:02:26.274727340
"""
OXTS = ("49.015003823272 8.4342971002335 116.43032836914 0.035752 0.00903 -2.6087069803847 "
        "-7.3374948177181 4.4932349003897 8.6005143125226 0.31815495103 -0.11122222435443 "
        "0.16315165042877 -0.17262765159845 9.7955322265625 -0.12064149270952 -0.20302930951095 "
        "9.7936828517914 -0.01734418095201 -0.0095306101769735 0.0051331869624224 "
        "-0.017396358913809 -0.0093769181329324 0.0055131314531602 0.21013088977823 "
        "0.035377344452982 4 11 6 6 6\n")


def _drive(root, name="2011_09_26_drive_0001_sync", frames=(0, 1, 3), oxts=(0, 1, 3), stamps=STAMPS):
    drive = root / name[:10] / name
    for k in frames:
        write_image(drive / "image_02" / "data" / f"{k:010d}.png", 10 * (k + 1))
    if stamps is not None:
        (drive / "image_02" / "timestamps.txt").write_text(stamps)
    for k in oxts:
        path = drive / "oxts" / "data" / f"{k:010d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(OXTS)
    return drive


def test_frames_timestamps_and_oxts_labels(tmp_path):
    drive = _drive(tmp_path)
    (drive / "oxts" / "data" / "0000000003.txt").write_text("49.01 8.43\n")  # cut short
    assert detect(tmp_path) == "kitti"
    source = open_source(tmp_path)
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2] and source.timed
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.110179611, 0.310337895], abs=1e-12)
    assert all(np.array_equal(f.image, solid(10 * (k + 1))) for f, k in zip(frames, (0, 1, 3), strict=True))
    assert frames[0].sequence == "2011_09_26_drive_0001_sync"
    lab = frames[1].labels
    assert lab.position == (49.015003823272, 8.4342971002335, 116.43032836914)
    assert lab.yaw == -2.6087069803847 and lab.speed == 8.6005143125226
    assert frames[2].labels is None
    assert source.fps == pytest.approx(3 / 0.310337895)  # every line step, the missing image's too


def test_a_missing_image_and_a_malformed_oxts_file_are_one_line_each(tmp_path):
    drive = _drive(tmp_path)
    (drive / "oxts" / "data" / "0000000003.txt").write_text("49.01 8.43\n")
    problems = open_source(tmp_path).problems
    assert len(problems) == 2
    assert problems[0] == f"{drive}/image_02/data/0000000002.png: no such file (timestamps.txt line 3)"
    assert problems[1].startswith("malformed OXTS ") and "0000000003.txt: 2 numbers, expected 30" in problems[1]


def test_a_drive_or_date_folder_opens_too_and_drives_are_sequences(tmp_path):
    _drive(tmp_path)
    _drive(tmp_path, "2011_09_26_drive_0002_sync", frames=(0, 1), oxts=(), stamps=STAMPS[:60])
    both = open_source(tmp_path)
    assert len(both) == 5 and [f.sequence[-9:-5] for f in both] == ["0001"] * 3 + ["0002"] * 2
    assert both[3].timestamp == 0.0 and both[4].timestamp == pytest.approx(0.110179611)
    assert both[3].labels is None  # no oxts folder: no labels, and not a problem
    assert both.problems == (f"{tmp_path}/2011_09_26/2011_09_26_drive_0001_sync/image_02/data/"
                             "0000000002.png: no such file (timestamps.txt line 3)",)
    assert len(open_source(tmp_path / "2011_09_26")) == 5
    drive = tmp_path / "2011_09_26" / "2011_09_26_drive_0002_sync"
    assert len(open_source(drive)) == 2
    for inside in (drive / "image_02", drive / "image_02" / "data"):
        assert detect(inside) == "kitti" and open_source(inside).timed and len(open_source(inside)) == 2


def test_no_timestamps_file_is_a_problem_and_frames_are_timed_by_fps(tmp_path):
    drive = _drive(tmp_path, frames=(0, 1), oxts=(), stamps=None)
    source = open_source(tmp_path, fps=4.0)
    assert not source.timed and [f.timestamp for f in source] == [0.0, 0.25]
    assert source.problems == (f"{drive}/image_02/timestamps.txt: missing; frames timed index / fps",)


def test_a_bad_timestamp_line_names_its_line_and_skips_the_frame(tmp_path):
    _drive(tmp_path, frames=(0, 1, 2), oxts=(), stamps="2011-09-26 13:02:25.964389445\nyesterday\n"
           "2011-09-26 13:02:26.174803194\n")
    source = open_source(tmp_path)
    assert len(source) == 2 and source[1].timestamp == pytest.approx(0.210413749)
    assert "timestamps.txt line 2: not YYYY-MM-DD HH:MM:SS.nnnnnnnnn: 'yesterday'" in source.problems[0]


def test_parse_timestamp_keeps_nanoseconds():
    assert parse_timestamp("1970-01-01 00:00:01.000000001") == 1_000_000_001
    assert parse_timestamp("1970-01-01 00:00:00.5") == 500_000_000
    with pytest.raises(DatasetError):
        parse_timestamp("2011-09-26T13:02:25")
