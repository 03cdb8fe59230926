"""The video reader (PyAV) on small videos written with PyAV here, and BDD100K's videos."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from fognet.data.layouts import detect, open_source
from fognet.data.survey import survey
from fognet.errors import DatasetError, FrameError

LEVELS = [20, 60, 100, 140, 180, 220]


def _write_video(path, levels=LEVELS, fps=10, size=(32, 48), codec="mpeg4"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for level in levels:
            image = np.full((*size, 3), level, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_a_video_file_yields_its_frames_with_presentation_times(tmp_path):
    path = _write_video(tmp_path / "drive.mp4")
    assert detect(path) == "video"
    source = open_source(path)
    frames = list(source)
    assert source.layout == "video" and len(source) == len(LEVELS) == len(frames)
    assert source.fps == 10.0 and source.size == (48, 32) and source.timed
    assert [f.timestamp for f in frames] == pytest.approx([k / 10 for k in range(len(LEVELS))])
    assert [f.index for f in frames] == list(range(len(LEVELS)))
    assert all(f.image.shape == (32, 48, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [float(f.image.mean()) for f in frames] == pytest.approx(LEVELS, abs=4)
    assert frames[2].name == f"{path}#2" and frames[2].sequence == "drive" and frames[2].labels is None


def test_a_folder_of_videos_is_one_source_of_sequences(tmp_path):
    _write_video(tmp_path / "a.mov", LEVELS[:2])
    _write_video(tmp_path / "b.mov", LEVELS[2:5])
    (tmp_path / "notes.txt").write_text("not a video")
    source = open_source(tmp_path)
    frames = list(source)
    assert len(source) == 5 and [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.sequence for f in frames] == ["a", "a", "b", "b", "b"]
    assert [f.timestamp for f in frames] == pytest.approx([0, 0.1, 0, 0.1, 0.2])


def test_a_damaged_video_is_named_and_the_others_still_read(tmp_path):
    _write_video(tmp_path / "a.mov", LEVELS[:2])
    (tmp_path / "b.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  not really a movie")
    source = open_source(tmp_path)
    assert len(source) == 2 and len(source.problems) == 1
    assert source.problems[0].startswith(f"{tmp_path}/b.mov: cannot open as video")
    with pytest.raises(DatasetError, match=r"b\.mov: cannot open as video \(Invalid data"):
        open_source(tmp_path / "b.mov")


def _cut(path, fraction):
    data = path.read_bytes()
    out = path.with_name("cut-" + path.name)
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def test_a_truncated_mp4_has_lost_its_index_and_is_one_line(tmp_path):
    cut = _cut(_write_video(tmp_path / "v.mp4", LEVELS * 4, size=(64, 96)), 0.66)  # the moov index is at the end
    with pytest.raises(DatasetError) as caught:
        open_source(cut)
    assert str(caught.value) == f"{cut}: cannot open as video (Invalid data found when processing input)"


def test_a_truncated_avi_reads_up_to_the_cut_then_names_the_frame(tmp_path):
    cut = _cut(_write_video(tmp_path / "v.avi", LEVELS * 4, size=(64, 96)), 0.66)
    source = open_source(cut)
    assert len(source) == 24  # the header still says 24 frames
    with pytest.raises(FrameError, match=rf"^{cut}#4: cannot decode video frame 4 \(Invalid data"):
        list(source)
    found = survey(source)
    assert found.frames == 4 and len(found.problems) == 1 and found.problems[0].startswith(f"{cut}#4: ")


def test_bdd100k_videos_carry_the_attributes_of_their_keyframe_image(tmp_path):
    _write_video(tmp_path / "videos" / "val" / "b1c66a42-6f7d68ca.mov", LEVELS[:3])
    _write_video(tmp_path / "videos" / "val" / "b1c81faa-3df17267.mov", LEVELS[:2])
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "bdd100k_labels_images_val.json").write_text(json.dumps([
        {"name": "b1c66a42-6f7d68ca.jpg", "attributes": {"weather": "rainy", "scene": "tunnel"},
         "labels": [{"category": "car", "box2d": {"x1": 0, "y1": 0, "x2": 1, "y2": 1}}]}]))
    assert detect(tmp_path) == "bdd100k-video"
    source = open_source(tmp_path)
    frames = list(source)
    assert source.layout == "bdd100k-video" and len(frames) == 5
    assert all(f.labels.attribute("weather") == "rainy" and f.labels.boxes == () for f in frames[:3])
    assert all(f.labels is None for f in frames[3:])
    assert dict(survey(source).labels) == {"attributes": 1}
