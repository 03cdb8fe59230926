"""Surviving faults and overload on the source side: bans, deadlines, retries, the window.

DESIGN.md, "Faults": a frame in flight on a peer that dies, stalls or stops answering is
replayed on the survivors; no frame is lost. The requester (`fognet.infer.requester`)
runs each frame in a loop: when a subtask fails it asks `Faults.after` what to do, takes
the plan current then (the session re-plans without the banned peer, and a matched
placement re-matches), and resumes the frame at the first stage of that plan that starts
where the finished stages ended (every tensor crossing that cut is already at the source),
else from its first stage. Outputs are the same whichever peers ran them, and are still
verified.

The parts, each small and driven by the time it is given:

- `Bans` are what Petals' clients do to a server that failed a request (hivemind's
  `Blacklist` under `RemoteSequenceManager.on_request_failure`): the peer is left out of
  planning for `base_s`, doubled for each failure in a row up to `max_s`; a success
  resets its count. A ban never removes the last worker (`usable`): a cluster that has
  lost every peer at once still gets tried rather than refused.
- `Deadlines`: a subtask's timeout follows what that peer has taken for that subtask
  (a decaying maximum of its round trips, times `factor`, never under `floor_s`, never
  over the session's timeout). A stalled peer (SIGSTOP, a hung thread) is therefore
  noticed in a few of its usual round trips, not after the fixed timeout; a subtask never
  seen on a peer (a new range, a model fetch, a session build) gets the full timeout.
- `Window`: the frames in flight. It halves when a worker answers BUSY and grows back by
  one per window of successes (AIMD), so a source that asks more than the cluster can
  serve slows to what it serves, and its memory stays bounded by the window.
- `stopgap`: a re-plan (the DP, a round of the game) takes seconds on a small machine;
  until it is done, frames run on the current plan with each lost peer's subtasks moved
  to the fastest survivors (one not in the stage yet first, so a spatial stage keeps
  its parallel slices), so a fault costs a frame its timeout, not the re-plan.
- `Faults.after`: a BUSY answer makes the frame wait (exponential backoff, not a ban: the
  peer is alive, just full) and does not use up a try; `busy_ban_after` BUSY answers in a
  row from one peer ban it as a fault would (it stays full: route elsewhere), still
  without using a try; any other fault bans the peer and uses one try of `tries`; after the last, the frame fails with `PeerUnreachable`
  naming every attempt as it happened (peer, subtask, elapsed time).

API
    Bans(base_s=5.0, backoff=2.0, max_s=60.0)
        .fail(peer, now) -> float (ban seconds); .succeed(peer); .banned(now) -> frozenset
        .usable(peers, now) -> set       peers minus the banned ones, unless none would be left
    Deadlines(floor_s=1.0, factor=4.0, decay=0.9)
        .timeout(peer, key, ceiling_s) -> float;  .observe(peer, key, rtt_s)
    Window(limit)   await .acquire(); .release(); .shrink(); .grow(); .limit
    stopgap(plan, state) -> Plan | None   `plan` without the peers `state` lacks (None: no survivor)
    Faults(bans=None, deadlines=None, tries=4, busy_wait_s=(0.02, 0.5), busy_budget_s=60.0,
           busy_ban_after=6)
        .succeeded(peer, key, rtt_s)     a subtask answered: its deadline learns
        .frame_done()                    a frame finished: the window grows back
        await .after(failure, attempts, now, waited_s) -> None   waits or bans; PeerUnreachable when out of tries
        .window: Window | None           set by the requester for the run in progress
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field, replace

from fognet.errors import PeerUnreachable, SubtaskFailed
from fognet.partition.cost import ClusterState
from fognet.partition.stages import Plan, Stage

log = logging.getLogger(__name__)

BAN_BASE_S = 5.0  # a failed peer sits out this long (Petals' clients: 15 s); doubled per failure in a row
BAN_MAX_S = 60.0
DEADLINE_FACTOR = 4.0  # a subtask is late after this many of its peer's slow round trips


class Bans:
    """Which peers a source leaves out of planning for now (see the module docstring)."""

    def __init__(self, base_s: float = BAN_BASE_S, backoff: float = 2.0, max_s: float = BAN_MAX_S) -> None:
        self.base_s, self.backoff, self.max_s = base_s, backoff, max_s
        self._until: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    def fail(self, peer: str, now: float) -> float:
        """Ban `peer` from `now`; the seconds of the ban. Failures while it is banned are
        the frames that were in flight on it when it failed: one fault, not several."""
        held = self._until.get(peer, now)
        if held > now:
            return held - now
        count = self._failures[peer] = self._failures.get(peer, 0) + 1
        seconds = min(self.max_s, self.base_s * self.backoff ** (count - 1))
        self._until[peer] = now + seconds
        return seconds

    def succeed(self, peer: str) -> None:
        self._failures.pop(peer, None)

    def banned(self, now: float) -> frozenset[str]:
        return frozenset(p for p, until in self._until.items() if until > now)

    def usable(self, peers: Iterable[str], now: float) -> set[str]:
        peers = set(peers)
        left = peers - self.banned(now)
        return left or peers


@dataclass
class Deadlines:
    """Per (peer, subtask) timeouts that follow what the peer has taken (module docstring)."""

    floor_s: float = 1.0
    factor: float = DEADLINE_FACTOR
    decay: float = 0.9  # per round trip observed: how fast an old slow one is forgotten
    _slow: dict[tuple[str, Hashable], float] = field(default_factory=dict)

    def timeout(self, peer: str, key: Hashable, ceiling_s: float) -> float:
        slow = self._slow.get((peer, key))
        if slow is None:
            return ceiling_s
        return min(ceiling_s, max(self.floor_s, self.factor * slow))

    def observe(self, peer: str, key: Hashable, rtt_s: float) -> None:
        held = self._slow.get((peer, key))
        self._slow[(peer, key)] = rtt_s if held is None else max(rtt_s, held * self.decay)


class Window:
    """Frames in flight: at most `limit`, which BUSY answers shrink and successes grow."""

    def __init__(self, limit: int) -> None:
        self.max = self.limit = max(1, limit)
        self._used = 0
        self._credit = 0.0
        self._waiters: list[asyncio.Future] = []

    async def acquire(self) -> None:
        while self._used >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self._used += 1

    def release(self) -> None:
        self._used -= 1
        self._wake()

    def shrink(self) -> None:
        self.limit, self._credit = max(1, self.limit // 2), 0.0

    def grow(self) -> None:
        if self.limit < self.max:
            self._credit += 1.0 / self.limit
            if self._credit >= 1.0:
                self.limit, self._credit = self.limit + 1, 0.0
                self._wake()

    def _wake(self) -> None:
        """Let every waiter look again (each re-checks the limit)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def stopgap(plan: Plan, state: ClusterState) -> Plan | None:
    """`plan` with every subtask of a peer that `state` lacks moved to a survivor (a peer
    of `state` that takes work, fastest first), or None when there is none. Pure; the
    plan's prediction is kept (it is a stand-in until the re-plan, never priced)."""
    survivors = sorted((p for p in state.peers.values() if p.quota > 0),
                       key=lambda p: (-p.speed, p.id))
    names = [p.id for p in survivors]
    if not names:
        return None
    stages = []
    for stage in plan.stages:
        peers = list(stage.peers)
        for i, peer in enumerate(peers):
            if peer not in state.peers:
                fresh = [n for n in names if n not in peers]
                peers[i] = fresh[0] if fresh else names[i % len(names)]
        stages.append(Stage(stage.start, stage.stop, tuple(peers), stage.rows))
    return replace(plan, stages=tuple(stages))


class Faults:
    """What a source does when a subtask fails; shared by a session's requesters."""

    def __init__(self, bans: Bans | None = None, deadlines: Deadlines | None = None, *, tries: int = 4,
                 busy_wait_s: tuple[float, float] = (0.02, 0.5), busy_budget_s: float = 60.0,
                 busy_ban_after: int = 6) -> None:
        self.bans = bans or Bans()
        self.deadlines = deadlines or Deadlines()
        self.tries = max(1, tries)
        self.busy_wait_s = busy_wait_s
        self.busy_budget_s = busy_budget_s
        self.busy_ban_after = busy_ban_after
        self.window: Window | None = None
        self.replayed = 0  # frames resumed or restarted after a fault (not counting BUSY waits)
        self.busy = 0  # BUSY answers seen

    def succeeded(self, peer: str, key: Hashable, rtt_s: float) -> None:
        """A subtask answered: the peer's failures are forgiven, its deadline learns."""
        self.bans.succeed(peer)
        self.deadlines.observe(peer, key, rtt_s)

    def frame_done(self) -> None:
        """A frame finished: the window grows back (by one per window of frames)."""
        if self.window is not None:
            self.window.grow()

    async def after(self, failure: SubtaskFailed, attempts: list[SubtaskFailed], now: float,
                    waited_s: float) -> None:
        """Wait or ban after `failure` (already appended to `attempts`); PeerUnreachable
        once the frame is out of tries (or has waited `busy_budget_s` on BUSY peers)."""
        if failure.busy:
            self.busy += 1
            if self.window is not None:
                self.window.shrink()
            if waited_s > self.busy_budget_s:
                raise _exhausted(attempts, f"every peer stayed busy for {waited_s:.1f} s")
            in_row = _busy_in_row(attempts, failure.peer)
            if in_row >= self.busy_ban_after:  # it stays full: go elsewhere for a while
                seconds = self.bans.fail(failure.peer, now)
                self.replayed += 1
                log.info("%s is still busy after %d tries: left out for %.0f s", failure.peer, in_row, seconds)
                return
            low, high = self.busy_wait_s
            await asyncio.sleep(random.uniform(0.5, 1.0) * min(high, low * 2 ** (in_row - 1)))
            return
        faults = [a for a in attempts if not a.busy]
        if len(faults) >= self.tries:
            raise _exhausted(attempts, f"{len(faults)} tries failed")
        seconds = self.bans.fail(failure.peer, now)
        self.replayed += 1
        log.warning("replaying a frame without %s (left out for %.0f s): %s", failure.peer, seconds, failure)


def _busy_in_row(attempts: list[SubtaskFailed], peer: str) -> int:
    """How many of the last attempts in a row were BUSY answers from `peer`."""
    count = 0
    for a in reversed(attempts):
        if not (a.busy and a.peer == peer):
            break
        count += 1
    return count


def _exhausted(attempts: list[SubtaskFailed], why: str) -> PeerUnreachable:
    shown = [str(a) for a in attempts if not a.busy][-4:] or [str(attempts[-1])]
    return PeerUnreachable(f"{why}: " + "; ".join(shown))
