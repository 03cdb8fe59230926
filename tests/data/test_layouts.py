"""Every generated layout is detected and read back: frames, timestamps and labels intact."""

from __future__ import annotations

import numpy as np
import pytest

from fognet.data.driving import DrivingStream
from fognet.data.generate import write_layout
from fognet.data.layouts import detect, open_source
from fognet.errors import DatasetError, FrameError

SIZE = (48, 64)


def _written(tmp_path, layout, n=5, fps=10.0):
    stream = DrivingStream(n, fps=fps, seed=3, size=SIZE)
    write_layout(layout, stream, tmp_path / layout, fps)
    return stream, open_source(tmp_path / layout)


def _close(a, b, jpeg):
    return np.abs(a.astype(int) - b).mean() < 6 if jpeg else np.array_equal(a, b)


@pytest.mark.parametrize(
    ("layout", "timed"),
    [("bdd100k", False), ("kitti", True), ("udacity", True), ("udacity-sim", True), ("video", True),
     ("folder", True)],
)
def test_each_layout_round_trips_the_frames(tmp_path, layout, timed):
    stream, source = _written(tmp_path, layout)
    assert detect(tmp_path / layout) == source.layout == layout and source.problems == ()
    frames = list(source)
    assert len(source) == len(frames) == 5
    lossy = layout in ("bdd100k", "udacity", "udacity-sim", "video")
    for f, g in zip(frames, stream, strict=True):
        assert f.image.shape == (*SIZE, 3) and _close(f.image, g.image, lossy)
    # timed layouts keep the stream's clock (the simulator's file names have milliseconds);
    # BDD100K's stills have none: index / its default 30 fps
    assert source.timed == timed
    expected = [g.timestamp for g in stream] if timed else [k / 30 for k in range(5)]
    assert [f.timestamp for f in frames] == pytest.approx(expected, abs=1e-3)
    assert source.fps == pytest.approx(10.0 if timed else 30.0, rel=1e-3)


def test_labels_survive_each_layout(tmp_path):
    stream = list(DrivingStream(5, fps=10.0, seed=3, size=SIZE))
    steering = [f.steering for f in stream]
    for layout in ("udacity", "folder"):
        assert [f.steering for f in _written(tmp_path, layout)[1]] == pytest.approx(steering, abs=1e-6)
    sim = [f.steering for f in _written(tmp_path, "udacity-sim")[1]]
    assert sim == pytest.approx(steering, abs=1e-9)  # |steering| < 25 degrees: not clipped
    kitti = list(_written(tmp_path, "kitti")[1])
    assert [f.labels.yaw for f in kitti] == pytest.approx([f.labels.yaw for f in stream])
    assert {f.labels.speed for f in kitti} == {20.0}
    lat = [f.labels.position[0] for f in kitti]
    lon = [f.labels.position[1] for f in kitti]
    assert lat[0] == pytest.approx(49.011) and lon[4] > lon[0]  # heading east at 20 m/s
    assert (lon[4] - lon[0]) * 111_320 * np.cos(np.radians(49.011)) == pytest.approx(20.0 * 0.4, rel=0.01)
    bdd = list(_written(tmp_path, "bdd100k")[1])
    assert [f.labels.boxes for f in bdd] == [f.labels.boxes for f in stream]
    assert bdd[0].labels.attribute("weather") == "clear"


def test_a_path_that_is_no_dataset_fails_in_one_line(tmp_path):
    with pytest.raises(DatasetError, match="no such file or folder"):
        open_source(tmp_path / "nope")
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(DatasetError, match="no dataset layout found"):
        open_source(tmp_path)
    with pytest.raises(DatasetError, match="not a dataset file"):
        open_source(tmp_path / "readme.txt")
    with pytest.raises(DatasetError, match="unknown layout 'coco'"):
        open_source(tmp_path, layout="coco")
    with pytest.raises(DatasetError, match="fps must be positive"):
        open_source(tmp_path, fps=-1)
    write_layout("folder", DrivingStream(1, size=SIZE), tmp_path / "f", 10.0)
    with pytest.raises(DatasetError, match=r"a split \(val\) is for BDD100K; this is the folder layout"):
        open_source(tmp_path / "f", split="val")


def test_writing_an_unknown_layout_or_unlabelled_frames_is_refused(tmp_path):
    with pytest.raises(FrameError, match="unknown layout"):
        write_layout("coco", [], tmp_path, 10.0)
    write_layout("folder", DrivingStream(2, size=SIZE), tmp_path / "plain", 10.0)
    (tmp_path / "plain" / "steering.csv").unlink()
    unlabelled = open_source(tmp_path / "plain")
    with pytest.raises(FrameError, match="need labelled frames"):
        write_layout("kitti", unlabelled, tmp_path / "k", 10.0)


def test_the_rate_leaves_out_gaps_and_sequence_boundaries():
    from fognet.data.files import rate

    stamps = [("a", 0.0), ("a", 0.1), ("a", 0.2), ("a", 1.2), ("b", 5.0), ("b", 5.1)]
    assert rate(stamps, 7.0) == pytest.approx(10.0)  # the 1 s gap and the a->b jump are no steps
    assert rate([("a", 0.0), ("b", 0.0)], 7.0) == 7.0
    assert rate([("", t / 1000) for t in (0, 67, 133, 200)], 1.0) == pytest.approx(15.0)


def test_open_source_warns_once_for_all_the_problems(tmp_path, caplog):
    _written(tmp_path, "kitti")
    for png in sorted((tmp_path / "kitti").rglob("data/*.png"))[:3]:
        png.unlink()
    with caplog.at_level("WARNING", logger="fognet.data"):
        source = open_source(tmp_path / "kitti")
        quiet = open_source(tmp_path / "kitti", warn=False)
    assert len(source.problems) == len(quiet.problems) == 3
    assert len(caplog.records) == 1
    assert "3 problem(s), first: " in caplog.records[0].getMessage()
    assert "fognet data inspect" in caplog.records[0].getMessage()
