"""`fognet infer`: stream frames through a cluster and report latency, its split, and who ran what."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import click

from fognet.cli.options import encoding_option, input_shape_option
from fognet.errors import ConfigError, FrameSkipped


def _images(source: Path | None, frames: int, fps: float | None, seed: int):
    """(the frames to send, how many): the dataset's first `frames`, or the driving stream."""
    if source is not None:
        from itertools import islice

        from fognet.data.layouts import open_source

        dataset = open_source(source, fps)
        total = min(frames, len(dataset))
        return islice(dataset, total), total
    from fognet.data.driving import DrivingStream

    return iter(DrivingStream(frames, fps or 30.0, seed)), frames


def _cluster_identity(cluster_file: Path, emulate: bool | None):
    """The cluster file's source peer, played by this process, and the others to launch."""
    from fognet.config.cluster import load_cluster
    from fognet.infer.launch import source_identity

    cluster = load_cluster(cluster_file)
    identity = source_identity(cluster, emulate)
    others = [n for n in cluster.names if n != identity.config.name]
    workers = sum(1 for n in others if cluster.peer(n).quota > 0)
    return cluster, identity, others, workers


def _placement(kind: str, local: bool, parts: int | None, use_source: bool):
    from fognet.infer.placement import GreedyPlacement, PlannerPlacement, SinglePeer

    if local:
        return SinglePeer()
    if kind == "planner":
        return PlannerPlacement(use_source=use_source)
    if kind == "match":
        from fognet.infer.matched import MatchedPlacement

        return MatchedPlacement(use_source=use_source)
    return GreedyPlacement(parts=parts, use_source=use_source)


def _run(loaded, graph, images, placement, options, identity, total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fognet.infer.session import run_session

    with Progress(
        TextColumn("[bold]frames"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"), transient=False,
    ) as progress:
        bar = progress.add_task("frames", total=total, last="")

        def on_result(result) -> None:
            last = f"{result.latency_s * 1e3:.1f} ms" if result.ok else f"[red]failed: {result.error}"
            progress.update(bar, advance=1, last=last)

        return asyncio.run(run_session(loaded, images, placement, options, identity, on_result, graph))


def _go(flow, loaded, graph, images, chosen, options, identity, total):
    if flow == "chain":
        from fognet.cli.infer_chain import run_pipelined_frames

        return run_pipelined_frames(loaded, graph, images, options, identity)
    return _run(loaded, graph, images, chosen, options, identity, total)


def _chain_outcome(report, graph, console, verify: bool) -> None:
    from fognet.cli.infer_chain import print_chain_report

    print_chain_report(report, graph, console)
    if verify:
        console.print(f"verified: {report.matched}/{report.frames} outputs match local inference (numpy.allclose)")
        if report.matched != report.frames:
            raise SystemExit(1)


def _measured_stages(report, plan) -> dict[int, float]:
    """Mean measured seconds per stage (its slowest slice), over the frames that ran `plan`'s
    stages and succeeded."""
    per_stage: dict[int, list[float]] = {}
    for r in report.results:
        if not r.ok or r.plan is None or r.plan.placement() != plan.placement():
            continue
        slowest: dict[int, float] = {}
        for t in r.timings:
            slowest[t.stage] = max(slowest.get(t.stage, 0.0), t.total_s)
        for stage, seconds in slowest.items():
            per_stage.setdefault(stage, []).append(seconds)
    return {k: sum(v) / len(v) for k, v in per_stage.items()}


def _print_report(report, graph, console) -> None:
    from rich.table import Table

    title = "plan" + ("s (re-planned as the state moved)" if len(report.plans) > 1 else "")
    plans = Table(title=title + "; predicted under the state named in column 'state'")
    for col in ("plan", "state", "stage", "nodes", "peer", "predicted ms", "measured ms"):
        plans.add_column(col)
    basis = report.basis or ("configured",) * len(report.plans)
    for p, plan in enumerate(report.plans):
        measured = _measured_stages(report, plan)
        for i, stage in enumerate(plan.stages):
            seen = f"{measured[i] * 1e3:.1f}" if i in measured else "-"
            plans.add_row(str(p), basis[p] if i == 0 else "", str(i), f"{stage.start}..{stage.stop - 1}",
                          ", ".join(stage.peers), f"{stage.predicted_s * 1e3:.1f}", seen)
    console.print(plans)
    switched = sum(r.switched for r in report.replans)
    console.print(f"re-plans  {len(report.replans)} ({switched} switched)")
    for r in report.replans:
        console.print(f"  {r.reason}: {'switched' if r.switched else 'kept'} "
                      f"(current {r.current_s * 1e3:.1f} ms, new {r.candidate_s * 1e3:.1f} ms)", soft_wrap=True)
    if report.replayed or report.busy:  # fognet.infer.replay: frames that survived a peer
        console.print(f"faults  {report.replayed} frame replays on other peers, {report.busy} BUSY answers waited out")
    s = report.summary
    ok = s.frames - s.failed
    console.print(
        f"latency  p50 {s.p50_s * 1e3:.1f} ms   p95 {s.p95_s * 1e3:.1f} ms   p99 {s.p99_s * 1e3:.1f} ms"
        f"   throughput {s.throughput_fps:.2f} frames/s ({ok} frames in {report.elapsed_s:.2f} s)"
    )
    console.print(
        f"per frame (mean)  transfer {s.transfer_s * 1e3:.1f} ms   wait {s.wait_s * 1e3:.1f} ms"
        f"   compute {s.compute_s * 1e3:.1f} ms"
    )
    ran = "; ".join(f"stage {k}: {', '.join(v)}" for k, v in s.stage_peers.items())
    console.print(f"stages ran on  {ran or '-'}")


def _write_csv(path: Path, report, model: str, mode: str) -> None:
    from fognet.infer.requester import frame_split

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["model", "mode", "frame", "ok", "latency_ms", "transfer_ms", "wait_ms", "compute_ms", "peers"])
            for r in report.results:
                parts = [x * 1e3 for x in frame_split(r)]
                peers = "+".join(t.peer for t in r.timings)
                out.writerow([model, mode, r.index, int(r.ok), f"{r.latency_s * 1e3:.3f}", *(f"{x:.3f}" for x in parts), peers])
    except OSError as exc:
        raise ConfigError(f"cannot write --csv {path}: {exc.strerror or exc}") from exc


@click.command()
@click.option("--model", "model", required=True, help="Zoo name or .onnx path.")
@click.option("--frames", "n_frames", default=30, show_default=True, help="Frames to send.")
@click.option("--fps", type=float, default=None, help="Camera rate (default: as fast as the window allows).")
@click.option("--via", multiple=True, metavar="[NAME@]HOST:PORT",
              help="Join a running cluster through this peer (repeatable; closed: NAME@HOST:PORT).")
@click.option("--cluster", "cluster_file", type=click.Path(path_type=Path), default=None,
              help="Start this cluster file's peers, play its source peer, run, stop them.")
@click.option("--verify", is_flag=True, help="Check every output against local whole-model inference.")
@click.option("--source", "source_dir", type=click.Path(path_type=Path), default=None, help="Frames from this dataset (BDD100K, KITTI, Udacity, a video, an image folder; see `fognet data inspect`) instead of the driving stream.")
@click.option("--window", default=4, show_default=True, type=click.IntRange(min=1), help="Frames in flight at once.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a subtask may take before its frame fails.")
@click.option("--max-lag", "max_lag", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="With --fps: skip a frame whose slot frees more than this after it arrived (overload "
                   "sheds stale frames; default: never skip).")
@click.option("--join-timeout", default=10.0, show_default=True, help="Seconds to wait for the cluster's peers.")
@click.option("--local", "local_only", is_flag=True, help="Run the whole model on the source (the baseline).")
@click.option("--flow", type=click.Choice(["star", "chain"]), default="star", show_default=True,
              help="star: the source sends each stage its input (latency mode); chain: frames pipelined worker "
                   "to worker through the chain plan of least period, measured against the best single device "
                   "(throughput mode).")
@click.option("--placement", type=click.Choice(["match", "greedy", "planner"]), default="match", show_default=True,
              help="match: the DP's stages, peers decided by a round of the matching game (slices re-fitted); "
                   "baselines: greedy (balanced vertical stages, each to its cheapest peer), planner (the DP alone).")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None,
              help="Per-node times from `fognet profile --out` for placement (default: a FLOP estimate).")
@click.option("--parts", type=int, default=None, help="Vertical stages for the greedy placement (default: one per peer).")
@click.option("--emulate/--no-emulate", default=None, help="With --cluster: override the file's emulation switch.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None, help="Write per-frame timings here.")
@click.option("--seed", default=0, show_default=True, help="Seed of the driving stream and a zoo model's weights.")
@click.option("--warmup", default=3, show_default=True,
              help="Untimed frames first: the first fetches and builds, the rest calibrate speeds and links.")
@click.option("--replan-threshold", default=0.2, show_default=True,
              help="Re-plan when a speed, backlog or bandwidth moves by more than this fraction.")
@click.option("--open", "open_cluster", is_flag=True, help="With --cluster: run it open (no CURVE keys).")
@click.option("--keys", "keys_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --via a closed cluster: this requester's NAME.key_secret (with --allow).")
@click.option("--allow", "allow_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --via a closed cluster: its allow-list.")
@input_shape_option
@encoding_option
def infer(model, n_frames, fps, via, cluster_file, verify, source_dir, window, timeout, max_lag, join_timeout,
          local_only, flow, placement, profile_path, parts, emulate, csv_path, seed, warmup, replan_threshold,
          open_cluster, keys_file, allow_file, input_shapes, encoding) -> None:
    """Send frames through the cluster and report latency (p50/p95/p99, split into transfer,
    wait and compute), throughput, and which peers ran which stages."""
    from rich.console import Console

    from fognet.infer.launch import LocalCluster
    from fognet.infer.session import Identity, SessionOptions
    from fognet.model.graph import analyse
    from fognet.model.load import load_model
    from fognet.net.discovery import parse_bootstrap

    if bool(via) == bool(cluster_file):
        raise click.UsageError("give --via HOST:PORT (a running cluster) or --cluster FILE (start one), not both")
    if cluster_file and (keys_file or allow_file):
        raise click.UsageError("--keys/--allow go with --via; --cluster makes its own keys (or --open)")
    if via and open_cluster:
        raise click.UsageError("--open goes with --cluster; with --via, no --keys/--allow is open")
    if n_frames < 1:
        raise click.BadParameter("must be at least 1", param_hint="--frames")
    if fps is not None and fps <= 0:
        raise click.BadParameter("must be positive", param_hint="--fps")
    if max_lag is not None and fps is None:
        raise click.UsageError("--max-lag goes with --fps: a frame is late only against the camera's clock")
    if warmup < 0 or replan_threshold < 0:
        raise click.BadParameter("must be >= 0", param_hint="--warmup / --replan-threshold")
    if flow == "chain" and (local_only or placement != "match" or parts is not None):
        raise click.UsageError("--flow chain plans its own chain: no --local, --placement or --parts")
    console = Console()
    loaded = load_model(model, input_shapes, seed=seed)
    graph = analyse(loaded.model)
    images, total = _images(source_dir, n_frames, fps, seed)
    console.print(f"model {loaded.name} ({len(graph)} nodes, sha256 {loaded.sha256[:12]}...), {total} frames")
    times = None
    if profile_path is not None:
        from fognet.model.profile import load_profile

        times = load_profile(profile_path).times_for(graph)
    options = dict(
        window=window, paced=fps is not None, timeout_s=timeout, join_timeout_s=join_timeout, verify=verify, times=times,
        warmup=warmup, replan_threshold=replan_threshold, encoding=encoding, max_lag_s=max_lag,
    )
    if via:
        from fognet.cli.peer import _cluster_keys

        identity = Identity(keys=_cluster_keys(keys_file, allow_file))
        session = SessionOptions(via=tuple(parse_bootstrap(list(via))), **options)
        console.print(f"joining via {', '.join(via)} as a requester (its own links are loopback, not emulated)")
        chosen = _placement(placement, local_only, parts, False)
        report = _go(flow, loaded, graph, images, chosen, session, identity, total)
    else:
        cluster, identity, others, workers = _cluster_identity(cluster_file, emulate)
        console.print(f"cluster {cluster.name}: playing source {identity.config.name}; starting {', '.join(others) or 'no other peer'}")
        console.print(cluster.emulated(emulate).describe(), soft_wrap=True)
        with LocalCluster(cluster_file, names=others, emulate=emulate, closed=not open_cluster) as local:
            console.print(local.security(), soft_wrap=True, markup=False)
            identity = local.identity_for(identity)
            session = SessionOptions(via=(local.via,) if others else (), expect_workers=workers, **options)
            chosen = _placement(placement, local_only, parts, True)
            report = _go(flow, loaded, graph, images, chosen, session, identity, total)
    if flow == "chain":
        _chain_outcome(report, graph, console, verify)
        return
    _print_report(report, graph, console)
    from fognet.infer.fidelity import describe
    from fognet.infer.matched import round_lines

    console.print(describe(report.fidelity, encoding.name, encoding.lossy), soft_wrap=True)

    for line in round_lines(chosen):  # one line per matching round (placement "match")
        console.print(line, soft_wrap=True, markup=False)
    if csv_path is not None:
        _write_csv(csv_path, report, loaded.name, "local" if local_only else placement)
    failed, skipped = report.summary.failed, report.summary.skipped
    if skipped:
        console.print(f"skipped {skipped} of {total} frames: their slot freed more than {max_lag:g} s after "
                      "they arrived (--max-lag)")
    ran = total - failed - skipped
    if verify:
        console.print(f"verified: {report.verified}/{ran} outputs match local inference (numpy.allclose)")
    if failed:
        first = next(r for r in report.results if not r.ok and not isinstance(r.error, FrameSkipped))
        console.print(f"[red]{failed} of {total} frames failed; first: {type(first.error).__name__}: {first.error}")
    if failed or (verify and report.verified != ran):
        raise SystemExit(1)
