"""`fognet plan --mode throughput`: the chain plan of least period, beside one device.

Frames pipelined worker to worker (the `chain` data flow); the table shows each stage's
compute and each link's transfer per frame, the period (the largest of them), throughput
against the best single device, and Feltin's acceleration-region verdict.
"""

from __future__ import annotations

import json
import math
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


def source_rates(cluster, sources: list[str], text: str | None) -> list[float]:
    """Each source's frames/s: `--rate R` (every source) or `--rate car1=R1,car2=R2`; a source
    the option does not name streams at its profile's `rate`, else 1 frame/s. Bad input is a
    click.UsageError (one line, exit 2)."""
    given: dict[str, str] = {}
    if text is not None:
        parts = [t.strip() for t in text.split(",") if t.strip()]
        if len(parts) == 1 and "=" not in parts[0]:
            given = dict.fromkeys(sources, parts[0])
        else:
            for part in parts:
                name, eq, value = part.partition("=")
                if not eq or name.strip() not in sources:
                    raise click.UsageError(f"--rate: {part!r} is not SOURCE=FRAMES_PER_S for one of "
                                           f"{', '.join(sources)} (or give one number for all)")
                given[name.strip()] = value
            if not parts:
                raise click.UsageError("--rate: give frames/s, one number or SOURCE=R pairs")
    rates = []
    for name in sources:
        if name in given:
            try:
                rate = float(given[name])
            except ValueError:
                rate = math.nan
            if not (math.isfinite(rate) and rate > 0):
                raise click.UsageError(f"--rate: {name}'s rate must be a positive number of frames/s, "
                                       f"not {given[name]!r}")
        else:
            rate = cluster.peer(name).profile.rate or 1.0
        rates.append(rate)
    return rates


def _fps(sources: list[str], rates, scale: float = 1.0) -> str:
    return ", ".join(f"{s} {r * scale:.3g}" for s, r in zip(sources, rates, strict=True))


def show_shared(graph, times, state: ClusterState, sources: list[str], workers: set[str], title: str,
                as_json: bool, encoding: Encoding, rates: list[float] | None = None) -> None:
    """Plan several sources' chains together on the shared peers (each lending the `cap` of
    its PeerState): joint planning (cuts re-planned with the period game,
    `placement.chain_joint`) beside the game on each source's solo cuts and the chains
    planned apart; print them (or their JSON)."""
    from fognet.matching.period import evaluate, problems
    from fognet.placement.chain_joint import plan_chains_jointly
    from fognet.placement.chains import solo_chains

    setup = solo_chains(graph, times, state, sources, workers, encoding, rates)
    joint = plan_chains_jointly(setup)
    inst, result = joint.instance, joint.result
    alone = evaluate(setup.instance(), setup.apart)
    over = problems(setup.instance(), setup.apart)
    cuts, solo_cuts = setup.cuts(joint.bounds), setup.cuts()
    u, fixed = result.value.bottleneck, joint.fixed.value.bottleneck
    scale = 1 / u if u > 0 else math.inf
    if as_json:
        data = result.to_json(inst) | {
            "sources": sources, "encoding": encoding.name, "rates_fps": dict(zip(sources, setup.rates, strict=True)),
            "caps": dict(zip(inst.peers, setup.cap, strict=True)), "scale": scale,
            "cuts": dict(zip(sources, cuts, strict=True)), "solo_cuts": dict(zip(sources, solo_cuts, strict=True)),
            "fixed_cuts_bottleneck": fixed, "joint_gain": joint.gain, "joint_iterations": joint.iterations,
            "recut_sources": joint.recut,
            "apart_bottleneck": alone.bottleneck, "apart_busiest": alone.busiest, "apart_problems": over,
            "apart_assignment": {inst.stage_name(j, k): inst.peers[p]
                                 for j, route in enumerate(setup.apart) for k, p in enumerate(route)},
        }
        click.echo(json.dumps(data, indent=2, default=float))
        return
    console = Console()
    table = Table(title=f"{title}: {len(sources)} chains on shared peers (cuts planned with the period game)")
    for col in ("stage", "nodes", "peer", "utilisation", "memory MB"):
        table.add_column(col)
    for j, k in inst.stages():
        p = result.placement[j][k]
        table.add_row(inst.stage_name(j, k), f"{cuts[j][k]}..{cuts[j][k + 1] - 1}", inst.peers[p],
                      f"{float(inst.compute(j, k)[p]):.3f}", f"{inst.need(j, k) / 1e6:.1f}")
    console.print(table)
    console.print(f"rates (frames/s): {_fps(sources, setup.rates)}; worker caps: "
                  + ", ".join(f"{p} {c:g}" for p, c, w in zip(inst.peers, setup.cap, setup.shared, strict=True) if w),
                  soft_wrap=True)
    if u > 0:
        console.print(f"joint U = {u:.3f} (busiest: {result.value.busiest}): the rates can be scaled by "
                      f"{scale:.2f}x at most, to {_fps(sources, setup.rates, scale)} frames/s", soft_wrap=True)
    recut = ", ".join(f"{s} {c}" for s, c, c0 in zip(sources, cuts, solo_cuts, strict=True) if c != c0) or "none"
    console.print(f"fixed solo cuts (each source's own best chain alone): U = {fixed:.3f}; joint planning "
                  f"gains {joint.gain:.3f}x (re-cut: {recut}; {joint.iterations} re-plays)", soft_wrap=True)
    note = f"; over memory: {over[0]}" if over else ""
    console.print(f"planned apart (each source's own best chain, peers too): U = {alone.bottleneck:.3f} "
                  f"(busiest: {alone.busiest}){note}", soft_wrap=True)
    console.print(f"bytes priced as sent with encoding {encoding.name}", soft_wrap=True)
