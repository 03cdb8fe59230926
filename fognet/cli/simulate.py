"""`fognet simulate`: every approach on a scenario (or a sweep), a table, and CSV/JSON files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fognet.errors import ConfigError

if TYPE_CHECKING:  # the simulator pulls in onnx and the planner: import it only when run
    from fognet.sim.experiment import Comparison, ModelCache
    from fognet.sim.scenario import Scenario, Sweep


@click.command()
@click.argument("scenario_path", metavar="SCENARIO", type=click.Path(path_type=Path))
@click.option("--baselines", default="all", show_default=True,
              help="Approaches to compare with fognet: all, or a comma list of "
                   "local,best-node,neurosurgeon,modnn,random,greedy,optimum.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for frames.csv and summary.json (default: ./sim-<scenario name>).")
def simulate(scenario_path: Path, baselines: str, out_dir: Path | None) -> None:
    """Simulate SCENARIO (a TOML file under experiments/scenarios) with fognet and baselines.

    Every approach sees the same frames, devices, links and model costs. Prints each
    approach's latency figures and fognet's speed-up over it; writes every frame's record
    (frames.csv) and the summaries (summary.json) to --out.
    """
    from fognet.sim.experiment import ModelCache, parse_approaches
    from fognet.sim.scenario import Sweep, load

    loaded = load(scenario_path)
    points = loaded.points if isinstance(loaded, Sweep) else (loaded,)
    names = parse_approaches(baselines, points[0])
    out_dir = out_dir or Path(f"sim-{points[0].name}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from exc
    console = Console(stderr=True)
    models = ModelCache()
    comparisons = _run(points, names, models, console)
    if isinstance(loaded, Sweep):
        _sweep_table(loaded, comparisons, names)
    else:
        _table(comparisons[0], names)
    _write(out_dir, loaded, comparisons)
    click.echo(f"wrote {out_dir / 'frames.csv'} and {out_dir / 'summary.json'}")


def _run(points, names, models: ModelCache, console: Console) -> list[Comparison]:
    from fognet.sim.experiment import compare

    total = sum(p.rounds for p in points) * len(names)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    out = []
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("loading models", total=total)
        for k, point in enumerate(points):
            models.for_scenario(point)

            def tick(name: str, r: int, k=k, point=point) -> None:
                label = f"{point.name} [{k + 1}/{len(points)}] {name}" if len(points) > 1 else f"{point.name} {name}"
                progress.update(task, advance=1, description=label)

            comparison = compare(point, names, models, tick)
            done_rounds = sum(point.rounds for n in names if n not in comparison.results)
            progress.update(task, advance=done_rounds)  # skipped approaches
            out.append(comparison)
    return out


def _console() -> Console:
    """stdout; wide enough for the table when it is a file or pipe rather than a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=150)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.1f}"


def _table(comparison: Comparison, names: list[str]) -> None:
    sc = comparison.scenario
    table = Table(title=f"{sc.name}: {sum(g.count for g in sc.sources)} sources, "
                        f"{sum(g.count for g in sc.workers)} workers, {sc.rounds} rounds, "
                        f"bytes as encoding {sc.encoding.name} sends them")
    for header in ("approach", "frames", "mean ms", "p50 ms", "p95 ms", "p99 ms", "frames/s",
                   "deadline met", "worker util", "fognet speed-up"):
        table.add_column(header, justify="left" if header == "approach" else "right")
    for name in names:
        result = comparison.results.get(name)
        if result is None:
            table.add_row(name, "-", "skipped", "", "", "", "", "", "", comparison.skipped.get(name, "")[:40])
            continue
        s = result.summary
        speedup = comparison.speedup(name)
        table.add_row(
            name, str(s.frames), _ms(s.mean_s), _ms(s.p50_s), _ms(s.p95_s), _ms(s.p99_s),
            f"{s.throughput_fps:.1f}",
            "-" if s.deadline_met is None else f"{100 * s.deadline_met:.0f}%",
            f"{100 * s.utilisation_mean:.0f}%",
            "" if name == "fognet" or speedup is None else f"{speedup:.2f}x",
        )
    _console().print(table)


def _sweep_table(sweep: Sweep, comparisons: list[Comparison], names: list[str]) -> None:
    table = Table(title=f"{sweep.name}: mean latency (ms) as {sweep.param} varies; (x) = fognet's speed-up")
    table.add_column(sweep.param)
    for name in names:
        table.add_column(name, justify="right")
    for value, comparison in zip(sweep.values, comparisons, strict=True):
        cells = []
        for name in names:
            result = comparison.results.get(name)
            if result is None:
                cells.append("-")
                continue
            speedup = comparison.speedup(name)
            extra = "" if name == "fognet" or speedup is None else f" ({speedup:.2f}x)"
            cells.append(_ms(result.summary.mean_s) + extra)
        table.add_row(str(value), *cells)
    _console().print(table)


def _write(out_dir: Path, loaded: Scenario | Sweep, comparisons: list[Comparison]) -> None:
    from fognet.sim.records import RECORD_FIELDS, record_row, write_json, write_rows
    from fognet.sim.scenario import Sweep

    sweep = loaded if isinstance(loaded, Sweep) else None
    values = sweep.values if sweep else (None,)
    extra = ["param", "value"] if sweep else []

    def rows():
        for value, comparison in zip(values, comparisons, strict=True):
            for result in comparison.results.values():
                for record in result.records:
                    yield ([sweep.param, value] if sweep else []) + record_row(record)

    write_rows(out_dir / "frames.csv", [*extra, *RECORD_FIELDS], rows())
    write_json(out_dir / "summary.json", summary_json(loaded, comparisons))


def summary_json(loaded: Scenario | Sweep, comparisons: list[Comparison]) -> dict:
    from fognet.sim.scenario import Sweep

    sweep = loaded if isinstance(loaded, Sweep) else None
    points = []
    for k, comparison in enumerate(comparisons):
        point = {
            "scenario": comparison.scenario.name,
            "approaches": {n: r.summary.to_dict() for n, r in comparison.results.items()},
            "skipped": comparison.skipped,
            "fognet_speedup": {
                n: comparison.speedup(n) for n in comparison.results if n != "fognet"
            },
        }
        if sweep:
            point = {"param": sweep.param, "value": sweep.values[k], **point}
        points.append(point)
    return {"name": loaded.name, "points": points} if sweep else points[0]
