"""The image-list source every reader builds, and how a dataset of timed sequences opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.data.files import Entry, sequences_source
from fognet.errors import DatasetError
from tests.data.helpers import grey, write_image


def _read(seq: Path, problems: list[str], clock: list[tuple[str, float]]) -> list[Entry]:
    """A sequence of frames at 0.1 s whose index also lists a frame it has no image for."""
    entries = [Entry(write_image(seq / f"{k}.png", 10 * (k + 1)), k / 10, sequence=seq.name) for k in range(2)]
    clock.extend((seq.name, k / 10) for k in range(3))
    problems.append(f"{seq / '2.png'}: no such file")
    return entries


def test_sequences_open_in_order_with_their_problems_and_the_rate_of_their_clocks(tmp_path: Path) -> None:
    sequences = [tmp_path / "a", tmp_path / "b"]
    source = sequences_source("kitti", tmp_path, sequences, _read, 99.0, True, "no drive")
    assert [e.sequence for e in source.entries] == ["a", "a", "b", "b"]
    assert source.fps == pytest.approx(10.0)  # the clocks' step, not the default
    assert source.problems == (f"{tmp_path / 'a' / '2.png'}: no such file", f"{tmp_path / 'b' / '2.png'}: no such file")
    assert source.timed and source.layout == "kitti"
    assert grey(source[3].image) == pytest.approx(20)


def test_no_sequence_is_one_error_naming_the_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"^{tmp_path}: no drive$"):
        sequences_source("kitti", tmp_path, [], _read, 10.0, True, "no drive")
