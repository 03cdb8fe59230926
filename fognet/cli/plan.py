"""`fognet plan`: DINA-P's plan for a model on a cluster, beside the reference plans."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from fognet.cli.options import encoding_option, input_shape_option, model_argument
from fognet.errors import ConfigError


def node_times(loaded, profile_path: Path | None, estimate: bool, threads: int = 1):
    """Per-node reference seconds: a given profile, a FLOP estimate, or a cached measurement."""
    from fognet.model.graph import analyse
    from fognet.model.profile import cached_profile, estimate_profile, load_profile

    graph = analyse(loaded.model)
    if profile_path is not None:
        profile = load_profile(profile_path)
        return graph, profile.times_for(graph), f"profile {profile_path}"
    if estimate:
        return graph, estimate_profile(loaded).times_for(graph), "FLOP estimate"
    profile = cached_profile(loaded, threads=threads)
    return graph, profile.times_for(graph), f"measured here ({profile.runs} runs, cached)"


def make_planner(graph, times, state, source: str, spatial: bool = True, encoding=None):
    """The DP over `graph` under `state`, its bytes priced as `encoding` sends them."""
    from fognet.partition.encoding import DEFAULT_ENCODING
    from fognet.partition.plan import PlannerConfig
    from fognet.placement.pricing import model_costs

    costs = model_costs(graph, times, spatial=spatial, encoding=encoding or DEFAULT_ENCODING)
    return costs.planner(state, source, PlannerConfig(spatial=spatial))


def default_source(cluster, source: str | None) -> str:
    if source is not None:
        cluster.peer(source)
        return source
    if not cluster.sources:
        raise ConfigError(f"cluster {cluster.name!r} has no source peer; pass --source NAME")
    return cluster.sources[0].name


def shared_sources(cluster, text: str) -> list[str]:
    """The sources `--sources` names ('all': every source of the file), each checked."""
    names = [s.name for s in cluster.sources] if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    known = {s.name for s in cluster.sources}
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise click.UsageError(f"--sources: {', '.join(bad) or 'no name'} is no source of {cluster.name} "
                               f"(its sources: {', '.join(sorted(known)) or 'none'})")
    return names


@click.command()
@model_argument
@click.option("--cluster", "cluster_path", type=click.Path(path_type=Path), required=True, help="Cluster TOML file (peers and links).")
@click.option("--source", default=None, help="The peer with the frames (default: the file's first source).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None, help="Per-node times from `fognet profile --out`.")
@click.option("--estimate", is_flag=True, help="Estimate node times from FLOPs instead of measuring.")
@click.option("--no-spatial", is_flag=True, help="Whole stages only (no slicing along H).")
@click.option("--seed", default=0, show_default=True, help="Seed of a zoo model's weights.")
@click.option("--emulate/--no-emulate", default=None,
              help="Price in the emulated time `fognet infer` runs in (default: as the file says).")
@click.option("--mode", "mode_name", type=click.Choice(["latency", "throughput"]), default="latency", show_default=True,
              help="latency: DINA-P's star plan; throughput: a chain plan scored by its period.")
@click.option("--sources", "sources_text", default=None,
              help="Throughput mode: plan these sources' chains together on the shared peers (comma-separated, or 'all').")
@click.option("--rate", "rate_text", default=None,
              help="With --sources: frames/s, one number for every source or car1=R1,car2=R2 "
                   "(default: each source's profile `rate`, else 1).")
@input_shape_option
@encoding_option
def plan(model, cluster_path, source, as_json, profile_path, estimate, no_spatial, seed, emulate, mode_name,
         sources_text, rate_text, input_shapes, encoding) -> None:
    """Plan MODEL for CLUSTER: stages, peers and predicted latency, beside reference plans.

    Priced as `fognet infer` prices the same file: with emulation on, in its slowed time."""
    from fognet.config.cluster import load_cluster
    from fognet.model.load import load_model
    from fognet.placement.policies import make_plan
    from fognet.placement.state import cluster_state

    if sources_text is not None and (mode_name != "throughput" or source is not None):
        raise click.UsageError("--sources plans several chains: it needs --mode throughput and no --source")
    if rate_text is not None and sources_text is None:
        raise click.UsageError("--rate is the sources' frame rates: it needs --mode throughput --sources")
    cluster = load_cluster(cluster_path)
    sources = None if sources_text is None else shared_sources(cluster, sources_text)
    source = default_source(cluster, source if sources is None else sources[0])
    mode = cluster.emulated(emulate)
    loaded = load_model(model, input_shapes, seed=seed)
    graph, times, basis = node_times(loaded, profile_path, estimate)
    times = [t * mode.scale for t in times]  # reference work in emulated time, as a source plans it
    if mode_name == "throughput":
        from fognet.cli.plan_throughput import show_throughput

        title = f"{loaded.name} on {cluster.name} from {source} (node times: {basis})"
        if not as_json:
            Console().print(mode.describe(), soft_wrap=True)
        if sources is not None:
            from fognet.cli.plan_throughput import show_shared, source_rates

            workers = {p.name for p in cluster.workers}
            show_shared(graph, times, cluster_state(cluster, mode.link_scale), sources, workers,
                        f"{loaded.name} on {cluster.name} (node times: {basis})", as_json, encoding,
                        source_rates(cluster, sources, rate_text))
            return
        show_throughput(graph, times, cluster_state(cluster, mode.link_scale), source, title, as_json, encoding)
        return
    planner = make_planner(graph, times, cluster_state(cluster, mode.link_scale), source, spatial=not no_spatial,
                           encoding=encoding)
    chosen = planner.plan(loaded.sha256, loaded.input_shapes)
    labels = {"local": "all-local", "best-node": "best single node", "neurosurgeon": "neurosurgeon split"}
    references = {label: make_plan(name, planner) for name, label in labels.items()}
    if as_json:
        data = chosen.to_dict()
        data["references"] = {k: v.predicted_s for k, v in references.items()}
        data["times"] = basis
        data["time_scale"] = mode.scale
        data["encoding"] = encoding.name
        click.echo(json.dumps(data, indent=2))
        return
    console = Console()
    console.print(mode.describe(), soft_wrap=True)
    console.print(f"bytes priced as sent with encoding {encoding.name}", soft_wrap=True)
    table = Table(title=f"{loaded.name} on {cluster.name} from {source} (node times: {basis})")
    for col in ("stage", "nodes", "first .. last", "peers", "rows", "predicted ms"):
        table.add_column(col)
    for k, stage in enumerate(chosen.stages):
        first, last = graph.nodes[stage.start].name, graph.nodes[stage.stop - 1].name
        rows = ", ".join(f"{a}-{b}" for a, b in stage.rows) if stage.rows else ""
        table.add_row(
            str(k), f"{stage.start}..{stage.stop - 1}", f"{first} .. {last}",
            ", ".join(stage.peers), rows, f"{1000 * stage.predicted_s:.2f}",
        )
    console.print(table)
    compare = Table(title="predicted per-frame latency (idle cluster)")
    for col in ("plan", "peers", "predicted ms", "fognet speed-up"):
        compare.add_column(col)
    compare.add_row("fognet (DINA-P)", ", ".join(sorted(chosen.peers)), f"{1000 * chosen.predicted_s:.2f}", "1.00x")
    for name, ref in references.items():
        compare.add_row(
            name, ", ".join(sorted(ref.peers)), f"{1000 * ref.predicted_s:.2f}",
            f"{ref.predicted_s / chosen.predicted_s:.2f}x",
        )
    console.print(compare)
