"""Slice specs: row tiling, the wire form, and merging only what tiles the output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fognet.errors import PartitionError
from fognet.model.graph import analyse
from fognet.partition.spatial_runs import spatial_run
from fognet.partition.spatial_slices import SliceSpec, merge_outputs, plan_slices, slices_for_rows
from tests.partition.spatial_models import Builder


def test_bad_row_ranges_are_refused() -> None:
    b = Builder(1, 16, seed=1)
    b.x = b.conv(b.x, 1, 1, 3, 1, 1, 1, 1)
    spatial = spatial_run(analyse(b.model()), 0, 1)
    with pytest.raises(PartitionError, match="tile"):
        plan_slices(spatial, [(0, 5), (6, 16)])
    with pytest.raises(PartitionError, match="tile"):
        plan_slices(spatial, [(0, 5), (5, 15)])
    assert slices_for_rows([3, 0, 5]) == [(0, 3), (3, 8)]
    with pytest.raises(PartitionError):
        slices_for_rows([3, -1])
    with pytest.raises(PartitionError, match="malformed"):
        SliceSpec.from_dict({"start": 0})


def test_spec_survives_the_wire_and_merge_refuses_gaps() -> None:
    b = Builder(1, 16, seed=1)
    b.x = b.conv(b.x, 1, 1, 3, 1, 1, 1, 1)
    spatial = spatial_run(analyse(b.model()), 0, 1)
    specs = plan_slices(spatial, [(0, 6), (6, 16)])
    assert [SliceSpec.from_dict(json.loads(json.dumps(s.to_dict()))) for s in specs] == specs
    parts = [{b.x: np.full((1, 1, s.rows[1] - s.rows[0], 9), k, np.float32)} for k, s in enumerate(specs)]
    merged = merge_outputs(parts, specs, cropped=True)
    np.testing.assert_array_equal(merged[b.x][0, 0, :, 0], [0] * 6 + [1] * 10)
    with pytest.raises(PartitionError, match="cover 6 of its 16 rows"):
        merge_outputs(parts[:1], specs[:1], cropped=True)
    with pytest.raises(PartitionError, match="2 slice results for 1 slices"):
        merge_outputs(parts, specs[:1], cropped=True)
