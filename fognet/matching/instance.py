"""A matching instance as frozen values, parsed from DESIGN.md's JSON and validated.

Validation happens here and only here, so the game, the checker and the exact solver can
trust what they get. Every problem is one InstanceError naming what to fix.

Sites: each worker is a site (by its id, with a quota), and each source's own device is a
site (by the source's id, no quota, no transfer, open to that source's subtasks only). A
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


@dataclass(frozen=True)
class Worker:
    id: PeerId
    speed: float  # reference-seconds of work per second
    backlog: float  # reference-seconds already queued
    quota: int  # subtasks accepted per round


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


@dataclass(frozen=True)
class LocalDevice:
    source: PeerId
    speed: float  # reference-seconds of work per second
    backlog: float  # reference-seconds


@dataclass(frozen=True)
class Instance:
    workers: tuple[Worker, ...]
    links: tuple[Link, ...]
    subtasks: tuple[Subtask, ...]
    local: tuple[LocalDevice, ...]
    default_link: DefaultLink | None = None
    rule: str = "welfare"

    _links: dict = field(init=False, repr=False, compare=False)
    _workers: dict = field(init=False, repr=False, compare=False)
    _local: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self)
        # Lookup tables, derived once (the instance is frozen).
        object.__setattr__(self, "_links", {frozenset((lk.a, lk.b)): lk for lk in self.links})
        object.__setattr__(self, "_workers", {w.id: w for w in self.workers})
        object.__setattr__(self, "_local", {d.source: d for d in self.local})

    def link(self, source: PeerId, worker: PeerId) -> Link | DefaultLink | None:
        """The link between a source and a worker, the default one, or None if out of reach."""
        return self._links.get(frozenset((source, worker)), self.default_link)

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


def _validate(inst: Instance) -> None:
    if inst.rule not in RULES:
        raise InstanceError(f"rule must be one of {', '.join(RULES)}, got {inst.rule!r}")
    _unique([w.id for w in inst.workers], "worker")
    _unique([s.id for s in inst.subtasks], "subtask")
    _unique([d.source for d in inst.local], "local source")
    workers = {w.id for w in inst.workers}
    sources = {d.source for d in inst.local}
    for w in inst.workers:
        _positive(w.speed, f"worker {w.id} speed")
        _non_negative(w.backlog, f"worker {w.id} backlog")
        if isinstance(w.quota, bool) or not isinstance(w.quota, int) or w.quota < 0:
            raise InstanceError(f"worker {w.id} quota must be an integer >= 0, got {w.quota!r}")
        if w.id in sources:
            raise InstanceError(
                f"{w.id!r} is both a worker and a source; give the worker role its own id"
            )
    for d in inst.local:
        _positive(d.speed, f"local device of {d.source} speed")
        _non_negative(d.backlog, f"local device of {d.source} backlog")
    for s in inst.subtasks:
        if s.source not in sources:
            raise InstanceError(f"subtask {s.id}'s source {s.source!r} is missing from `local`")
        _non_negative(s.work, f"subtask {s.id} work")
        _non_negative(s.in_bytes, f"subtask {s.id} in_bytes")
        _non_negative(s.out_bytes, f"subtask {s.id} out_bytes")
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


def _get(obj: Mapping, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...):
    if not isinstance(obj, Mapping):
        raise InstanceError(f"{where} must be a JSON object, got {type(obj).__name__}")
    if key not in obj:
        if default is ...:
            raise InstanceError(f"{where} has no {key!r}")
        return default
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InstanceError(f"{where} field {key!r} has the wrong type: {value!r}")
    return value


def _list(data: Mapping, key: str, required: bool = True) -> list:
    value = _get(data, key, list, "instance", ... if required else [])
    return value


_NUM = (int, float)


def parse_instance(data: Any) -> Instance:
    """Build a validated Instance from the JSON value of DESIGN.md's instance format."""
    if not isinstance(data, Mapping):
        raise InstanceError(f"an instance must be a JSON object, got {type(data).__name__}")
    workers = tuple(
        Worker(
            id=PeerId(_get(w, "id", str, f"workers[{i}]")),
            speed=float(_get(w, "speed", _NUM, f"workers[{i}]")),
            backlog=float(_get(w, "backlog", _NUM, f"workers[{i}]", 0.0)),
            quota=_get(w, "quota", int, f"workers[{i}]"),
        )
        for i, w in enumerate(_list(data, "workers"))
    )
    links = tuple(
        Link(
            a=PeerId(_get(lk, "a", str, f"links[{i}]")),
            b=PeerId(_get(lk, "b", str, f"links[{i}]")),
            bandwidth=float(_get(lk, "bandwidth", _NUM, f"links[{i}]")),
            latency=float(_get(lk, "latency", _NUM, f"links[{i}]", 0.0)),
        )
        for i, lk in enumerate(_list(data, "links", required=False))
    )
    subtasks = tuple(
        Subtask(
            id=SubtaskId(_get(s, "id", str, f"subtasks[{i}]")),
            source=PeerId(_get(s, "source", str, f"subtasks[{i}]")),
            work=float(_get(s, "work", _NUM, f"subtasks[{i}]")),
            in_bytes=_get(s, "in_bytes", _NUM, f"subtasks[{i}]", 0),
            out_bytes=_get(s, "out_bytes", _NUM, f"subtasks[{i}]", 0),
        )
        for i, s in enumerate(_list(data, "subtasks"))
    )
    local = tuple(
        LocalDevice(
            source=PeerId(_get(d, "source", str, f"local[{i}]")),
            speed=float(_get(d, "speed", _NUM, f"local[{i}]")),
            backlog=float(_get(d, "backlog", _NUM, f"local[{i}]", 0.0)),
        )
        for i, d in enumerate(_list(data, "local"))
    )
    default = data.get("default_link")
    default_link = None
    if default is not None:
        default_link = DefaultLink(
            bandwidth=float(_get(default, "bandwidth", _NUM, "default_link")),
            latency=float(_get(default, "latency", _NUM, "default_link", 0.0)),
        )
    rule = _get(data, "rule", str, "instance", "welfare")
    return Instance(workers, links, subtasks, local, default_link, rule)


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


def to_json(inst: Instance) -> dict[str, Any]:
    """The instance as DESIGN.md's JSON value (round-trips through parse_instance)."""
    out: dict[str, Any] = {
        "rule": inst.rule,
        "workers": [
            {"id": w.id, "speed": w.speed, "backlog": w.backlog, "quota": w.quota}
            for w in inst.workers
        ],
        "links": [
            {"a": lk.a, "b": lk.b, "bandwidth": lk.bandwidth, "latency": lk.latency}
            for lk in inst.links
        ],
        "subtasks": [
            {"id": s.id, "source": s.source, "work": s.work, "in_bytes": s.in_bytes,
             "out_bytes": s.out_bytes}
            for s in inst.subtasks
        ],
        "local": [{"source": d.source, "speed": d.speed, "backlog": d.backlog} for d in inst.local],
    }
    if inst.default_link is not None:
        out["default_link"] = {
            "bandwidth": inst.default_link.bandwidth,
            "latency": inst.default_link.latency,
        }
    return out
