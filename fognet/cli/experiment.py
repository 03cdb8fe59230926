"""`fognet experiment ...`: whole experiments with their figures and report."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click

DEFAULT_CONFIG = Path("experiments") / "driving.toml"


@click.group()
def experiment() -> None:
    """Experiments: simulated at scale, optionally live, with CSV/JSON, figures and a report."""


@experiment.command()
@click.option("--dataset", type=click.Path(path_type=Path), default=None,
              help="A driving dataset (BDD100K, KITTI, Udacity, video, image folder): its frame rate "
                   "sets the cars', its frames feed the live run.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
              show_default=True, help="The experiment's TOML.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Results directory (default: experiments/results/<name>).")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Where to write the markdown report (default: <out>/report.md).")
@click.option("--jobs", default=1, show_default=True, help="Worker processes for the simulated points.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Run the simulated points on this Dask scheduler instead (the dask extra).")
@click.option("--live/--no-live", default=False, show_default=True,
              help="Also a short run per [live] model on the emulated cluster (local vs fognet).")
def driving(dataset: Path | None, config_path: Path, out_dir: Path | None, report_path: Path | None,
            jobs: int, dask_address: str | None, live: bool) -> None:
    """Cars replaying frames through DINA's models plus PilotNet and YOLOv3-tiny: every
    approach in the simulator (the scenario and each sweep, every seed), PArtNNer's
    setting, Feltin's acceleration region, and optionally a live run."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fognet.experiment import driving as run
    from fognet.experiment.config import load_config
    from fognet.experiment.outputs import write
    from fognet.experiment.parallel import dask_executor, process_executor
    from fognet.experiment.report import build_report

    if jobs < 1:
        raise click.BadParameter("must be at least 1", param_hint="--jobs")
    cfg = load_config(config_path)
    found = run.open_dataset(dataset) if dataset is not None else None
    points = run.sim_points(cfg, found.fps if found else None)
    given_out = out_dir
    out_dir = out_dir or Path("experiments") / "results" / cfg.name
    executor = dask_executor(dask_address) if dask_address else process_executor(jobs)
    command = _command(config_path, dataset, given_out, report_path, jobs, dask_address, live)
    started = time.monotonic()
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            bar = progress.add_task(f"{cfg.name}: {len(points)} simulated points", total=run.steps(cfg, points, live))
            results = run.run(cfg, points, executor, found, live,
                              lambda label: progress.update(bar, advance=1, description=label))
    finally:
        if executor is not None:
            executor.shutdown()
    results["run"] = {"command": command, "jobs": jobs, "wall_s": round(time.monotonic() - started, 1)}
    write(results, out_dir)
    report = build_report(out_dir, report_path)
    for row in results["headline"]:
        click.echo(f"{row['work']}: {row['ours']}  (paper: {row['paper']})")
    click.echo(f"wrote {out_dir}/results.json, CSVs, figures/ and {report}")


def _command(config_path: Path, dataset: Path | None, out_dir: Path | None, report_path: Path | None,
             jobs: int, dask_address: str | None, live: bool) -> str:
    """The command line that reproduces this run (the report states it)."""
    words = ["fognet", "experiment", "driving", "--config", str(config_path)]
    for flag, value in (("--dataset", dataset), ("--out", out_dir), ("--report", report_path), ("--dask", dask_address)):
        words += [flag, str(value)] if value is not None else []
    words += ["--jobs", str(jobs)] if jobs > 1 else []
    return shlex.join(words + (["--live"] if live else []))


@experiment.command()
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option("--out", "report_path", type=click.Path(path_type=Path), default=None,
              help="The report file (default: RESULTS_DIR/report.md).")
def report(results_dir: Path, report_path: Path | None) -> None:
    """Redraw the figures and rewrite the report from RESULTS_DIR (a driving run's --out)."""
    from fognet.experiment.report import build_report

    click.echo(f"wrote {build_report(results_dir, report_path)}")
