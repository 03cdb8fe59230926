"""`fognet bench`: local vs fognet latency per model on a cluster, and `--compare`."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_CLUSTER = Path("peers") / "local-4.toml"


@click.command()
@click.option("--suite", "suite_name", default="default", show_default=True,
              help="Models and frames: default (pilotnet, resnet18, yolov3-tiny; 20 frames), quick, dina.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None, help="Write the results JSON here.")
@click.option("--cluster", "cluster_file", type=click.Path(path_type=Path), default=None,
              help=f"Launch this cluster file's peers locally (default: {DEFAULT_CLUSTER}).")
@click.option("--via", multiple=True, metavar="[NAME@]HOST:PORT",
              help="Use a running cluster through this peer instead (closed: NAME@HOST:PORT with --keys/--allow).")
@click.option("--keys", "keys_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --via a closed cluster: the requester's NAME.key_secret (with --allow).")
@click.option("--allow", "allow_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --via a closed cluster: its allow-list.")
@click.option("--frames", type=int, default=None, help="Frames per run (default: the suite's).")
@click.option("--compare", "compare_paths", nargs=2, type=click.Path(path_type=Path), default=None,
              metavar="A.json B.json", help="Compare two bench files (B against A) instead of running.")
@click.option("--threshold", default=0.1, show_default=True, help="With --compare: relative change that counts.")
@click.option("--fail-on-regression", is_flag=True, help="With --compare: exit 1 when B regressed.")
def bench(suite_name, out_path, cluster_file, via, keys_file, allow_file, frames, compare_paths, threshold,
          fail_on_regression) -> None:
    """Per model: p50/p95/p99 and throughput with the whole model on the source (local) and
    with fognet's placement, on a cluster; machine and emulation stated."""
    if compare_paths:
        _compare(*compare_paths, threshold, fail_on_regression)
        return
    if frames is not None and frames < 1:
        raise click.BadParameter("must be at least 1", param_hint="--frames")
    if via and cluster_file:
        raise click.UsageError("give --via HOST:PORT or --cluster FILE, not both")
    if (keys_file or allow_file) and not via:
        raise click.UsageError("--keys/--allow go with --via; a launched --cluster makes its own keys")
    join = _join(keys_file, allow_file)
    _run(suite_name, out_path, None if via else (cluster_file or DEFAULT_CLUSTER), via, frames, join)


def _join(keys_file: Path | None, allow_file: Path | None):
    """The closed cluster's requester keys, checked here (one line if they are bad) before
    any run starts; None when joining open."""
    from fognet.cli.peer import _cluster_keys
    from fognet.experiment.live import JoinKeys

    if _cluster_keys(keys_file, allow_file) is None:
        return None
    return JoinKeys(keys_file.resolve(), allow_file.resolve())


def _run(suite_name, out_path, cluster, via, frames, join=None) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from fognet.experiment.bench import MODES, run_suite, suite
    from fognet.experiment.machine import one_line
    from fognet.sim.records import write_json

    models, _ = suite(suite_name)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        bar = progress.add_task(f"bench {suite_name}", total=len(models) * len(MODES))
        result = run_suite(suite_name, cluster, via, frames,
                           lambda label: progress.update(bar, advance=1, description=label), join)
    table = Table(title=f"fognet bench {suite_name}: {result['frames']} frames per run, one in flight (ms)")
    for col in ("model", "mode", "frames", "failed", "p50", "p95", "p99", "frames/s", "speed-up p50"):
        table.add_column(col, justify="left" if col in ("model", "mode") else "right")
    for model, entry in result["models"].items():
        for mode in MODES:
            s = entry[mode]
            cells = ["-" if s[k] is None else f"{s[k]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "throughput_fps")]
            sp = entry["speedup_p50"] if mode == "fognet" else None
            table.add_row(model, mode, str(s["frames"]), str(s["failed"]), *cells, "" if sp is None else f"{sp:.2f}x")
    Console(width=150).print(table)
    click.echo(f"machine: {one_line(result['machine'])}")
    click.echo(result["emulation"])
    if out_path is not None:
        write_json(out_path, result)
        click.echo(f"wrote {out_path}")


def _compare(a: Path, b: Path, threshold: float, fail: bool) -> None:
    from fognet.experiment.bench import compare, load_bench, regressions

    changes = compare(load_bench(a), load_bench(b), threshold)
    worse = regressions(changes)
    for c in changes:
        tag = "REGRESSION" if c.worse else "improved  "
        click.echo(f"{tag} {c.model} {c.mode} {c.metric}: {c.before:.2f} -> {c.after:.2f} ({100 * c.relative:+.0f}%)")
    click.echo(f"{len(worse)} regression(s), {len(changes) - len(worse)} improvement(s) beyond {100 * threshold:.0f}% "
               f"({b} against {a})")
    if fail and worse:
        raise SystemExit(1)
