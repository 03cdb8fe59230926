"""Plan -> subtasks by the one slice rule: the halo walk, on a real model."""

from __future__ import annotations

import pytest
from onnx import helper

from fognet.errors import InstanceError, PartitionError
from fognet.model.graph import analyse
from fognet.partition.stages import Plan, Stage
from fognet.placement.pricing import model_costs
from fognet.placement.subtasks import Piece, plan_pieces, plan_subtasks, stage_pieces
from tests import graphs

# conv3x3 -> relu -> conv3x3/2 -> relu -> maxpool 2 -> conv1x1 on a 1x3x32x32 input:
# output y is 1x4x8x8; x rows are 3 * 32 * 4 = 384 bytes, y rows 4 * 8 * 4 = 128 bytes.
X_ROW, Y_ROW = 384, 128


@pytest.fixture(scope="module")
def chain():
    graph = analyse(graphs.conv_chain_model())
    return model_costs(graph, [0.01] * len(graph), "ab" * 32)


def test_a_slice_reads_its_rows_plus_the_halo_walked_back(chain) -> None:
    n = len(chain.graph)
    # y rows [0, 4) need e [0, 4), d/c [0, 8), b/a [0, 16) (3x3, stride 2, pad 1), x [0, 17)
    assert chain.spatial.input_rows(0, n, (0, 4)) == {"x": (0, 17)}
    # y rows [4, 8) need x [14, 32), widened to the stride grid (2 x 2 = 4): x [12, 32)
    assert chain.spatial.input_rows(0, n, (4, 8)) == {"x": (12, 32)}
    top, bottom = stage_pieces(chain, Stage(0, n, ("w1", "w2"), ((0, 4), (4, 8))))
    assert top == Piece("w1", pytest.approx(0.06 * 17 / 32), 17 * X_ROW, 4 * Y_ROW)
    assert bottom == Piece("w2", pytest.approx(0.06 * 20 / 32), 20 * X_ROW, 4 * Y_ROW)
    # halos cost bytes and work: more than the output-row share of the whole stage
    assert top.in_bytes + bottom.in_bytes > chain.bytes.inputs[0, n]
    assert top.work + bottom.work > chain.work(0, n)


def test_a_whole_stage_is_its_work_and_boundary_bytes(chain) -> None:
    (piece,) = stage_pieces(chain, Stage(0, 2, ("car",)))
    # k1 + relu: in x (32 rows), out b = 1x4x32x32
    assert piece == Piece("car", pytest.approx(0.02), 32 * X_ROW, 4 * 32 * 32 * 4)


def test_subtasks_carry_the_pieces_with_ids_per_stage_and_slice(chain) -> None:
    n = len(chain.graph)
    plan = Plan("ab" * 32, "car1", (Stage(0, 2, ("car1",)), Stage(2, n, ("w1", "w2"), ((0, 3), (3, 8)))))
    pieces = plan_pieces(chain, plan)
    per_stage = plan_subtasks(plan, pieces, task="f7")
    assert [[s.id for s in stage] for stage in per_stage] == [
        ["car1.f7.s0"], ["car1.f7.s1.r0", "car1.f7.s1.r1"]]
    for stage, priced in zip(per_stage, pieces, strict=True):
        for sub, piece in zip(stage, priced, strict=True):
            assert (sub.source, sub.work, sub.in_bytes, sub.out_bytes) == (
                "car1", piece.work, round(piece.in_bytes), round(piece.out_bytes))
    assert per_stage[1][0].work == pytest.approx(chain.spatial.slice_work(2, n, (0, 3), chain.work(2, n)))
    with pytest.raises(InstanceError, match="2 stages but 1"):
        plan_subtasks(plan, pieces[:1])


def test_a_spatial_stage_needs_a_model_priced_for_slices_and_a_sliceable_range() -> None:
    graph = analyse(graphs.conv_chain_model())
    whole_only = model_costs(graph, [0.01] * len(graph), spatial=False)
    with pytest.raises(InstanceError, match="whole stages only"):
        stage_pieces(whole_only, Stage(0, len(graph), ("a", "b"), ((0, 4), (4, 8))))
    conv, weights = graphs.conv("c", "x", "a", 3, 4)
    flat = helper.make_node("Flatten", ["a"], ["y"], name="flat")
    model = graphs.make([conv, flat], weights, [graphs.fin("x", [1, 3, 8, 8])], [graphs.fin("y", [1, 256])])
    headed = analyse(model)  # a flattened output has no rows: [0, 2) is no sliceable run
    costs = model_costs(headed, [0.01] * len(headed))
    assert costs.spatial.out_rows(0, 2) == 0
    with pytest.raises(PartitionError, match="not one sliceable run"):
        stage_pieces(costs, Stage(0, 2, ("a", "b"), ((0, 4), (4, 8))))
