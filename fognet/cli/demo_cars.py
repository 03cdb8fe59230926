"""`fognet demo --sources N`: several cars contend for a few fog nodes, three ways.

Every car of the cluster file's first N sources streams the same number of generated
driving frames at once, from this process (each its own peer); the workers run as
separate processes on 127.0.0.1 (the file's other sources are left out). Three runs on the same frames, every output verified
against whole-model inference:

    local         every car runs its whole model itself
    neurosurgeon  each car splits once between itself and its best peer, alone (Kang et al.):
                  nobody prices what its choice does to the others
    fognet        DINA-P's stages per car, placed by ONE DINA-O round for all cars (the
                  joint game: a fog node's capacity is granted once, the externality priced)

The report shows, per round, which cars played it and where each one's subtasks went,
then each car's median frame latency under each run.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fognet.errors import ConfigError

GATHER_S = 1.0  # a car opening a round waits this long for the others to re-plan into it


async def _together(loaded, frames: int, seed: int, placements: dict, identities: dict, session):
    from fognet.data.driving import DrivingStream
    from fognet.infer.session import run_session

    runs = [run_session(loaded, DrivingStream(frames, 30.0, seed + k), placements[car], session,
                        identities[car]) for k, car in enumerate(placements)]
    return dict(zip(placements, await asyncio.gather(*runs), strict=True))


def _approaches(gather_s: float) -> dict:
    from fognet.infer.matched import MatchedPlacement
    from fognet.infer.placement import ReferencePlan, SinglePeer

    return {
        "local": SinglePeer,
        "neurosurgeon": lambda: ReferencePlan("neurosurgeon"),
        "fognet": lambda: MatchedPlacement(use_source=True, gather_s=gather_s),
    }


def cars_demo(model: str, frames: int, cluster_file: Path, seed: int, n: int,
              console: Console, gather_s: float = GATHER_S, closed: bool = True,
              encoding=None) -> dict:
    """Run the three approaches with `n` cars; {approach: {car: Report}}."""
    from fognet.config.cluster import load_cluster
    from fognet.infer.launch import LocalCluster, source_identity
    from fognet.infer.matched import round_lines
    from fognet.infer.session import SessionOptions
    from fognet.model.load import load_model

    if not cluster_file.is_file():
        raise ConfigError(f"no cluster file at {cluster_file}; pass --cluster FILE")
    cluster = load_cluster(cluster_file)
    cars = [p.name for p in cluster.sources][:n]
    if len(cars) < n:
        raise ConfigError(f"{cluster_file}: --sources {n} but the file has {len(cars)} source peers")
    identities = {car: source_identity(cluster, None, car) for car in cars}
    sources = {p.name for p in cluster.sources}
    others = [name for name in cluster.names if name not in sources or cluster.peer(name).quota > 0]
    workers = sum(1 for name in others if cluster.peer(name).quota > 0)
    loaded = load_model(model, seed=seed)
    console.print(f"[bold]{n} cars[/] ({', '.join(cars)}) stream {frames} frames each at once; "
                  f"{', '.join(others)} run as separate processes on 127.0.0.1")
    console.print(cluster.emulated().describe(), soft_wrap=True)
    reports: dict[str, dict] = {}
    t0 = time.perf_counter()
    with LocalCluster(cluster_file, names=others, closed=closed) as local:
        console.print(f"  {local.security()}", soft_wrap=True, markup=False)
        identities = {car: local.identity_for(ident) for car, ident in identities.items()}
        extra = {} if encoding is None else {"encoding": encoding}
        session = SessionOptions(via=(local.via,), expect_workers=workers,
                                 window=1, verify=True, **extra)
        for label, make in _approaches(gather_s).items():
            placements = {car: make() for car in cars}
            with console.status(f"{label}: {n} cars x {frames} frames ..."):
                reports[label] = asyncio.run(_together(loaded, frames, seed, placements,
                                                       identities, session))
            verified = sum(r.verified for r in reports[label].values())
            console.print(f"  {label}: done, {verified}/{n * frames} outputs verified")
            for car, placement in placements.items():
                for line in round_lines(placement):  # the rounds each car played
                    console.print(f"    {car} {line}", soft_wrap=True, markup=False)
    _table(console, reports, cars, frames)
    console.print(f"(the three runs took {time.perf_counter() - t0:.0f} s)")
    if any(r.summary.failed or r.verified != frames for by in reports.values() for r in by.values()):
        raise SystemExit(1)
    return reports


def _table(console: Console, reports: dict, cars: list[str], frames: int) -> None:
    table = Table(title=f"median ms per frame, {len(cars)} cars x {frames} frames (emulated times)")
    for col in ("run", *cars, "mean", "vs local"):
        table.add_column(col, no_wrap=True)
    base = sum(r.summary.p50_s for r in reports["local"].values()) / len(cars)
    for label, by in reports.items():
        p50 = [by[c].summary.p50_s for c in cars]
        mean = sum(p50) / len(p50)
        table.add_row(label, *(f"{x * 1e3:.1f}" for x in p50), f"{mean * 1e3:.1f}",
                      f"{base / mean:.2f}x")
    console.print(table)
    for label, by in reports.items():
        where = "; ".join(f"{c}: " + " | ".join("+".join(v) for v in by[c].summary.stage_peers.values())
                          for c in cars)
        console.print(f"  {label} stages on  {where}", soft_wrap=True, markup=False)
