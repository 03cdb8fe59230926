"""`fognet infer --flow chain`: frames pipelined through the chain plan of least period.

Throughput mode live: the source joins the cluster, plans the chain (`partition.throughput`)
on the state it would plan a star with (membership, calibrated links, the emulated time),
sends every frame into the chain and takes the outputs back, then the same frames through
the best single device, so the gain is measured, not only predicted. The source only sends
frames and merges nothing: chain stages go to workers (a chain hop is an EXEC a worker
serves; the source is the chain's two ends).

API
    ChainReport(plan, single, chained, alone, matched, frames)      frozen
    await run_pipelined(loaded, frames, options, identity, graph=None) -> ChainReport
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from fognet.data.source import Frame
from fognet.infer.chain import ChainRun, chain_hops, run_chain
from fognet.infer.fidelity import compare
from fognet.infer.session import (
    WARMUP_TIMEOUT_S,
    Identity,
    SessionOptions,
    frames_for,
    open_session,
)
from fognet.model.graph import ModelGraph
from fognet.model.load import LoadedModel
from fognet.partition.cost import ClusterState
from fognet.partition.throughput import ChainPlan, ChainProblem, bottleneck_chain, single_device

NO_STAGE_MEMORY = 1.0  # bytes: what the source lends chain stages (none fits), it only sends frames


@dataclass(frozen=True)
class ChainReport:
    plan: ChainPlan
    single: ChainPlan | None  # the best single worker, as a one-stage chain
    chained: ChainRun
    alone: ChainRun | None  # the same frames through `single`
    matched: int | None  # with verify: frames whose outputs equal the whole model's here
    frames: int

    @property
    def gain(self) -> float | None:
        """Measured throughput of the chain over the single device's."""
        return self.chained.fps / self.alone.fps if self.alone is not None and self.alone.fps > 0 else None


def _workers_only(state: ClusterState, source: str) -> ClusterState:
    peers = dict(state.peers)
    peers[source] = replace(peers[source], memory=NO_STAGE_MEMORY)
    return ClusterState(peers, state.links, state.default_link)


async def run_pipelined(
    loaded: LoadedModel, frames: Iterable[Frame], options: SessionOptions,
    identity: Identity, graph: ModelGraph | None = None,
) -> ChainReport:
    """Join, plan the chain, stream `frames` through it and through the best single worker."""
    async with open_session(loaded, options, identity, graph) as session:
        me, sha = session.peer.name, session.loaded.sha256
        problem = ChainProblem.from_graph(session.graph, session.times, _workers_only(session.state(), me), me,
                                          encoding=options.encoding)
        plan, single = bottleneck_chain(problem), single_device(problem)
        addresses = session.peer.live_peers()
        feeds = [t.feeds for t in frames_for(session.graph, frames, options.encoding)]
        runs = [(plan, options.window)] + ([(single, 2)] if single is not None else [])
        measured: list[ChainRun] = []
        for chain, window in runs:
            hops = chain_hops(chain, addresses)
            await run_chain(session.peer, hops, sha, feeds[:1], timeout=WARMUP_TIMEOUT_S)  # fetch, build
            measured.append(await run_chain(session.peer, hops, sha, feeds, window=window,
                                            timeout=max(options.timeout_s, 10.0)))
    chained, alone = measured[0], (measured[1] if single is not None else None)
    matched = compare(session.graph, feeds, chained.outputs).matched if options.verify else None
    return ChainReport(plan, single, chained, alone, matched, len(feeds))
