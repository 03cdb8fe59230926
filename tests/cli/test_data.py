"""`fognet data generate` writes each layout; `fognet data inspect` reports it, problems included."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fognet.cli import main
from tests.data.helpers import truncated_jpeg


def _run(*args):
    return CliRunner().invoke(main, ["data", *args])


def _report(output: str) -> dict[str, str]:
    """The inspect lines as {field: value} (problem lines under "problems" are kept apart)."""
    rows = [line for line in output.splitlines() if line and not line.startswith(" ")]
    return {line.split(None, 1)[0]: line.split(None, 1)[1] for line in rows if len(line.split(None, 1)) == 2}


@pytest.mark.parametrize(
    ("layout", "rate", "labels"),
    [
        ("bdd100k", "30.00 fps (no timestamps", "boxes (4), attributes (4)"),
        ("kitti", "10.00 fps (from the dataset", "speed (4), position (4), yaw (4)"),
        ("udacity", "20.00 fps (from the dataset", "steering (4), speed (4), torque (4), position (4)"),
        ("udacity-sim", "15.00 fps (from the dataset", "steering (4), speed (4), throttle (4), brake (4)"),
        ("video", "30.00 fps (from the dataset", "none"),
    ],
)
def test_generate_then_inspect_each_layout(tmp_path, layout, rate, labels):
    out = tmp_path / layout
    result = _run("generate", "--layout", layout, "--out", str(out), "--n", "4", "--size", "32x48")
    assert result.exit_code == 0, result.output
    assert "wrote 4 frames (48x32, " in result.output and f"as {layout} to {out}" in result.output
    result = _run("inspect", str(out))
    assert result.exit_code == 0, result.output
    report = _report(result.output)
    assert report["layout"].startswith(layout + " ") and report["frames"].startswith("4 readable in 1 ")
    assert report["resolution"] == "48x32 (4)" and report["rate"].startswith(rate)
    assert report["labels"] == labels and report["problems"] == "none"


def test_inspect_names_a_missing_image_and_a_truncated_jpeg(tmp_path):
    out = tmp_path / "u"
    assert _run("generate", "--layout", "udacity", "--out", str(out), "--n", "5", "--size", "32x48").exit_code == 0
    centers = sorted((out / "center").iterdir())
    centers[1].unlink()
    truncated_jpeg(centers[3])
    result = _run("inspect", str(out))
    assert result.exit_code == 0, result.output
    report = _report(result.output)
    assert report["frames"].startswith("3 readable") and report["problems"] == "2"
    problem_lines = [line.strip() for line in result.output.splitlines() if line.startswith("  ")]
    assert problem_lines[0] == f"{out}/interpolated.csv row 5: {centers[1]}: no such file"
    assert problem_lines[1].startswith(f"{centers[3]}: truncated image")
    headers = _run("inspect", "--headers-only", str(out))
    assert _report(headers.output)["problems"] == "1"  # a header read cannot see the cut


def test_inspect_caps_the_problems_it_lists(tmp_path):
    out = tmp_path / "k"
    assert _run("generate", "--layout", "kitti", "--out", str(out), "--n", "6", "--size", "16x16").exit_code == 0
    for png in sorted(out.rglob("image_02/data/*.png"))[:5]:
        png.unlink()
    result = _run("inspect", "--max-problems", "2", str(out))
    assert result.exit_code == 0, result.output
    assert _report(result.output)["problems"] == "5" and "  ... and 3 more" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "{tmp}/nope"], "DatasetError: {tmp}/nope: no such file or folder"),
        (["inspect", "{tmp}"], "DatasetError: {tmp}: no dataset layout found"),
        (["generate", "--layout", "kitti", "--out", "{tmp}/blocker/x", "--n", "1", "--size", "16x16"],
         "FrameError: cannot create output directory {tmp}/blocker/x"),
    ],
)
def test_bad_paths_are_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    result = _run(*[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].startswith(message.format(tmp=tmp_path))
    assert "Traceback" not in result.output


def test_bad_options_are_usage_errors(tmp_path):
    assert _run("generate", "--layout", "coco", "--out", str(tmp_path)).exit_code == 2
    result = _run("generate", "--layout", "kitti", "--out", str(tmp_path), "--size", "8x8")
    assert result.exit_code == 2 and "at least 16x16" in result.output


def test_infer_takes_its_frames_from_any_layout(tmp_path):
    """`fognet infer --source` reads through open_source: the dataset's first N frames."""
    import numpy as np

    from fognet.cli.infer import _images
    from fognet.data.layouts import open_source

    out = tmp_path / "sim"
    assert _run("generate", "--layout", "udacity-sim", "--out", str(out), "--n", "4", "--size", "32x48").exit_code == 0
    frames, total = _images(out, 3, None, 0)
    expected = list(open_source(out))[:3]
    got = list(frames)
    assert total == 3 and len(got) == 3
    assert all(np.array_equal(a.image, b.image) for a, b in zip(got, expected, strict=True))
    assert [f.timestamp for f in got] == [f.timestamp for f in expected]  # the dataset's clock, kept
    assert _images(out, 10, None, 0)[1] == 4  # never more than the dataset has


def test_the_cli_offers_every_writer_and_inspect_can_force_a_layout(tmp_path):
    from fognet.cli.data import GENERATED_LAYOUTS
    from fognet.data.generate import WRITERS

    assert set(GENERATED_LAYOUTS) == set(WRITERS) - {"folder"}
    root = tmp_path / "bdd"
    assert _run("generate", "--layout", "bdd100k", "--out", str(root), "--n", "2", "--size", "16x16").exit_code == 0
    assert _run("generate", "--layout", "video", "--out", str(root / "videos"), "--n", "3", "--size", "16x16").exit_code == 0
    (root / "videos" / "drive.mp4").rename(root / "videos" / "f0e1d2c3-00000000.mov")  # BDD100K's clips are .mov
    assert _report(_run("inspect", str(root)).output)["frames"].startswith("2 readable")
    forced = _run("inspect", "--layout", "bdd100k-video", str(root))
    assert forced.exit_code == 0, forced.output
    assert _report(forced.output)["layout"].startswith("bdd100k-video")
    assert _report(forced.output)["frames"] == "3 readable in 1 video"
    bad = _run("inspect", "--layout", "coco", str(root))
    assert bad.exit_code == 2 and bad.output.strip().splitlines()[-1].startswith("DatasetError: unknown layout 'coco'")
