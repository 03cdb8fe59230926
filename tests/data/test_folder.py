"""PNG writer/reader round trips, the folder reader, and its one-line errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from fognet.cli import main
from fognet.data.driving import DrivingStream
from fognet.data.folder import ImageFolder, load_image
from fognet.data.png import SIGNATURE, _chunk, decode_png, encode_png, read_png, write_png
from fognet.errors import FrameError


def _raw_png(rows: np.ndarray, filters: list[int], color_type: int, depth: int = 8, extra=b""):
    """A PNG whose rows are already filtered (rows: H x stride bytes)."""
    h = rows.shape[0]
    width = rows.shape[1] // ({0: 1, 2: 3, 4: 2, 6: 4, 3: 1}[color_type] * depth // 8)
    raw = b"".join(bytes([f]) + r.tobytes() for f, r in zip(filters, rows, strict=True))
    ihdr = struct.pack(">IIBBBBB", width, h, depth, color_type, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _filter(rows: np.ndarray, kind: int, bpp: int) -> np.ndarray:
    """Reference PNG filter, byte by byte, to test the decoder against."""
    out = np.zeros_like(rows)
    for y in range(rows.shape[0]):
        prior = rows[y - 1].astype(int) if y else np.zeros(rows.shape[1], int)
        cur = rows[y].astype(int)
        for i in range(rows.shape[1]):
            a = cur[i - bpp] if i >= bpp else 0
            b, c = prior[i], (prior[i - bpp] if i >= bpp else 0)
            if kind == 1:
                pred = a
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[y, i] = (cur[i] - pred) % 256
    return out


def test_png_round_trip_of_a_generated_frame(tmp_path):
    frame = DrivingStream(1, seed=4, size=(90, 160))[0]
    write_png(tmp_path / "f.png", frame.image)
    assert np.array_equal(read_png(tmp_path / "f.png"), frame.image)


def test_gray_png_round_trip():
    gray = np.random.default_rng(0).integers(0, 256, (5, 7), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(gray)), np.repeat(gray[..., None], 3, axis=2))


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_decoder_undoes_every_filter_type(kind):
    rgba = np.random.default_rng(kind).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    rows = rgba.reshape(6, -1)
    filtered = rows if kind in (0,) else (
        np.vstack([rows[:1], rows[1:] - rows[:-1]]) if kind == 2 else _filter(rows, kind, 4)
    )
    png = _raw_png(filtered, [kind] * 6, color_type=6)
    assert np.array_equal(decode_png(png), rgba[..., :3])


def test_decoder_reads_16_bit_and_palette_images():
    rgb16 = np.random.default_rng(1).integers(0, 65536, (3, 4, 3)).astype(">u2")
    png = _raw_png(rgb16.view(np.uint8).reshape(3, -1), [0] * 3, color_type=2, depth=16)
    assert np.array_equal(decode_png(png), (rgb16 >> 8).astype(np.uint8))
    palette = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    index = np.array([[0, 1, 1], [1, 0, 0]], np.uint8)
    png = _raw_png(index, [0, 0], color_type=3, extra=_chunk(b"PLTE", palette.tobytes()))
    assert np.array_equal(decode_png(png), palette[index])


def test_folder_reads_frames_in_natural_name_order(tmp_path):
    stream = DrivingStream(3, seed=2, size=(36, 64))
    for i, name in enumerate(["frame2.png", "frame10.png", "frame100.png"]):
        write_png(tmp_path / name, stream[i].image)
    (tmp_path / "notes.txt").write_text("not a frame")
    folder = ImageFolder(tmp_path, fps=10.0)
    assert len(folder) == 3 and [p.name for p in folder.paths][0] == "frame2.png"
    frames = list(folder)
    for i, f in enumerate(frames):
        assert np.array_equal(f.image, stream[i].image)
        assert f.steering is None and f.timestamp == pytest.approx(i / 10.0)


def test_missing_and_empty_folders_fail_naming_the_path(tmp_path):
    with pytest.raises(FrameError, match="no such folder"):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(FrameError, match="no .png"):
        ImageFolder(tmp_path)


def test_undecodable_file_fails_naming_it(tmp_path):
    (tmp_path / "a.png").write_bytes(b"this is not a png")
    folder = ImageFolder(tmp_path)
    with pytest.raises(FrameError, match=r"a\.png: not a PNG"):
        folder[0]
    good = encode_png(np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(good[: len(good) - 20])
    with pytest.raises(FrameError, match=r"b\.png"):
        ImageFolder(tmp_path)[1]


def test_jpeg_needs_pillow_or_says_so(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8\xff not really a jpeg")
    try:
        import PIL  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(FrameError, match="pip install pillow"):
            load_image(path)
    else:
        with pytest.raises(FrameError, match=r"x\.jpg"):
            load_image(path)


def test_frames_command_writes_a_readable_folder(tmp_path):
    out = tmp_path / "frames"
    result = CliRunner().invoke(main, ["frames", "--out", str(out), "--n", "3", "--size", "36x64"])
    assert result.exit_code == 0, result.output
    folder = ImageFolder(out)
    assert len(folder) == 3
    assert np.array_equal(folder[2].image, DrivingStream(3, size=(36, 64))[2].image)
    lines = (out / "steering.csv").read_text().splitlines()
    assert lines[0] == "file,timestamp_s,steering_rad" and len(lines) == 4
