"""`fognet infer --flow chain`: the throughput mode's live run and its report."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from fognet.infer.pipeline import ChainReport


def run_pipelined_frames(loaded, graph, images, options, identity) -> ChainReport:
    from fognet.infer.pipeline import run_pipelined

    return asyncio.run(run_pipelined(loaded, images, options, identity, graph))


def print_chain_report(report: ChainReport, graph, console: Console) -> None:
    """The chain's stages, its predicted and measured rate, the single device's, and the gain."""
    table = Table(title="chain plan (frames pipelined worker to worker)")
    for col in ("stage", "nodes", "first .. last", "peer", "compute ms"):
        table.add_column(col)
    for k, s in enumerate(report.plan.stages):
        table.add_row(str(k), f"{s.start}..{s.stop - 1}", f"{graph.nodes[s.start].name} .. {graph.nodes[s.stop - 1].name}",
                      s.peer, f"{s.compute_s * 1e3:.2f}")
    console.print(table)
    console.print(f"chain: {report.chained.fps:.2f} frames/s measured over {report.frames} frames "
                  f"(predicted {report.plan.throughput:.2f}: period {report.plan.period * 1e3:.2f} ms)", soft_wrap=True)
    if report.alone is not None and report.single is not None:
        console.print(f"one device ({report.single.stages[0].peer}): {report.alone.fps:.2f} frames/s measured "
                      f"(predicted {report.single.throughput:.2f}); chain vs one device: {report.gain:.2f}x measured, "
                      f"{report.single.period / report.plan.period:.2f}x predicted", soft_wrap=True)
    else:
        console.print("one device: the model fits on no single worker", soft_wrap=True)
