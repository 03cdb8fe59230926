"""The live round's rules as pure functions: what a peer decides from what it knows, and when.

Time is an argument; nothing here sends, sleeps or reads a clock. The I/O shell
(`fognet/peer/match/`) and the in-memory tests call these on the state they hold.

    refused_unasked(view, ledger, me, kind, changes, rule, hopeful) -> bool
        a Turn holder can tell, from what it knows, that the parties would refuse the step:
        it is not asked at all (no STEP_ASK, no STEP_VOTE, no STEP_ABORT); once every source
        told where its subtasks are, exactly (the game's bounds and price), else `hopeless`
    hopeless(view, ledger, me, changes, rule) -> bool
        the bound a Turn holder that knows only its own subtasks and the workers' can use
    phase1_over(P1, now) -> bool
        a worker ends phase 1 (sends HOSTED) now
    reconcile(placement, hosted, me) -> placement
        a source keeps a subtask on a worker only if that worker's HOSTED lists it
    made_up(hosted, lists) -> [Subtask]
        the entries of a worker's HOSTED that contradict what their sources said they have
    next_holder(ring, holder, dead) -> PeerId
        who takes the Turn after `holder` (the dead skipped; `holder` itself if alone)
    winning_round(open_rounds) -> int | None
        of the rounds open at a peer at once, the one they all end in (the highest)
    turn_idle(deaths, deaths_at_my_last_turn, idle) -> int
        a death during phase 2 restarts the idle count: every source looks at the
        matching without the dead peer before the game can end
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

from fognet.matching.bounds import TOLERANCE
from fognet.matching.cost import EPS, is_worker
from fognet.matching.game import price
from fognet.matching.instance import Instance, PeerId, Subtask, SubtaskId
from fognet.matching.messages import Change
from fognet.matching.steps import Ledger, worker_refuses


def refused_unasked(view: Instance, ledger: Ledger, me: PeerId, kind: str,
                    changes: tuple[Change, ...], rule: str,
                    hopeful: Container[tuple[str, tuple[Change, ...]]] | None) -> bool:
    """True if the Turn holder `me` can tell the parties would refuse this step.

    `hopeful`: given once my ledger holds every live source's subtasks where they are (the
    workers' HOSTED, each source's own list of those it keeps at home, every commit since):
    the steps `bounds.StepBounds.hopeful` leaves me now. Then a step is priced as the game
    prices it (not hopeful, or `game.price`: the decision the parties' votes add up to),
    so only steps that will be approved are asked. Without it, only `hopeless`. A step
    naming a site that left the game is asked (its parties say STALE_STEP)."""
    touched = {c.frm for c in changes} | {c.to for c in changes}
    if any(not is_worker(view, p) and p not in view.sources for p in touched):
        return False
    if hopeful is not None:
        return (kind, changes) not in hopeful or not price(view, ledger, changes, rule)
    return hopeless(view, ledger, me, changes, rule)


def hopeless(view: Instance, ledger: Ledger, me: PeerId, changes: Sequence[Change],
             rule: str) -> bool:
    """True if the parties of this step would surely refuse it, as `me` (its initiator,
    which knows every worker's subtasks) can tell alone.

    Only a step that moves nothing but my subtasks is judged (another mover's delta is
    its own to price): a touched worker without room refuses it (`worker_refuses`, on
    the same subtasks the worker holds); else my delta less what the other sources can
    gain at most (their pieces on the touched sites finishing earlier: the same bound
    `game.price` uses) must fall below -EPS, and under `fair` my delta must not rise."""
    if any(c.subtask.source != me for c in changes):
        return False
    touched = sorted({c.frm for c in changes} | {c.to for c in changes})
    if any(not is_worker(view, p) and p not in view.sources for p in touched):
        return False  # a site that left the game: the parties say so (STALE_STEP)
    for p in touched:
        if is_worker(view, p) and worker_refuses(view, p, ledger.hosted(p), changes):
            return True
    after = ledger.after(changes)
    finish_after = {p: ledger.finish_after(a) for p, a in after.items()}
    mine = ledger.delta(me, changes, after, finish_after)
    if rule == "fair" and mine > EPS:
        return True
    gain = 0.0
    for p, new in finish_after.items():
        now = ledger.finish(p)
        for key, f in new.items():
            if key[0] != me and key in now:
                gain += view.local_of(key[0]).rate * max(0.0, now[key] - f)
    return mine - gain > TOLERANCE


@dataclass(frozen=True)
class Phase1:
    """What a worker knows of phase 1 (times in seconds on its own clock)."""

    sources: frozenset[PeerId]  # the round's live sources
    done: frozenset[PeerId]  # those known done since their last proposal (the leader's PROPOSALS_DONE `everyone` names them all)
    ends_at: float  # phase 1's latest end (opening + phase1_s)
    last_propose: float  # when the last PROPOSE came
    settle_s: float  # quiet time waited once a peer died
    deaths: int = 0  # peers found dead in the round


def phase1_over(p: Phase1, now: float) -> bool:
    """A worker ends phase 1 when every live source is done (after a death, also quiet for
    `settle_s`: a dead worker's subtasks are proposed again outside any chain), or at its
    latest end. Every PROPOSE is answered only once what it set off is answered, so every
    source done means nothing is in flight."""
    quiet = p.deaths == 0 or now - p.last_propose >= p.settle_s
    return now >= p.ends_at or (p.sources <= p.done and quiet)


def reconcile(placement: Mapping[SubtaskId, PeerId], hosted: Mapping[PeerId, Collection[Subtask]],
              me: PeerId) -> dict[SubtaskId, PeerId]:
    """My subtasks' sites after phase 1: a worker keeps one only if its HOSTED lists it
    (a worker that sent no HOSTED, or a cut that raced a proposal: it goes home)."""
    held = {(s.id, w) for w, subs in hosted.items() for s in subs}
    return {sid: site if site == me or (sid, site) in held else me
            for sid, site in placement.items()}


def made_up(hosted: Iterable[Subtask],
            lists: Mapping[PeerId, Mapping[SubtaskId, Subtask]]) -> list[Subtask]:
    """The entries of a worker's HOSTED that are not subtasks of the round as their sources
    have them. `lists`: every source whose subtasks I know, as it has them (mine; another's
    once its HOSTED home came: it lists all of its own). An entry is made up if its source's
    list lacks it (by id, or with other figures), or if its id names another subtask of a
    known list (ids are the round's keys). An entry of a source whose list I do not know
    yet is checked when the list comes."""
    by_id = {sid: s for subs in lists.values() for sid, s in subs.items()}
    return [s for s in hosted
            if (s.source in lists and lists[s.source].get(s.id) != s)
            or by_id.get(s.id, s) != s]


def next_holder(ring: Sequence[PeerId], holder: PeerId, dead: Collection[PeerId]) -> PeerId:
    """The live source after `holder` in the ring (`holder` if no other is alive)."""
    k = ring.index(holder)
    after = [*ring[k + 1:], *ring[:k]]
    return next((p for p in after if p not in dead), holder)


def turn_idle(deaths: int, deaths_at_my_last_turn: int, idle: int) -> int:
    """The idle count my Turn starts from: 0 if a peer died since my last Turn (the
    matching changed without a commit: every source must look at it again before the game
    can end), else the one passed to me."""
    return 0 if deaths != deaths_at_my_last_turn else idle


def winning_round(open_rounds: Collection[int]) -> int | None:
    """Of the rounds whose players are not yet settled at a peer, the one they all end in:
    the highest number. Every peer applies it to what it sees, and merging spreads what it
    saw, so the highest number open anywhere wins; not the lowest, since a lower number may
    be one some peer has already played (its clock, or its count of rounds, is behind)."""
    return max(open_rounds, default=None)
