"""Chain instances as JSON (`fognet match --instance FILE` with `"objective": "period"`).

    {"objective": "period",
     "peers": [{"id": "car1", "speed": 0.25, "memory": 1.0e8, "nic": 2.5e7},
               {"id": "w1", "speed": 2.0, "memory": 4.0e8, "cap": 0.9}],
     "links": [{"a": "car1", "b": "w1", "bandwidth": 1.25e7}],
     "default_link": {"bandwidth": 1.0e7},
     "chains": [{"source": "car1", "rate": 2.0, "bytes": [150528, 4000, 1000],
                 "stages": [{"work": 0.030, "need": 1.0e7}, {"work": 0.020, "need": 5.0e6}]}]}

A chain's stages run in order, `work` reference-seconds each (over a peer's `speed`),
`need` bytes of memory (default 0); `bytes` has one entry more than stages: what goes into
the first stage, between each pair, and back home from the last. A peer hosts any
source's stages when `worker` (default: it is no chain's source), lends `cap` of its time
(default 0.9 for a worker, 1 otherwise) and `memory` bytes (default: no limit); `nic`
caps its sends. A pair not listed uses `default_link`, else is out of reach. Priced by
`partition.throughput.ChainProblem`'s rules through `chains.period_instance`, as every
chain plan is. Errors are one InstanceError naming the field.

    parse_period_instance(data) -> PeriodInstance
    parse_period_assignment(inst, data) -> Placement   `{"assignment": {"car1/0": "w1", ...}}`
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from fognet.config.profiles import DEFAULT_CAP
from fognet.errors import InstanceError
from fognet.matching.instance import json_field
from fognet.matching.period import PeriodInstance, Placement
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.partition.throughput import ChainProblem
from fognet.placement.chains import period_instance

OBJECTIVES = ("latency", "period")


def objective_of(data: Any) -> str:
    """An instance's `objective` (default "latency"); InstanceError for any other value."""
    value = data.get("objective", "latency") if isinstance(data, Mapping) else "latency"
    if value not in OBJECTIVES:
        raise InstanceError(f"instance field 'objective' must be one of {', '.join(OBJECTIVES)}, not {value!r}")
    return value


def _field(obj: Any, key: str, where: str, kind: type | tuple = (int, float), default: Any = ...) -> Any:
    """matching.instance's reader; a number must also be finite and >= 0."""
    value = json_field(obj, key, kind, where, default)
    if kind == (int, float) and key in obj and not (math.isfinite(value) and value >= 0):
        raise InstanceError(f"{where} field {key!r} must be a finite number >= 0, not {value!r}")
    return value


def _bandwidth(obj: Any, where: str) -> LinkState:
    bandwidth = _field(obj, "bandwidth", where)
    if not bandwidth > 0:
        raise InstanceError(f"{where} field 'bandwidth' must be positive bytes/s, not {bandwidth!r}")
    return LinkState(float(bandwidth), 0.0)  # latency pipelines away (partition.throughput)


def _state(data: Mapping, sources: set[str]) -> tuple[ClusterState, tuple[str, ...], list[float], list[bool]]:
    peers, caps, shared = [], [], []
    for i, p in enumerate(_field(data, "peers", "instance", list)):
        where = f"peers[{i}]"
        name = _field(p, "id", where, str)
        worker = _field(p, "worker", where, bool, name not in sources)
        memory = _field(p, "memory", where, default=None)
        nic = _field(p, "nic", where, default=None)
        speed = _field(p, "speed", where)
        if not speed > 0:
            raise InstanceError(f"{where} field 'speed' must be positive, not {speed!r}")
        peers.append(PeerState(name, float(speed), nic=nic, memory=memory))
        cap = _field(p, "cap", where, default=DEFAULT_CAP if worker else 1.0)
        if not 0 < cap <= 1:
            raise InstanceError(f"{where} field 'cap' must be in (0, 1], not {cap!r}")
        caps.append(float(cap))
        shared.append(worker)
    links = {}
    for i, lk in enumerate(_field(data, "links", "instance", list, [])):
        a, b = _field(lk, "a", f"links[{i}]", str), _field(lk, "b", f"links[{i}]", str)
        links[(a, b)] = _bandwidth(lk, f"links[{i}]")
    default = data.get("default_link")
    fallback = None if default is None else _bandwidth(default, "default_link")
    names = {p.id for p in peers}
    if len(names) != len(peers):
        raise InstanceError("instance peers must have distinct ids")
    for a, b in links:
        for end in (a, b):
            if end not in names:
                raise InstanceError(f"link {a}-{b} names unknown peer {end!r}")
    return ClusterState.of(peers, links, fallback), tuple(p.id for p in peers), caps, shared


def parse_period_instance(data: Any) -> PeriodInstance:
    """The chain instance of the module doc's JSON value."""
    chains = _field(data, "chains", "instance", list)
    sources = {_field(c, "source", f"chains[{i}]", str) for i, c in enumerate(chains)}
    state, order, caps, shared = _state(data, sources)
    problems, bounds, rates = [], [], []
    for i, c in enumerate(chains):
        where = f"chains[{i}]"
        source = _field(c, "source", where, str)
        if source not in state.peers:
            raise InstanceError(f"{where} source {source!r} is no peer")
        stages = _field(c, "stages", where, list)
        nbytes = _field(c, "bytes", where, list)
        if not stages or len(nbytes) != len(stages) + 1:
            raise InstanceError(f"{where} needs at least one stage and one 'bytes' entry more than stages "
                                f"({len(stages)} stages, {len(nbytes)} bytes)")
        for k, b in enumerate(nbytes):
            _field({"bytes": b}, "bytes", f"{where} bytes[{k}]")
        work = [float(_field(s, "work", f"{where}.stages[{k}]")) for k, s in enumerate(stages)]
        m = len(stages) + 1
        need = np.zeros((m, m))
        for k, s in enumerate(stages):
            need[k, k + 1] = float(_field(s, "need", f"{where}.stages[{k}]", default=0.0))
        problems.append(ChainProblem.on(state, source, order, range(m), np.concatenate([[0.0], np.cumsum(work)]),
                                        np.array(nbytes, dtype=float), need))
        bounds.append(tuple(range(m)))
        rates.append(float(_field(c, "rate", where, default=1.0)))
    if any(r <= 0 for r in rates):
        raise InstanceError("every chain's 'rate' must be positive frames/s")
    return period_instance(problems, bounds, rates, caps, shared)


def parse_period_assignment(inst: PeriodInstance, data: Any) -> Placement:
    """The placement a matching JSON names (`assignment`: stage name -> peer)."""
    given = _field(data, "assignment", "matching", Mapping)
    out = []
    for j, job in enumerate(inst.jobs):
        route = []
        for k in range(job.n_stages):
            name = inst.stage_name(j, k)
            peer = given.get(name)
            if peer not in inst.peers:
                raise InstanceError(f"matching assigns stage {name} to {peer!r}, no peer of the instance")
            route.append(inst.peers.index(peer))
        out.append(tuple(route))
    return tuple(out)
