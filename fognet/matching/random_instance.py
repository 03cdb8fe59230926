"""Seeded random instances in realistic ranges, for tests and benchmarks.

Ranges (DESIGN.md's units): worker speed 0.5..4, a car's own speed 0.1..0.5, work
5..80 ms reference, bytes 10 KB..1.2 MB each way, Wi-Fi-class links of 2..25 MB/s and
1..10 ms, quotas 1..4, backlogs 0..50 ms reference. `drop_links` leaves that fraction of
source-worker pairs without a link (out of reach), to exercise infeasible pairs.
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


def random_instance(
    sources: int,
    workers: int,
    subtasks_per_source: int,
    seed: int,
    rule: str = "welfare",
    drop_links: float = 0.0,
) -> Instance:
    rng = np.random.default_rng(seed)
    src_ids = [PeerId(f"car{k + 1}") for k in range(sources)]
    ws = tuple(
        Worker(
            id=PeerId(f"w{k + 1}"),
            speed=round(float(rng.uniform(0.5, 4.0)), 4),
            backlog=round(float(rng.uniform(0.0, 0.05)), 5),
            quota=int(rng.integers(1, 5)),
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
        for j in range(subtasks_per_source):
            subtasks.append(
                Subtask(
                    id=SubtaskId(f"{src}.t{j + 1}"),
                    source=src,
                    work=round(float(rng.uniform(0.005, 0.080)), 5),
                    in_bytes=int(rng.integers(10_000, 1_200_000)),
                    out_bytes=int(rng.integers(10_000, 1_200_000)),
                )
            )
    local = tuple(
        LocalDevice(src, speed=round(float(rng.uniform(0.1, 0.5)), 4),
                    backlog=round(float(rng.uniform(0.0, 0.05)), 5))
        for src in src_ids
    )
    return Instance(ws, tuple(links), tuple(subtasks), local, None, rule)
