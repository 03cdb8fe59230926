"""A matching instance as frozen values, parsed from DESIGN.md's JSON and validated.

Validation happens here and only here, so the game, the checker and the exact solver can
trust what they get. Every problem is one InstanceError naming what to fix.

Sites: each worker is a site (by its id, with a utilisation cap and an optional quota), and
each source's own device is a site (by the source's id, no cap, no transfer, open to that
source's subtasks only). Version 2 of the format (DESIGN.md) adds streams: each source's
frame rate, each subtask's stage, workers' caps and NICs, the round length, the arrival
process and the queue discipline; a version-1 file is refused with what to add. A
source may therefore not share its id with a worker: the game would not know which of
the two a subtask assigned to that id runs on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NewType

from fognet.errors import InstanceError

PeerId = NewType("PeerId", str)
SubtaskId = NewType("SubtaskId", str)

RULES = ("welfare", "fair")
ARRIVALS = ("fixed", "poisson")
QUEUES = ("sjf", "fifo")
MAX_CAP = 0.999
VERSION = 2


@dataclass(frozen=True)
class Worker:
    id: PeerId
    speed: float  # reference-seconds of work per second
    backlog: float  # reference-seconds already queued
    quota: int | None = None  # subtasks accepted per round; None: no count limit
    cap: float = 0.9  # utilisation the worker lends at most (0 < cap <= 0.999)
    nic: float | None = None  # bytes/s shared by all its transfers; None: no limit


@dataclass(frozen=True)
class Link:
    a: PeerId
    b: PeerId
    bandwidth: float  # bytes/s, both ways
    latency: float  # s, both ways


@dataclass(frozen=True)
class DefaultLink:
    bandwidth: float  # bytes/s
    latency: float  # s


@dataclass(frozen=True)
class Subtask:
    id: SubtaskId
    source: PeerId
    work: float  # reference-seconds
    in_bytes: int
    out_bytes: int
    stage: int = 0  # the source's stage this slice belongs to (stages run in order)


@dataclass(frozen=True)
class LocalDevice:
    source: PeerId
    speed: float  # reference-seconds of work per second
    backlog: float  # reference-seconds
    rate: float = 1.0  # frames/s the source emits
    nic: float | None = None  # bytes/s of the source's interface; None: no limit


@dataclass(frozen=True)
class Instance:
    workers: tuple[Worker, ...]
    links: tuple[Link, ...]
    subtasks: tuple[Subtask, ...]
    local: tuple[LocalDevice, ...]
    default_link: DefaultLink | None = None
    rule: str = "welfare"
    round_s: float = 1.0  # T: the round length; the backlog arrives once per round
    arrival: str = "fixed"  # "fixed" (a random phase) or "poisson"
    queue: str = "sjf"  # "sjf" (shortest work first) or "fifo"

    _links: dict = field(init=False, repr=False, compare=False)
    _workers: dict = field(init=False, repr=False, compare=False)
    _local: dict = field(init=False, repr=False, compare=False)
    _routes: dict = field(init=False, repr=False, compare=False)  # filled by cost.transfer

    def __post_init__(self) -> None:
        _validate(self)
        # Lookup tables, derived once (the instance is frozen).
        links = {}
        for lk in self.links:  # both directions: `link` is on every pricing's path
            links[(lk.a, lk.b)] = links[(lk.b, lk.a)] = lk
        object.__setattr__(self, "_links", links)
        object.__setattr__(self, "_workers", {w.id: w for w in self.workers})
        object.__setattr__(self, "_local", {d.source: d for d in self.local})
        object.__setattr__(self, "_routes", {})

    def link(self, source: PeerId, worker: PeerId) -> Link | DefaultLink | None:
        """The link between a source and a worker, the default one, or None if out of reach."""
        return self._links.get((source, worker), self.default_link)

    def worker(self, wid: PeerId) -> Worker:
        return self._workers[wid]

    def local_of(self, source: PeerId) -> LocalDevice:
        return self._local[source]

    @property
    def sources(self) -> tuple[PeerId, ...]:
        """Source ids in sorted order (the tie-break order)."""
        return tuple(sorted(d.source for d in self.local))


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise InstanceError(f"duplicate {what} id {i!r}")
        seen.add(i)


def _positive(value: float, what: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InstanceError(f"{what} must be positive and finite, got {value!r}")


def _non_negative(value: float, what: str) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise InstanceError(f"{what} must be >= 0 and finite, got {value!r}")


def _optional_positive(value: float | None, what: str) -> None:
    if value is not None:
        _positive(value, what)


def _validate(inst: Instance) -> None:
    for name, value, options in (("rule", inst.rule, RULES), ("arrival", inst.arrival, ARRIVALS),
                                 ("queue", inst.queue, QUEUES)):
        if value not in options:
            raise InstanceError(f"{name} must be one of {', '.join(options)}, got {value!r}")
    _positive(inst.round_s, "round_s")
    _unique([w.id for w in inst.workers], "worker")
    _unique([s.id for s in inst.subtasks], "subtask")
    _unique([d.source for d in inst.local], "local source")
    workers = {w.id for w in inst.workers}
    sources = {d.source for d in inst.local}
    for w in inst.workers:
        _positive(w.speed, f"worker {w.id} speed")
        _non_negative(w.backlog, f"worker {w.id} backlog")
        if w.quota is not None and (isinstance(w.quota, bool) or not isinstance(w.quota, int)
                                    or w.quota < 0):
            raise InstanceError(f"worker {w.id} quota must be an integer >= 0, got {w.quota!r}")
        if not (isinstance(w.cap, (int, float)) and 0 < w.cap <= MAX_CAP):
            raise InstanceError(f"worker {w.id} cap must be in (0, {MAX_CAP}], got {w.cap!r}")
        _optional_positive(w.nic, f"worker {w.id} nic")
        if w.id in sources:
            raise InstanceError(
                f"{w.id!r} is both a worker and a source; give the worker role its own id"
            )
    for d in inst.local:
        _positive(d.speed, f"local device of {d.source} speed")
        _non_negative(d.backlog, f"local device of {d.source} backlog")
        _positive(d.rate, f"local device of {d.source} rate")
        _optional_positive(d.nic, f"local device of {d.source} nic")
    for s in inst.subtasks:
        if s.source not in sources:
            raise InstanceError(f"subtask {s.id}'s source {s.source!r} is missing from `local`")
        _non_negative(s.work, f"subtask {s.id} work")
        _non_negative(s.in_bytes, f"subtask {s.id} in_bytes")
        _non_negative(s.out_bytes, f"subtask {s.id} out_bytes")
        if isinstance(s.stage, bool) or not isinstance(s.stage, int) or s.stage < 0:
            raise InstanceError(f"subtask {s.id} stage must be an integer >= 0, got {s.stage!r}")
    pairs: set[frozenset] = set()
    for lk in inst.links:
        for end in (lk.a, lk.b):
            if end not in workers and end not in sources:
                raise InstanceError(f"link {lk.a}-{lk.b} names unknown peer {end!r}")
        if lk.a == lk.b:
            raise InstanceError(f"link {lk.a}-{lk.b} joins a peer to itself")
        pair = frozenset((lk.a, lk.b))
        if pair in pairs:
            raise InstanceError(f"duplicate link {lk.a}-{lk.b}")
        pairs.add(pair)
        _positive(lk.bandwidth, f"link {lk.a}-{lk.b} bandwidth")
        _non_negative(lk.latency, f"link {lk.a}-{lk.b} latency")
    if inst.default_link is not None:
        _positive(inst.default_link.bandwidth, "default_link bandwidth")
        _non_negative(inst.default_link.latency, "default_link latency")


# --- JSON in and out -------------------------------------------------------------------


def json_field(obj: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    """`obj[key]` of type `kind` (`default` when absent, if given), else InstanceError naming
    `where`: the one reader of instance files (latency and period ones). A boolean is a
    number or an int only where `kind` asks for bool."""
    if not isinstance(obj, Mapping):
        raise InstanceError(f"{where} must be a JSON object, got {type(obj).__name__}")
    if key not in obj:
        if default is ...:
            raise InstanceError(f"{where} has no {key!r}")
        return default
    value = obj[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise InstanceError(f"{where} field {key!r} has the wrong type: {value!r}")
    return value


def _list(data: Mapping, key: str, required: bool = True) -> list:
    value = json_field(data, key, list, "instance", ... if required else [])
    return value


_NUM = (int, float)


def _optional(obj: Mapping, key: str, where: str) -> float | None:
    value = json_field(obj, key, _NUM, where, None)
    return None if value is None else float(value)


def _version_1(data: Mapping) -> None:
    """Refuse a version-1 instance in one line that says what to add."""
    version = data.get("version", VERSION)
    if version == VERSION:
        lacking = [
            what for what, key, rows in (
                ("`rate` (frames/s) on every local device", "rate", data.get("local")),
                ("`stage` (0, 1, ...) on every subtask", "stage", data.get("subtasks")),
            )
            if isinstance(rows, list) and any(isinstance(r, Mapping) and key not in r for r in rows)
        ]
        if not lacking:
            return
    elif version != 1:
        raise InstanceError(f"instance version must be {VERSION}, got {version!r}")
    else:
        lacking = ["`rate` (frames/s) on every local device", "`stage` (0, 1, ...) on every subtask"]
    raise InstanceError(
        "this is a version-1 instance; version 2 (DESIGN.md) needs "
        + " and ".join(lacking) + " (workers' `cap` defaults to 0.9, `quota` is optional)"
    )


def parse_instance(data: Any) -> Instance:
    """Build a validated Instance from the JSON value of DESIGN.md's format, version 2."""
    if not isinstance(data, Mapping):
        raise InstanceError(f"an instance must be a JSON object, got {type(data).__name__}")
    _version_1(data)
    workers = tuple(
        Worker(
            id=PeerId(json_field(w, "id", str, f"workers[{i}]")),
            speed=float(json_field(w, "speed", _NUM, f"workers[{i}]")),
            backlog=float(json_field(w, "backlog", _NUM, f"workers[{i}]", 0.0)),
            quota=json_field(w, "quota", int, f"workers[{i}]", None),
            cap=float(json_field(w, "cap", _NUM, f"workers[{i}]", 0.9)),
            nic=_optional(w, "nic", f"workers[{i}]"),
        )
        for i, w in enumerate(_list(data, "workers"))
    )
    links = tuple(
        Link(
            a=PeerId(json_field(lk, "a", str, f"links[{i}]")),
            b=PeerId(json_field(lk, "b", str, f"links[{i}]")),
            bandwidth=float(json_field(lk, "bandwidth", _NUM, f"links[{i}]")),
            latency=float(json_field(lk, "latency", _NUM, f"links[{i}]", 0.0)),
        )
        for i, lk in enumerate(_list(data, "links", required=False))
    )
    subtasks = tuple(
        Subtask(
            id=SubtaskId(json_field(s, "id", str, f"subtasks[{i}]")),
            source=PeerId(json_field(s, "source", str, f"subtasks[{i}]")),
            work=float(json_field(s, "work", _NUM, f"subtasks[{i}]")),
            in_bytes=json_field(s, "in_bytes", _NUM, f"subtasks[{i}]", 0),
            out_bytes=json_field(s, "out_bytes", _NUM, f"subtasks[{i}]", 0),
            stage=json_field(s, "stage", int, f"subtasks[{i}]"),
        )
        for i, s in enumerate(_list(data, "subtasks"))
    )
    local = tuple(
        LocalDevice(
            source=PeerId(json_field(d, "source", str, f"local[{i}]")),
            speed=float(json_field(d, "speed", _NUM, f"local[{i}]")),
            backlog=float(json_field(d, "backlog", _NUM, f"local[{i}]", 0.0)),
            rate=float(json_field(d, "rate", _NUM, f"local[{i}]")),
            nic=_optional(d, "nic", f"local[{i}]"),
        )
        for i, d in enumerate(_list(data, "local"))
    )
    default = data.get("default_link")
    default_link = None
    if default is not None:
        default_link = DefaultLink(
            bandwidth=float(json_field(default, "bandwidth", _NUM, "default_link")),
            latency=float(json_field(default, "latency", _NUM, "default_link", 0.0)),
        )
    return Instance(
        workers, links, subtasks, local, default_link,
        rule=json_field(data, "rule", str, "instance", "welfare"),
        round_s=float(json_field(data, "round_s", _NUM, "instance", 1.0)),
        arrival=json_field(data, "arrival", str, "instance", "fixed"),
        queue=json_field(data, "queue", str, "instance", "sjf"),
    )


def read_json(path: str | Path, what: str = "instance") -> Any:
    """Read a JSON file, turning every failure into one InstanceError line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InstanceError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstanceError(
            f"{what} {path} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def load_instance(path: str | Path) -> Instance:
    return parse_instance(read_json(path))


def _with_optional(row: dict[str, Any], **optional: Any) -> dict[str, Any]:
    return row | {k: v for k, v in optional.items() if v is not None}


def to_json(inst: Instance) -> dict[str, Any]:
    """The instance as DESIGN.md's JSON value, version 2 (round-trips through parse_instance)."""
    out: dict[str, Any] = {
        "version": VERSION,
        "rule": inst.rule,
        "round_s": inst.round_s,
        "arrival": inst.arrival,
        "queue": inst.queue,
        "workers": [
            _with_optional({"id": w.id, "speed": w.speed, "backlog": w.backlog, "cap": w.cap},
                           quota=w.quota, nic=w.nic)
            for w in inst.workers
        ],
        "links": [
            {"a": lk.a, "b": lk.b, "bandwidth": lk.bandwidth, "latency": lk.latency}
            for lk in inst.links
        ],
        "local": [
            _with_optional({"source": d.source, "speed": d.speed, "backlog": d.backlog,
                            "rate": d.rate}, nic=d.nic)
            for d in inst.local
        ],
        "subtasks": [
            {"id": s.id, "source": s.source, "stage": s.stage, "work": s.work,
             "in_bytes": s.in_bytes, "out_bytes": s.out_bytes}
            for s in inst.subtasks
        ],
    }
    if inst.default_link is not None:
        out["default_link"] = {
            "bandwidth": inst.default_link.bandwidth,
            "latency": inst.default_link.latency,
        }
    return out
