"""Feltin et al.'s acceleration region as a verdict the planner reports: does partitioning pay?

A chain beats one device only when both hold: the cut tensors move faster than the single
device computes the whole model (else the busiest link sets a period above it), and the
compute splits into pieces each shorter than that (else the busiest stage does). The
verdict names which condition fails, with the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fognet.partition.throughput import ChainPlan, ChainProblem, single_device


@dataclass(frozen=True)
class Acceleration:
    """Feltin's acceleration region for one model on one cluster: does partitioning pay?"""

    pays: bool
    single_period: float  # the best one-device period (inf: fits on no single device)
    chain_period: float
    transfers_fast: bool  # the busiest cut transfer is shorter than the one-device compute
    balanced: bool  # the busiest stage's compute is shorter than the one-device compute
    reason: str


def acceleration(problem: ChainProblem, plan: ChainPlan) -> Acceleration:
    """Whether `plan` beats the best single device, and why (the region's two conditions)."""
    single = single_device(problem)
    one = single.period if single is not None else math.inf
    fast = plan.transfer_bound < one
    balanced = plan.compute_bound < one
    pays = plan.period < one and len(plan.stages) > 1
    if single is None:
        reason = "the model fits on no single device: only a partitioned chain can run it"
    elif pays:
        reason = (f"pays: cut tensors move in {plan.transfer_bound * 1e3:.3g} ms and the busiest stage computes in "
                  f"{plan.compute_bound * 1e3:.3g} ms, both under one device's {one * 1e3:.3g} ms")
    else:
        why = []
        if not fast:
            why.append(f"a cut transfer takes {plan.transfer_bound * 1e3:.3g} ms")
        if not balanced:
            why.append(f"the busiest stage computes {plan.compute_bound * 1e3:.3g} ms")
        if not why:
            why.append("the best chain is the single device itself")
        reason = f"does not pay: {' and '.join(why)}, not under one device's {one * 1e3:.3g} ms"
    return Acceleration(pays, one, plan.period, fast, balanced, reason)
