"""Instances of every queue and arrival, and the bounds on the state phase 1 leaves them
in: the start of the tests that walk phase 2's states."""

from __future__ import annotations

from fognet.matching.bounds import StepBounds
from fognet.matching.game import _deferred_acceptance, _ledger
from fognet.matching.instance import Instance
from fognet.matching.random_instance import random_instance
from fognet.matching.steps import Ledger


def varied(seed: int, sources: int, workers: int, subtasks: int, base: int) -> Instance:
    """Links dropped on odd seeds, Poisson arrivals on seeds 2 and 3 mod 4, FIFO on
    multiples of 3."""
    return random_instance(sources, workers, subtasks, base + seed,
                           drop_links=(0.0, 0.3)[seed % 2],
                           arrival=("fixed", "poisson")[seed % 4 >= 2],
                           queue=("sjf", "fifo")[seed % 3 == 0])


def after_phase1(inst: Instance) -> tuple[Ledger, StepBounds]:
    where, _ = _deferred_acceptance(inst)
    ledger = _ledger(inst, where)
    return ledger, StepBounds(inst, ledger)
