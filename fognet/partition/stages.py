"""A plan as values: the stages a frame goes through and who runs each.

These cross every module line (planner -> matching -> requester -> executor -> simulator),
so they are frozen and serialise to plain JSON. A stage is a contiguous range of compute
nodes [start, stop) in `ModelGraph.nodes` order, run either whole on one peer or spatially
split: then `rows[i]` is the range of output rows (along H of the stage's outputs) that
`peers[i]` computes, and `fognet.partition.spatial_slices` derives each slice's input rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from fognet.errors import PlanError


@dataclass(frozen=True)
class Stage:
    start: int
    stop: int
    peers: tuple[str, ...]
    rows: tuple[tuple[int, int], ...] | None = None  # spatial stages only, one range per peer
    predicted_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise PlanError(f"stage node range [{self.start}, {self.stop}) is empty or negative")
        if not self.peers:
            raise PlanError(f"stage [{self.start}, {self.stop}) has no peer")
        if self.rows is not None and len(self.rows) != len(self.peers):
            raise PlanError(f"stage [{self.start}, {self.stop}) has {len(self.rows)} row ranges for {len(self.peers)} peers")
        if self.rows is None and len(self.peers) != 1:
            raise PlanError(f"whole stage [{self.start}, {self.stop}) names {len(self.peers)} peers")

    @property
    def spatial(self) -> bool:
        return self.rows is not None

    @property
    def peer(self) -> str:
        """The single peer of a whole stage."""
        return self.peers[0]


@dataclass(frozen=True)
class Plan:
    flow: ClassVar[str] = "star"  # the source sends each stage its input and merges (chain: partition.throughput)
    model_sha256: str
    source: str
    stages: tuple[Stage, ...]
    predicted_s: float = 0.0
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.stages:
            raise PlanError("a plan needs at least one stage")
        for a, b in zip(self.stages, self.stages[1:], strict=False):
            if a.stop != b.start:
                raise PlanError(f"stages [{a.start},{a.stop}) and [{b.start},{b.stop}) are not consecutive")
        if self.stages[0].start != 0:
            raise PlanError("the first stage must start at node 0")

    @property
    def peers(self) -> set[str]:
        return {p for stage in self.stages for p in stage.peers}

    def placement(self, *, anonymous: bool = False) -> tuple:
        """Where each stage runs, without the predictions, as a hashable key: two plans that
        run alike compare equal. `anonymous` writes the source as "", so that sources of
        one kind facing the same cluster share a cache entry."""
        def who(peers: tuple[str, ...]) -> tuple[str, ...]:
            return tuple("" if p == self.source else p for p in peers) if anonymous else peers
        return tuple((s.start, s.stop, who(s.peers), s.rows) for s in self.stages)

    def cuts(self) -> tuple:
        """The model's pieces (node ranges and slice rows), wherever they run."""
        return tuple((s.start, s.stop, s.rows) for s in self.stages)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["input_shapes"] = {k: list(v) for k, v in self.input_shapes.items()}
        for stage in data["stages"]:
            stage["peers"] = list(stage["peers"])
            if stage["rows"] is not None:
                stage["rows"] = [list(r) for r in stage["rows"]]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        try:
            stages = tuple(
                Stage(
                    start=int(s["start"]),
                    stop=int(s["stop"]),
                    peers=tuple(s["peers"]),
                    rows=None if s.get("rows") is None else tuple(tuple(r) for r in s["rows"]),
                    predicted_s=float(s.get("predicted_s", 0.0)),
                )
                for s in data["stages"]
            )
            return cls(
                model_sha256=str(data["model_sha256"]),
                source=str(data["source"]),
                stages=stages,
                predicted_s=float(data.get("predicted_s", 0.0)),
                input_shapes={k: tuple(v) for k, v in data.get("input_shapes", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"malformed plan: {exc}") from exc
