"""Run frames through a plan in star fashion, several in flight, results in frame order.

For each stage the source sends the stage's input tensors to the stage's peer and gets
its outputs back (DESIGN.md, "Data moves in a star"); the next stage reads what earlier
stages produced. A spatial stage is a set of slices sent to its peers at once: each gets
its input rows (with halo), returns its exact output rows, and the source concatenates
them along H (`fognet.peer.slicing`); the stage ends with its slowest slice.

Timing: a peer reports in RESULT how long the subtask waited in its queue and how long it
computed; the rest of the round trip is transfer (both ways, plus codec and hops).

Failure: a subtask that gets no answer within its timeout (a dead or stalled peer), whose
peer is declared gone, or that is answered BUSY is a `SubtaskFailed`, never a hang (the
runner enforces the timeout and the requester adds a hard deadline of its own on top).
The frame is then replayed (`fognet.infer.replay`): the peer is banned for a while (a
BUSY one is waited for instead), the frame takes the plan current then and resumes where
its finished stages end; only a frame out of tries fails, with `PeerUnreachable` naming
each attempt. A subtask's timeout follows what its peer has taken (`Deadlines`), and the
frames in flight shrink when workers are BUSY (`Window`).

The requester knows no sockets: it is given `run_subtask(peer, job, timeout)`, which the
peer node implements over ZeroMQ (or with its own executor for the source's own device).

API
    SubtaskRunner = Callable[[str, Job, float], Awaitable[JobResult]]
    PlanSource = Callable[[], Plan | Awaitable[Plan]]    the plan current when a frame starts
    SubtaskTiming(stage, peer, transfer_s, wait_s, compute_s, in_bytes, out_bytes, alone, work_s)
    FrameResult(index, outputs, latency_s, timings, error, plan, timestamp)    .ok -> bool
    Requester(run_subtask, graph, *, timeout=10.0, costs=None, faults=None)
        faults: the session's `replay.Faults` (bans, deadlines), shared by its requesters
        costs: the model's `placement.pricing.ModelCosts`; each subtask then carries the work
        the one slice rule predicts for it (calibration compares it with what it took)
        .on_frame(FrameResult) hook: each successful frame as it ends (calibration feeds on it)
        await .run(frames, plan, *, window=4, paced=False, on_result=None, max_lag_s=None)
            -> list[FrameResult]
            frames: iterable of Timed; plan: a Plan, or a PlanSource called (and awaited if it
            returns an awaitable) as each frame starts
            on_result(FrameResult) is called in frame order as results complete; `paced`: a
            frame arrives at its timestamp (the camera's clock, counted from the first
            frame's) and its latency counts from then, so waiting for a free slot counts;
            unpaced, frames are pulled as slots free and counted from then. Paced, with
            `max_lag_s`, a frame whose slot frees more than max_lag_s after it arrived is
            not sent: its result is a FrameSkipped error (overload sheds stale frames, so
            latency stays bounded; at most `window` frames are ever held)
    Timed(feeds, timestamp=0.0)       one frame: {input name: ndarray} and its stream time (s)
    summarise(results, elapsed_s) -> Summary   latency percentiles, throughput, transfer/wait/compute
    frame_split(result) -> (transfer_s, wait_s, compute_s)   per stage its slowest slice
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fognet.errors import (
    FognetError,
    FrameSkipped,
    PartitionError,
    PeerUnreachable,
    PlanError,
    RemoteError,
    SubtaskFailed,
)
from fognet.infer.replay import Faults, Window
from fognet.infer.wirebytes import slice_inputs, wire_bytes
from fognet.model.graph import ModelGraph
from fognet.net.wire import Reason
from fognet.partition.spatial_slices import merge_outputs
from fognet.partition.stages import Plan, Stage
from fognet.peer.executor import Job, JobResult, TaskKey, shapes_key
from fognet.peer.slicing import Slicer
from fognet.placement.pricing import ModelCosts
from fognet.placement.subtasks import stage_pieces

SubtaskRunner = Callable[[str, Job, float], Awaitable[JobResult]]
PlanSource = Callable[[], Plan | Awaitable[Plan]]  # the plan current when a frame starts
Frame = Mapping[str, np.ndarray]
DEADLINE_GRACE_S = 2.0


@dataclass(frozen=True)
class SubtaskTiming:
    stage: int
    peer: str
    transfer_s: float
    wait_s: float
    compute_s: float
    in_bytes: int = 0  # tensors sent to the peer
    out_bytes: int = 0  # tensors it sent back
    alone: bool = True  # no other send of this stage went out before it (a clean link sample)
    work_s: float = 0.0  # the reference work the source predicted for it

    @property
    def total_s(self) -> float:
        return self.transfer_s + self.wait_s + self.compute_s


@dataclass(frozen=True)
class FrameResult:
    index: int
    outputs: dict[str, np.ndarray] | None
    latency_s: float
    timings: tuple[SubtaskTiming, ...] = ()
    error: FognetError | None = None
    plan: Plan | None = None  # the plan the frame ran on
    timestamp: float = 0.0  # the frame's stream time (s), as its source stamped it

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Timed:
    """One frame as the requester takes it: the model's feeds and the frame's timestamp
    (seconds of stream time on the camera's clock, `fognet.data.source.Frame.timestamp`),
    which paced runs start it at and results carry."""

    feeds: Frame
    timestamp: float = 0.0


@dataclass
class _Frame:
    index: int
    tensors: dict[str, np.ndarray]
    timings: list[SubtaskTiming] = field(default_factory=list)


class Requester:
    """Sends frames through plans; see the module docstring."""

    def __init__(
        self,
        run_subtask: SubtaskRunner,
        graph: ModelGraph,
        *,
        timeout: float = 10.0,
        costs: ModelCosts | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.run_subtask = run_subtask
        self.graph = graph
        self.timeout = timeout
        self.faults = faults or Faults()
        self.costs = costs
        self._work: dict[Stage, tuple[float, ...]] = {}
        self._outputs = tuple(t.name for t in graph.outputs)
        self._slicer = Slicer(graph)
        self.on_frame: Callable[[FrameResult], None] | None = None  # each frame that succeeds, as it ends

    async def run(
        self,
        frames: Iterable[Timed],
        plan: Plan | PlanSource,
        *,
        window: int = 4,
        paced: bool = False,
        on_result: Callable[[FrameResult], None] | None = None,
        max_lag_s: float | None = None,
    ) -> list[FrameResult]:
        current = plan if callable(plan) else (lambda: plan)
        slots = self.faults.window = Window(window)
        results: dict[int, FrameResult] = {}
        emitted = 0

        def emit(result: FrameResult) -> None:
            nonlocal emitted
            results[result.index] = result
            while emitted in results:
                if on_result is not None:
                    on_result(results[emitted])
                emitted += 1

        async def one(index: int, frame: Timed, arrived: float | None) -> None:
            try:
                result = await self.run_frame(index, frame, current, arrived)
            finally:
                slots.release()
            emit(result)

        started = time.perf_counter()
        source = iter(frames)
        first: float | None = None
        try:
            async with asyncio.TaskGroup() as group:
                for index in itertools.count():
                    # Decoding and resizing a camera frame takes a while: not on the loop.
                    frame = await asyncio.to_thread(next, source, None)
                    if frame is None:
                        break
                    arrived = None
                    if paced:
                        first = frame.timestamp if first is None else first
                        arrived = started + (frame.timestamp - first)
                        await asyncio.sleep(max(0.0, arrived - time.perf_counter()))
                    await slots.acquire()
                    lag = 0.0 if arrived is None else time.perf_counter() - arrived
                    if max_lag_s is not None and lag > max_lag_s:  # stale: skip it, not queue it
                        slots.release()
                        emit(FrameResult(index, None, lag, error=FrameSkipped(
                            f"frame {index} skipped: a slot freed {lag:.2f} s after it arrived "
                            f"(max lag {max_lag_s:g} s)"), timestamp=frame.timestamp))
                        continue
                    group.create_task(one(index, frame, arrived))
        except Exception as errors:  # an ExceptionGroup from the TaskGroup
            inner = getattr(errors, "exceptions", ())
            if len(inner) == 1:  # e.g. a frame source that cannot be read: its own error
                raise inner[0] from None
            raise
        return [results[i] for i in sorted(results)]

    async def run_frame(
        self, index: int, timed: Timed, plan: Plan | PlanSource, arrived: float | None = None
    ) -> FrameResult:
        """One frame through every stage, replayed after a subtask fails (module docstring);
        a failure it does not survive becomes the frame's error, not an exception."""
        frame = _Frame(index, dict(timed.feeds))
        t0 = time.perf_counter() if arrived is None else arrived
        used: Plan | None = None
        attempts: list[SubtaskFailed] = []
        done_at, label = 0, 0  # node position the finished stages reach; stages run so far
        try:
            while True:
                used = await _current(plan)
                start = _resume_at(used, done_at)
                if start is None:  # no stage of this plan starts there: the whole frame again
                    frame.tensors, frame.timings, done_at, label, start = dict(timed.feeds), [], 0, 0, 0
                try:
                    for stage in used.stages[start:]:
                        await self._run_stage(frame, label, stage, used)
                        done_at, label = stage.stop, label + 1
                    break
                except SubtaskFailed as failure:
                    attempts.append(failure)
                    await self.faults.after(failure, attempts, time.monotonic(), time.perf_counter() - t0)
            outputs = {name: frame.tensors[name] for name in self._outputs}
        except FognetError as exc:
            return FrameResult(index, None, time.perf_counter() - t0, tuple(frame.timings), exc, used,
                               timed.timestamp)
        result = FrameResult(index, outputs, time.perf_counter() - t0, tuple(frame.timings), plan=used,
                             timestamp=timed.timestamp)
        self.faults.frame_done()
        if self.on_frame is not None:
            self.on_frame(result)
        return result

    async def _run_stage(self, frame: _Frame, number: int, stage: Stage, plan: Plan) -> None:
        shapes = shapes_key(plan.input_shapes)
        if not stage.spatial:
            needed, _ = self.graph.boundary(stage.start, stage.stop)
            key = TaskKey(plan.model_sha256, stage.start, stage.stop, shapes)
            job = Job(key, {name: frame.tensors[name] for name in needed}, self._works(stage)[0])
            result, timing = await self._subtask(number, stage.peer, job)
            frame.tensors.update(result.outputs)
            frame.timings.append(timing)
            return
        try:
            specs = self._slicer.specs(stage.start, stage.stop, stage.rows)
        except PartitionError as exc:
            raise PlanError(f"stage {number} [{stage.start}, {stage.stop}) cannot be sliced: {exc}") from exc
        jobs = [
            Job(TaskKey(plan.model_sha256, stage.start, stage.stop, shapes, spec.rows),
                slice_inputs(frame.tensors, spec), work)
            for spec, work in zip(specs, self._works(stage), strict=True)
        ]
        # Sent in the stage's peer order, as the planner prices the source's NIC.
        remote = [p for p in stage.peers if p != plan.source]
        done = await asyncio.gather(
            *(
                self._subtask(number, peer, job, alone=bool(remote) and peer == remote[0])
                for peer, job in zip(stage.peers, jobs, strict=True)
            ),
            return_exceptions=True,
        )
        failed = [item for item in done if isinstance(item, BaseException)]
        if failed:  # a fault first (the frame is replayed), else the first other error
            raise next((f for f in failed if isinstance(f, SubtaskFailed) and not f.busy), failed[0])
        frame.tensors.update(merge_outputs([r.outputs for r, _ in done], specs, cropped=True))
        frame.timings.extend(t for _, t in done)

    async def _subtask(
        self, number: int, peer: str, job: Job, alone: bool = True
    ) -> tuple[JobResult, SubtaskTiming]:
        t0 = time.perf_counter()
        key = job.key
        what = f"stage {number} nodes [{key.start}, {key.stop})" + (f" rows {key.rows}" if key.rows else "")
        timeout = self.faults.deadlines.timeout(peer, key, self.timeout)
        try:
            result = await asyncio.wait_for(self.run_subtask(peer, job, timeout), timeout + DEADLINE_GRACE_S)
        except TimeoutError:
            raise SubtaskFailed(f"{what} on {peer}: no answer after {time.perf_counter() - t0:.2f} s "
                                f"(timeout {timeout:.2f} s)", peer) from None
        except PeerUnreachable as exc:
            raise SubtaskFailed(f"{what}: {exc}", peer) from exc  # the runner says who, how long, why
        except RemoteError as exc:
            if exc.reason not in (Reason.BUSY, Reason.HANDLER_FAILED):
                raise  # the request itself is bad: no other peer would take it either
            raise SubtaskFailed(f"{what} on {peer}: {exc}", peer, busy=exc.reason is Reason.BUSY) from exc
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being cancelled: let it through
            # The socket under the request was closed (the peer was declared dead and
            # forgotten); without this the frame would vanish instead of failing.
            raise SubtaskFailed(f"{what} on {peer}: the peer went away after "
                                f"{time.perf_counter() - t0:.2f} s (connection closed)", peer) from None
        rtt = time.perf_counter() - t0
        self.faults.succeeded(peer, key, rtt)
        transfer = max(0.0, rtt - result.wait_s - result.compute_s)
        in_b, out_b = wire_bytes(job, result)
        timing = SubtaskTiming(number, peer, transfer, result.wait_s, result.compute_s, in_b, out_b, alone, job.work_s)
        return result, timing

    def _works(self, stage: Stage) -> tuple[float, ...]:
        """The reference work of each of the stage's pieces, by the one slice rule (0 unpriced)."""
        if self.costs is None:
            return (0.0,) * len(stage.peers)
        if stage not in self._work:
            self._work[stage] = tuple(p.work for p in stage_pieces(self.costs, stage))
        return self._work[stage]


async def _current(plan: Plan | PlanSource) -> Plan:
    """The plan a frame (re)starts on: the plan itself, or what the plan source says now."""
    if not callable(plan):
        return plan
    got = plan()
    return await got if inspect.isawaitable(got) else got


def _resume_at(plan: Plan, done_at: int) -> int | None:
    """The stage of `plan` that starts where a frame's finished stages end (its cut's
    crossing tensors are all at the source), or None if no stage starts there."""
    return next((i for i, st in enumerate(plan.stages) if st.start == done_at), None)


def frame_split(result: FrameResult) -> tuple[float, float, float]:
    """(transfer, wait, compute) seconds of a frame: per stage, its slowest slice's."""
    slowest: dict[int, SubtaskTiming] = {}
    for t in result.timings:
        if t.stage not in slowest or t.total_s > slowest[t.stage].total_s:
            slowest[t.stage] = t
    chosen = slowest.values()
    return (
        sum(t.transfer_s for t in chosen), sum(t.wait_s for t in chosen), sum(t.compute_s for t in chosen)
    )


@dataclass(frozen=True)
class Summary:
    frames: int
    failed: int
    p50_s: float
    p95_s: float
    p99_s: float
    throughput_fps: float
    transfer_s: float  # mean per frame
    wait_s: float
    compute_s: float
    stage_peers: dict[int, tuple[str, ...]]  # stage -> peers that ran it (any frame)
    skipped: int = 0  # frames not sent, over their max lag (not counted in `failed`)


def summarise(results: Sequence[FrameResult], elapsed_s: float) -> Summary:
    ok = [r for r in results if r.ok]
    lat = np.array([r.latency_s for r in ok]) if ok else np.array([float("nan")])
    per_frame = np.array([frame_split(r) for r in ok]).reshape(-1, 3)
    means = per_frame.mean(axis=0) if len(per_frame) else np.full(3, float("nan"))
    skipped = sum(isinstance(r.error, FrameSkipped) for r in results)
    peers: dict[int, set[str]] = {}
    for r in ok:
        for t in r.timings:
            peers.setdefault(t.stage, set()).add(t.peer)
    return Summary(
        frames=len(results),
        failed=len(results) - len(ok) - skipped,
        p50_s=float(np.percentile(lat, 50)),
        p95_s=float(np.percentile(lat, 95)),
        p99_s=float(np.percentile(lat, 99)),
        throughput_fps=len(ok) / elapsed_s if elapsed_s > 0 else float("nan"),
        transfer_s=float(means[0]),
        wait_s=float(means[1]),
        compute_s=float(means[2]),
        stage_peers={k: tuple(sorted(v)) for k, v in sorted(peers.items())},
        skipped=skipped,
    )
