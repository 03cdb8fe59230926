"""Udacity: the challenge export's interpolated.csv and the simulator's driving_log.csv."""

from __future__ import annotations

import math

import pytest

from fognet.data.layouts import detect, open_source
from fognet.errors import DatasetError
from tests.data.helpers import grey, write_image

HEADER = "index,timestamp,width,height,frame_id,filename,angle,torque,speed,lat,long,alt\n"


def _row(ns, cam, angle, speed=4.47):
    return (f"2016-11-17 23:30:41.{ns % 10**9:09d},{ns},640,480,{cam}_camera,{cam}/{ns}.jpg,"
            f"{angle},-0.0625,{speed},37.39966,-122.10879,-30.1\n")


@pytest.fixture
def export(tmp_path):
    root = tmp_path / "HMB_1"
    t0 = 1479425441182877835
    rows = []
    for k in range(4):
        ns = t0 + k * 50_000_000
        rows += [_row(ns, "left", 9.9), _row(ns, "center", 0.1 * k), _row(ns + 1_000_000, "right", 9.9)]
        if k != 2:  # frame 2's center image is missing
            write_image(root / "center" / f"{ns}.jpg", 50 + 40 * k)
        write_image(root / "left" / f"{ns}.jpg", 255)
    (root / "interpolated.csv").write_text(HEADER + "".join(rows))
    return root


def test_challenge_center_rows_with_steering_speed_and_position(export):
    assert detect(export) == "udacity" and detect(export / "interpolated.csv") == "udacity"
    source = open_source(export)
    frames = list(source)
    assert source.layout == "udacity" and len(frames) == 3 and source.timed
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.05, 0.15])
    assert source.fps == pytest.approx(20.0)
    assert [round(grey(f.image)) for f in frames] == pytest.approx([50, 90, 170], abs=2)
    assert [f.steering for f in frames] == pytest.approx([0.0, 0.1, 0.3])
    lab = frames[1].labels
    assert lab.speed == 4.47 and lab.torque == -0.0625 and lab.position == (37.39966, -122.10879, -30.1)
    assert frames[0].sequence == "HMB_1"


def test_a_center_row_whose_file_is_missing_is_one_line(export):
    ns = 1479425441182877835 + 2 * 50_000_000
    assert open_source(export).problems == (
        f"{export}/interpolated.csv row 9: {export}/center/{ns}.jpg: no such file",)


def test_a_folder_of_exports_reads_each_as_a_sequence(export, tmp_path):
    other = tmp_path / "HMB_2"
    write_image(other / "center" / "100.jpg", 10)
    (other / "interpolated.csv").write_text(HEADER + _row(100, "center", -0.2))
    source = open_source(tmp_path)
    assert len(source) == 4 and [f.sequence for f in source][-2:] == ["HMB_1", "HMB_2"]


def test_a_csv_without_the_columns_is_a_dataset_error(tmp_path):
    (tmp_path / "interpolated.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="no column timestamp, frame_id, filename"):
        open_source(tmp_path)


def test_simulator_log_with_absolute_windows_and_relative_paths(tmp_path):
    names = [f"center_2016_12_01_13_30_48_{ms:03d}.jpg" for ms in (287, 387, 487, 587)]
    for k, name in enumerate(names[:3]):
        write_image(tmp_path / "IMG" / name, 60 + 50 * k)
    rows = [
        f"C:\\Users\\me\\Desktop\\data\\IMG\\{names[0]}, C:\\Users\\me\\IMG\\left.jpg, x.jpg, 0, 0, 0, 0\n",
        f"{tmp_path}/IMG/{names[1]}, left.jpg, right.jpg, 0.5, 0.9, 0, 22.148\n",
        f"IMG/{names[2]},left.jpg,right.jpg,-1,1,0.25,30.19\n",
        f"IMG/{names[3]},left.jpg,right.jpg,0.1,1,0,30.19\n",  # its image is missing
        "IMG/x.jpg,left.jpg,right.jpg,fast,1,0,30\n",
    ]
    (tmp_path / "driving_log.csv").write_text("".join(rows))
    assert detect(tmp_path) == "udacity-sim"
    source = open_source(tmp_path)
    frames = list(source)
    assert source.layout == "udacity-sim" and len(frames) == 3 and source.timed
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.1, 0.2])
    assert source.fps == pytest.approx(10.0)
    assert [round(grey(f.image)) for f in frames] == pytest.approx([60, 110, 160], abs=2)
    assert [f.steering for f in frames] == pytest.approx([0.0, 0.5 * math.radians(25), -math.radians(25)])
    assert frames[1].labels.speed == pytest.approx(22.148 * 0.44704)
    assert frames[1].labels.throttle == 0.9 and frames[2].labels.brake == 0.25
    assert source.problems == (
        f"{tmp_path}/driving_log.csv row 4: IMG/{names[3]}: no such file",
        f"{tmp_path}/driving_log.csv row 5: a number does not parse; skipped",
    )


def test_simulator_log_with_a_header_and_untimed_names(tmp_path):
    write_image(tmp_path / "IMG" / "a.jpg", 30)
    write_image(tmp_path / "IMG" / "b.jpg", 90)
    (tmp_path / "driving_log.csv").write_text(
        "center,left,right,steering,throttle,brake,speed\nIMG/a.jpg,,,0.2,1,0,10\nIMG/b.jpg,,,0.1,1,0,10\n")
    source = open_source(tmp_path / "driving_log.csv", fps=5.0)
    assert len(source) == 2 and not source.timed and source.problems == ()
    assert [f.timestamp for f in source] == [0.0, 0.2] and source.fps == 5.0
