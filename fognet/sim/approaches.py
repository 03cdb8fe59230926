"""Placement approaches: fognet (DINA-P + DINA-O) and the baselines, on one cost model.

Each approach turns a round's state (a `Planning` fixed at the round's start) into one
plan per source, with concrete peers; the runner then executes the round's frames on
those plans. Plan-only approaches ask the planner for a plan of their kind and need no
game. Matched approaches take DINA-P's plans, turn their stages into subtasks, let a
matcher assign them (the game, phase 1 alone, the exact optimum, or random sites), and
refit each stage to the peers it got (`placement.refit`).

Quotas belong to the workers, not to the game: a worker admits `quota` subtasks a round
whoever sends them. Plan-only approaches do not negotiate, so their pieces are admitted
first come first served (sources in a seeded random order) and a piece refused runs on
its source (`admit`); `baseline_quotas = false` in a scenario lifts this.

    local         everything on the source
    best-node     everything on the one peer predicted fastest (each source alone)
    neurosurgeon  one split between the source and its best peer (Kang et al.)
    modnn         every sliceable layer in equal rows over all nodes (Mao et al.)
    random        DINA-P's partitions, each on a random site with room
    greedy        DINA-P's partitions, deferred acceptance only (no swaps)
    fognet        DINA-P's partitions, the full game (deferred acceptance + swaps)
    optimum       DINA-P's partitions, the exact optimum matching (small instances only)
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from fognet.errors import ConfigError, InstanceError, NotApplicable
from fognet.matching.exact import optimum
from fognet.matching.game import play
from fognet.matching.instance import DefaultLink, Instance, Subtask
from fognet.partition.stages import Plan
from fognet.placement.instance import Figures, LinkFigure, game_instance
from fognet.placement.policies import MATCHERS
from fognet.placement.refit import matched_peers, refit
from fognet.placement.subtasks import Piece, plan_pieces, plan_subtasks
from fognet.sim.planning import Planning
from fognet.sim.scenario import APPROACHES

PLAN_ONLY = {"local": "local", "best-node": "best-node", "neurosurgeon": "neurosurgeon", "modnn": "modnn"}


@dataclass
class Placed:
    """A round's plans, and the matcher's predicted latency per source when there was one."""

    plans: dict[str, Plan]
    predicted: dict[str, float] = field(default_factory=dict)
    subtasks: int = 0
    objectives: tuple[float, float] | None = None  # (game total, optimum total) on this round's instance


class Approach:
    """One placement approach by name (see module doc)."""

    def __init__(self, name: str, rule: str = "welfare", optimum_max_subtasks: int = 8, quotas: bool = True) -> None:
        if name not in APPROACHES:
            raise ConfigError(f"unknown approach {name!r}: expected one of {', '.join(APPROACHES)}")
        self.name = name
        self.rule = rule
        self.optimum_max_subtasks = optimum_max_subtasks
        self.quotas = quotas  # workers admit at most `quota` subtasks a round from plan-only approaches too

    def place(self, planning: Planning, round_index: int, seed: int) -> Placed:
        sources = planning.topology.sources
        if self.name in PLAN_ONLY:
            kind = PLAN_ONLY[self.name]
            plans = {s: planning.plan(s, kind) for s in sources}
            if self.quotas:
                plans = admit(planning, plans, kind, seed * 100_003 + round_index)
            return Placed(plans)
        plans = {s: planning.plan(s, "dina") for s in sources}
        return self._matched(planning, plans, seed * 100_003 + round_index)

    def _matched(self, planning: Planning, plans: dict[str, Plan], seed: int) -> Placed:
        instance, ids, pieces = build_instance(planning, plans, self.rule)
        objectives = None
        if self.name == "optimum":
            try:
                best = optimum(instance, max_subtasks=self.optimum_max_subtasks)
            except InstanceError as exc:
                raise NotApplicable(str(exc)) from exc
            assignment, latency = best.assignment, None
            objectives = (play(instance).objective, best.objective)
        else:
            assignment, latency = MATCHERS[self.name](instance, seed)
        placed = Placed({}, subtasks=len(instance.subtasks), objectives=objectives)
        for source, plan in plans.items():
            peers = matched_peers(plan, ids[source], assignment)
            if any(list(stage.peers) != list(dict.fromkeys(given)) for stage, given in zip(plan.stages, peers, strict=True)):
                plan = refit(planning.planner(source), plan, peers)
            placed.plans[source] = plan
            if latency is not None:
                placed.predicted[source] = sum(
                    max(latency[sid] for sid in stage_ids) for stage_ids in ids[source]
                )
        return placed


def admit(planning: Planning, plans: Mapping[str, Plan], kind: str, seed: int) -> dict[str, Plan]:
    """Workers enforce their quotas on approaches that did not ask them (DESIGN.md: a
    worker accepts `quota` subtasks a round). Sources come in a seeded random order each
    round; a piece whose worker is full runs on its source instead, and the stage is
    refitted to the peers that took it (equal rows again for MoDNN)."""
    topology = planning.topology
    room = {w: planning.states[w].quota for w in topology.workers}
    order = list(topology.sources)
    random.Random(seed).shuffle(order)
    out = dict(plans)
    for source in order:
        plan = plans[source]
        given: list[list[str]] = []
        for stage in plan.stages:
            stage_peers = []
            for peer in stage.peers:
                if peer != source and room.get(peer, 0) > 0:
                    room[peer] -= 1
                    stage_peers.append(peer)
                else:
                    stage_peers.append(source)
            given.append(stage_peers)
        if any(list(st.peers) != g for st, g in zip(plan.stages, given, strict=True)):
            out[source] = planning.refit(source, kind, plan, given)
    return out


def build_instance(
    planning: Planning, plans: Mapping[str, Plan], rule: str = "welfare"
) -> tuple[Instance, dict[str, list[list[str]]], dict[str, tuple[tuple[Piece, ...], ...]]]:
    """The round's game (`placement.instance.game_instance`): every stage-slice of every
    source's plan is a subtask, every worker plays under its game id.

    Returns the instance, the subtask ids per source per stage (in piece order) and the
    pieces themselves.
    """
    topology, states = planning.topology, planning.states
    links = planning.memo("instance-links", lambda: _source_links(topology))
    figures = {
        w: Figures(states[w].quota, states[w].speed, states[w].backlog, rule=rule, nic=states[w].nic or 0.0)
        for w in topology.workers
    }
    subtasks: list[Subtask] = []
    ids: dict[str, list[list[str]]] = {}
    pieces: dict[str, tuple[tuple[Piece, ...], ...]] = {}
    for source, plan in plans.items():
        role = figures.get(source, Figures())
        figures[source] = Figures(role.quota, role.speed, role.backlog_ref_s, states[source].speed,
                                  states[source].backlog, links.get(source, ()), rule, role.cap,
                                  rate=topology.peers[source].fps or 1.0,
                                  nic=states[source].nic or role.nic)
        pieces[source] = plan_pieces(planning.costs[topology.peers[source].model], plan)
        per_stage = plan_subtasks(plan, pieces[source])
        subtasks += [s for stage in per_stage for s in stage]
        ids[source] = [[s.id for s in stage] for stage in per_stage]
    bw, lat = topology.default_link
    instance = game_instance(figures, subtasks, sources=plans, rule=rule, default_link=DefaultLink(bw, lat))
    return instance, ids, pieces


def _source_links(topology) -> dict[str, tuple[LinkFigure, ...]]:
    """Each source's links off the scenario's default link, as a peer would announce them."""
    out: dict[str, list[LinkFigure]] = {}
    for source, w, bw, lat in topology.non_default_links():
        out.setdefault(source, []).append(LinkFigure(w, bw, lat))
    return {s: tuple(links) for s, links in out.items()}
