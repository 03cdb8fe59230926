"""The image folder reader (Pillow), `fognet frames`' folder with steering.csv, and errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fognet.cli import main
from fognet.data.driving import DrivingStream
from fognet.data.folder import open_folder
from fognet.data.image import image_size, load_image, save_image
from fognet.errors import DatasetError, FrameError


def test_png_round_trip_is_exact_and_jpeg_is_close(tmp_path):
    frame = DrivingStream(1, seed=4, size=(90, 160))[0]
    save_image(tmp_path / "f.png", frame.image)
    assert np.array_equal(load_image(tmp_path / "f.png"), frame.image)
    save_image(tmp_path / "f.jpg", frame.image, quality=95)
    back = load_image(tmp_path / "f.jpg")
    assert back.shape == frame.image.shape and np.abs(back.astype(int) - frame.image).mean() < 4
    assert image_size(tmp_path / "f.jpg") == (160, 90)


def test_gray_and_palette_images_come_back_as_rgb(tmp_path):
    gray = np.random.default_rng(0).integers(0, 256, (5, 7), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    assert np.array_equal(load_image(tmp_path / "g.png"), np.repeat(gray[..., None], 3, axis=2))
    pal = Image.new("P", (3, 2))
    pal.putpalette([255, 0, 0, 0, 0, 255])
    pal.putdata([0, 1, 1, 1, 0, 0])
    pal.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png")[0].tolist() == [[255, 0, 0], [0, 0, 255], [0, 0, 255]]


def test_folder_reads_frames_in_natural_name_order(tmp_path):
    stream = DrivingStream(3, seed=2, size=(36, 64))
    for i, name in enumerate(["frame2.png", "frame10.png", "frame100.png"]):
        save_image(tmp_path / name, stream[i].image)
    (tmp_path / "notes.txt").write_text("not a frame")
    folder = open_folder(tmp_path, fps=10.0)
    assert len(folder) == 3 and folder.entries[0].path.name == "frame2.png"
    assert folder.layout == "folder" and not folder.timed and folder.problems == ()
    for i, f in enumerate(folder):
        assert np.array_equal(f.image, stream[i].image)
        assert f.labels is None and f.steering is None and f.timestamp == pytest.approx(i / 10.0)


def test_missing_and_empty_folders_fail_naming_the_path(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        open_folder(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no .png"):
        open_folder(tmp_path)


def test_undecodable_and_truncated_files_fail_naming_them(tmp_path):
    (tmp_path / "a.png").write_bytes(b"this is not a png")
    buf = io.BytesIO()
    Image.fromarray(DrivingStream(1, size=(64, 64))[0].image).save(buf, "JPEG")
    (tmp_path / "b.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    folder = open_folder(tmp_path)
    with pytest.raises(FrameError, match=r"a\.png: not an image"):
        folder[0]
    with pytest.raises(FrameError, match=r"b\.jpg: truncated image"):
        folder[1]
    with pytest.raises(FrameError, match=r"c\.png: no such file"):
        load_image(tmp_path / "c.png")


def test_frames_command_writes_a_folder_read_back_with_its_labels(tmp_path):
    out = tmp_path / "frames"
    result = CliRunner().invoke(main, ["frames", "--out", str(out), "--n", "3", "--size", "36x64", "--fps", "10"])
    assert result.exit_code == 0, result.output
    lines = (out / "steering.csv").read_text().splitlines()
    assert lines[0] == "file,timestamp_s,steering_rad" and len(lines) == 4
    folder = open_folder(out)
    stream = DrivingStream(3, fps=10.0, size=(36, 64))
    assert len(folder) == 3 and folder.timed and folder.fps == pytest.approx(10.0)
    assert np.array_equal(folder[2].image, stream[2].image)
    assert folder[2].timestamp == pytest.approx(0.2)
    assert folder[2].steering == pytest.approx(stream[2].steering, abs=1e-6)


def test_a_steering_row_whose_file_is_missing_is_one_problem(tmp_path):
    CliRunner().invoke(main, ["frames", "--out", str(tmp_path), "--n", "3", "--size", "16x16"])
    (tmp_path / "frame_00001.png").unlink()
    folder = open_folder(tmp_path)
    assert [f.name.rsplit("/", 1)[-1] for f in folder] == ["frame_00000.png", "frame_00002.png"]
    assert len(folder.problems) == 1
    assert "steering.csv row 3" in folder.problems[0] and "frame_00001.png: no such file" in folder.problems[0]
