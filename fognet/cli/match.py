"""`fognet match`: play DINA-O's game on an instance, check a matching, or find the optimum."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from fognet.errors import InstanceError


def _table(result) -> Table:
    table = Table(title=f"matching ({result.rule})")
    for col in ("subtask", "site", "piece latency ms"):
        table.add_column(col, justify="left" if col != "piece latency ms" else "right")
    for sid, site in result.assignment.items():
        table.add_row(sid, site, f"{result.latency[sid] * 1e3:.2f}")
    return table


def _counts_line(result) -> str:
    c = result.counts
    tasks = ", ".join(f"{src} {f * 1e3:.2f} ms" for src, f in result.task_latency.items())
    return (
        f"task latency: {tasks}\n"
        f"J {result.objective:.6f} frame-s/s (phase 1 {result.phase1_objective:.6f}); "
        f"rounds {c.rounds}, proposals {c.proposals}, rejections {c.rejections}, "
        f"swaps {c.swaps}, moves {c.moves}, displacements {c.displacements}, passes {c.passes}"
    )


def _random(sources, workers, per_source, seed, rule, out) -> None:
    from fognet.matching.instance import to_json
    from fognet.matching.random_instance import random_instance

    missing = [n for n, v in (("--sources", sources), ("--workers", workers),
                              ("--subtasks-per-source", per_source)) if v is None]
    if missing:
        raise click.UsageError(f"--random-instance needs {', '.join(missing)}")
    if min(sources, workers, per_source) < 0 or sources < 1:
        raise click.UsageError("--sources must be >= 1; --workers and --subtasks-per-source >= 0")
    inst = random_instance(sources, workers, per_source, seed, rule=rule or "welfare")
    text = json.dumps(to_json(inst), indent=1)
    if out is None:
        click.echo(text)
    else:
        try:
            Path(out).write_text(text + "\n")
        except OSError as exc:
            raise InstanceError(f"cannot write instance {out}: {exc.strerror or exc}") from exc
        click.echo(f"wrote instance ({sources} sources, {workers} workers, "
                   f"{sources * per_source} subtasks) to {out}")


@click.command()
@click.option("--instance", "instance_path", type=click.Path(path_type=Path), default=None,
              help="Instance JSON (DESIGN.md's format, version 2; \"objective\": \"period\": chains, README).")
@click.option("--json", "as_json", is_flag=True, help="Print the output JSON instead of a table.")
@click.option("--rule", type=click.Choice(["welfare", "fair"]), default=None,
              help="Approval rule (default: the instance's, else welfare).")
@click.option("--check", "check_path", type=click.Path(path_type=Path), default=None,
              help="Check this matching JSON instead of playing: exit 0 if stable, 1 if not.")
@click.option("--optimal", is_flag=True, help="Also find the exact optimum (small instances).")
@click.option("--random-instance", "random_", is_flag=True, help="Write a random version-2 instance instead.")
@click.option("--sources", type=int, default=None, help="With --random-instance.")
@click.option("--workers", type=int, default=None, help="With --random-instance.")
@click.option("--subtasks-per-source", "per_source", type=int, default=None,
              help="With --random-instance.")
@click.option("--seed", type=int, default=0, show_default=True, help="With --random-instance.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="With --random-instance: write here instead of stdout.")
def match(instance_path, as_json, rule, check_path, optimal, random_, sources, workers,
          per_source, seed, out) -> None:
    """Match subtasks to workers by DINA-O's game, check a matching, or find the optimum."""
    if random_:
        given = [f for f, v in (("--instance", instance_path), ("--check", check_path), ("--optimal", optimal), ("--json", as_json)) if v]
        if given:
            raise click.UsageError(f"--random-instance writes an instance; it does not take {given[0]}")
        _random(sources, workers, per_source, seed, rule, out)
        return
    if instance_path is None:
        raise click.UsageError("give --instance FILE (or --random-instance)")
    from fognet.matching.instance import parse_instance, read_json
    from fognet.placement.period_file import objective_of

    data = read_json(instance_path)
    if objective_of(data) == "period":
        from fognet.cli.match_period import match_period

        if rule is not None:
            raise click.UsageError("--rule is the latency game's approval rule; a period instance has none")
        match_period(data, as_json, check_path, optimal)
        return
    inst = parse_instance(data)
    if check_path is not None:
        _check(inst, check_path, rule)
        return
    from fognet.matching.game import play

    result = play(inst, rule=rule)
    if optimal:
        _optimal(inst, result, as_json)
        return
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
        return
    Console().print(_table(result))
    click.echo(_counts_line(result))


def _check(inst, check_path: Path, rule) -> None:
    from fognet.matching.check import check, parse_assignment
    from fognet.matching.instance import read_json

    assignment = parse_assignment(read_json(check_path, what="matching"))
    report = check(inst, assignment, rule=rule)
    click.echo(report.summary())
    if not report.stable:
        click.get_current_context().exit(1)


def _optimal(inst, result, as_json: bool) -> None:
    from fognet.matching.exact import optimum

    opt = optimum(inst)
    gap = (result.objective - opt.objective) / opt.objective if opt.objective > 0 else 0.0
    if as_json:
        data = result.to_json() | {"optimum": opt.objective, "optimal_assignment": opt.assignment,
                                   "gap": gap}
        click.echo(json.dumps(data, indent=1))
        return
    click.echo(f"optimum J {opt.objective:.6f} ({opt.nodes} search nodes); game J {result.objective:.6f} "
               f"({result.rule}); gap {gap * 100:.3f}%")

