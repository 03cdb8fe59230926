"""A scenario's model priced for the simulator (`placement.pricing.ModelCosts`).

Loaded once per model key and shared by every approach and every round of a run, so
all approaches are priced on exactly the same numbers. Reference times come from
`estimate_profile` (FLOPs and bytes, no measurement, hence deterministic) or from a
profile JSON the scenario names (measured with `fognet profile`).
"""

from __future__ import annotations

from pathlib import Path

from fognet.errors import ConfigError, FognetError
from fognet.model.graph import ModelGraph, analyse
from fognet.placement.pricing import ModelCosts, model_costs
from fognet.sim.scenario import ModelSpec


def load_costs(spec: ModelSpec, seed: int = 0) -> ModelCosts:
    """Load and analyse a model and price its nodes; a missing file or bad profile is a ConfigError."""
    from fognet.model.load import load_model

    try:
        loaded = load_model(spec.spec, seed=seed)
    except FognetError as exc:
        raise ConfigError(f"model {spec.key!r}: {exc}") from exc
    graph = analyse(loaded.model)
    times = _profile_times(graph, spec.profile) if spec.profile else _estimated_times(loaded, graph)
    return model_costs(graph, times, loaded.sha256, spec.key)


def _estimated_times(loaded, graph: ModelGraph) -> list[float]:
    from fognet.model.profile import estimate_profile

    return [float(t) for t in estimate_profile(loaded).times_for(graph)]


def _profile_times(graph: ModelGraph, path: Path) -> list[float]:
    from fognet.model.profile import load_profile

    try:
        return [float(t) for t in load_profile(path).times_for(graph)]
    except FognetError as exc:
        raise ConfigError(f"profile {path}: {exc}") from exc
