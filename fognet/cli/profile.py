"""`fognet profile`: measure a model's per-node reference times on this machine."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from fognet.cli.options import input_shape_option, model_argument


def _table(profile, top: int) -> Table:
    total = profile.node_time_sum_s or 1.0
    ranked = sorted(profile.nodes, key=lambda r: (-r.time_s, r.index))[:top]
    table = Table(title=f"{profile.model_name}: top {len(ranked)} of {len(profile.nodes)} nodes by time")
    for col in ("#", "node", "op", "time ms", "share", "GFLOPs", "out KB"):
        table.add_column(col, justify="left" if col in ("node", "op") else "right")
    for rec in ranked:
        table.add_row(
            str(rec.index), rec.name, rec.op_type, f"{rec.time_s * 1e3:.3f}",
            f"{rec.time_s / total:.1%}", f"{rec.flops / 1e9:.3f}", f"{rec.out_bytes / 1024:.1f}",
        )
    return table


def _summary(profile) -> str:
    if profile.kind != "measured":
        return (
            f"estimated ({profile.kind.removeprefix('estimated: ')}): "
            f"{profile.node_time_sum_s * 1e3:.2f} ms, {profile.total_flops / 1e9:.2f} GFLOPs"
        )
    line = f"sum of per-node medians {profile.node_time_sum_s * 1e3:.2f} ms"
    if profile.constant_time_s > 0:
        line += f" (+ {profile.constant_time_s * 1e3:.2f} ms in constant nodes)"
    return (
        f"{line} vs measured whole-model {profile.whole_model_time_s * 1e3:.2f} ms "
        f"({profile.runs} runs, {profile.threads} thread(s), {profile.total_flops / 1e9:.2f} GFLOPs)"
    )


@click.command()
@model_argument
@click.option("--runs", default=10, show_default=True, type=click.IntRange(min=1), help="Measured runs; each node's time is its median.")
@click.option("--warmup", default=2, show_default=True, type=click.IntRange(min=0), help="Runs before measuring.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="onnxruntime intra-op threads.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the profile as JSON here.")
@click.option("--top", default=15, show_default=True, type=click.IntRange(min=0), help="Show this many slowest nodes.")
@click.option("--estimate", is_flag=True, help="Do not run the model: estimate times from FLOPs and bytes.")
@click.option("--seed", default=0, show_default=True, help="Seed of a zoo model's weights and of the input.")
@input_shape_option
def profile(model, runs, warmup, threads, out, top, estimate, seed, input_shapes) -> None:
    """Time every compute node of MODEL with onnxruntime (graph optimisation off).

    The profile (`--out`) is what `fognet split --profile` and the planner price with.
    """
    from fognet.model.load import load_model
    from fognet.model.profile import estimate_profile, profile_model

    loaded = load_model(model, input_shapes, seed=seed)
    if estimate:
        result = estimate_profile(loaded)
    else:
        result = profile_model(loaded, runs=runs, threads=threads, warmup=warmup, seed=seed)
    if top:
        Console().print(_table(result, top))
    click.echo(_summary(result))
    if out is not None:
        result.save(out)
        click.echo(f"wrote {out}")
