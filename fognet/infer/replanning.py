"""A source's current plan, re-planned as the cluster state moves (step 2-3 of `session`).

The plan a frame takes is the one current when it starts. When a peer joins or leaves, or
a speed, backlog or bandwidth moves by more than `replan_threshold`, the source re-plans
off the event loop (at most every `replan_interval_s` unless a peer of the plan left; the
current plan is re-priced in between) and switches only if the new plan is predicted
better by `replan_margin` (`fognet.partition.replan`), or at once if a round of the game
made it (`placement.Matched.settled`: settled with the other sources; a failed round's
fallback is not, and takes the margin like any plan). A re-price also weighs the plans the
source ran before, and running alone, when its placement allows (`Placement.revisit`;
cheap to price): the interval holds the DP back, but must not hold the source on a plan its
frames just found clearly worse than one it already knows (it tried a forgotten link again, `calibration`, and the link is still bad: it goes
back at once rather than a DP interval later). When a peer of the current plan is
gone (left, dead, or banned after a fault), the re-plan runs in the background and frames
meanwhile take the plan with that peer's subtasks on survivors (`replay.stopgap`): a
re-plan (the DP, a round of the game) takes seconds on a small machine. Every placement is priced on the
session's one `ModelCosts`; a placement that plays the game settles its plan in `match`.

    Plans(session, placement)      await plans() -> Plan  (a requester's PlanSource)
        .history, .basis, .replans;  await .recalibrate();  await .settle()
    Replan(reason, switched, current_s, candidate_s)
    next_step(planned, priced, state, since_planned_s, threshold, interval_s) -> ("replan"|"reprice", why) | None
    choose(current, candidates, margin) -> Plan
These two and `replan.known_plans` are the rule itself, pure, so a replay (`fognet.experiment.partnner`)
runs the same rule frame by frame.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fognet.errors import FognetError, PeerUnreachable, PlanError
from fognet.infer.placement import Placement, reprice
from fognet.infer.replay import stopgap
from fognet.partition.cost import ClusterState
from fognet.partition.replan import should_switch, state_change
from fognet.partition.stages import Plan

if TYPE_CHECKING:
    from fognet.infer.session import Session

log = logging.getLogger(__name__)


def next_step(planned: ClusterState | None, priced: ClusterState | None, state: ClusterState,
              since_planned_s: float, threshold: float, interval_s: float) -> tuple[str, str] | None:
    """What the state calls for: a DP re-plan when it moved past `threshold` since the last
    one and `interval_s` has passed, else a re-price when it moved since the current plan was
    priced, else nothing (with why)."""
    change = state_change(planned, state, threshold) if planned is not None else None
    if change is not None and since_planned_s >= interval_s:
        return "replan", str(change)
    moved = state_change(priced, state, threshold) if priced is not None else None
    return ("reprice", str(moved)) if moved is not None else None


def choose(current: Plan | None, candidates: Sequence[Plan], margin: float) -> Plan:
    """All priced under one state: the best candidate if it beats `current` by `margin`
    (`replan.should_switch`), else `current` (the best candidate if there is none)."""
    best = min(candidates, key=lambda p: p.predicted_s)
    return best if current is None or should_switch(current, best, margin) else current


@dataclass(frozen=True)
class Replan:
    """One re-plan: why, whether the new plan was taken, both plans' predictions (seconds)
    under the state that triggered it (`current_s` is inf when the current plan lost a peer)."""

    reason: str
    switched: bool
    current_s: float
    candidate_s: float



class Plans:
    """The current plan; re-planned when the calibrated state moves (module docstring, 2)."""

    def __init__(self, session: Session, placement: Placement):
        self.session, self.placement = session, placement
        self.history: list[Plan] = []
        self.basis: list[str] = []
        self.replans: list[Replan] = []
        self._planned: ClusterState | None = None  # the state the last DP ran under
        self._priced: ClusterState | None = None  # the state the current plan is priced under
        self._planned_at = -math.inf  # loop time of the last DP run
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def __call__(self) -> Plan:
        state = self.session.state()
        lost = bool(self.history) and any(p not in state.peers for p in self.history[-1].peers)
        if lost and (patched := self._stopgap(state)) is not None:
            return patched
        if not self.history or lost:
            async with self._lock:  # frames starting together share one re-plan
                if not self.history or any(p not in state.peers for p in self.history[-1].peers):
                    await self._replan(state, self._reason(state) or "no plan yet")
            return self.history[-1]
        if self._task is None or self._task.done():
            # Frames go on with the current plan meanwhile; new frames take the new one.
            options = self.session.options
            since = asyncio.get_running_loop().time() - self._planned_at
            step = next_step(self._planned, self._priced, state, since, options.replan_threshold,
                             options.replan_interval_s)
            if step is not None and step[0] == "replan":
                self._start(self._replan_quietly(state, step[1]))
            elif step is not None:
                self._start(self._reprice(state, step[1]))
        return self.history[-1]

    def _stopgap(self, state: ClusterState) -> Plan | None:
        """A peer of the plan is gone (left, dead or banned): re-plan in the background and,
        meanwhile, run frames on the plan with its subtasks on survivors (`replay.stopgap`)."""
        if self._task is None or self._task.done():
            self._start(self._replan_quietly(state, self._reason(state) or "a peer of the plan left"))
        return stopgap(self.history[-1], state)

    def _start(self, work) -> None:
        """Run a re-plan or re-price in the background. Only `settle` awaits it, and it
        ignores the outcome, so a failure is logged here rather than lost."""
        self._task = asyncio.create_task(work)
        self._task.add_done_callback(_log_failure)

    async def _reprice(self, state: ClusterState, reason: str) -> None:
        """Between DP runs: the current plan's prediction under the newer state (cheap), and
        the plans run before it, one of which is taken if clearly better (module doc)."""
        s = self.session
        current = self.history[-1]
        try:
            plan = await asyncio.to_thread(reprice, s.costs, state, s.peer.name, current)
        except PlanError:
            return  # a peer of the plan left: the next frame re-plans
        known = []
        for old in self.placement.revisit(self.history[:-1], current):
            try:
                known.append(await asyncio.to_thread(reprice, s.costs, state, s.peer.name, old))
            except PlanError:
                continue  # one of its peers is gone
        if self.history[-1] is not current:  # a re-plan replaced it meanwhile
            return
        taken = choose(plan, known, s.options.replan_margin) if known else plan
        self._priced = state
        if taken is plan:
            self.history[-1] = plan
            log.info("re-priced the current plan (%s): %.1f ms -> %.1f ms", reason,
                     current.predicted_s * 1e3, plan.predicted_s * 1e3)
            return
        self.replans.append(Replan(f"re-priced ({reason})", True, plan.predicted_s, taken.predicted_s))
        self.history.append(taken)
        self.basis.append("calibrated" if s.calibration.samples else "configured")
        log.info("re-priced (%s): back to an earlier plan, predicted %.1f ms -> %.1f ms; %s", reason,
                 plan.predicted_s * 1e3, taken.predicted_s * 1e3, _stages(taken))

    def _reason(self, state: ClusterState) -> str | None:
        return None if self._planned is None else str(state_change(self._planned, state, 0.0) or "")

    async def recalibrate(self) -> None:
        """Re-plan now under the calibrated state; its plan (or the current one re-priced)
        becomes the first plan of the timed frames."""
        await self.settle()
        state = self.session.state()
        async with self._lock:
            await self._replan(state, "calibrated after warm-up", reset=True)

    async def settle(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _replan_quietly(self, state: ClusterState, reason: str) -> None:
        try:
            async with self._lock:
                await self._replan(state, reason)
        except FognetError as exc:  # no plan under this state: keep the current one
            log.warning("re-plan (%s) failed, keeping the current plan: %s", reason, exc)

    async def _replan(self, state: ClusterState, reason: str, reset: bool = False) -> None:
        s = self.session
        if not state.peers.keys() - {s.peer.name} and not s.identity.is_device:
            raise PeerUnreachable("no live peer takes work; every worker has left")
        shapes = {t.name: t.shape for t in s.graph.inputs}
        # Planning can take a while on a big model; heartbeats must go on meanwhile.
        plan = await asyncio.to_thread(self.placement.place, s.costs, state, s.peer.name, shapes)
        outcome = await self.placement.match(s.peer, s.costs, state, plan)  # the game's round, if it plays one
        plan = outcome.plan
        basis = "calibrated" if s.calibration.samples else "configured"
        current = None
        if self.history:
            try:
                current = reprice(s.costs, state, s.peer.name, self.history[-1])
            except PlanError:
                current = None  # it uses a peer that is gone
        # a plan a round made is not left unilaterally (`Matched.settled`)
        switched = outcome.settled or choose(current, [plan], s.options.replan_margin) is plan
        self._planned = self._priced = state
        self._planned_at = asyncio.get_running_loop().time()
        if not self.history:
            self.history.append(plan)
            self.basis.append(basis)
            log.info("plan (%s state): %s", basis, _stages(plan))
            return
        record = Replan(reason, switched, current.predicted_s if current else float("inf"), plan.predicted_s)
        log.info("re-plan (%s): %s, predicted %.1f ms -> %.1f ms; %s", reason,
                 "switched" if switched else "kept the current plan", record.current_s * 1e3,
                 record.candidate_s * 1e3, _stages(plan if switched else current))
        if reset:
            self.history, self.basis = [plan if switched else current], [basis]
            return
        self.replans.append(record)
        if switched:
            self.history.append(plan)
            self.basis.append(basis)
        else:  # the same stages, predicted under the newer state from now on
            self.history[-1], self.basis[-1] = current, basis


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("background re-plan failed: %r", exc, exc_info=exc)


def _stages(plan: Plan) -> list:
    return [(st.start, st.stop, st.peers) for st in plan.stages]
