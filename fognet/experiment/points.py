"""One simulation point: a scenario at one seed, every approach on it.

A point is a frozen, picklable value, so worker processes (or a Dask cluster) can run it;
its result keeps each approach's summary as a plain dict read by field name (the
simulator's `Summary` may grow fields) and, when asked, every frame's record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fognet.sim.experiment import ModelCache, compare
from fognet.sim.records import FrameRecord
from fognet.sim.scenario import Scenario

_MODELS: ModelCache | None = None  # one per process: models are loaded once per worker


@dataclass(frozen=True)
class SimPoint:
    """`experiment` names the run it belongs to ("driving", a sweep's name); `param` and
    `value` are the sweep's (empty for a single scenario)."""

    experiment: str
    scenario: Scenario
    approaches: tuple[str, ...]
    seed: int
    param: str = ""
    value: Any = None
    keep_records: bool = False


@dataclass(frozen=True)
class PointResult:
    experiment: str
    scenario: str
    seed: int
    param: str
    value: Any
    summaries: dict[str, dict[str, Any]]  # approach -> Summary fields by name
    skipped: dict[str, str]
    speedup: dict[str, float | None]  # fognet's factor over each other approach (mean latency)
    records: tuple[FrameRecord, ...] = ()


def run_sim_point(point: SimPoint) -> PointResult:
    """Simulate `point.scenario` under `point.seed` with every approach of the point."""
    global _MODELS
    if _MODELS is None:
        _MODELS = ModelCache()
    scenario = replace(point.scenario, seed=point.seed)
    comparison = compare(scenario, point.approaches, _MODELS)
    records: tuple[FrameRecord, ...] = ()
    if point.keep_records:
        records = tuple(r for result in comparison.results.values() for r in result.records)
    return PointResult(
        experiment=point.experiment,
        scenario=scenario.name,
        seed=point.seed,
        param=point.param,
        value=point.value,
        summaries={n: r.summary.to_dict() for n, r in comparison.results.items()},
        skipped=dict(comparison.skipped),
        speedup={n: comparison.speedup(n) for n in comparison.results if n != "fognet"},
        records=records,
    )


def stable(result: PointResult) -> PointResult:
    """The result without what depends on the machine's speed (wall time), for comparing
    a parallel run with a serial one."""
    summaries = {n: {k: v for k, v in s.items() if k != "wall_s"} for n, s in result.summaries.items()}
    return replace(result, summaries=summaries)
