"""Run subtasks: onnxruntime sessions per (model, node range, slice), off the event loop.

A peer extracts what it runs from its own copy of the model (DESIGN.md, DINA-P step 4):
the model file comes from the `ModelStore` by hash, passes the store's `check_model` gate,
is normalised exactly as the source loaded it (so node positions agree), and analysed; each
requested range is extracted and turned into a session, then cached. A spatial slice
(`rows` set) runs the slice sub-model of `fognet.peer.slicing` and returns only its
exact rows (cropped here, so fewer bytes travel back).

Memory stays bounded whatever is asked. A job is checked against the model BEFORE any
session is built or cached: its node range, its slice rows, and its input tensors' names,
dtypes and shapes (derived from the analysed graph, not from a built session), so an
invalid request costs no session. Loaded models and built sessions live in two `ByteLRU`
caches bounded by bytes, defaults sized for a Raspberry Pi; a job keeps the session it
started with, so eviction never breaks a running job, and a later request for an evicted
range rebuilds it. Sizes are estimated from the serialised bytes: a model as its bytes, a
session as SESSION_BYTES_PER_MODEL_BYTE times its sub-model's (onnxruntime holds the
weights twice, plus its arena; measured on resnet18 ranges). After an eviction the freed
heap is handed back to the OS (glibc's malloc_trim): without it, RSS kept the freed
sessions' pages and sat at ~3.7x the bound instead of ~2x the bytes held.

Jobs queue for ONE worker thread (a device runs one subtask at a time; its intra-op
threads come from its profile), so `wait_s` in a result is the time the job sat behind
others, and `compute_s` the time it ran. `backlog()` is the predicted reference-seconds
of work queued or running, split by the source each job is for (`fognet.peer.backlog`).

Admission (`fognet.peer.admission`): the worker thread's busy spans feed a `Load`;
`refusal()` says why a new subtask from another peer should be answered BUSY (past the
utilisation cap with work in hand, or `max_queue` jobs waiting), so the queue stays
bounded. The peer asks it for EXECs only: its own device's jobs are never refused.

Calibration: a job that says its reference work (`work_s`, from the source's cost
profile) yields a speed sample `work_s / compute_s`; `speed` is the robust EWMA of those
(`fognet.partition.calibrate.Estimate`, one outlier ignored), starting from the profile's
speed. The peer advertises it in STATE, so every source plans with what runs really take.

Emulation: with `emulate=True`, a job's elapsed compute is stretched to
`measured * time_scale / speed` by sleeping in the worker thread after the run, so the
emulated device is busy for that long and later jobs wait behind it. `measured` is the
run's CPU time when it is all in the worker thread (one intra-op thread, as in every
shipped profile), else its wall time: emulated peers share this machine's cores, and a run
that waited for one had the wait stretched too and calibrated its device down (a 1.0
device's speed swung 0.33-1.84, issue 11). A run the host could not fit in the device's
time (the fastest has no slack) reports the time it took; the speed stays the device's. `time_scale` (>= 1)
slows the whole emulated cluster down so that devices faster than this machine can be
emulated too: with the scale set to the fastest speed, that device runs at measured speed
and every other one proportionally slower (`fognet.config.emulation`). A device that
would need to run faster than measured runs at measured speed, with a warning.

API
    TaskKey(sha256, start, stop, input_shapes=(), rows=None)   frozen, hashable; rows: a spatial slice's output rows
    Job(key, tensors, work_s=0.0, source="")                    tensors: {name: ndarray | data.source.Pixels}
    JobResult(outputs, wait_s, compute_s, in_wire_bytes=-1, out_wire_bytes=-1)
    frames_normalised(tensors) -> {name: ndarray}   uint8 frames normalised where they run
    Executor(store, *, threads=1, speed=1.0, emulate=False, time_scale=1.0,
             session_cache_bytes=SESSION_CACHE_BYTES, model_cache_bytes=MODEL_CACHE_BYTES,
             admission=None)  None: Admission(), cap 0.9
        await .run(job) -> JobResult       raises ModelError / WireError for a bad job
        .sessions, .models -> CacheStats   what the two caches hold
        .backlog_s -> float                reference-seconds queued or running
        .backlog() -> backlog.Backlog      the same, and its split by source
        .refusal() -> str | None           why to answer BUSY now (fognet.peer.admission), or None
        .speed -> float                    calibrated reference-seconds per second
        .speed_samples -> int              runs that calibrated it
        .close()
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from fognet.data.source import Pixels
from fognet.errors import ModelError, PartitionError, WireError
from fognet.model.graph import ModelGraph, analyse
from fognet.model.load import normalise
from fognet.model.runtime import make_session
from fognet.partition.calibrate import Estimate, speed_sample
from fognet.partition.extract import extract
from fognet.partition.spatial_slices import SliceSpec, crop_outputs
from fognet.peer.admission import Admission, Load, refusal
from fognet.peer.backlog import Backlog, Pending
from fognet.peer.lru import ByteLRU, CacheStats
from fognet.peer.slicing import Slicer
from fognet.peer.store import ModelStore

log = logging.getLogger(__name__)

# A Raspberry Pi 4 has 2-8 GB: with both caches full a peer stays near 1 GB (+ the runtime).
SESSION_CACHE_BYTES = 512 << 20
MODEL_CACHE_BYTES = 512 << 20
SESSION_BYTES_PER_MODEL_BYTE = 2  # RSS a session costs per byte of its sub-model (measured)

Shapes = tuple[tuple[str, tuple[int, ...]], ...]


def shapes_key(input_shapes: Mapping[str, tuple[int, ...]] | None) -> Shapes:
    """Model input shapes as a hashable, order-independent key."""
    return tuple(sorted((k, tuple(int(d) for d in v)) for k, v in (input_shapes or {}).items()))


@dataclass(frozen=True)
class TaskKey:
    """What identifies a runnable sub-model on any peer."""

    sha256: str
    start: int
    stop: int
    input_shapes: Shapes = ()
    rows: tuple[int, int] | None = None  # output rows [a, b) of a spatial slice; None: whole


@dataclass(frozen=True)
class Job:
    key: TaskKey
    tensors: Mapping[str, np.ndarray]
    work_s: float = 0.0  # predicted reference-seconds, if the sender knows; else learned
    source: str = ""  # the peer whose frame this is ("": not said); splits the backlog


@dataclass(frozen=True)
class JobResult:
    outputs: dict[str, np.ndarray]
    wait_s: float
    compute_s: float
    in_wire_bytes: int = -1  # bytes the inputs took on the wire (-1: not sent, or not known)
    out_wire_bytes: int = -1  # bytes the outputs took on the wire


@dataclass
class _Built:
    session: ort.InferenceSession
    outputs: tuple[str, ...]
    work_s: float = 0.0  # learned reference-seconds per run (EMA)
    slice: Any = None  # the SliceSpec of a spatial slice: its outputs are cropped to it


@dataclass
class _Model:
    """A loaded, analysed model; its Slicer is made on the first slice asked of it."""

    graph: ModelGraph
    slicer: Slicer | None = None

    def slices(self) -> Slicer:
        if self.slicer is None:
            self.slicer = Slicer(self.graph)
        return self.slicer


Expected = dict[str, tuple[tuple[int, ...], str]]  # input name -> (shape, numpy dtype name)


class Executor:
    """Sessions built lazily and cached; jobs run one at a time in a worker thread."""

    def __init__(
        self,
        store: ModelStore,
        *,
        threads: int = 1,
        speed: float = 1.0,
        emulate: bool = False,
        time_scale: float = 1.0,
        session_cache_bytes: int = SESSION_CACHE_BYTES,
        model_cache_bytes: int = MODEL_CACHE_BYTES,
        admission: Admission | None = None,
    ) -> None:
        if speed <= 0 or time_scale <= 0:
            raise ModelError(f"peer speed and time scale must be positive, got {speed}, {time_scale}")
        self.store = store
        self.threads = threads
        self.configured_speed = speed
        self._speed = Estimate(speed)
        self.emulate = emulate
        self.stretch = time_scale / speed  # emulated seconds per measured second
        self.time_scale = time_scale
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fognet-exec")
        self._lock = threading.Lock()
        self._models: ByteLRU[tuple[str, Shapes], _Model] = ByteLRU(model_cache_bytes)
        self._built: ByteLRU[TaskKey, _Built] = ByteLRU(session_cache_bytes)
        self._pending = Pending()
        self.admission = admission = admission or Admission()
        self._load = Load(admission.window_s)
        self._load_lock = threading.Lock()  # the worker thread writes it, the loop reads it
        if emulate and self.stretch < 1.0:
            log.warning(
                "speed %.2f at time scale %.2f would need to run faster than this machine; "
                "running at measured speed", speed, time_scale,
            )

    @property
    def backlog_s(self) -> float:
        return self.backlog().total_ref_s

    def backlog(self) -> Backlog:
        """The work queued or running, and its split by source (one snapshot of both)."""
        return self._pending.backlog()

    def refusal(self) -> str | None:
        """Why one more subtask from another peer should be answered BUSY, or None."""
        with self._load_lock:
            waiting = len(self._pending) - (1 if self._load.running else 0)
            return refusal(self.admission, self._load, waiting, time.monotonic())

    @property
    def speed(self) -> float:
        return self._speed.value

    @property
    def speed_samples(self) -> int:
        return self._speed.samples

    @property
    def sessions(self) -> CacheStats:
        return self._built.stats()

    @property
    def models(self) -> CacheStats:
        return self._models.stats()

    async def run(self, job: Job) -> JobResult:
        """Queue `job`, run it in the worker thread, return outputs and its wait/compute."""
        known = self._built.peek(job.key)
        estimate = job.work_s or (known.work_s if known else 0.0)
        ticket = self._pending.add(job.source, estimate)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._run_sync, job, time.perf_counter())
        finally:
            self._pending.done(ticket)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run_sync(self, job: Job, queued_at: float) -> JobResult:
        with self._load_lock:
            self._load.start(time.monotonic())
        try:
            return self._run_job(job, queued_at)
        finally:
            with self._load_lock:
                self._load.stop(time.monotonic())

    def _run_job(self, job: Job, queued_at: float) -> JobResult:
        built, feeds = self._get(job.key, frames_normalised(job.tensors))
        t0, cpu0 = time.perf_counter(), time.thread_time()
        try:
            values = built.session.run(list(built.outputs), feeds)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"onnxruntime failed on [{job.key.start}, {job.key.stop}): {str(exc).splitlines()[0]}") from exc
        wall = time.perf_counter() - t0
        measured = self._measured(wall, time.thread_time() - cpu0)
        compute = wall
        if self.emulate:
            device = measured * max(1.0, self.stretch)  # what the emulated device takes
            if device > wall:
                time.sleep(device - wall)
            compute = max(wall, device)  # the host may not manage the device's time: as it was
        reference = measured * self.time_scale if self.emulate else measured * self.configured_speed
        sample = measured * max(1.0, self.stretch) if self.emulate else compute
        if job.work_s > 0 and sample > 0:
            with self._lock:
                self._speed = self._speed.update(speed_sample(job.work_s, sample))
        built.work_s = reference if not built.work_s else 0.7 * built.work_s + 0.3 * reference
        outputs = dict(zip(built.outputs, values, strict=True))
        if built.slice is not None:  # only rows equal to the unsplit run's travel back
            outputs = {k: np.ascontiguousarray(v) for k, v in crop_outputs(outputs, built.slice).items()}
        # Session building on first use counts as waiting, not as the subtask's compute.
        return JobResult(outputs, t0 - queued_at, compute)

    def _measured(self, wall: float, cpu: float) -> float:
        """Seconds of this machine a run took: emulated with one intra-op thread (all of it
        in this thread), its CPU time, so sharing the cores neither stretches it nor slows
        the device it stands for (module docstring); otherwise its wall time."""
        return cpu if self.emulate and self.threads == 1 and cpu > 0 else wall

    def _get(self, key: TaskKey, tensors: Mapping[str, np.ndarray]) -> tuple[_Built, dict[str, np.ndarray]]:
        """The session for `key` and its feeds; the request is checked before anything is built."""
        with self._lock:
            model = self._model(key)
            spec = _slice_spec(model, key)
            feeds = _check_feeds(_expected_inputs(model.graph, key, spec), tensors)
            built = self._built.get(key)
            if built is None:
                built, nbytes = self._build(model, key, spec)
                if self._built.put(key, built, nbytes):
                    _release_freed_memory()
            return built, feeds

    def _model(self, key: TaskKey) -> _Model:
        mkey = (key.sha256, key.input_shapes)
        model = self._models.get(mkey)
        if model is None:
            proto = self.store.load(key.sha256)
            normalise(proto, dict(key.input_shapes) or None)
            model = _Model(analyse(proto))
            if self._models.put(mkey, model, proto.ByteSize()):
                _release_freed_memory()
        return model

    def _build(self, model: _Model, key: TaskKey, spec: SliceSpec | None) -> tuple[_Built, int]:
        """A session for a checked request, and its estimated RSS (see SESSION_BYTES_PER_MODEL_BYTE)."""
        if spec is not None:
            sub = model.slices().model(key.start, key.stop, spec)
        else:
            sub = extract(model.graph, key.start, key.stop)
        session = make_session(sub, self.threads)
        log.debug("built session %s [%d, %d)", key.sha256[:8], key.start, key.stop)
        nbytes = SESSION_BYTES_PER_MODEL_BYTE * sub.ByteSize()
        return _Built(session, tuple(o.name for o in sub.graph.output), slice=spec), nbytes


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to hand back this way
        return None


def _release_freed_memory() -> None:
    """Hand the heap that evicted sessions and models freed back to the OS (see module docstring)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _slice_spec(model: _Model, key: TaskKey) -> SliceSpec | None:
    """The slice a key names (None for a whole range), refusing ranges the model lacks."""
    n = len(model.graph)
    if not 0 <= key.start < key.stop <= n:
        raise WireError(f"node range [{key.start}, {key.stop}) is outside the model's 0..{n}")
    if key.rows is None:
        return None
    try:
        return model.slices().spec(key.start, key.stop, key.rows)
    except PartitionError as exc:
        raise WireError(f"cannot slice [{key.start}, {key.stop}) at rows {key.rows}: {exc}") from exc


def _expected_inputs(graph: ModelGraph, key: TaskKey, spec: SliceSpec | None) -> Expected:
    """What the sub-model for `key` will read, from the graph alone (no session needed):
    the range's boundary inputs, or a slice's inputs with its rows (H is axis 2)."""
    if spec is None:
        names, _ = graph.boundary(key.start, key.stop)
        return {n: (graph.tensors[n].shape, graph.tensors[n].dtype) for n in names}
    expected = {}
    for i in spec.inputs:
        info = graph.tensors[i.name]
        shape = list(info.shape)
        shape[2] = i.stop - i.start
        expected[i.name] = (tuple(shape), info.dtype)
    return expected


def frames_normalised(tensors: Mapping[str, object]) -> dict[str, np.ndarray]:
    """A frame that came as uint8 pixels (`data.source.Pixels`) becomes the model's float
    input here, where the first stage runs, by the source's own normalisation: exact."""
    return {k: v.to_input() if isinstance(v, Pixels) else v for k, v in tensors.items()}


def _check_feeds(expected: Expected, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inputs must be exactly the sub-model's, with its shapes and dtypes (a dimension the
    model leaves unknown, -1, takes any size)."""
    missing = [name for name in expected if name not in tensors]
    if missing:
        raise WireError(f"EXEC lacks input tensor {missing[0]!r}; this range needs {sorted(expected)}")
    feeds = {}
    for name, (shape, dtype) in expected.items():
        value = np.asarray(tensors[name])
        fits = len(value.shape) == len(shape) and all(d < 0 or d == v for d, v in zip(shape, value.shape, strict=True))
        if value.dtype.name != dtype or not fits:
            raise WireError(
                f"input {name!r} is {value.dtype.name}{list(value.shape)}, expected {dtype}{list(shape)}"
            )
        feeds[name] = value
    return feeds
