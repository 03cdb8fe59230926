"""`fognet split` and `fognet cuts`: vertical partitions of a model, and where it can be cut."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from fognet.cli.options import input_shape_option, model_argument
from fognet.errors import PartitionError


def _node_weights(graph, profile_path: Path | None) -> tuple[list[float], str]:
    """Per-node weights for balancing: profiled seconds if given, else FLOPs."""
    if profile_path is not None:
        from fognet.model.profile import load_profile

        profile = load_profile(profile_path)
        times = {rec.name: rec.time_s for rec in profile.nodes}
        missing = [n.name for n in graph.nodes if n.name not in times]
        if missing:
            raise PartitionError(
                f"profile {profile_path} has no time for node {missing[0]!r}; was it made for this model?"
            )
        return [times[n.name] for n in graph.nodes], "profiled time"
    from fognet.model.flops import graph_node_flops

    return [float(f) for f in graph_node_flops(graph)], "FLOPs"


def _parse_positions(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected positions like 10,25,40", param_hint="--at") from None


@click.command()
@model_argument
@click.option("--parts", "-k", type=int, default=None, help="Number of parts K (default: 1 + number of --at positions).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Directory for part_*.onnx and manifest.json.")
@click.option("--at", "at", default=None, help="Explicit cut positions P1,P2,... (see `fognet cuts`).")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None, help="Balance by a profile JSON from `fognet profile` instead of FLOPs.")
@click.option("--seed", default=0, show_default=True, help="Seed of a zoo model's weights.")
@input_shape_option
def split(model, parts, out_dir, at, profile_path, seed, input_shapes) -> None:
    """Split MODEL into K consecutive parts and write them with a manifest.

    Without --at, cuts balance compute while preferring cuts that move few bytes.
    """
    from fognet.model.graph import analyse
    from fognet.model.load import load_model
    from fognet.partition.vertical import balanced_positions, parts_at, write_split

    loaded = load_model(model, input_shapes, seed=seed)
    graph = analyse(loaded.model)
    if at is not None:
        positions = _parse_positions(at)
        if parts is not None and parts != len(positions) + 1:
            raise PartitionError(f"--parts {parts} does not match {len(positions)} --at positions")
        basis = "given positions"
    else:
        if parts is None:
            raise click.UsageError("give --parts K or --at P1,P2,...")
        weights, basis = _node_weights(graph, profile_path)
        positions = balanced_positions(graph, parts, weights)
    split_parts = parts_at(graph, positions)
    write_split(graph, split_parts, out_dir, loaded.path, loaded.sha256)

    table = Table(title=f"{loaded.name}: {len(split_parts)} parts ({basis})")
    for col in ("part", "nodes", "inputs", "in KB", "outputs"):
        table.add_column(col, justify="right" if col != "inputs" and col != "outputs" else "left")
    for part in split_parts:
        in_kb = sum(graph.tensors[t].nbytes for t in part.inputs) / 1024
        table.add_row(
            f"part_{part.index}", f"{part.start}..{part.stop - 1}", ", ".join(part.inputs),
            f"{in_kb:.1f}", ", ".join(part.outputs),
        )
    Console().print(table)
    click.echo(f"wrote {len(split_parts)} parts and manifest.json to {out_dir}")


@click.command()
@model_argument
@click.option("--all", "show_all", is_flag=True, help="List every cut position, not only articulation points.")
@click.option("--seed", default=0, show_default=True, help="Seed of a zoo model's weights.")
@input_shape_option
def cuts(model, show_all, seed, input_shapes) -> None:
    """Show MODEL's cut positions with their crossing sets and bytes."""
    from fognet.model.graph import analyse
    from fognet.model.load import load_model

    loaded = load_model(model, input_shapes, seed=seed)
    graph = analyse(loaded.model)
    all_cuts = graph.cuts()
    shown = all_cuts if show_all else [c for c in all_cuts if c.articulation]
    table = Table(title=f"{loaded.name}: {len(graph)} compute nodes, {len(graph.constant_nodes)} constant nodes")
    for col in ("position", "after node", "crossing", "KB", "articulation"):
        table.add_column(col)
    for cut in shown:
        table.add_row(
            str(cut.position), graph.nodes[cut.position - 1].name, ", ".join(cut.crossing),
            f"{cut.nbytes / 1024:.1f}", "yes" if cut.articulation else "",
        )
    Console().print(table)
    articulation = sum(c.articulation for c in all_cuts)
    click.echo(f"{len(all_cuts)} cut positions (1..{len(graph) - 1}), {articulation} articulation points")
