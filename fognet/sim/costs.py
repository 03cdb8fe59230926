"""A model's costs as the planner sees them: graph, per-node reference seconds, stage bytes.

Loaded once per model key and shared by every approach and every round of a run, so
all approaches are priced on exactly the same numbers. Reference times come from
`estimate_profile` (FLOPs and bytes, no measurement, hence deterministic) or from a
profile JSON the scenario names (measured with `fognet profile`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fognet.errors import ConfigError, FognetError
from fognet.model.graph import ModelGraph, analyse
from fognet.partition.encoding import DEFAULT_ENCODING, Encoding
from fognet.partition.plan import SpatialPricing
from fognet.partition.stagebytes import StageBytes, stage_bytes
from fognet.sim.scenario import ModelSpec


@dataclass(frozen=True)
class ModelCosts:
    key: str
    sha256: str
    graph: ModelGraph
    times: tuple[float, ...]  # reference seconds per compute node, in graph order
    bytes: StageBytes
    spatial: SpatialPricing | None
    cumwork: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cumwork", np.concatenate([[0.0], np.cumsum(self.times)]))

    def work(self, start: int, stop: int) -> float:
        return float(self.cumwork[stop] - self.cumwork[start])

    @property
    def total_s(self) -> float:
        return float(sum(self.times))


def load_costs(spec: ModelSpec, seed: int = 0, encoding: Encoding = DEFAULT_ENCODING) -> ModelCosts:
    """Load and analyse a model and price its nodes, its bytes as `encoding` sends them; a
    missing file or bad profile is a ConfigError."""
    from fognet.model.load import load_model

    try:
        loaded = load_model(spec.spec, seed=seed)
    except FognetError as exc:
        raise ConfigError(f"model {spec.key!r}: {exc}") from exc
    graph = analyse(loaded.model)
    times = _profile_times(graph, spec.profile) if spec.profile else _estimated_times(loaded, graph)
    return ModelCosts(spec.key, loaded.sha256, graph, tuple(times), stage_bytes(graph, encoding),
                      spatial_pricing(graph, encoding))


def _estimated_times(loaded, graph: ModelGraph) -> list[float]:
    from fognet.model.profile import estimate_profile

    return [float(t) for t in estimate_profile(loaded).times_for(graph)]


def _profile_times(graph: ModelGraph, path: Path) -> list[float]:
    from fognet.model.profile import load_profile

    try:
        return [float(t) for t in load_profile(path).times_for(graph)]
    except FognetError as exc:
        raise ConfigError(f"profile {path}: {exc}") from exc


def spatial_pricing(graph: ModelGraph, encoding: Encoding = DEFAULT_ENCODING) -> SpatialPricing:
    """The planner's view of the model's sliceable runs (the real halo walk), memoised."""
    from fognet.partition.spatial_cost import RunPricing

    return MemoPricing(RunPricing(graph, encoding))


class MemoPricing(SpatialPricing):
    """Remembers every slice priced: the halo walk is the planner's hot spot, and a run
    of many rounds asks for the same (range, rows) again and again."""

    def __init__(self, inner: SpatialPricing) -> None:
        self.inner = inner
        self._ranges = list(inner.ranges())
        self._rows: dict[tuple[int, int], int] = {}
        self._bytes: dict[tuple, tuple[int, int]] = {}
        self._work: dict[tuple, float] = {}

    def ranges(self) -> list[tuple[int, int]]:
        return self._ranges

    def out_rows(self, start: int, stop: int) -> int:
        key = (start, stop)
        if key not in self._rows:
            self._rows[key] = self.inner.out_rows(start, stop)
        return self._rows[key]

    def slice_bytes(self, start: int, stop: int, rows: tuple[int, int]) -> tuple[int, int]:
        key = (start, stop, tuple(rows))
        if key not in self._bytes:
            self._bytes[key] = self.inner.slice_bytes(start, stop, rows)
        return self._bytes[key]

    def slice_work(self, start: int, stop: int, rows: tuple[int, int], work: float) -> float:
        key = (start, stop, tuple(rows), work)
        if key not in self._work:
            self._work[key] = self.inner.slice_work(start, stop, rows, work)
        return self._work[key]
