"""What a run leaves: one record per frame, and a summary of them.

The latency split is the critical path's: for each stage, the piece that came back last
gives its transfer (in + out), queue wait and compute; summed over the stages they add
up to the frame's end-to-end latency.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fognet.sim.runner import Simulation


@dataclass(frozen=True)
class FrameRecord:
    approach: str
    source: str
    model: str
    round: int
    frame: int
    start_s: float
    end_s: float
    latency_s: float
    transfer_s: float
    wait_s: float
    compute_s: float
    stages: int
    plan: str
    peers: str
    predicted_s: float
    deadline_s: float | None
    met: bool | None


@dataclass(frozen=True)
class Summary:
    approach: str
    frames: int
    mean_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    throughput_fps: float  # frames finished per second of simulated time
    deadline_met: float | None  # fraction of frames with a deadline that met it
    transfer_s: float  # mean per frame
    wait_s: float
    compute_s: float
    utilisation_mean: float  # workers' busy fraction over the run
    utilisation_max: float
    offloaded: float  # fraction of frames that used a peer other than their source
    prediction_error: float  # mean |simulated - predicted| / simulated (predicted: the game's
    #                          latency for matched approaches, the plan's price for the others)
    prediction_error_of_mean: float  # the same per (source, round): |mean simulated - predicted| /
    #                          mean simulated, frame-weighted. A prediction is an expected latency;
    #                          per frame the figure above also counts how frames of one stream
    #                          scatter around their mean (queueing), this one only the model's error
    prediction_error_per_source: float  # the same per source over the whole run: with a few frames
    #                          per source and round, the figure above still holds their scatter
    prediction_bias: float  # mean predicted over mean simulated, minus 1 (> 0: the model over-prices)
    game_gap: float | None  # optimum runs: the game's predicted total over the optimum's, minus 1
    planner_runs: int
    subtasks: int
    events: int
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    summary: Summary
    records: list[FrameRecord]


def summarise(sim: Simulation, wall_s: float) -> RunResult:
    records = sim.records
    lat = np.array([r.latency_s for r in records]) if records else np.array([math.nan])
    end = max((r.end_s for r in records), default=0.0)
    span = max(end, sim.scenario.horizon_s)
    busy = [sim.queues[w].busy_s / span for w in sim.topology.workers] or [0.0]
    with_deadline = [r.met for r in records if r.met is not None]
    summary = Summary(
        approach=sim.approach.name,
        frames=len(records),
        mean_s=float(np.mean(lat)),
        p50_s=float(np.percentile(lat, 50)),
        p95_s=float(np.percentile(lat, 95)),
        p99_s=float(np.percentile(lat, 99)),
        max_s=float(np.max(lat)),
        throughput_fps=len(records) / span if span > 0 else 0.0,
        deadline_met=(sum(with_deadline) / len(with_deadline)) if with_deadline else None,
        transfer_s=_mean(r.transfer_s for r in records),
        wait_s=_mean(r.wait_s for r in records),
        compute_s=_mean(r.compute_s for r in records),
        utilisation_mean=float(np.mean(busy)),
        utilisation_max=float(np.max(busy)),
        offloaded=_mean(float(r.peers != r.source) for r in records),
        prediction_error=_mean(abs(r.latency_s - r.predicted_s) / r.latency_s for r in records if r.latency_s > 0),
        prediction_error_of_mean=error_of_mean(records),
        prediction_error_per_source=error_of_mean(records, per_round=False),
        prediction_bias=prediction_bias(records),
        game_gap=(sim.objectives[0] / sim.objectives[1] - 1.0) if sim.objectives[1] > 0 else None,
        planner_runs=sim.planning.planner_runs,
        subtasks=sim.subtasks,
        events=sim.engine.processed,
        wall_s=wall_s,
    )
    return RunResult(summary, records)


def error_of_mean(records: Sequence[FrameRecord], per_round: bool = True) -> float:
    """Frame-weighted mean over (source, round), or over sources for the whole run, of
    |mean simulated - mean predicted| / mean simulated."""
    groups: dict[tuple[str, int], list[FrameRecord]] = {}
    for r in records:
        groups.setdefault((r.source, r.round if per_round else 0), []).append(r)
    total = weight = 0.0
    for group in groups.values():
        simulated = sum(r.latency_s for r in group) / len(group)
        if simulated > 0:
            predicted = sum(r.predicted_s for r in group) / len(group)
            total += len(group) * abs(simulated - predicted) / simulated
            weight += len(group)
    return total / weight if weight else math.nan


def prediction_bias(records: Sequence[FrameRecord]) -> float:
    """Total predicted over total simulated latency, minus 1: the model's systematic error,
    which the absolute errors above cannot tell apart from scatter."""
    simulated = sum(r.latency_s for r in records)
    return sum(r.predicted_s for r in records) / simulated - 1.0 if simulated > 0 else math.nan


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(np.mean(values)) if values else math.nan


RECORD_FIELDS = [f.name for f in fields(FrameRecord)]


def write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def record_row(record: FrameRecord) -> list[Any]:
    """One CSV row of a record, in RECORD_FIELDS order (floats to 9 digits, None empty)."""
    out = []
    for value in (getattr(record, name) for name in RECORD_FIELDS):
        if isinstance(value, float):
            out.append(f"{value:.9g}")
        elif value is None:
            out.append("")
        else:
            out.append(value)
    return out


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
