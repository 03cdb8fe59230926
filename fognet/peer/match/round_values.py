"""What a peer's matching round ended with.

The values a round is played on (figures, game ids, the instance they describe) are the
game's, shared with the simulator: `fognet.placement.instance`.

    RoundResult                                     what a peer's round ended with
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fognet.matching.instance import PeerId, Subtask, SubtaskId


@dataclass(frozen=True)
class RoundResult:
    """How a round ended on one peer. Counts are of messages this peer sent, by wire type."""

    round: int
    peer: str
    assignment: dict[SubtaskId, PeerId]  # this peer's subtasks -> site (game id)
    phase1: dict[SubtaskId, PeerId]  # the same after phase 1 (reconciled with HOSTED)
    hosted: tuple[Subtask, ...]  # what this peer's worker role hosts at the end
    sent: dict[str, int]
    completed: bool  # False: cut by the deadline, the last valid matching was kept
    dead: tuple[str, ...]  # peers found dead during the round
    elapsed_s: float
    steps: int = 0  # phase-2 steps this peer asked about, as initiator
    commits: int = 0
    sources: tuple[str, ...] = ()  # the sources that played the round (alive at its end)
    left_out: bool = False  # my subtasks came after the round froze: they go to the next
    merged_into: int | None = None  # the round ended in this higher one, opened at once with it
    opened_s: float = 0.0  # when my view was built (phase 1 began here), s from the round's start
    phase2_s: float = 0.0  # when phase 2 began here (0: it never did)
    extra: dict = field(default_factory=dict)
