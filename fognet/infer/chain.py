"""The source's half of the chain data flow: frames pipelined through a chain of peers.

Each frame goes to the first stage's peer as one EXEC listing the later stages as hops
(`fognet.peer.chain`); each worker hands its outputs straight to the next, and the last
stage's outputs come back along the chain. Up to `window` frames are in flight, so frame
k is in stage 1 while frame k-1 is in stage 2: in steady state a frame leaves every
period (`partition.throughput`), not every sum of the stages.

API
    chain_hops(plan, addresses) -> tuple[(address, start, stop), ...]
    await run_chain(peer, hops, sha256, frames, window=None, timeout=60.0) -> ChainRun
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fognet.errors import PlanError
from fognet.net import wire
from fognet.net.wire import Header
from fognet.partition.throughput import ChainPlan
from fognet.peer.chain import format_hop

Hop = tuple[str, int, int]


@dataclass(frozen=True)
class ChainRun:
    """The outputs of every frame, in order, and the wall time from first send to last answer."""

    outputs: tuple[dict[str, np.ndarray], ...]
    seconds: float

    @property
    def fps(self) -> float:
        return len(self.outputs) / self.seconds if self.seconds > 0 else float("inf")


def chain_hops(plan: ChainPlan, addresses: Mapping[str, str]) -> tuple[Hop, ...]:
    """Each stage of `plan` as (address of its peer, start, stop)."""
    missing = [s.peer for s in plan.stages if s.peer not in addresses]
    if missing:
        raise PlanError(f"chain stage peer {missing[0]!r} is not a live member of the cluster")
    return tuple((addresses[s.peer], s.start, s.stop) for s in plan.stages)


async def run_chain(
    peer, hops: Sequence[Hop], sha256: str, frames: Sequence[Mapping[str, np.ndarray]],
    window: int | None = None, timeout: float = 60.0,
) -> ChainRun:
    """Send every frame through the chain `hops` from `peer` (the source, which holds the
    model the workers fetch), at most `window` (default: one per stage, plus one) in flight."""
    if not hops:
        raise PlanError("a chain needs at least one stage")
    limit = asyncio.Semaphore(window or len(hops) + 1)
    ids = itertools.count()
    (address, start, stop), rest = hops[0], hops[1:]
    forward = tuple(format_hop(*h) for h in rest)

    async def one(frame: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        async with limit:
            body = wire.Exec(
                task=peer.name, subtask=f"chain-{next(ids)}", model_sha256=sha256,
                node_start=start, node_stop=stop, forward=forward,
            )
            _, outputs = await peer.transport.request(address, Header(body), dict(frame), timeout_s=timeout)
            return dict(outputs)

    t0 = time.perf_counter()
    outputs = await asyncio.gather(*(one(f) for f in frames))
    return ChainRun(tuple(outputs), time.perf_counter() - t0)
