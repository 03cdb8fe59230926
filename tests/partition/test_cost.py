"""The latency formulas against values worked out by hand, and the row solver's properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fognet.errors import ConfigError, PlanError
from fognet.partition.cost import (
    ClusterState,
    LinkState,
    PeerState,
    Slice,
    finish_together_rows,
    finish_together_shares,
    plan_latency,
    send_time,
    stage_latency,
    subtask_latency,
    transfer_time,
)

MB = 1_000_000


def cluster(nic: float | None = None) -> ClusterState:
    return ClusterState.of(
        [
            PeerState("car", speed=0.5, nic=nic),
            PeerState("w1", speed=2.0, backlog=0.1, quota=2),
            PeerState("w2", speed=1.0),
            PeerState("far", speed=4.0),
        ],
        {("w1", "car"): LinkState(10 * MB, 0.002), ("car", "w2"): LinkState(5 * MB, 0.001)},
    )


def test_links_are_symmetric_free_on_the_same_peer_and_absent_without_default() -> None:
    c = cluster()
    assert c.link("car", "w1") == c.link("w1", "car") == LinkState(10 * MB, 0.002)
    assert transfer_time(c, "w1", "w1", 10**9) == 0.0
    assert transfer_time(c, "car", "w1", 1 * MB) == pytest.approx(0.002 + 0.1)
    assert transfer_time(c, "car", "w1", 0) == pytest.approx(0.002)  # a message still crosses
    assert c.link("car", "far") is None
    assert transfer_time(c, "car", "far", 1) == math.inf
    with_default = ClusterState(c.peers, c.links, LinkState(1 * MB, 0.01))
    assert transfer_time(with_default, "far", "car", 2 * MB) == pytest.approx(2.01)


def test_transfer_time_takes_arrays_for_the_planner() -> None:
    times = transfer_time(cluster(), "w2", "car", np.array([0, 5 * MB]))
    assert np.allclose(times, [0.001, 1.001])
    assert np.all(transfer_time(cluster(), "car", "far", np.array([1, 2])) == math.inf)


def test_subtask_latency_parts() -> None:
    t = subtask_latency(cluster(), "car", "w1", work=0.2, in_bytes=2 * MB, out_bytes=0.5 * MB, extra_wait=0.05)
    assert t.transfer_in == pytest.approx(0.002 + 0.2)
    assert t.wait == pytest.approx(0.1 / 2.0 + 0.05)
    assert t.compute == pytest.approx(0.1)
    assert t.transfer_out == pytest.approx(0.002 + 0.05)
    assert t.total == pytest.approx(0.202 + 0.1 + 0.1 + 0.052)
    local = subtask_latency(cluster(), "car", "car", work=0.2, in_bytes=2 * MB, out_bytes=MB)
    assert (local.transfer_in, local.compute, local.transfer_out, local.total) == (0.0, 0.4, 0.0, 0.4)


def test_stage_is_its_slowest_slice_and_plan_the_sum() -> None:
    c = cluster()
    stage = [("w1", Slice(0.2, 1 * MB, 0.1 * MB)), ("w2", Slice(0.1, 1 * MB, 0.1 * MB)), ("car", Slice(0.05, MB, MB))]
    timing = stage_latency(c, "car", stage)
    w1 = 0.102 + 0.05 + 0.1 + 0.012
    w2 = 0.201 + 0.0 + 0.1 + 0.021
    car = 0.1
    assert [s.total for s in timing.slices] == pytest.approx([w1, w2, car])
    assert timing.total == pytest.approx(w2)
    assert timing.nic_floor == 0.0
    whole = [("w1", Slice(0.4, 2 * MB, 10_000))]
    assert plan_latency(c, "car", [stage, whole]) == pytest.approx(w2 + (0.202 + 0.05 + 0.2 + 0.003))


def test_source_nic_is_shared_by_the_stage_sends_one_after_the_other() -> None:
    c = cluster(nic=4 * MB)
    stage = [("w1", Slice(0.2, 1 * MB, 0.1 * MB)), ("w2", Slice(0.1, 1 * MB, 0.1 * MB)), ("car", Slice(0.05, MB, MB))]
    timing = stage_latency(c, "car", stage)
    # w1's MB takes 0.25 s of NIC airtime (4 MB/s < its 10 MB/s link); w2's waits for it
    assert timing.nic_floor == pytest.approx(0.5)  # never less than 2 MB through 4 MB/s
    assert [s.transfer_in for s in timing.slices] == pytest.approx([0.002 + 0.25, 0.001 + 0.5, 0.0])
    assert timing.total == pytest.approx(0.501 + 0.0 + 0.1 + 0.021)
    fast_nic = stage_latency(cluster(nic=100 * MB), "car", stage)
    assert [s.transfer_in for s in fast_nic.slices] == pytest.approx([0.102, 0.001 + 0.1 + 0.2, 0.0])
    assert send_time(cluster(nic=4 * MB), "car", "w1", 1 * MB) == pytest.approx(0.252)
    assert send_time(cluster(), "car", "w1", 1 * MB) == pytest.approx(0.102)


def test_bad_states_are_refused_with_a_reason() -> None:
    with pytest.raises(ConfigError, match="speed"):
        PeerState("x", speed=0.0)
    with pytest.raises(ConfigError, match="bandwidth"):
        LinkState(0.0, 0.1)
    with pytest.raises(PlanError, match="not in the cluster"):
        subtask_latency(cluster(), "car", "nobody", 1.0, 1, 1)
    with pytest.raises(PlanError):
        finish_together_rows(10, [math.inf, math.inf], [1.0, 1.0])


def test_finish_together_by_hand() -> None:
    # Peer 0: fixed 0, 1 s/row; peer 1: fixed 2 s, 1 s/row. T = (10 + 0 + 2) / 2 = 6.
    shares, finish = finish_together_shares(10, [0.0, 2.0], [1.0, 1.0])
    assert finish == pytest.approx(6.0) and shares == pytest.approx([6.0, 4.0])
    assert finish_together_rows(10, [0.0, 2.0], [1.0, 1.0]) == [6, 4]
    # A peer whose fixed cost exceeds the common finish time gets nothing.
    assert finish_together_rows(4, [0.0, 0.0, 10.0], [1.0, 1.0, 0.1]) == [2, 2, 0]
    # Proportional to speed: speeds 1, 2, 3 -> 100 rows as 16.7, 33.3, 50 -> 17, 33, 50.
    assert finish_together_rows(100, [0.0] * 3, [1.0, 0.5, 1 / 3]) == [17, 33, 50]
    assert finish_together_rows(0, [0.0, 1.0], [1.0, 1.0]) == [0, 0]


def test_a_peer_with_free_rows_caps_the_finish_time() -> None:
    # Peer 1 (fixed 0, 1 s/row) works until peer 0's fixed cost of 1 s; peer 0 takes the rest.
    shares, finish = finish_together_shares(10, [1.0, 0.0], [0.0, 1.0])
    assert finish == 1.0 and shares == pytest.approx([9.0, 1.0])
    assert finish_together_rows(10, [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]) == [5, 1, 4]
    assert finish_together_rows(10, [0.0, 5.0], [0.0, 1.0]) == [10, 0]


costs = st.one_of(st.just(0.0), st.floats(min_value=1e-4, max_value=10.0, allow_nan=False))
fixeds = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)


@st.composite
def instances(draw):
    n = draw(st.integers(1, 6))
    rows = draw(st.integers(0, 400))
    return rows, draw(st.lists(fixeds, min_size=n, max_size=n)), draw(st.lists(costs, min_size=n, max_size=n))


@settings(max_examples=300, deadline=None)
@given(instances())
def test_rows_sum_to_total_and_finish_together(instance) -> None:
    rows, fixed, per_row = instance
    counts = finish_together_rows(rows, fixed, per_row)
    assert sum(counts) == rows and all(c >= 0 for c in counts)
    if rows == 0:
        return
    _, finish = finish_together_shares(rows, fixed, per_row)
    for f, c, n in zip(fixed, per_row, counts, strict=True):
        if n > 0:  # each peer with work ends within one of its rows of the common time
            assert abs(f + n * c - finish) <= c * (1 + 1e-9) + 1e-9
        else:  # a peer left out could not have finished a row before the others
            assert f + c >= finish - 1e-9
    ends = [f + n * c for f, c, n in zip(fixed, per_row, counts, strict=True) if n > 0]
    worst = max(c for c, n in zip(per_row, counts, strict=True) if n > 0)
    assert max(ends) - min(ends) <= 2 * worst * (1 + 1e-9) + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.05, 20.0), min_size=1, max_size=6), st.integers(1, 500))
def test_equal_links_and_no_waits_split_in_proportion_to_speed(speeds, rows) -> None:
    counts = finish_together_rows(rows, [0.0] * len(speeds), [1.0 / s for s in speeds])
    for s, n in zip(speeds, counts, strict=True):
        assert abs(n - rows * s / sum(speeds)) < 1.0 + 1e-9


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.lists(st.tuples(fixeds, costs), min_size=2, max_size=3))
def test_slowest_finish_is_within_a_row_of_the_best_whole_row_split(rows, peers) -> None:
    fixed = [f for f, _ in peers]
    per_row = [c for _, c in peers]

    def slowest(counts) -> float:
        return max((f + n * c for f, c, n in zip(fixed, per_row, counts, strict=True) if n > 0), default=0.0)

    best = min(
        slowest(split)
        for split in itertools.product(range(rows + 1), repeat=len(peers))
        if sum(split) == rows
    )
    assert slowest(finish_together_rows(rows, fixed, per_row)) <= best + max(per_row) + 1e-9
