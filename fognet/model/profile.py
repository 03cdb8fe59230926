"""The cost profile: per compute node, FLOPs, output bytes and measured reference time.

A node's reference time `t_v` is the median, over `runs` runs, of onnxruntime's own
per-kernel timing (its profiler's `<node>_kernel_time` events), in a session built like
every peer's (graph optimisation off, so names map 1:1, and the same thread count).
The whole model is also timed with profiling off, so the sum of the per-node medians can
be compared with what a run really takes (the difference is the executor's overhead
between kernels, which no node owns).

Constant nodes (weights made by ConstantOfShape etc.) belong to no cut; their time is
kept apart in `constant_time_s`.

`estimate_profile` makes the same record from FLOPs and bytes alone, for when nothing
should be measured; its times are a guess at an assumed rate and say so in `kind`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import onnxruntime as ort

from fognet.errors import ModelError
from fognet.model.flops import graph_node_flops
from fognet.model.graph import ModelGraph, analyse
from fognet.model.load import LoadedModel
from fognet.model.runtime import make_session, random_feeds, session_options

log = logging.getLogger(__name__)

FORMAT = "fognet-profile/1"
# Rates assumed by estimate_profile when none is given: one core of a server CPU with
# AVX-512 ran the onnx light zoo at 22-82 GFLOP/s (ShuffleNet low, ResNet-50 high);
# memory traffic at cache-missing speed; and onnxruntime's dispatch per kernel.
DEFAULT_FLOPS_PER_S = 50e9
DEFAULT_BYTES_PER_S = 5e9
DEFAULT_NODE_OVERHEAD_S = 2e-6


@dataclass(frozen=True)
class Machine:
    hostname: str
    platform: str
    processor: str
    cpu_count: int
    onnxruntime: str

    @classmethod
    def this(cls) -> Machine:
        return cls(
            hostname=socket.gethostname(),
            platform=platform.platform(),
            processor=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count() or 1,
            onnxruntime=ort.__version__,
        )


@dataclass(frozen=True)
class NodeRecord:
    name: str
    op_type: str
    index: int  # position in ModelGraph.nodes (topological order)
    flops: int
    out_bytes: int
    time_s: float


@dataclass(frozen=True)
class Profile:
    model_sha256: str
    model_name: str
    input_shapes: dict[str, tuple[int, ...]]
    machine: Machine
    threads: int
    runs: int
    nodes: tuple[NodeRecord, ...]
    whole_model_time_s: float
    constant_time_s: float = 0.0
    kind: str = "measured"  # or "estimated: ..." with the assumed rates
    format: str = field(default=FORMAT)

    @property
    def node_time_sum_s(self) -> float:
        return sum(rec.time_s for rec in self.nodes)

    @property
    def total_flops(self) -> int:
        return sum(rec.flops for rec in self.nodes)

    def reference_times(self) -> list[float]:
        """Per compute node reference seconds, in topological order (the planner's `times`)."""
        return [rec.time_s for rec in sorted(self.nodes, key=lambda r: r.index)]

    def times_for(self, graph: ModelGraph) -> list[float]:
        """Reference times matched by node name to `graph`'s compute nodes.

        Refuses a profile made for another model, so a plan is never priced with it.
        """
        times = {rec.name: rec.time_s for rec in self.nodes}
        missing = [node.name for node in graph.nodes if node.name not in times]
        if missing:
            raise ModelError(
                f"profile of {self.model_name} has no time for node {missing[0]!r}; "
                "was it made for this model? Re-run `fognet profile`"
            )
        return [times[node.name] for node in graph.nodes]

    def to_json(self) -> str:
        data = asdict(self)
        data["input_shapes"] = {k: list(v) for k, v in self.input_shapes.items()}
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Profile:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
            data["machine"] = Machine(**data["machine"])
            data["nodes"] = tuple(NodeRecord(**rec) for rec in data["nodes"])
            data["input_shapes"] = {k: tuple(v) for k, v in data["input_shapes"].items()}
            return cls(**data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"not a fognet profile: {exc}") from exc

    def save(self, path: str | Path) -> None:
        try:
            Path(path).write_text(self.to_json())
        except OSError as exc:
            raise ModelError(f"cannot write profile {path}: {exc.strerror or exc}") from exc


def load_profile(path: str | Path) -> Profile:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ModelError(f"cannot read profile {path}: {exc.strerror or exc}") from exc
    try:
        return Profile.from_json(text)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc


def _out_bytes(graph: ModelGraph, node) -> int:
    return sum(max(0, graph.tensors[o].nbytes) for o in node.output if o in graph.tensors)


def _records(graph: ModelGraph, times: Iterable[float]) -> tuple[NodeRecord, ...]:
    flops = graph_node_flops(graph)
    return tuple(
        NodeRecord(node.name, node.op_type, i, flops[i], _out_bytes(graph, node), float(t))
        for i, (node, t) in enumerate(zip(graph.nodes, times, strict=True))
    )


def parse_trace(events: list[dict], warmup: int) -> list[dict[str, float]]:
    """Per run (warm-ups dropped), seconds per node name, from an onnxruntime trace.

    Runs end at each "model_run" session event; a node seen twice in a run is summed.
    """
    runs: list[dict[str, float]] = []
    current: dict[str, float] = {}
    for event in events:
        cat, name = event.get("cat"), str(event.get("name", ""))
        if cat == "Node" and name.endswith("_kernel_time"):
            node = name[: -len("_kernel_time")]
            current[node] = current.get(node, 0.0) + float(event.get("dur", 0)) * 1e-6
        elif cat == "Session" and name == "model_run":
            runs.append(current)
            current = {}
    return runs[warmup:]


def _profiled_runs(loaded: LoadedModel, feeds, runs: int, threads: int, warmup: int) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="fognet-profile-") as tmp:
        opts = session_options(threads)
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        session = make_session(loaded.model, options=opts)
        for _ in range(warmup + runs):
            session.run(None, feeds)
        trace = session.end_profiling()
        try:
            with open(trace) as fh:
                events = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read onnxruntime's profile {trace}: {exc}") from exc
    return parse_trace(events, warmup)


def _whole_model_time(loaded: LoadedModel, feeds, runs: int, threads: int, warmup: int) -> float:
    session = make_session(loaded.model, threads)
    for _ in range(warmup):
        session.run(None, feeds)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else 0.0


def profile_model(
    loaded: LoadedModel, runs: int = 10, threads: int = 1, warmup: int = 2, seed: int = 0
) -> Profile:
    """Measure every compute node's reference time on this machine (module docstring)."""
    if runs < 1:
        raise ModelError(f"--runs must be at least 1, not {runs}")
    graph = analyse(loaded.model)
    feeds = random_feeds(graph.inputs, seed=seed)
    per_run = _profiled_runs(loaded, feeds, runs, threads, warmup)
    samples: dict[str, list[float]] = {}
    for run in per_run:
        for name, seconds in run.items():
            samples.setdefault(name, []).append(seconds)
    missing = [node.name for node in graph.nodes if node.name not in samples]
    if missing:
        log.warning("onnxruntime reported no kernel time for %d nodes (e.g. %s); counted 0", len(missing), missing[0])
    times = [_median(samples.get(node.name, [])) for node in graph.nodes]
    constant = sum(_median(samples.get(node.name, [])) for node in graph.constant_nodes)
    return Profile(
        model_sha256=loaded.sha256,
        model_name=loaded.name,
        input_shapes={t.name: t.shape for t in graph.inputs},
        machine=Machine.this(),
        threads=threads,
        runs=runs,
        nodes=_records(graph, times),
        whole_model_time_s=_whole_model_time(loaded, feeds, runs, threads, warmup),
        constant_time_s=constant,
    )


def estimate_profile(
    loaded: LoadedModel,
    flops_per_s: float = DEFAULT_FLOPS_PER_S,
    bytes_per_s: float = DEFAULT_BYTES_PER_S,
    node_overhead_s: float = DEFAULT_NODE_OVERHEAD_S,
) -> Profile:
    """A profile from FLOPs and output bytes alone: `flops / flops_per_s + out_bytes /
    bytes_per_s + node_overhead_s` per node. Nothing is run; pass `measured_rate(profile)`
    of a real profile to calibrate the FLOP rate to a machine."""
    graph = analyse(loaded.model)
    flops = graph_node_flops(graph)
    times = [
        f / flops_per_s + _out_bytes(graph, node) / bytes_per_s + node_overhead_s
        for f, node in zip(flops, graph.nodes, strict=True)
    ]
    return Profile(
        model_sha256=loaded.sha256,
        model_name=loaded.name,
        input_shapes={t.name: t.shape for t in graph.inputs},
        machine=Machine.this(),
        threads=1,
        runs=0,
        nodes=_records(graph, times),
        whole_model_time_s=sum(times),
        kind=f"estimated: {flops_per_s / 1e9:g} GFLOP/s, {bytes_per_s / 1e9:g} GB/s, "
        f"{node_overhead_s * 1e6:g} us per node",
    )


def measured_rate(profile: Profile) -> float:
    """FLOP/s a measured profile achieved over its nodes (for `estimate_profile`)."""
    seconds = profile.node_time_sum_s
    if seconds <= 0:
        raise ModelError("the profile has no measured time to derive a rate from")
    return profile.total_flops / seconds


def cached_profile(loaded: LoadedModel, runs: int = 5, threads: int = 1, cache: Path | None = None) -> Profile:
    """A measured profile of this model on this machine, measured once and kept on disk.

    Keyed by model sha256, input shapes and threads, under `$FOGNET_CACHE/profiles`, so
    `fognet plan`, `fognet infer` and the benchmarks do not re-measure on every call.
    """
    from fognet.model.zoo import cache_dir

    shapes = "_".join("x".join(map(str, s)) for s in loaded.input_shapes.values())
    directory = Path(cache) if cache else cache_dir() / "profiles"
    path = directory / f"{loaded.sha256[:16]}-{shapes}-t{threads}.json"
    if path.is_file():
        try:
            profile = load_profile(path)
            if profile.model_sha256 == loaded.sha256 and profile.machine.hostname == Machine.this().hostname:
                return profile
        except ModelError:
            log.warning("ignoring unreadable cached profile %s", path)
    profile = profile_model(loaded, runs=runs, threads=threads)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    profile.save(tmp)
    tmp.replace(path)
    return profile
