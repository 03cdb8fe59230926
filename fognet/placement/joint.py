"""Planning with the game, not before it (DESIGN.md, DINA-P item 4).

A source's best plan depends on where the other sources' work lands, so a round
alternates: the sources' plans (made against the current loads) are matched; each source
re-plans against the load the matching puts on every site by the *other* sources (its
best response, which it adopts only for a clear gain over its current plan priced under
the same loads: the live sources' switching margin, `partition.replan.should_switch`, since
the model's error makes smaller gains noise); the round re-matches while some plan changed
and the matching's J falls, for a few iterations at most. The loop keeps the best round it saw, so it never ends
above the game on the plans it started with.

The loop is pure and knows nothing of who calls it: the simulator and the live peers pass
how to turn plans into the game's instance, how to match one and how a source answers
its current plan against a background (`SiteLoad` per peer name, which the caller hands its planner as
`partition.cost.PeerState.load` / `residual` / `cap`).

    SiteLoad(load, residual, cap)             the others' streams on one site
    site_loads(instance, assignment, source) -> {peer name: SiteLoad}   `source`'s own load left out
    JointRound(plans, instance, ids, assignment, latency, objective, iterations, replans)
    plan_jointly(plans, build, match, replan, max_iterations=3) -> JointRound
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fognet.matching.cost import EPS, evaluate, moments, pieces
from fognet.matching.instance import Instance, PeerId, Subtask
from fognet.partition.stages import Plan
from fognet.placement.instance import peer_of

MAX_ITERATIONS = 3  # re-matches after the first; DESIGN.md: "a few iterations at most"


@dataclass(frozen=True)
class SiteLoad:
    """What the other sources' streams (and the site's backlog, as the stream model's
    phantom job) put on one worker: `load` (share of its time), `residual` (s, half the
    second moment of their service) and the worker's `cap`."""

    load: float
    residual: float
    cap: float


def site_loads(instance: Instance, assignment: Mapping[str, str], source: str) -> dict[str, SiteLoad]:
    """Per worker (by peer name), what the matching puts on it besides `source`'s stream,
    with its backlog's phantom job: the load and half the second moment of every other
    source's service, for either arrival kind. `source`'s own pieces as matched now are
    left out of both: the piece the planner prices replaces them, and it adds that piece's
    load, and for Poisson arrivals its own second moment (`PeerState.stream_wait`), so
    R = (B - B_src) / 2 or B / 2 counts the candidate at its size (DESIGN.md "The stream
    cost model"; the sums are `matching.cost.moments`')."""
    on: dict[PeerId, list[Subtask]] = {w.id: [] for w in instance.workers}
    for s in instance.subtasks:
        site = assignment.get(s.id)
        if site in on and s.source != source:
            on[PeerId(site)].append(s)
    out = {}
    for w in instance.workers:
        others = moments(instance, w.id, pieces(on[w.id]))
        out[peer_of(w.id)] = SiteLoad(others.rho, others.second / 2, w.cap)
    return out


@dataclass(frozen=True)
class JointRound:
    """The round's outcome: the plans matched, the instance they made and its matching."""

    plans: Mapping[str, Plan]
    instance: Instance
    ids: Mapping[str, list[list[str]]]  # per source, per stage, the subtask ids in piece order
    assignment: Mapping[str, str]
    latency: Mapping[str, float] | None  # the matcher's piece latencies, when it gives them
    objective: float  # J of the matching under the stream model
    iterations: int  # matchings played
    replans: int  # sources whose plan the kept round changed from the first


Build = Callable[[Mapping[str, Plan]], tuple[Instance, Mapping[str, list[list[str]]]]]
Match = Callable[[Instance], tuple[Mapping[str, str], Mapping[str, float] | None]]
Replan = Callable[[str, Plan, Mapping[str, SiteLoad]], Plan]  # (source, current, loads) -> plan


def plan_jointly(
    plans: Mapping[str, Plan], build: Build, match: Match, replan: Replan, max_iterations: int = MAX_ITERATIONS
) -> JointRound:
    """Match `plans`; then, while some source's best response changes its plan and the new
    matching's J is lower by more than `matching.cost.EPS`, adopt the new plans (module doc)."""
    start = dict(plans)
    current = dict(plans)
    instance, ids = build(current)
    assignment, latency = match(instance)
    objective = evaluate(instance, assignment).objective
    iterations = 1
    for _ in range(max_iterations):
        proposed = {s: replan(s, current[s], site_loads(instance, assignment, s)) for s in sorted(current)}
        if all(proposed[s].placement() == current[s].placement() for s in current):
            break
        new_instance, new_ids = build(proposed)
        new_assignment, new_latency = match(new_instance)
        new_objective = evaluate(new_instance, new_assignment).objective
        iterations += 1
        if not new_objective < objective - EPS:
            break
        current, instance, ids = proposed, new_instance, new_ids
        assignment, latency, objective = new_assignment, new_latency, new_objective
    replans = sum(1 for s in current if current[s].placement() != start[s].placement())
    return JointRound(current, instance, ids, assignment, latency, objective, iterations, replans)
