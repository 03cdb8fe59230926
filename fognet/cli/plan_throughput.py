"""`fognet plan --mode throughput`: the chain plan of least period, beside one device.

Frames pipelined worker to worker (the `chain` data flow); the table shows each stage's
compute and each link's transfer per frame, the period (the largest of them), throughput
against the best single device, and Feltin's acceleration-region verdict.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from rich.console import Console
from rich.table import Table

from fognet.partition.cost import ClusterState
from fognet.partition.encoding import Encoding
from fognet.partition.throughput import ChainProblem, bottleneck_chain, single_device
from fognet.partition.throughput_region import acceleration


def show_throughput(graph, times, state: ClusterState, source: str, title: str, as_json: bool,
                    encoding: Encoding) -> None:
    """Plan the chain for `graph` on `state`, its links priced as `encoding` sends, and print it (or its JSON)."""
    problem = ChainProblem.from_graph(graph, times, state, source, positions=range(1, len(graph)), encoding=encoding)
    plan = bottleneck_chain(problem)
    single = single_device(problem)
    verdict = acceleration(problem, plan)
    if as_json:
        data = asdict(plan)
        data.update(throughput_fps=plan.throughput, single_device=asdict(single) if single else None,
                    acceleration=asdict(verdict), encoding=encoding.name)
        click.echo(json.dumps(data, indent=2, default=float))
        return
    console = Console()
    table = Table(title=f"{title}: chain plan (frames pipelined worker to worker)")
    for col in ("stage", "nodes", "first .. last", "peer", "compute ms", "memory MB"):
        table.add_column(col)
    for k, s in enumerate(plan.stages):
        first, last = graph.nodes[s.start].name, graph.nodes[s.stop - 1].name
        table.add_row(str(k), f"{s.start}..{s.stop - 1}", f"{first} .. {last}", s.peer,
                      f"{s.compute_s * 1e3:.2f}", f"{s.memory_bytes / 1e6:.1f}")
    console.print(table)
    links = Table(title="per-frame transfers (links are directed; latency pipelines away)")
    for col in ("from", "to", "bytes", "ms"):
        links.add_column(col)
    for link in plan.links:
        links.add_row(link.sender, link.receiver, str(link.nbytes), f"{link.seconds * 1e3:.2f}")
    console.print(links)
    one = f"{single.period * 1e3:.2f} ms on {single.stages[0].peer}" if single else "fits on no single device"
    gain = f"{single.period / plan.period:.2f}x" if single else "-"
    console.print(f"period {plan.period * 1e3:.2f} ms = {plan.throughput:.2f} frames/s; one device: {one}; "
                  f"throughput vs one device: {gain}", soft_wrap=True)
    console.print(f"acceleration region: {verdict.reason}", soft_wrap=True)
    console.print(f"bytes priced as sent with encoding {encoding.name}", soft_wrap=True)


def show_shared(graph, times, state: ClusterState, sources: list[str], workers: set[str], title: str,
                as_json: bool, encoding: Encoding) -> None:
    """Plan several sources' chains together on the shared peers by the period game and print
    them beside the same chains planned apart (each source as if alone)."""
    from fognet.matching.period import evaluate, problems
    from fognet.matching.period_game import play
    from fognet.placement.chains import shared_chains

    inst, apart, cuts = shared_chains(graph, times, state, sources, workers, encoding)
    result = play(inst)
    alone = evaluate(inst, apart)
    over = problems(inst, apart)
    if as_json:
        data = result.to_json(inst) | {
            "sources": sources, "encoding": encoding.name, "rate_fps": 1.0,
            "apart_bottleneck": alone.bottleneck, "apart_busiest": alone.busiest, "apart_problems": over,
            "apart_assignment": {inst.stage_name(j, k): inst.peers[apart[j][k]] for j, k in inst.stages()},
        }
        click.echo(json.dumps(data, indent=2, default=float))
        return
    console = Console()
    table = Table(title=f"{title}: {len(sources)} chains on shared peers (the period game)")
    for col in ("stage", "nodes", "peer", "planned apart", "utilisation", "memory MB"):
        table.add_column(col)
    for j, k in inst.stages():
        p = result.placement[j][k]
        table.add_row(inst.stage_name(j, k), f"{cuts[j][k]}..{cuts[j][k + 1] - 1}", inst.peers[p], inst.peers[apart[j][k]],
                      f"{float(inst.compute(j, k)[p]):.3f}", f"{inst.need(j, k) / 1e6:.1f}")
    console.print(table)
    u = result.value.bottleneck
    console.print(f"joint period U = {u * 1e3:.2f} ms at 1 frame/s each (busiest: {result.value.busiest}): "
                  f"every source can stream {1 / u:.2f} frames/s at once" if u > 0 else "nothing to run",
                  soft_wrap=True)
    note = f"; over memory: {over[0]}" if over else ""
    console.print(f"planned apart (each source's own best chain): U = {alone.bottleneck * 1e3:.2f} ms "
                  f"(busiest: {alone.busiest}){note}; phase 1 U = {result.phase1.bottleneck * 1e3:.2f} ms",
                  soft_wrap=True)
    console.print(f"bytes priced as sent with encoding {encoding.name}", soft_wrap=True)
