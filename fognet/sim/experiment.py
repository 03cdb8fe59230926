"""Every approach on a scenario (or on each point of a sweep), on the same frames and costs.

Models are loaded and priced once per (spec, profile) and shared by all approaches and
all sweep points. An approach that cannot run on a scenario (the exact optimum on a
large instance) is reported as skipped with the reason, not as a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from fognet.errors import NotApplicable
from fognet.placement.pricing import ModelCosts
from fognet.sim.approaches import Approach
from fognet.sim.costs import load_costs
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

    def speedup(self, over: str, of: str = "fognet", metric: str = "mean_s") -> float | None:
        """How many times `of` is faster than `over` on `metric` (None if either is missing)."""
        if of not in self.results or over not in self.results:
            return None
        mine = getattr(self.results[of].summary, metric)
        theirs = getattr(self.results[over].summary, metric)
        return theirs / mine if mine > 0 else None


class ModelCache:
    """ModelCosts by (spec, profile), loaded on first use."""

    def __init__(self) -> None:
        self._costs: dict[tuple, ModelCosts] = {}

    def get(self, spec: ModelSpec) -> ModelCosts:
        key = (spec.spec, spec.profile)
        if key not in self._costs:
            log.info("loading model %s", spec.spec)
            self._costs[key] = load_costs(spec)
        costs = self._costs[key]
        return costs if costs.key == spec.key else _rekey(costs, spec.key)

    def for_scenario(self, scenario: Scenario) -> dict[str, ModelCosts]:
        return {key: self.get(spec) for key, spec in scenario.models.items()}


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
) -> Comparison:
    costs: Mapping[str, ModelCosts] = (models or ModelCache()).for_scenario(scenario)
    out = Comparison(scenario)
    for name in approaches:
        approach = Approach(name, scenario.rule, scenario.optimum_max_subtasks, scenario.baseline_quotas)
        on_round = None if progress is None else (lambda r, name=name: progress(name, r))
        try:
            out.results[name] = Simulation(scenario, approach, costs, on_round).run()
        except NotApplicable as exc:
            out.skipped[name] = str(exc)
            log.info("%s skipped on %s: %s", name, scenario.name, exc)
    return out
