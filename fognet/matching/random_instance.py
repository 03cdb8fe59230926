"""Seeded random instances (format version 2) in realistic ranges, for tests and benchmarks.

Ranges (DESIGN.md's units): worker speed 0.5..4, cap 0.6..0.95, a count quota 1..6 on about
a third of them, a NIC of 10..125 MB/s on half; a car's own speed 0.1..0.5, its frame rate
0.5..5 fps, a NIC of 5..50 MB/s on half; stages of 1..3 slices; work 5..80 ms reference,
bytes 10 KB..1.2 MB each way, Wi-Fi-class links of 2..25 MB/s and 1..10 ms, backlogs
0..50 ms reference. `drop_links` leaves that fraction of source-worker pairs without a
link (out of reach), to exercise infeasible pairs.
"""

from __future__ import annotations

import numpy as np

from fognet.matching.instance import (
    Instance,
    Link,
    LocalDevice,
    PeerId,
    Subtask,
    SubtaskId,
    Worker,
)


def _stages(rng: np.random.Generator, n: int) -> list[int]:
    """Stage index of each of n slices: consecutive runs of 1..3 slices."""
    out: list[int] = []
    stage = 0
    while len(out) < n:
        out.extend([stage] * int(rng.integers(1, 4)))
        stage += 1
    return out[:n]


def _maybe(rng: np.random.Generator, share: float, low: float, high: float) -> float | None:
    return round(float(rng.uniform(low, high))) if rng.random() < share else None


def random_instance(
    sources: int,
    workers: int,
    subtasks_per_source: int,
    seed: int,
    rule: str = "welfare",
    drop_links: float = 0.0,
    arrival: str = "fixed",
    queue: str = "sjf",
) -> Instance:
    rng = np.random.default_rng(seed)
    src_ids = [PeerId(f"car{k + 1}") for k in range(sources)]
    ws = tuple(
        Worker(
            id=PeerId(f"w{k + 1}"),
            speed=round(float(rng.uniform(0.5, 4.0)), 4),
            backlog=round(float(rng.uniform(0.0, 0.05)), 5),
            quota=int(rng.integers(1, 7)) if rng.random() < 1 / 3 else None,
            cap=round(float(rng.uniform(0.6, 0.95)), 3),
            nic=_maybe(rng, 0.5, 1e7, 1.25e8),
        )
        for k in range(workers)
    )
    links = []
    for src in src_ids:
        for w in ws:
            bandwidth = round(float(rng.uniform(2e6, 25e6)))
            latency = round(float(rng.uniform(0.001, 0.010)), 5)
            if drop_links and rng.random() < drop_links:
                continue
            links.append(Link(src, w.id, float(bandwidth), latency))
    subtasks = []
    for src in src_ids:
        for j, stage in enumerate(_stages(rng, subtasks_per_source)):
            subtasks.append(
                Subtask(
                    id=SubtaskId(f"{src}.t{j + 1}"),
                    source=src,
                    work=round(float(rng.uniform(0.005, 0.080)), 5),
                    in_bytes=int(rng.integers(10_000, 1_200_000)),
                    out_bytes=int(rng.integers(10_000, 1_200_000)),
                    stage=stage,
                )
            )
    local = tuple(
        LocalDevice(src, speed=round(float(rng.uniform(0.1, 0.5)), 4),
                    backlog=round(float(rng.uniform(0.0, 0.05)), 5),
                    rate=round(float(rng.uniform(0.5, 5.0)), 3),
                    nic=_maybe(rng, 0.5, 5e6, 5e7))
        for src in src_ids
    )
    return Instance(ws, tuple(links), tuple(subtasks), local, None, rule,
                    arrival=arrival, queue=queue)
