"""Each source's view of the cluster at a round's start, and plans cached by state signature.

A source plans over itself and the workers it can reach (other sources are not its
workers). With 500 sources and 100 rounds the planner cannot run per source per round,
and need not: a plan depends only on the model, the source's device and links, and the
workers' speeds and backlogs. Backlogs are compared as the live peers compare them
(`partition.replan`: relative steps of `DEFAULT_THRESHOLD`, "idle" below
`BACKLOG_FLOOR_S`), so a signature is (model, source device, source links, workers'
bucketed state); the first source with a signature runs the planner on its actual state
and the others take that plan with the source renamed. As a live source does, each
source keeps its plan until its signature moves, and then switches only to a plan
predicted better than its current one (re-priced) by `replan.DEFAULT_MARGIN`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from fognet.partition.cost import ClusterState, LinkState
from fognet.partition.plan import Planner, PlannerConfig
from fognet.partition.replan import (
    BACKLOG_FLOOR_S,
    DEFAULT_MARGIN,
    DEFAULT_THRESHOLD,
    should_switch,
)
from fognet.partition.stages import Plan
from fognet.placement.joint import SiteLoad
from fognet.placement.policies import equal_fit, make_plan
from fognet.placement.pricing import ModelCosts
from fognet.placement.refit import refit
from fognet.placement.state import link_state, peer_state
from fognet.sim.cluster import Topology

if TYPE_CHECKING:
    from fognet.sim.scenario import Scenario


@dataclass(frozen=True)
class Stream:
    """The scenario's stream model, which every round's game is priced under (DESIGN.md)."""

    round_s: float = 1.0
    arrival: str = "fixed"  # "fixed" (a random phase per source) or "poisson"
    queue: str = "sjf"  # "sjf" or "fifo"

    @classmethod
    def of(cls, scenario: Scenario) -> Stream:
        """A scenario's stream model (its round, arrivals and queue discipline)."""
        return cls(scenario.round_s, scenario.arrival, scenario.queue)


def rename_source(plan: Plan, source: str) -> Plan:
    """A plan made for one source, used by another with the same state signature."""
    if plan.source == source:
        return plan
    old = plan.source
    stages = tuple(
        replace(s, peers=tuple(source if p == old else p for p in s.peers)) for s in plan.stages
    )
    return replace(plan, source=source, stages=stages)


def backlog_bucket(backlog: float) -> int:
    if backlog < BACKLOG_FLOOR_S:
        return 0
    return 1 + int(math.log(backlog / BACKLOG_FLOOR_S) / math.log1p(DEFAULT_THRESHOLD))


class Planning:
    """Builds planners for the current round and caches plans across rounds."""

    def __init__(
        self, topology: Topology, costs: Mapping[str, ModelCosts], config: PlannerConfig, hysteresis: bool = True,
        stream: Stream = Stream(),
    ) -> None:
        self.topology = topology
        self.stream = stream
        self.costs = costs
        self.config = config
        self.default_link = link_state(*topology.default_link)
        self._links: dict[str, dict[tuple[str, str], LinkState]] = {s: {} for s in topology.sources}
        for source, w, bw, lat in topology.non_default_links():
            self._links[source][(source, w)] = link_state(bw, lat)
        self._link_sig: dict[str, int] = {}
        sigs: dict[tuple, int] = {}
        for source, links in self._links.items():
            sig = tuple(sorted((w, link.bandwidth, link.latency) for (_, w), link in links.items()))
            self._link_sig[source] = sigs.setdefault(sig, len(sigs))
        self._cache: dict[tuple, Plan] = {}
        self._memo: dict[str, object] = {}
        self._held: dict[tuple[str, str], tuple[tuple, Plan]] = {}  # (source, kind) -> (signature, plan)
        self.hysteresis = hysteresis
        self.planner_runs = 0
        self.begin_round({p: topology.peers[p].backlog for p in topology.peers})

    def memo(self, key: str, make: Callable[[], object]):
        """A value computed once per run (static facts the approaches need every round)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def begin_round(self, backlogs: Mapping[str, float]) -> None:
        """Fix the state every plan of this round is made on."""
        peers = self.topology.peers
        self.states = {
            pid: peer_state(pid, p.speed, (p.quota or 1) if p.worker else 0, p.nic, float(backlogs.get(pid, 0.0)))
            for pid, p in peers.items()
        }
        self._workers_sig = tuple(
            (w, backlog_bucket(self.states[w].backlog)) for w in self.topology.workers
        )
        self._planners: dict[tuple[str, bool], Planner] = {}

    def state(self, source: str) -> ClusterState:
        peers = {w: self.states[w] for w in self.topology.reachable(source)}
        peers[source] = self.states[source]
        return ClusterState(peers=peers, links=self._links[source], default_link=self.default_link)

    def planner(self, source: str, sliced: bool = False) -> Planner:
        """The source's planner for this round; `sliced` forces spatial stages on (MoDNN
        slices whatever the scenario's planner config says)."""
        config = replace(self.config, spatial=True) if sliced else self.config
        key = (source, config.spatial)
        planner = self._planners.get(key)
        if planner is None:
            planner = self.costs[self.topology.peers[source].model].planner(self.state(source), source, config)
            self._planners[key] = planner
        return planner

    def respond(self, source: str, current: Plan, loads: Mapping[str, SiteLoad]) -> Plan:
        """The source's answer to the loads a matching implies (DESIGN.md, DINA-P item 4):
        DINA-P's plan against the load the other sources' matched work puts on each worker
        (`loads`, by peer name; the backlog is in it as the phantom job), its own stream at
        its frame rate and with the round's arrivals (a Poisson stream waits for itself,
        as the game prices it); taken only if it beats `current`, re-priced under the same loads, by
        the live sources' margin (`should_switch`). Cached by the source's signature, its
        current plan and the loads rounded to 1e-4, since sources of one group facing the
        same loads answer alike."""
        peer = self.topology.peers[source]
        anonymous = current.placement(anonymous=True)
        key = ("respond", self.signature(source), anonymous, tuple(sorted(
            (w, round(v.load, 4), round(v.residual, 7)) for w, v in loads.items())))
        plan = self._cache.get(key)
        if plan is None:
            costs = self.costs[peer.model]
            planner = costs.planner(self.loaded(source, loads), source, self.config)
            fresh = make_plan("dina", planner, costs.sha256)
            self.planner_runs += 1
            plan = fresh if should_switch(planner.price(current), fresh, DEFAULT_MARGIN) else current
            self._cache[key] = plan
        return rename_source(plan, source)

    def loaded(self, source: str, loads: Mapping[str, SiteLoad]) -> ClusterState:
        """The state a best response plans on: the workers carrying `loads` (their backlog
        is in them as the phantom job), the source streaming at its frame rate with the
        round's arrivals (`Stream.arrival`, the one the game's instance is priced under)."""
        base = self.state(source)
        peers = dict(base.peers)
        for w, v in loads.items():
            if w in peers and w != source:
                peers[w] = replace(peers[w], backlog=0.0, load=v.load, residual=v.residual, cap=v.cap)
        fps = self.topology.peers[source].fps
        peers[source] = replace(peers[source], rate=fps, poisson=self.stream.arrival == "poisson")
        return ClusterState(peers=peers, links=base.links, default_link=base.default_link)

    def signature(self, source: str) -> tuple:
        peer = self.topology.peers[source]
        return (
            peer.model, peer.speed, peer.nic, backlog_bucket(self.states[source].backlog),
            self._link_sig[source], self._workers_sig,
            source if source in self.topology.workers else None,  # then its plan is its own
        )

    def refit(self, source: str, kind: str, plan: Plan, peers: list[list[str]]) -> Plan:
        """`plan` run on `peers` (per stage, one per piece), cached like plans are."""
        anonymous = tuple(tuple("" if p == source else p for p in stage) for stage in peers)
        key = ("refit", kind, self.signature(source), plan.cuts(), anonymous)
        fitted = self._cache.get(key)
        if fitted is None:
            planner = self.planner(source, sliced=kind == "modnn")
            fitted = refit(planner, plan, peers, equal_fit) if kind == "modnn" else refit(planner, plan, peers)
            self._cache[key] = fitted
        return rename_source(fitted, source)

    def plan(self, source: str, kind: str = "dina") -> Plan:
        """The source's current `kind` plan, re-planned as a live source re-plans
        (`infer.session`): only when its state signature moved, and switched to only when
        the new plan beats the current one, re-priced under the new state, by the margin."""
        signature = self.signature(source)
        held = self._held.get((source, kind))
        if held is not None and held[0] == signature:
            return held[1]
        plan = self._fresh(source, kind, signature)
        if held is not None and self.hysteresis:
            current = self._reprice(source, kind, signature, held[1])
            if not should_switch(current, plan, DEFAULT_MARGIN):
                plan = current
        self._held[(source, kind)] = (signature, plan)
        return plan

    def _reprice(self, source: str, kind: str, signature: tuple, plan: Plan) -> Plan:
        anonymous = plan.placement(anonymous=True)
        key = ("price", kind, signature, anonymous)
        priced = self._cache.get(key)
        if priced is None:
            priced = self.planner(source, sliced=kind == "modnn").price(plan)
            self._cache[key] = priced
        return rename_source(priced, source)

    def _fresh(self, source: str, kind: str, signature: tuple) -> Plan:
        """What the planner makes of this state (cached by signature across sources)."""
        key = (kind, signature)
        plan = self._cache.get(key)
        if plan is None:
            sha = self.costs[self.topology.peers[source].model].sha256
            plan = make_plan(kind, self.planner(source, sliced=kind == "modnn"), sha)
            self._cache[key] = plan
            self.planner_runs += 1
        return rename_source(plan, source)
