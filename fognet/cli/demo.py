"""`fognet demo`: the main job on built-in defaults, end to end, in under a minute.

1. The model layer: a zoo model is split into parts whose chain equals the whole model.
2. The live cluster. By default three cars of `peers/local-cars.toml` contend for its fog
   nodes (separate peer processes on 127.0.0.1, emulated devices): all-local vs a per-car
   Neurosurgeon split vs one joint DINA-O round for all cars (`demo_cars`). With
   `--sources 1`, one car on `peers/local-4.toml` streams all-local, then with DINA-P's
   stages on the peers the game chose. Every output is checked against whole-model
   inference; a table compares the runs; the peers are stopped.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from fognet.cli.options import encoding_option
from fognet.errors import ConfigError

DEFAULT_CLUSTER = Path(__file__).resolve().parents[2] / "peers" / "local-4.toml"
CARS_CLUSTER = DEFAULT_CLUSTER.with_name("local-cars.toml")  # several cars, two fog nodes


def _split_check(loaded, console: Console, parts: int = 3) -> None:
    from fognet.model.flops import graph_node_flops
    from fognet.model.graph import analyse
    from fognet.model.runtime import make_session, random_feeds, run, run_chain
    from fognet.partition.extract import extract
    from fognet.partition.vertical import balanced_positions, parts_at

    graph = analyse(loaded.model)
    positions = balanced_positions(graph, parts, graph_node_flops(graph))
    models = [extract(graph, p.start, p.stop) for p in parts_at(graph, positions)]
    feeds = random_feeds(graph.inputs, seed=0)
    whole = run(make_session(loaded.model), feeds)
    chained = run_chain(models, feeds)
    diff = max(float(np.max(np.abs(chained[k] - v))) for k, v in whole.items())
    ok = all(np.allclose(chained[k], v, rtol=1e-4, atol=1e-5) for k, v in whole.items())
    crossing = [len(graph.cut(p).crossing) for p in positions]
    console.print(
        f"[bold]1. split[/] {loaded.name}: {len(graph)} compute nodes cut at {positions} "
        f"({crossing} tensors cross) -> {parts} parts; chained parts "
        f"{'equal' if ok else '[red]DIFFER FROM'} the whole model (max |diff| {diff:.2e})"
    )
    if not ok:
        raise SystemExit(1)


def _session(loaded, frames: int, seed: int, placement, identity, session):
    from fognet.data.driving import DrivingStream
    from fognet.infer.session import run_session

    return asyncio.run(run_session(loaded, DrivingStream(frames, 30.0, seed), placement, session, identity))


@click.command()
@click.option("--model", default=None, help="Zoo name or .onnx path [default: squeezenet, so that several cars finish in "
              "a minute; with --sources 1: resnet18].")
@click.option("--frames", default=None, type=click.IntRange(min=1),
              help="Frames per car and run [default: 12].")
@click.option("--cluster", "cluster_file", type=click.Path(path_type=Path), default=None,
              help="Cluster file (default: peers/local-cars.toml; with --sources 1: peers/local-4.toml).")
@click.option("--seed", default=0, show_default=True)
@encoding_option
@click.option("--open", "open_cluster", is_flag=True, help="Run the cluster open (default: closed, CURVE keys made for it).")
@click.option("--sources", default=3, show_default=True, type=click.IntRange(min=1),
              help="Cars streaming at once: 2 or more contend for the fog nodes, and the joint "
                   "game is compared with all-local and a per-car Neurosurgeon split "
                   "(default cluster: peers/local-cars.toml); 1: one car on peers/local-4.toml, "
                   "local vs fognet.")
def demo(model: str | None, frames: int | None, cluster_file: Path | None, seed: int,
         open_cluster: bool, encoding, sources: int) -> None:
    """Split a model, then stream driving frames from several cars contending for a few
    emulated fog nodes: all-local vs a per-car Neurosurgeon split vs fognet's joint game,
    every output verified (--sources 1: one car, local vs fognet)."""
    from fognet.cli.infer import _cluster_identity
    from fognet.infer.fidelity import describe
    from fognet.infer.launch import LocalCluster
    from fognet.infer.matched import MatchedPlacement, round_lines
    from fognet.infer.placement import SinglePeer
    from fognet.infer.session import SessionOptions
    from fognet.model.load import load_model

    console = Console()
    if sources > 1:
        from fognet.cli.demo_cars import cars_demo

        model = model or "squeezenet"
        _split_check(load_model(model, seed=seed), console)
        cars_demo(model, frames or 12, cluster_file or CARS_CLUSTER, seed,
                  sources, console, closed=not open_cluster, encoding=encoding)
        return
    model, frames = model or "resnet18", frames or 12
    cluster_file = cluster_file or DEFAULT_CLUSTER
    if not cluster_file.is_file():
        raise ConfigError(f"no cluster file at {cluster_file}; pass --cluster FILE")
    cluster, identity, others, workers = _cluster_identity(cluster_file, None)
    loaded = load_model(model, seed=seed)
    _split_check(loaded, console)

    console.print(
        f"[bold]2. live[/] cluster {cluster.name}: {identity.config.name} (source) + "
        f"{', '.join(others)} as separate processes on 127.0.0.1"
    )
    console.print(cluster.emulated().describe(), soft_wrap=True)
    rows = []
    with LocalCluster(cluster_file, names=others, closed=not open_cluster) as local:
        identity = local.identity_for(identity)
        console.print(f"  {local.security()}", soft_wrap=True, markup=False)
        for label, placement in (("local", SinglePeer()), ("fognet", MatchedPlacement(use_source=True))):
            session = SessionOptions(
                via=(local.via,), expect_workers=workers, window=1, verify=True, encoding=encoding,
            )
            with console.status(f"{label}: {frames} frames ..."):
                report = _session(loaded, frames, seed, placement, identity, session)
            rows.append((label, report))
            console.print(f"  {label}: done, {report.verified}/{frames} outputs verified; "
                          f"{describe(report.fidelity, encoding.name, encoding.lossy)}", soft_wrap=True)
            for line in round_lines(placement):  # the matching rounds that placed it
                console.print(f"    {line}", soft_wrap=True, markup=False)
    _print_table(console, rows, frames)
    # a lossy encoding is not expected to match (its error is reported above), only to run
    if any(r.summary.failed or (r.verified != frames and not encoding.lossy) for _, r in rows):
        raise SystemExit(1)


def _print_table(console: Console, rows, frames: int) -> None:
    table = Table(title=f"ms per frame, {frames} frames (emulated times, see above)")
    for col in ("run", "stages on", "p50", "p95", "xfer", "wait", "comp", "fps", "gain"):
        table.add_column(col, no_wrap=True)
    base = rows[0][1].summary.p50_s
    for label, report in rows:
        s = report.summary
        peers = " | ".join("+".join(v) for v in s.stage_peers.values())
        table.add_row(
            label, peers, f"{s.p50_s * 1e3:.1f}", f"{s.p95_s * 1e3:.1f}", f"{s.transfer_s * 1e3:.1f}",
            f"{s.wait_s * 1e3:.1f}", f"{s.compute_s * 1e3:.1f}", f"{s.throughput_fps:.2f}",
            f"{base / s.p50_s:.2f}x",
        )
    console.print(table)
    console.print("local: the whole model on the car (the baseline); fognet: DINA-P's stages on the peers "
                  "a round of the DINA-O matching game chose (shown)")
