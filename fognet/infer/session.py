"""A source session: join a cluster as a source peer, place the model, stream frames, verify.

This is what `fognet infer` does, without the terminal: the CLI only parses options,
draws progress and prints the report. A session:

1. starts a `Peer` bootstrapped to `via`: by default a requester that is not a device
   (quota 0, computes nothing), or, given a `PeerConfig`, a device of a cluster file (its
   speed, emulated compute, pacer and links), which then also runs its own stages; and
   waits until the workers it expects are live (or, without an expected count, until
   at least one is and the count has held for two heartbeats: `fognet.infer.joining`);
2. places the model with the `Placement` given (greedy by default) under the cluster
   state: membership's view, the NICs its identity knows (a cluster file's, priced as
   `fognet plan` prices them), peers' backlogs without the source's
   own work in them, and, once frames have run, calibrated speeds and links
   (`fognet.infer.calibration`). Per-node reference times are an estimate from FLOPs
   unless a profile is given. The first warm-up frame fetches and builds; the others
   calibrate, and the session then re-plans under the calibrated state, so predictions
   of the timed frames are calibrated ones (`Report.basis` says which);
3. runs the frames through the `Requester`, several in flight, in order; when a peer
   joins or leaves, or a speed, backlog or bandwidth moves by more than
   `replan_threshold`, it re-plans off the event loop (at most every `replan_interval_s`
   unless a peer of the plan left; the current plan is re-priced in between) and switches
   only if the new plan is predicted better by `replan_margin` (`fognet.partition.replan`);
   frames in flight finish on the plan they started with. Each re-plan is logged and
   reported (`Replan`). A frame whose subtask fails is replayed (`fognet.infer.replay`):
   the failed peer is banned for a while, and banned peers are left out of the state,
   so the next plan (or round of the game) routes around it; until that re-plan is done
   (it runs in the background) frames run on the plan with the lost peer's subtasks on
   survivors (`replay.stopgap`);
4. with `verify`, runs every frame through the whole model locally afterwards and counts
   the outputs that match (numpy.allclose); with a lossy encoding (float16 activations)
   it always does, and reports the output error (`fognet.infer.fidelity`).

Models travel by hash (EXEC names no input shapes), so a model with symbolic input
dimensions is shared in its normalised, static-shape form (`joining.shareable`).

API
    frames_for(graph, frames, encoding=uint8 frames) -> Iterator[Timed]   frames: `data.source.Frame`s
                    (HxWx3 uint8 + timestamp); uint8 frames stay `Pixels`, normalised where they run
    stream_times(frames) -> Iterator[(Frame, seconds)]   timestamps made one clock across sequences
    image_input(graph) -> TensorInfo                            ModelError unless exactly one input
    SessionOptions(via=(), expect_workers=None, window=4, paced=False, timeout_s=10.0,
                   join_timeout_s=10.0, verify=False, heartbeat_s=1.0, cache_dir=None, times=None,
                   warmup=3, calibrate=True, replan_threshold=0.2, replan_margin=0.05,
                   replan_interval_s=5.0, max_lag_s=None,
                   encoding=Encoding())    uint8 frames, raw activations
                   warm-up: untimed copies of the first image, not reported
    Identity(config=None, pacer=None, on_event=None, links={}, default_link=LOOPBACK_LINK, nics={})
        who the source is: None config = a requester "infer-<pid>" that computes nothing
    Report(results, summary, plans, verified, elapsed_s, workers, source, basis, replans,
           replayed, busy, fidelity)
    Replan(reason, switched, current_s, candidate_s)
    await run_session(loaded, frames, placement=None, options, identity, on_result=None, graph=None)
        -> Report   (graph: the model's analysis if the caller has it; else made here, once)
        placement None: greedy, using the source itself only when it is a device
    async with open_session(loaded, options, identity, graph=None) as session:   several runs, one join
        await session.use(placement) -> Plan;  await session.warm_up(frame, count)
        await session.stream(frames, on_result=None) -> Report;  session.state() -> ClusterState
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from fognet.errors import ModelError
from fognet.infer.calibration import Calibration, source_rate
from fognet.infer.fidelity import Fidelity, compare_outputs
from fognet.infer.joining import estimated_times, requester_config, shareable, wait_for_workers
from fognet.infer.placement import GreedyPlacement, Placement
from fognet.infer.replanning import Plans, Replan
from fognet.infer.replay import Bans, Deadlines, Faults
from fognet.infer.requester import FrameResult, Requester, Summary, Timed, summarise
from fognet.model.graph import ModelGraph, analyse
from fognet.model.load import LoadedModel
from fognet.net.emulation import Pacer
from fognet.net.keys import ClusterKeys
from fognet.partition.cost import ClusterState, LinkState
from fognet.partition.encoding import DEFAULT_ENCODING, Encoding
from fognet.partition.replan import DEFAULT_MARGIN, DEFAULT_THRESHOLD
from fognet.partition.stages import Plan
from fognet.peer.membership import MemberEvent
from fognet.peer.node import LOOPBACK_LINK, Peer, PeerConfig
from fognet.placement.instance import backlog_without
from fognet.placement.pricing import model_costs

if TYPE_CHECKING:
    from fognet.data.source import Frame

log = logging.getLogger(__name__)

WARMUP_TIMEOUT_S = 300.0  # the first frame fetches the model to every peer of the plan
RATE_FRAMES = 8  # the last frames whose arrivals or ends measure the source's frame rate


def frames_for(
    graph: ModelGraph, frames: Iterable[Frame], encoding: Encoding = DEFAULT_ENCODING
) -> Iterator[Timed]:
    """Model feeds for camera frames (the one image input, resized; normalised here for
    float32 frames, or left as uint8 pixels to be normalised where the first stage runs),
    each with its frame's timestamp."""
    from fognet.data.source import model_pixels, to_model_input

    info = image_input(graph)
    prepare = model_pixels if encoding.frames == "uint8" else to_model_input
    return (Timed({info.name: prepare(f.image, info.shape, info.dtype)}, at) for f, at in stream_times(frames))


def stream_times(frames: Iterable[Frame]) -> Iterator[tuple[Frame, float]]:
    """Each frame with its stream time: its timestamp, each new sequence (a drive, a video)
    starting where the one before it ended, so a paced run never goes back in time."""
    offset = last = 0.0
    sequence = None
    for frame in frames:
        if sequence is not None and frame.sequence != sequence:
            offset = last
        sequence = frame.sequence
        last = offset + frame.timestamp
        yield frame, last


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
    paced: bool = False  # frames arrive at their timestamps (a camera); else as the window frees
    timeout_s: float = 10.0
    join_timeout_s: float = 10.0
    verify: bool = False
    heartbeat_s: float = 1.0
    cache_dir: Path | None = None
    times: Sequence[float] | None = None  # per-node reference seconds; None: FLOP estimate
    warmup: int = 3  # untimed frames first: fetches and builds (the first), then calibration
    calibrate: bool = True  # plan with measured speeds, links and others' backlogs
    replan_threshold: float = DEFAULT_THRESHOLD  # relative move of the state that re-plans
    replan_margin: float = DEFAULT_MARGIN  # a new plan must be predicted this much better
    # Seconds between DP runs set off by state moves (a peer of the plan leaving re-plans at
    # once): the DP takes a core for a second or more on a big model, which frames feel on
    # a small machine. Between runs the current plan is only re-priced.
    replan_interval_s: float = 5.0
    # Paced: a frame that would start more than this many seconds after it arrived is
    # skipped (FrameSkipped), so latency stays bounded when the cluster is overloaded.
    max_lag_s: float | None = None
    encoding: Encoding = DEFAULT_ENCODING  # frames and activations on the wire (lossy: fp16)


@dataclass(frozen=True)
class Identity:
    """Who the source is; the default is a requester that is not a device."""

    config: PeerConfig | None = None
    pacer: Pacer | None = None
    on_event: Callable[[MemberEvent], None] | None = None
    links: Mapping[tuple[str, str], LinkState] = field(default_factory=dict)
    default_link: LinkState | None = LOOPBACK_LINK
    nics: Mapping[str, float] = field(default_factory=dict)  # bytes/s, as links: placement.state
    keys: ClusterKeys | None = None  # a closed requester's (no config): named as its key is listed

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
    basis: tuple[str, ...] = ()  # per plan: the state it was priced under ("configured", "calibrated")
    replans: tuple[Replan, ...] = ()
    replayed: int = 0  # frames resumed or restarted on other peers after a fault (replay.Faults)
    busy: int = 0  # BUSY answers the frames waited out or routed around
    fidelity: Fidelity | None = None  # outputs vs the whole model (with --verify or a lossy encoding)


class Session:
    """A joined source: its peer, the model, calibration, and the current placement."""

    def __init__(self, peer: Peer, loaded: LoadedModel, graph: ModelGraph, times: list[float],
                 options: SessionOptions, identity: Identity, workers: dict[str, str]) -> None:
        self.peer, self.loaded, self.graph, self.times = peer, loaded, graph, times
        # the model priced once, its bytes as the encoding sends them
        self.costs = model_costs(graph, times, loaded.sha256, encoding=options.encoding)
        self.options, self.identity, self.workers = options, identity, workers
        self.calibration = Calibration(peer.name)
        self.ends: deque[float] = deque(maxlen=RATE_FRAMES)  # when its last frames ended (monotonic s)
        self.arrivals: deque[float] = deque(maxlen=RATE_FRAMES)  # its last streamed frames' stream times
        self.plans: Plans | None = None
        self.feeds_seen: list[Mapping[str, object]] = []
        # Faults (fognet.infer.replay): a subtask is late after a few of its peer's usual
        # round trips, never sooner than a heartbeat; a failed peer is left out for a while.
        self.faults = Faults(Bans(), Deadlines(floor_s=options.heartbeat_s))

    def state(self) -> ClusterState:
        """What the source plans with: membership's view, the NICs its identity knows, its own
        work taken out of every backlog, its own device's included (the part each split says
        is mine: `backlog_without`, the rule a round applies to all its sources' devices and
        workers), then its calibrated speeds and links."""
        state = self.peer.cluster_state(self.identity.links, self.identity.default_link)
        peers = {pid: replace(p, nic=self.identity.nics.get(pid, p.nic)) for pid, p in state.peers.items()}
        me = self.peer.name
        for pid, p in peers.items():
            if (held := self._held(pid)) is not None:
                peers[pid] = replace(p, backlog=backlog_without(*held, (me,)))
        if (rate := source_rate(self.arrivals, self.ends, self.options.paced)) is not None:  # what it offers
            peers[me] = replace(peers[me], rate=rate)
        workers = self.faults.bans.usable((p for p in peers if p != me), time.monotonic())
        peers = {pid: p for pid, p in peers.items() if pid == me or pid in workers}  # bans left out
        state = ClusterState(peers, state.links, state.default_link)
        return self.calibration.apply(state) if self.options.calibrate else state

    def _held(self, pid: str) -> tuple[float, tuple[tuple[str, float], ...]] | None:
        """A peer's backlog and its split by source: my own device's as my executor holds
        it now (a round takes my frames out of my own device's backlog as well), another's
        as its STATE said; None for a peer membership no longer lists."""
        if pid == self.peer.name:
            held = self.peer.executor.backlog()
            return held.total_ref_s, held.by_source
        member = self.peer.membership.table.get(pid)
        return None if member is None else (member.backlog_ref_s, member.backlog_by_source)

    def requester(self, timeout_s: float, calibrate: bool = True) -> Requester:
        requester = Requester(self.peer.run_subtask, self.graph, timeout=timeout_s, costs=self.costs,
                              faults=self.faults)
        if calibrate:
            requester.on_frame = self._observe
        return requester

    def _observe(self, result: FrameResult) -> None:
        """A frame that ran (not the first warm-up frame, which fetched and built): its end
        times the stream's rate, its timings calibrate."""
        self.ends.append(time.monotonic())
        if self.options.calibrate:
            self.calibration.observe(result.timings)

    async def use(self, placement: Placement) -> Plan:
        """Place with `placement` from now on (under the current, calibrated state)."""
        if self.plans is not None:
            await self.plans.settle()
        self.plans = Plans(self, placement)
        return await self.plans()

    async def warm_up(self, frame: Frame, count: int) -> None:
        """Untimed copies of the first frame, so fetching and building are not measured; all
        but the first (model fetches, session builds) calibrate. Then re-plan calibrated."""
        if count < 1 or self.plans is None:
            return
        # Model fetches over slow emulated links take long: warm up with a long timeout.
        timeout = max(self.options.timeout_s, WARMUP_TIMEOUT_S)
        encoding = self.options.encoding
        await _warm_up(self.requester(timeout, calibrate=False), self.graph, frame, self.plans, 1, encoding)
        await _warm_up(self.requester(timeout), self.graph, frame, self.plans, count - 1, encoding)
        if encoding.activations == "lz4" and self.peer.wire_ratio.raw:  # LZ4 priced as measured
            measured = encoding.measured(self.peer.wire_ratio.value)
            self.costs = model_costs(self.graph, self.times, self.loaded.sha256, encoding=measured)
        if count > 1 and self.options.calibrate:
            await self.plans.recalibrate()

    async def stream(self, frames: Iterable[Frame], on_result=None) -> Report:
        """Frames through the current placement, timed; re-planning as the state moves."""
        assert self.plans is not None, "use(placement) first"
        verify = self.options.verify
        compare = verify or self.options.encoding.lossy

        def feeds() -> Iterator[Timed]:
            for timed in frames_for(self.graph, frames, self.options.encoding):
                self.arrivals.append(timed.timestamp)  # offered, whether it then runs or is skipped
                if compare:
                    self.feeds_seen.append(timed.feeds)
                yield timed

        requester = self.requester(self.options.timeout_s)
        replayed, busy = self.faults.replayed, self.faults.busy  # warm-up's are not this stream's
        t0 = time.perf_counter()
        results = await requester.run(
            feeds(), self.plans, window=self.options.window, paced=self.options.paced, on_result=on_result,
            max_lag_s=self.options.max_lag_s,
        )
        elapsed = time.perf_counter() - t0
        await self.plans.settle()
        verified = fidelity = None
        if compare:
            fidelity = await asyncio.to_thread(compare_outputs, self.graph, self.feeds_seen, results)
            verified = fidelity.matched if verify else None
            self.feeds_seen = []
        plans = self.plans
        return Report(
            tuple(results), summarise(results, elapsed), tuple(plans.history), verified, elapsed,
            tuple(sorted(self.workers)), self.peer.name, tuple(plans.basis), tuple(plans.replans),
            self.faults.replayed - replayed, self.faults.busy - busy, fidelity,
        )


@contextlib.asynccontextmanager
async def open_session(
    loaded: LoadedModel, options: SessionOptions = SessionOptions(), identity: Identity = Identity(),
    graph: ModelGraph | None = None,
) -> AsyncIterator[Session]:
    """Join the cluster as a source for `loaded` (`graph`: its analysis, if the caller made
    one already); the session lasts the block."""
    graph = graph or analyse(loaded.model)
    image_input(graph)
    times = list(options.times) if options.times is not None else estimated_times(loaded, graph)
    base = identity.config or requester_config(identity.keys)
    times = [t * base.time_scale for t in times]  # reference work in emulated time
    config = replace(
        base, bootstrap=tuple(options.via), heartbeat_s=options.heartbeat_s, cache_dir=options.cache_dir,
        activations=options.encoding.activations,
    )
    peer = Peer(config, pacer=identity.pacer, on_event=identity.on_event)
    loaded = shareable(loaded, peer.store)
    async with peer.running():
        workers = await wait_for_workers(peer, options)
        session = Session(peer, loaded, graph, times, options, identity, workers)
        try:
            yield session
        finally:
            if session.plans is not None:
                await session.plans.settle()


async def run_session(
    loaded: LoadedModel,
    frames: Iterable[Frame],
    placement: Placement | None = None,
    options: SessionOptions = SessionOptions(),
    identity: Identity = Identity(),
    on_result: Callable[[FrameResult], None] | None = None,
    graph: ModelGraph | None = None,
) -> Report:
    placement = placement or GreedyPlacement(use_source=identity.is_device)
    async with open_session(loaded, options, identity, graph) as session:
        await session.use(placement)  # place before the clock starts
        frames = iter(frames)
        first = next(frames, None)
        if first is not None:
            await session.warm_up(first, options.warmup)
            frames = itertools.chain([first], frames)
        return await session.stream(frames, on_result)


async def _warm_up(requester: Requester, graph: ModelGraph, frame: Frame, plans, count: int,
                   encoding: Encoding = DEFAULT_ENCODING) -> None:
    """Untimed copies of the first frame, so fetching and building are not measured."""
    if count < 1:
        return
    warm = await requester.run(frames_for(graph, [frame] * count, encoding), plans, window=1)
    failed = [r for r in warm if not r.ok]
    if failed:
        log.warning("warm-up frame failed: %s", failed[0].error)
