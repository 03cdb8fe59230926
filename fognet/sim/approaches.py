"""Placement approaches: fognet (DINA-P + DINA-O) and the baselines, on one cost model.

Each approach turns a round's state (a `Planning` fixed at the round's start) into one
plan per source, with concrete peers; the runner then executes the round's frames on
those plans. Plan-only approaches ask the planner for a plan of their kind and need no
game. Matched approaches take DINA-P's plans, turn their stages into subtasks, let a
matcher assign them (the game, phase 1 alone, the exact optimum, or random sites), and
refit each stage to the peers it got (`placement.refit`).

Admission belongs to the workers, not to the game: a worker past its cap (and its count
quota, if it has one) refuses work whoever sends it, by the game's own rule
(`matching.cost.fits`). Plan-only approaches do not negotiate, so their pieces are
admitted first come first served (sources in a seeded random order) and a piece refused
runs on its source (`admit`), as with a real worker guarding its capacity; `admission =
false` in a scenario (or `Approach(admission=False)`) lets workers queue whatever comes.

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
from fognet.matching.cost import fits
from fognet.matching.exact import optimum
from fognet.matching.game import play
from fognet.matching.instance import DefaultLink, Instance, Subtask
from fognet.partition.stages import Plan
from fognet.placement.instance import Figures, LinkFigure, game_instance, worker_id
from fognet.placement.joint import plan_jointly
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

    def __init__(self, name: str, rule: str = "welfare", optimum_max_subtasks: int = 8, admission: bool = True) -> None:
        if name not in APPROACHES:
            raise ConfigError(f"unknown approach {name!r}: expected one of {', '.join(APPROACHES)}")
        self.name = name
        self.rule = rule
        self.optimum_max_subtasks = optimum_max_subtasks
        self.admission = admission  # workers refuse plan-only approaches' work past their cap too
        self.replans = 0  # fognet: sources whose round ended on a re-planned (best-response) plan

    def place(self, planning: Planning, round_index: int, seed: int) -> Placed:
        sources = planning.topology.sources
        if self.name in PLAN_ONLY:
            kind = PLAN_ONLY[self.name]
            plans = {s: planning.plan(s, kind) for s in sources}
            if self.admission:
                plans = admit(planning, plans, kind, seed * 100_003 + round_index)
            return Placed(plans)
        plans = {s: planning.plan(s, "dina") for s in sources}
        return self._matched(planning, plans, seed * 100_003 + round_index)

    def _matched(self, planning: Planning, plans: dict[str, Plan], seed: int) -> Placed:
        objectives = None
        if self.name == "fognet":  # DINA-P planned with the game (DESIGN.md, DINA-P item 4)
            joint = plan_jointly(
                plans, lambda given: build_instance(planning, given, self.rule)[:2],
                lambda inst: MATCHERS["fognet"](inst, seed), planning.respond)
            plans, instance, ids = dict(joint.plans), joint.instance, joint.ids
            assignment, latency = joint.assignment, joint.latency
            self.replans += joint.replans
        else:
            instance, ids, _ = build_instance(planning, plans, self.rule)
            assignment, latency, objectives = self._match(instance, seed)
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


    def _match(self, instance: Instance, seed: int):
        """(assignment, latency or None, (game J, optimum J) or None) of a baseline matcher."""
        if self.name != "optimum":
            return (*MATCHERS[self.name](instance, seed), None)
        try:
            best = optimum(instance, max_subtasks=self.optimum_max_subtasks)
        except InstanceError as exc:
            raise NotApplicable(str(exc)) from exc
        return best.assignment, None, (play(instance).objective, best.objective)


def admit(planning: Planning, plans: Mapping[str, Plan], kind: str, seed: int) -> dict[str, Plan]:
    """Workers admit the work of approaches that did not ask them by the rule the game
    meets (`matching.cost.fits`: below the cap, within a quota if set). Sources come in a
    seeded random order each round, their pieces in stage order; a piece its worker
    refuses runs on its source instead, and the stage is refitted to the peers that took it
    (equal rows again for MoDNN)."""
    topology = planning.topology
    instance, ids, _ = build_instance(planning, plans)
    by_id = {s.id: s for s in instance.subtasks}
    held: dict[str, list[Subtask]] = {w.id: [] for w in instance.workers}
    order = list(topology.sources)
    random.Random(seed).shuffle(order)
    out = dict(plans)
    for source in order:
        plan = plans[source]
        given: list[list[str]] = []
        for stage, stage_ids in zip(plan.stages, ids[source], strict=True):
            stage_peers = []
            for peer, sid in zip(stage.peers, stage_ids, strict=True):
                site = worker_id(peer)
                if peer != source and site in held and fits(instance, site, [*held[site], by_id[sid]]):
                    held[site].append(by_id[sid])
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
    topology, states, stream = planning.topology, planning.states, planning.stream
    links = planning.memo("instance-links", lambda: _source_links(topology))
    figures = {
        w: Figures(states[w].quota, states[w].speed, states[w].backlog, rule=rule, nic=states[w].nic or 0.0,
                   cap=topology.peers[w].cap, counted=topology.peers[w].quota is not None)
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
                                  nic=states[source].nic or role.nic, counted=role.counted)
        pieces[source] = plan_pieces(planning.costs[topology.peers[source].model], plan)
        per_stage = plan_subtasks(plan, pieces[source])
        subtasks += [s for stage in per_stage for s in stage]
        ids[source] = [[s.id for s in stage] for stage in per_stage]
    bw, lat = topology.default_link
    instance = game_instance(figures, subtasks, sources=plans, rule=rule, default_link=DefaultLink(bw, lat),
                             round_s=stream.round_s, arrival=stream.arrival, queue=stream.queue)
    return instance, ids, pieces


def _source_links(topology) -> dict[str, tuple[LinkFigure, ...]]:
    """Each source's links off the scenario's default link, as a peer would announce them."""
    out: dict[str, list[LinkFigure]] = {}
    for source, w, bw, lat in topology.non_default_links():
        out.setdefault(source, []).append(LinkFigure(w, bw, lat))
    return {s: tuple(links) for s, links in out.items()}
