"""`fognet match --instance FILE` on a chain instance (`"objective": "period"`): the period game."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table


def match_period(data: Any, as_json: bool, check_path: Path | None, optimal: bool) -> None:
    """Play the period game on the instance (or check a placement, exit 1 if not stable; or
    also find the exact optimum) and print it."""
    from fognet.matching.instance import read_json
    from fognet.matching.period_check import check
    from fognet.matching.period_game import play
    from fognet.placement.period_file import parse_period_assignment, parse_period_instance

    inst = parse_period_instance(data)
    if check_path is not None:
        report = check(inst, parse_period_assignment(inst, read_json(check_path, what="matching")))
        click.echo(report.summary())
        if not report.stable:
            click.get_current_context().exit(1)
        return
    result = play(inst)
    out = result.to_json(inst)
    if optimal:
        from fognet.matching.period_exact import optimum

        best = optimum(inst)
        u = result.value.bottleneck
        out |= {"optimum": best.bottleneck, "gap": u / best.bottleneck - 1 if best.bottleneck > 0 else 0.0,
                "optimal_assignment": {inst.stage_name(j, k): inst.peers[best.placement[j][k]]
                                       for j, k in inst.stages()}}
    if as_json:
        click.echo(json.dumps(out, indent=1, default=float))
        return
    table = Table(title="chain stages on peers (the period game)")
    for col in ("stage", "peer", "utilisation"):
        table.add_column(col)
    for j, k in inst.stages():
        p = result.placement[j][k]
        table.add_row(inst.stage_name(j, k), inst.peers[p], f"{float(inst.compute(j, k)[p]):.4f}")
    Console().print(table)
    c = result.counts
    click.echo(f"U {result.value.bottleneck:.6f} (busiest: {result.value.busiest}; phase 1 {result.phase1.bottleneck:.6f}); "
               f"rounds {c.rounds}, proposals {c.proposals}, rejections {c.rejections}, "
               f"moves {c.moves}, swaps {c.swaps}, displacements {c.displacements}, passes {c.passes}")
    if optimal:
        click.echo(f"optimum U {out['optimum']:.6f}; gap {out['gap'] * 100:.3f}%")
