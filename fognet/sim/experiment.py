"""Every approach on a scenario (or on each point of a sweep), on the same frames and costs.

Models are loaded and priced once per (spec, profile) and shared by all approaches and
all sweep points. An approach that cannot run on a scenario (the exact optimum on a
large instance) is reported as skipped with the reason, not as a failure.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from fognet.errors import NotApplicable
from fognet.matching.cost import evaluate
from fognet.partition.encoding import DEFAULT_ENCODING, Encoding
from fognet.partition.plan import PlannerConfig
from fognet.partition.stages import Plan
from fognet.placement.instance import worker_id
from fognet.placement.pricing import ModelCosts
from fognet.sim.approaches import Approach, build_instance
from fognet.sim.cluster import build_topology
from fognet.sim.costs import load_costs
from fognet.sim.planning import Planning, Stream
from fognet.sim.records import RunResult
from fognet.sim.runner import Simulation
from fognet.sim.scenario import APPROACHES, ModelSpec, Scenario

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (approach, round finished)


@dataclass
class Comparison:
    scenario: Scenario
    results: dict[str, RunResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    lower_bound_s: float | None = None  # see `lower_bound`

    def speedup(self, over: str, of: str = "fognet", metric: str = "mean_s") -> float | None:
        """How many times `of` is faster than `over` on `metric` (None if either is missing)."""
        if of not in self.results or over not in self.results:
            return None
        mine = getattr(self.results[of].summary, metric)
        theirs = getattr(self.results[over].summary, metric)
        return theirs / mine if mine > 0 else None


class ModelCache:
    """ModelCosts by (spec, profile, encoding), loaded on first use."""

    def __init__(self) -> None:
        self._costs: dict[tuple, ModelCosts] = {}

    def get(self, spec: ModelSpec, encoding: Encoding = DEFAULT_ENCODING) -> ModelCosts:
        key = (spec.spec, spec.profile, encoding)
        if key not in self._costs:
            log.info("loading model %s", spec.spec)
            self._costs[key] = load_costs(spec, encoding=encoding)
        costs = self._costs[key]
        return costs if costs.key == spec.key else _rekey(costs, spec.key)

    def for_scenario(self, scenario: Scenario) -> dict[str, ModelCosts]:
        """Every approach of the scenario is priced on these, under its one encoding."""
        return {key: self.get(spec, scenario.encoding) for key, spec in scenario.models.items()}


def _rekey(costs: ModelCosts, key: str) -> ModelCosts:
    return replace(costs, key=key)


def parse_approaches(text: str, scenario: Scenario | None = None) -> list[str]:
    """`all` (the scenario's `approaches`, else every one) or a comma list; fognet always
    runs first (every speed-up is relative to it)."""
    if text.strip() == "all":
        chosen = (scenario.approaches if scenario and scenario.approaches else APPROACHES)
        return ["fognet", *[n for n in chosen if n != "fognet"]]
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in APPROACHES]
    if unknown:
        from fognet.errors import ConfigError

        raise ConfigError(f"unknown approach {unknown[0]!r}; known: {', '.join(APPROACHES)}")
    return ["fognet", *[n for n in names if n != "fognet"]]


def compare(
    scenario: Scenario,
    approaches: Iterable[str] = APPROACHES,
    models: ModelCache | None = None,
    progress: Progress | None = None,
    admission: bool | None = None,
) -> Comparison:
    """Every approach on the scenario; `admission` overrides the scenario's (None: keep it)."""
    costs: Mapping[str, ModelCosts] = (models or ModelCache()).for_scenario(scenario)
    admit = scenario.admission if admission is None else admission
    out = Comparison(scenario, lower_bound_s=lower_bound(scenario, costs))
    for name in approaches:
        approach = Approach(name, scenario.rule, scenario.optimum_max_subtasks, admit)
        on_round = None if progress is None else (lambda r, name=name: progress(name, r))
        try:
            out.results[name] = Simulation(scenario, approach, costs, on_round).run()
        except NotApplicable as exc:
            out.skipped[name] = str(exc)
            log.info("%s skipped on %s: %s", name, scenario.name, exc)
    return out


def lower_bound(scenario: Scenario, costs: Mapping[str, ModelCosts]) -> float:
    """The rate-weighted mean over sources of each source's best plan latency on an idle
    cluster (no other source, no backlog), priced by the stream cost model: the planner's
    policies' plans (DINA-P, local, best node, Neurosurgeon), each as a game instance of
    that source alone on its planned sites. A floor no placement of those plans beats."""
    topology = build_topology(replace(scenario, workers=tuple(replace(w, backlog=0.0) for w in scenario.workers)))
    planning = Planning(topology, costs, PlannerConfig(**scenario.planner), hysteresis=False,
                        stream=Stream.of(scenario))
    planning.begin_round({})
    total = weight = 0.0
    priced: dict[tuple, float] = {}
    for source in topology.sources:
        key = planning.signature(source)
        if key not in priced:
            priced[key] = min(_alone(planning, source, planning.plan(source, kind))
                              for kind in ("dina", "local", "best-node", "neurosurgeon"))
        rate = topology.peers[source].fps
        total += rate * priced[key]
        weight += rate
    return total / weight if weight else math.nan


def _alone(planning: Planning, source: str, plan: Plan) -> float:
    """The stream model's latency of `plan` for `source` alone on its planned sites."""
    instance, ids, _ = build_instance(planning, {source: plan})
    sites = {sid: (source if peer == source else worker_id(peer))
             for stage, stage_ids in zip(plan.stages, ids[source], strict=True)
             for sid, peer in zip(stage_ids, stage.peers, strict=True)}
    return evaluate(instance, sites).task_latency[source]
