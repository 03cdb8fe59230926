"""The live matching game on frames: several cars, one fog, three ways (bench_matching (d)).

Three cars and five fog nodes (`FLEET`, emulated; each fog node its own `fognet peer`
process on 127.0.0.1, the cars in this process) stream the same generated driving frames
at once, every output verified, with their DINA-P plans placed by

    joint   one DINA-O round for every car (a fog node's capacity granted once)
    alone   each car plays a round of its own, one after the other (never merged: a fog
            node grants its quota once per car, nobody prices the others)
    greedy  one joint round, phase 1 only (`MatchedPlacement(steps=False)`)

    play_arms(frames, model, seed, runs=1) -> rows   one per run, arm and car, and one per run
                                                      and arm (car "all")
    arm_means(rows) -> {arm: mean ms over runs}

Every run plays the arms in another order (run k starts with the k-th arm): on a shared
machine the load moves in minutes, and the arm played first used to be the joint one every
time. Each row says where the time went (transfer, wait, compute per subtask), so a run
the host slowed shows as compute on the fog server, whose emulated time has no slack
(it runs at this machine's speed, `config.emulation`).
"""

from __future__ import annotations

import statistics
from pathlib import Path

# (d): three cars, five fog nodes. The roadside server is fast and near every car (its
# best link), but admits 2 subtasks a round: alone, each car would send it everything.
FLEET = """
name = "fleet-3x5"
description = "car1..3 + fog-server, fog-laptop, fog-nano1, fog-nano2, fog-rpi over Wi-Fi"
[emulation]
enabled = true
[default_link]
bandwidth = 1.0e8
latency = 0.0005
[[peers]]
name = "car1"
profile = "car"
[[peers]]
name = "car2"
profile = "car"
[[peers]]
name = "car3"
profile = "car"
[[peers]]
name = "fog-server"
profile = "fog-server"
quota = 2
[[peers]]
name = "fog-laptop"
profile = "laptop"
role = "worker"
[[peers]]
name = "fog-nano1"
profile = "jetson-nano"
[[peers]]
name = "fog-nano2"
profile = "jetson-nano"
[[peers]]
name = "fog-rpi"
profile = "rpi4"
""" + "".join(
    f'[[links]]\na = "car{c}"\nb = "{w}"\nbandwidth = {bw}\nlatency = {lat}\n'
    for c, row in enumerate((
        ((2.5e7, 0.002), (2.0e7, 0.003), (1.25e7, 0.004), (5.0e6, 0.006), (1.25e7, 0.004)),
        ((2.0e7, 0.003), (1.25e7, 0.004), (5.0e6, 0.006), (2.0e7, 0.003), (1.25e7, 0.004)),
        ((2.0e7, 0.003), (1.25e7, 0.004), (1.25e7, 0.004), (1.25e7, 0.004), (2.0e7, 0.003)),
    ), start=1)
    for w, (bw, lat) in zip(("fog-server", "fog-laptop", "fog-nano1", "fog-nano2", "fog-rpi"),
                            row, strict=True))
GATHER_S = 1.0  # a car opening a round waits this long for the others to re-plan into it


def _arms() -> dict:
    """(d)'s placements, one per car: fresh for every arm."""
    import asyncio

    from fognet.infer.matched import MatchedPlacement

    class Alone(MatchedPlacement):
        """A round of its own: the cars' rounds never overlap, so none merges."""

        def __init__(self, turns: asyncio.Lock) -> None:
            super().__init__(use_source=True)
            self.turns = turns

        async def match(self, peer, costs, state, plan):
            async with self.turns:
                return await super().match(peer, costs, state, plan)

    def alone():
        turns = asyncio.Lock()  # shared by the cars of one arm (one event loop)
        return lambda: Alone(turns)

    return {
        "joint": lambda: (lambda: MatchedPlacement(use_source=True, gather_s=GATHER_S)),
        "alone": alone,
        "greedy": lambda: (lambda: MatchedPlacement(use_source=True, gather_s=GATHER_S,
                                                    steps=False)),
    }


def play_arms(frames: int, model: str, seed: int, runs: int = 1) -> list[dict]:
    """(d) Every arm on the same frames, `runs` times on one cluster, each run in another
    order; one row per run, arm and car, and one per run and arm (car "all")."""
    import asyncio
    import tempfile
    from dataclasses import replace

    from fognet.config.cluster import load_cluster
    from fognet.data.driving import DrivingStream
    from fognet.infer.launch import LocalCluster, source_identity
    from fognet.infer.session import SessionOptions, run_session
    from fognet.model.load import load_model

    with tempfile.TemporaryDirectory(prefix="fognet-fleet-") as tmp:
        path = Path(tmp) / "fleet.toml"
        path.write_text(FLEET)
        cluster = load_cluster(path)
        cars = [p.name for p in cluster.sources]
        workers = [n for n in cluster.names if n not in cars]
        identities = {car: source_identity(cluster, None, car) for car in cars}
        loaded = load_model(model, seed=seed)
        rows = []
        with LocalCluster(path, names=workers, closed=False) as local:  # open: not its subject
            identities = {c: replace(i, config=replace(i.config, keys=None))
                          for c, i in identities.items()}
            options = SessionOptions(via=(local.via,), expect_workers=len(workers), window=1,
                                     verify=True)

            async def together(make):
                placements = {car: make() for car in cars}
                runs = [run_session(loaded, DrivingStream(frames, 30.0, seed + k), placements[car],
                                    options, identities[car]) for k, car in enumerate(cars)]
                return placements, dict(zip(cars, await asyncio.gather(*runs), strict=True))

            arms = list(_arms().items())
            for run in range(runs):
                for order, (arm, arm_maker) in enumerate(arms[run % len(arms):] + arms[:run % len(arms)]):
                    placements, reports = asyncio.run(together(arm_maker()))
                    rows += [{"run": run + 1, "order": order + 1, **r}
                             for r in _frame_rows(arm, placements, reports)]
    return rows


def arm_means(rows: list[dict]) -> dict[str, float]:
    """Each arm's mean frame latency (ms) over the runs' "all" rows."""
    every: dict[str, list[float]] = {}
    for r in rows:
        if r["car"] == "all" and r["mean_ms"] != "":
            every.setdefault(r["arm"], []).append(r["mean_ms"])
    return {arm: round(statistics.fmean(v), 2) for arm, v in every.items()}


def _frame_rows(arm: str, placements: dict, reports: dict) -> list[dict]:
    rows, every, parts = [], [], []
    for car, report in reports.items():
        lat = [r.latency_s for r in report.results if r.ok]
        timings = [t for r in report.results if r.ok for t in r.timings]
        every += lat
        parts += timings
        rounds = placements[car].rounds
        rows.append({
            "arm": arm, "car": car, "frames": len(report.results), "ok": len(lat),
            "verified": report.verified,
            "mean_ms": round(1e3 * statistics.fmean(lat), 2) if lat else "",
            "p50_ms": round(1e3 * report.summary.p50_s, 2),
            **_where(timings),
            "rounds": len(rounds),
            "played_with": " ".join("+".join(r.sources) for r in rounds),
            "stages_on": " | ".join("+".join(v) for v in report.summary.stage_peers.values()),
        })
        for line in (r.line() for r in rounds):
            print(f"  {arm} {car} {line}")
    rows.append({"arm": arm, "car": "all", "frames": sum(r["frames"] for r in rows),
                 "ok": len(every), "verified": sum(r["verified"] or 0 for r in rows),
                 "mean_ms": round(1e3 * statistics.fmean(every), 2) if every else "",
                 "p50_ms": round(1e3 * statistics.median(every), 2) if every else "",
                 **_where(parts),
                 "rounds": sum(r["rounds"] for r in rows), "played_with": "", "stages_on": ""})
    return rows


def _where(timings: list) -> dict:
    """Mean ms per subtask in transfer, queue wait and compute (as the workers report them)."""
    def mean(kind: str) -> float | str:
        return round(1e3 * statistics.fmean(getattr(t, kind) for t in timings), 2) if timings else ""
    return {"transfer_ms": mean("transfer_s"), "wait_ms": mean("wait_s"), "compute_ms": mean("compute_s")}
