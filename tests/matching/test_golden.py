"""The game's matchings are pinned: `play` must reproduce, exactly, the assignments it
reached on a few hundred random instances before its pricing was made incremental.

Speed-ups (cached piece latencies, vectorised pricing, bound skipping) must change only the
speed: the same steps in the same order, so the same matching. The fixture
(golden_matchings.json) was recorded with the plain, non-incremental pricing; regenerate it
only for a deliberate change of the game's rules:
`PYTHONPATH=$PWD python -m tests.matching.test_golden`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fognet.matching.game import play
from fognet.matching.random_instance import random_instance

FIXTURE = Path(__file__).with_name("golden_matchings.json")
SIZES = [(1, 2, 4), (2, 2, 2), (2, 3, 4), (3, 2, 1), (3, 3, 2), (7, 3, 2), (24, 8, 2), (4, 3, 3),
         (5, 4, 2), (6, 4, 4), (8, 5, 3), (10, 5, 4), (12, 6, 2), (16, 8, 1), (20, 6, 3)]


def cases() -> list[dict]:
    """The recorded grid: every size under both rules, fifo/sjf, fixed/poisson, links dropped or not."""
    out = []
    seed = 0
    for s, w, n in SIZES:
        for rule in ("welfare", "fair"):
            for queue in ("sjf", "fifo"):
                for arrival in ("fixed", "poisson"):
                    for drop in (0.0, 0.3):
                        seed += 1
                        out.append({"sources": s, "workers": w, "per_source": n, "seed": seed,
                                    "rule": rule, "queue": queue, "arrival": arrival,
                                    "drop": drop})
    return out


def _instance(case: dict):
    return random_instance(case["sources"], case["workers"], case["per_source"], case["seed"],
                           rule=case["rule"], drop_links=case["drop"], arrival=case["arrival"],
                           queue=case["queue"])


def record() -> list[dict]:
    rows = []
    for case in cases():
        r = play(_instance(case))
        rows.append(case | {"assignment": dict(sorted(r.assignment.items())),
                            "objective": r.objective, "phase1_objective": r.phase1_objective,
                            "steps": r.counts.moves + r.counts.swaps + r.counts.displacements})
    return rows


GOLDEN = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else []


def test_the_fixture_covers_the_grid() -> None:
    assert [{k: row[k] for k in cases()[0]} for row in GOLDEN] == cases()
    assert sum(row["steps"] > 0 for row in GOLDEN) > len(GOLDEN) // 2  # phase 2 does work


@pytest.mark.parametrize("block", range(4))
def test_play_reproduces_the_recorded_matchings(block: int) -> None:
    for row in GOLDEN[block::4]:
        r = play(_instance(row))
        assert dict(sorted(r.assignment.items())) == row["assignment"], row["seed"]
        assert math.isclose(r.objective, row["objective"], rel_tol=1e-9), row["seed"]
        assert math.isclose(r.phase1_objective, row["phase1_objective"], rel_tol=1e-9), row["seed"]
        assert r.counts.moves + r.counts.swaps + r.counts.displacements == row["steps"], row["seed"]


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(record(), indent=0, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
