"""The matching protocol's messages, one frozen value each, read top to bottom.

Every message names its `sender` (a peer id). Times are seconds; work is reference-seconds.
Subtasks travel as `instance.Subtask` values (id, source, work, bytes), so a receiver can
price them with `cost` from its view of the cluster (speeds, backlogs, quotas, links:
the public state peers share on their heartbeat).

Phase 1, deferred acceptance
    Propose     source -> worker: "hold my subtask" (the worker's next best it knows of).
    Accept      worker -> source: held for now (may still be bumped by less work).
    Reject      worker -> source: not held, with a reason; the source proposes further down.
    RoundDone   driver -> worker (phase 1): proposals are over. A worker then tells every
                source what it hosts: RoundDone(phase=1, hosted=...). phase 2: the game is
                over, sent by the source that sees a full idle cycle, to everyone.
Phase 2, approved steps (one initiator at a time, holding the Turn)
    Turn        source -> next source: your turn to try steps; `idle` counts the sources in
                a row that found no approvable step (== number of sources ends the game).
    SwapAsk     initiator -> each party a step touches: "what does this step do to you?"
    SwapVote    party -> initiator: change of the party's sites' total, per source, or no.
    SwapCommit  initiator -> everyone: the step is approved; apply it (and update views).
    SwapAbort   initiator -> the parties asked: the step is dropped; release the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from fognet.matching.instance import PeerId, Subtask, SubtaskId


class Reason(Enum):
    """Why a party says no. Names and values are the wire's (fognet.net.wire.Reason), so a
    reason crosses the wire by name, with no table to keep in step."""

    QUOTA_FULL = "QUOTA_FULL"  # the worker hosts its quota of subtasks with less work
    WORSE_THAN_HELD = "WORSE_THAN_HELD"  # bumped: a proposal with less work arrived
    OUT_OF_REACH = "OUT_OF_REACH"  # no link between the source and this worker
    NOT_YOURS = "NOT_YOURS"  # a subtask cannot run on another source's own device
    STALE_STEP = "STALE_STEP"  # the step assumes a placement that is no longer true
    BUSY = "BUSY"  # the party is locked by another step in progress
    STALE_ROUND = "STALE_ROUND"  # the message belongs to an earlier round


@dataclass(frozen=True)
class Change:
    """One subtask moving from one site to another (a site is a worker or a source id)."""

    subtask: Subtask
    frm: PeerId
    to: PeerId


@dataclass(frozen=True)
class Propose:
    sender: PeerId
    subtask: Subtask
    round: int = 0


@dataclass(frozen=True)
class Accept:
    sender: PeerId
    subtask: SubtaskId
    round: int = 0


@dataclass(frozen=True)
class Reject:
    sender: PeerId
    subtask: SubtaskId
    reason: Reason
    round: int = 0


@dataclass(frozen=True)
class RoundDone:
    sender: PeerId
    phase: int  # 1: proposals over (hosted: what the sender hosts); 2: game over
    hosted: tuple[Subtask, ...] = ()
    round: int = 0


@dataclass(frozen=True)
class Turn:
    sender: PeerId
    idle: int  # sources in a row that found no approvable step
    round: int = 0


@dataclass(frozen=True)
class SwapAsk:
    sender: PeerId
    step: int  # unique per initiator
    kind: str  # "move" | "swap" | "displace"
    changes: tuple[Change, ...]
    round: int = 0


@dataclass(frozen=True)
class SwapVote:
    sender: PeerId
    step: int
    ok: bool  # False: the party refuses outright (reason says why)
    delta: float = 0.0  # s, change of the total latency on the party's sites
    by_source: tuple[tuple[PeerId, float], ...] = ()  # s, the same split by source
    reason: Reason | None = None
    round: int = 0


@dataclass(frozen=True)
class SwapCommit:
    sender: PeerId
    step: int
    kind: str
    changes: tuple[Change, ...]
    round: int = 0


@dataclass(frozen=True)
class SwapAbort:
    sender: PeerId
    step: int
    round: int = 0


Message = Propose | Accept | Reject | RoundDone | Turn | SwapAsk | SwapVote | SwapCommit | SwapAbort


@dataclass(frozen=True)
class Outgoing:
    """A message an agent wants sent, and to whom; the driver does the sending."""

    to: PeerId
    message: Message
