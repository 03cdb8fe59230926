"""The bottleneck DP chain planners share, on a problem small enough to work by hand."""

from __future__ import annotations

import math

import numpy as np

from fognet.partition.throughput_dp import chain_dp, walk

WORK = np.array([0.0, 1.0, 3.0])  # prefix work of positions 0..2
SPEED = np.array([1.0, 2.0])
LINK = np.full((3, 2, 2), 0.5)  # any hop costs 0.5; none on one peer
LINK[:, [0, 1], [0, 1]] = 0.0


def _comp(b: int) -> np.ndarray:
    return (WORK[b] - WORK[:b])[:, None] / SPEED[None, :]


def test_each_stage_count_ends_at_its_least_bottleneck_on_distinct_peers() -> None:
    finals, back = chain_dp(LINK, 0, 2, _comp, lambda b: np.ones((b, 2), bool))
    assert finals[0].tolist() == [math.inf, math.inf]
    assert finals[1].tolist() == [3.0, 1.5]  # all on the source; all on p1 (3 / 2, hops 0.5)
    assert finals[2].tolist() == [2.0, 1.0]  # p1 then home: [1, 3) on p0 takes 2; p0 then p1
    assert walk(back, 2, 2, 1) == [(0, 1, 0), (1, 2, 1)]
    assert walk(back, 1, 2, 1) == [(0, 2, 1)]


def test_a_peer_that_may_not_take_a_stage_ends_no_chain() -> None:
    def fits(b: int) -> np.ndarray:
        ok = np.ones((b, 2), bool)
        if b == 2:
            ok[1, 1] = False  # positions [1, 2) do not fit p1
        return ok

    finals, _ = chain_dp(LINK, 0, 2, _comp, fits)
    assert finals[2].tolist() == [2.0, math.inf]
