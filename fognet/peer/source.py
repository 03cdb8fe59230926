"""A source session: join a cluster as a source peer, place the model, stream frames, verify.

This is what `fognet infer` does, without the terminal: the CLI only parses options,
draws progress and prints the report. A session:

1. starts a `Peer` bootstrapped to `via`: by default a requester that is not a device
   (quota 0, computes nothing), or, given a `PeerConfig`, a device of a cluster file (its
   speed, emulated compute, pacer and links), which then also runs its own stages; and
   waits until the workers it expects are live (or, without an expected count, until
   at least one is and the count has held for two heartbeats);
2. places the model with the `Placement` given (greedy by default) under the cluster
   state membership reports, priced with per-node reference times (an estimate from
   FLOPs unless a profile is given), and re-places for new frames whenever the set of
   live workers changes (frames in flight keep the plan they started with);
3. runs the frames through the `Requester`, several in flight, in order;
4. with `verify`, runs every frame through the whole model locally afterwards and counts
   the outputs that match (numpy.allclose).

Models travel by hash (EXEC names no input shapes), so a model with symbolic input
dimensions is shared in its normalised, static-shape form (`_shareable`).

API
    frames_for(graph, images) -> Iterator[dict[str, ndarray]]   images: HxWx3 uint8 arrays
    image_input(graph) -> TensorInfo                            ModelError unless exactly one input
    SessionOptions(via=(), expect_workers=None, window=4, fps=None, timeout_s=10.0,
                   join_timeout_s=10.0, verify=False, heartbeat_s=1.0, cache_dir=None, times=None,
                   warmup=1)     warm-up: untimed copies of the first image, not reported
    Identity(config=None, pacer=None, on_event=None, links={}, default_link=LOOPBACK_LINK)
        who the source is: None config = a requester "infer-<pid>" that computes nothing
    Report(results, summary, plans, verified, elapsed_s, workers, source)
    await run_session(loaded, images, placement=None, options, identity, on_result=None) -> Report
        placement None: greedy, using the source itself only when it is a device
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx

from fognet.errors import ModelError, PeerUnreachable
from fognet.model.graph import ModelGraph, analyse
from fognet.model.load import LoadedModel
from fognet.model.runtime import make_session, run
from fognet.net.emulation import Pacer
from fognet.partition.cost import LinkState
from fognet.partition.stages import Plan
from fognet.peer.membership import MemberEvent
from fognet.peer.node import LOOPBACK_LINK, Peer, PeerConfig
from fognet.peer.placement import GreedyPlacement, Placement
from fognet.peer.requester import FrameResult, Requester, Summary, summarise
from fognet.peer.store import ModelStore

log = logging.getLogger(__name__)

WARMUP_TIMEOUT_S = 300.0  # the first frame fetches the model to every peer of the plan


def frames_for(graph: ModelGraph, images: Iterable[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """Model feeds for camera images: the one image input, resized and normalised."""
    from fognet.data.source import to_model_input

    info = image_input(graph)
    return ({info.name: to_model_input(image, info.shape, info.dtype)} for image in images)


def image_input(graph: ModelGraph):
    """The model's one input, which frames feed; ModelError for models with several."""
    if len(graph.inputs) != 1:
        names = ", ".join(t.name for t in graph.inputs)
        raise ModelError(f"infer feeds one image input; this model has {len(graph.inputs)} ({names})")
    return graph.inputs[0]


@dataclass(frozen=True)
class SessionOptions:
    via: tuple[str, ...] = ()
    expect_workers: int | None = None
    window: int = 4
    fps: float | None = None
    timeout_s: float = 10.0
    join_timeout_s: float = 10.0
    verify: bool = False
    heartbeat_s: float = 1.0
    cache_dir: Path | None = None
    times: Sequence[float] | None = None  # per-node reference seconds; None: FLOP estimate
    warmup: int = 1  # untimed frames first: model fetches and session builds happen here


@dataclass(frozen=True)
class Identity:
    """Who the source is; the default is a requester that is not a device."""

    config: PeerConfig | None = None
    pacer: Pacer | None = None
    on_event: Callable[[MemberEvent], None] | None = None
    links: Mapping[tuple[str, str], LinkState] = field(default_factory=dict)
    default_link: LinkState | None = LOOPBACK_LINK

    @property
    def is_device(self) -> bool:
        return self.config is not None


@dataclass(frozen=True)
class Report:
    results: tuple[FrameResult, ...]
    summary: Summary
    plans: tuple[Plan, ...]  # every plan used, in order
    verified: int | None  # frames whose outputs matched local inference (None: not checked)
    elapsed_s: float
    workers: tuple[str, ...]
    source: str


class _Plans:
    """The current plan, re-placed when the set of live workers changes."""

    def __init__(self, peer: Peer, graph: ModelGraph, times, placement: Placement,
                 loaded: LoadedModel, identity: Identity):
        self.peer, self.graph, self.times, self.placement, self.loaded = peer, graph, times, placement, loaded
        self.identity = identity
        self.history: list[Plan] = []
        self._workers: frozenset[str] | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> Plan:
        workers = frozenset(self.peer.workers())
        if workers != self._workers:
            async with self._lock:  # frames starting together share one re-placement
                if workers != self._workers:
                    await self._place(workers)
        return self.history[-1]

    async def _place(self, workers: frozenset[str]) -> None:
        if not workers and not self.identity.is_device:
            raise PeerUnreachable("no live peer takes work; every worker has left")
        state = self.peer.cluster_state(self.identity.links, self.identity.default_link)
        shapes = {t.name: t.shape for t in self.graph.inputs}
        # Planning can take a while on a big model; heartbeats must go on meanwhile.
        plan = await asyncio.to_thread(
            self.placement.place, self.graph, self.times, state, self.peer.name, self.loaded.sha256, shapes
        )
        log.info("plan for %d workers: %s", len(workers), [(s.start, s.stop, s.peers) for s in plan.stages])
        self.history.append(plan)
        self._workers = workers


async def _join(peer: Peer, options: SessionOptions) -> dict[str, str]:
    """Wait for the expected workers, or for a worker count that holds for two heartbeats."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.join_timeout_s
    stable_since, count = loop.time(), -1
    while True:
        workers = peer.workers()
        if len(workers) != count:
            stable_since, count = loop.time(), len(workers)
        if options.expect_workers is not None and count >= options.expect_workers:
            return workers
        if options.expect_workers is None and count > 0 and loop.time() - stable_since > 2 * options.heartbeat_s:
            return workers
        if loop.time() > deadline:
            via = ", ".join(options.via) or "nobody (no --via)"
            raise PeerUnreachable(
                f"only {count} worker(s) answered via {via} within {options.join_timeout_s:.0f} s"
                + (f"; expected {options.expect_workers}" if options.expect_workers else "")
            )
        await asyncio.sleep(0.05)


async def run_session(
    loaded: LoadedModel,
    images: Iterable[np.ndarray],
    placement: Placement | None = None,
    options: SessionOptions = SessionOptions(),
    identity: Identity = Identity(),
    on_result: Callable[[FrameResult], None] | None = None,
) -> Report:
    graph = analyse(loaded.model)
    image_input(graph)
    times = list(options.times) if options.times is not None else _estimated_times(loaded, graph)
    base = identity.config or PeerConfig(f"infer-{os.getpid()}", quota=0, profile="requester")
    times = [t * base.time_scale for t in times]  # reference work in emulated time
    config = replace(
        base, bootstrap=tuple(options.via), heartbeat_s=options.heartbeat_s, cache_dir=options.cache_dir
    )
    placement = placement or GreedyPlacement(use_source=identity.is_device)
    peer = Peer(config, pacer=identity.pacer, on_event=identity.on_event)
    loaded = _shareable(loaded, peer.store)
    feeds_seen: list[dict[str, np.ndarray]] = []

    def feeds() -> Iterator[dict[str, np.ndarray]]:
        for frame in frames_for(graph, images):
            if options.verify:
                feeds_seen.append(frame)
            yield frame

    async with peer.running():
        workers = await _join(peer, options)
        plans = _Plans(peer, graph, times, placement, loaded, identity)
        await plans()  # place before the clock starts
        requester = Requester(peer.run_subtask, graph, timeout=options.timeout_s, work_s=times)
        images = iter(images)
        first = next(images, None)
        if first is not None:
            # Model fetches over slow emulated links take long: warm up with a long timeout.
            warm = Requester(peer.run_subtask, graph, timeout=max(options.timeout_s, WARMUP_TIMEOUT_S), work_s=times)
            await _warm_up(warm, graph, first, plans, options.warmup)
            images = itertools.chain([first], images)
        t0 = time.perf_counter()
        results = await requester.run(feeds(), plans, window=options.window, fps=options.fps, on_result=on_result)
        elapsed = time.perf_counter() - t0
    verified = await asyncio.to_thread(_verify, graph, feeds_seen, results) if options.verify else None
    return Report(
        tuple(results), summarise(results, elapsed), tuple(plans.history), verified, elapsed,
        tuple(sorted(workers)), peer.name,
    )


async def _warm_up(requester: Requester, graph: ModelGraph, image, plans, count: int) -> None:
    """Untimed copies of the first frame, so fetching and building are not measured."""
    if count < 1:
        return
    warm = await requester.run(frames_for(graph, [image] * count), plans, window=1)
    failed = [r for r in warm if not r.ok]
    if failed:
        log.warning("warm-up frame failed: %s", failed[0].error)


def _shareable(loaded: LoadedModel, store: ModelStore) -> LoadedModel:
    """The model as workers can load it alone, registered in the store under its hash.

    EXEC names a model by hash only, so a file with symbolic input dimensions (made
    concrete here by --input-shape) cannot be loaded by a worker as it is. Such a model is
    shared as its normalised form instead: static shapes, same node names and order, so
    node positions agree on every peer. Otherwise the file itself is shared.
    """
    if all(_static(vi) for vi in onnx.load(str(loaded.path), load_external_data=False).graph.input):
        store.register(loaded.path, loaded.sha256)
        return loaded
    data = loaded.model.SerializeToString()
    sha = hashlib.sha256(data).hexdigest()
    path = store.put(data, sha)
    log.info("sharing %s with static input shapes as %s...", loaded.name, sha[:12])
    return replace(loaded, path=path, sha256=sha)


def _static(vi) -> bool:
    dims = vi.type.tensor_type.shape.dim
    return vi.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") and d.dim_value > 0 for d in dims)


def _estimated_times(loaded: LoadedModel, graph: ModelGraph) -> list[float]:
    from fognet.model.profile import estimate_profile

    return estimate_profile(loaded).times_for(graph)


def _verify(graph: ModelGraph, feeds: list[dict[str, np.ndarray]], results: Sequence[FrameResult]) -> int:
    """How many frames' outputs equal whole-model inference here (numpy.allclose)."""
    session = make_session(graph.model)
    matched = 0
    for frame, result in zip(feeds, results, strict=False):
        if not result.ok:
            continue
        expected = run(session, frame)
        if all(np.allclose(result.outputs[k], v, rtol=1e-4, atol=1e-5) for k, v in expected.items()):
            matched += 1
    return matched
