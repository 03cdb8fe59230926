"""The matching agents' messages <-> wire bodies, and the checks the codec cannot make.

The codec checks every field's type; this module checks what types cannot say (finite,
non-negative work and bytes, a known step kind, game ids that name a peer) and raises
a `WireError` (MALFORMED), which the transport turns into an ERROR reply.

    to_wire(round, message, party="") -> Body      party: the game id a STEP_ASK asks
    ask_to_wire(round, ask, party, commits)        a STEP_ASK with the commits it waits for
    commits_to_wire(round, commits) / commits_from_wire(sender, body)   a STEP_COMMIT batch
    placement_to_wire / placement_from_wire    a source's HOSTED home: its subtasks' sites
    from_wire(sender_peer, body) -> Message        sender ids rebuilt from the peer name
    check_ids(message, sites, sources)             every id it names plays the round (else MALFORMED)
    vote_from_wire(party, body) -> SwapVote

Wire types used: PROPOSE, ACCEPT, REJECT, STEP_ASK, STEP_VOTE, STEP_COMMIT, STEP_ABORT,
TURN, HOSTED (a worker's RoundDone(phase=1); with `home`, a source's: the subtasks it keeps on
its own device, sent to the other sources), ROUND_DONE (RoundDone(phase=2): game over).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from fognet.errors import WireError
from fognet.matching import messages as m
from fognet.matching.instance import PeerId, Subtask, SubtaskId
from fognet.net import wire
from fognet.placement.instance import peer_of, worker_id

KINDS = ("move", "swap", "displace")

def reason_to_wire(reason: m.Reason | None) -> wire.Reason | None:
    """The game's reasons are the wire's first ones, by name (see wire.Reason)."""
    return None if reason is None else wire.Reason[reason.name]


def reason_from_wire(reason: wire.Reason | None) -> m.Reason | None:
    """A REJECT's or STEP_VOTE's reason; a wire reason the game does not give (an ERROR's,
    e.g. HANDLER_FAILED) there breaks the protocol."""
    if reason is None:
        return None
    try:
        return m.Reason[reason.name]
    except KeyError:
        raise WireError(f"reason: {reason.value} is not a matching game reason") from None


# --- subtasks and changes as parallel columns ------------------------------------------


def _columns(subtasks: list[Subtask]) -> dict:
    return {
        "subtasks": tuple(s.id for s in subtasks),
        "sources": tuple(s.source for s in subtasks),
        "work_ref_s": tuple(s.work for s in subtasks),
        "in_bytes": tuple(s.in_bytes for s in subtasks),
        "out_bytes": tuple(s.out_bytes for s in subtasks),
        "stages": tuple(s.stage for s in subtasks),
    }


def subtask(sid: str, source: str, work: float, in_bytes: int, out_bytes: int,
            stage: int = 0) -> Subtask:
    """A subtask from the wire, refused unless its figures are usable."""
    if not (math.isfinite(work) and work >= 0):
        raise WireError(f"subtask {sid!r}: work_ref_s must be finite and >= 0, got {work!r}")
    if in_bytes < 0 or out_bytes < 0:
        raise WireError(f"subtask {sid!r}: byte counts must be >= 0")
    if stage < 0:
        raise WireError(f"subtask {sid!r}: stage must be >= 0, got {stage}")
    if not sid or not source or "#" in source:
        raise WireError(f"subtask {sid!r}: needs an id and a source peer name without '#'")
    return Subtask(SubtaskId(sid), PeerId(source), work, in_bytes, out_bytes, stage)


def _subtasks(body) -> list[Subtask]:
    return [
        subtask(*row)
        for row in zip(body.subtasks, body.sources, body.work_ref_s, body.in_bytes,
                       body.out_bytes, body.stages, strict=True)
    ]


def _changes(body, kinds: tuple[str, ...] = ()) -> tuple[m.Change, ...]:
    for kind in (body.kind, *kinds):
        if kind not in KINDS:
            raise WireError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if not body.subtasks:
        raise WireError(f"{body.TYPE.value}: a step moves at least one subtask")
    return tuple(
        m.Change(s, PeerId(a), PeerId(b))
        for s, a, b in zip(_subtasks(body), body.frm, body.to, strict=True)
    )


def _change_columns(changes: tuple[m.Change, ...]) -> dict:
    cols = _columns([c.subtask for c in changes])
    cols["frm"] = tuple(c.frm for c in changes)
    cols["to"] = tuple(c.to for c in changes)
    return cols


# --- messages ---------------------------------------------------------------------------


def to_wire(rnd: int, msg: m.Message, party: str = "") -> wire.Body:
    """The wire body carrying an agent's message in round `rnd`."""
    if isinstance(msg, m.Propose):
        s = msg.subtask
        return wire.Propose(rnd, s.id, s.source, s.work, s.in_bytes, s.out_bytes, s.stage)
    if isinstance(msg, m.Accept):
        return wire.Accept(rnd, msg.subtask)
    if isinstance(msg, m.Reject):
        return wire.Reject(rnd, msg.subtask, reason_to_wire(msg.reason))
    if isinstance(msg, m.SwapAsk):
        return ask_to_wire(rnd, msg, party)
    if isinstance(msg, m.SwapVote):
        return wire.StepVote(
            rnd, msg.step, msg.ok, msg.delta,
            tuple(src for src, _ in msg.by_source), tuple(d for _, d in msg.by_source),
            reason_to_wire(msg.reason),
        )
    if isinstance(msg, m.SwapCommit):
        return wire.StepCommit(rnd, msg.step, msg.kind, **_change_columns(msg.changes))
    if isinstance(msg, m.SwapAbort):
        return wire.StepAbort(rnd, msg.step)
    if isinstance(msg, m.Turn):
        return wire.Turn(rnd, msg.idle)
    if isinstance(msg, m.RoundDone):
        if msg.phase == 1:
            return wire.Hosted(rnd, **_columns(list(msg.hosted)), home=msg.sender == peer_of(msg.sender))
        return wire.RoundDone(rnd)
    raise TypeError(f"no wire form for {type(msg).__name__}")


def ask_to_wire(rnd: int, ask: m.SwapAsk, party: str, commits: int = 0) -> wire.StepAsk:
    """A STEP_ASK to `party`, which votes once it has applied `commits` STEP_COMMITs."""
    return wire.StepAsk(rnd, ask.step, ask.kind, party, **_change_columns(ask.changes),
                        commits=commits)


def from_wire(sender: str, body: wire.Body) -> m.Message:
    """The agent message a body carries; `sender` is the sending peer's name. Messages a
    peer sends as a worker (ACCEPT, REJECT, HOSTED) get its worker id as sender."""
    src = PeerId(sender)
    if isinstance(body, wire.Propose):
        s = subtask(body.subtask, body.source, body.work_ref_s, body.in_bytes, body.out_bytes,
                    body.stage)
        if s.source != sender:
            raise WireError(f"PROPOSE from {sender!r} for a subtask of {s.source!r}")
        return m.Propose(src, s, body.round)
    if isinstance(body, wire.Accept):
        return m.Accept(worker_id(sender), SubtaskId(body.subtask), body.round)
    if isinstance(body, wire.Reject):
        return m.Reject(worker_id(sender), SubtaskId(body.subtask),
                        reason_from_wire(body.reason), body.round)
    if isinstance(body, wire.StepAsk):
        return m.SwapAsk(src, body.step, body.kind, _changes(body), body.round)
    if isinstance(body, wire.StepCommit):
        return m.SwapCommit(src, body.step, body.kind, _changes(body), body.round)
    if isinstance(body, wire.StepAbort):
        return m.SwapAbort(src, body.step, body.round)
    if isinstance(body, wire.Turn):
        if body.idle < 0:
            raise WireError(f"idle: {body.idle} < 0")
        return m.Turn(src, body.idle, body.round)
    if isinstance(body, wire.Hosted) and body.home:
        home = tuple(_subtasks(body))
        if any(s.source != sender for s in home):
            raise WireError(f"HOSTED home from {sender!r} lists a subtask of another source")
        return m.RoundDone(src, 1, home, body.round)
    if isinstance(body, wire.Hosted):
        return m.RoundDone(worker_id(sender), 1, tuple(_subtasks(body)), body.round)
    if isinstance(body, wire.RoundDone):
        return m.RoundDone(src, 2, (), body.round)
    raise WireError(f"{body.TYPE.value} is not a matching game message")


def commits_to_wire(rnd: int, commits: list[m.SwapCommit]) -> wire.StepCommit:
    """One STEP_COMMIT carrying these commits in order (a batch if more than one)."""
    if len(commits) == 1:
        return to_wire(rnd, commits[0])
    cols = _change_columns(tuple(c for commit in commits for c in commit.changes))
    return wire.StepCommit(rnd, commits[-1].step, commits[-1].kind, **cols,
                           steps=tuple(c.step for c in commits),
                           kinds=tuple(c.kind for c in commits),
                           sizes=tuple(len(c.changes) for c in commits))


def commits_from_wire(sender: str, body: wire.StepCommit) -> list[m.SwapCommit]:
    """The commits a STEP_COMMIT carries, in order."""
    if not body.sizes:
        return [from_wire(sender, body)]
    changes, out, start = _changes(body, body.kinds), [], 0
    for step, kind, size in zip(body.steps, body.kinds, body.sizes, strict=True):
        out.append(m.SwapCommit(PeerId(sender), step, kind, changes[start:start + size],
                                body.round))
        start += size
    return out


def placement_to_wire(rnd: int, me: str, subtasks, sites: Mapping[str, str]) -> wire.Hosted:
    """A source's HOSTED home: every subtask of mine and its site after phase 1."""
    subtasks = list(subtasks)
    return wire.Hosted(rnd, **_columns(subtasks), home=True,
                       sites=tuple(sites[s.id] for s in subtasks))


def placement_from_wire(sender: str, body: wire.Hosted) -> list[m.RoundDone]:
    """A source's HOSTED home as one RoundDone(phase 1) per site (its own device, each
    worker): what a source agent reads to place another source's subtasks."""
    by_site: dict[str, list[Subtask]] = {}
    for s, site in zip(from_wire(sender, body).hosted, body.sites or (sender,) * len(body.subtasks),
                       strict=True):
        if site != sender and worker_id(peer_of(site)) != site:
            raise WireError(f"HOSTED home from {sender!r}: {site!r} is not a site of the game")
        by_site.setdefault(site, []).append(s)
    return [m.RoundDone(PeerId(site), 1, tuple(subs), body.round) for site, subs in by_site.items()]


def check_ids(msg: m.Message | list[m.RoundDone], sites: frozenset[str],
              sources: frozenset[str]) -> None:
    """Refuse a message naming a site or source that does not play the round (`sites`:
    every worker's and source's game id in the round's frozen view, the dead included:
    a sender may not know of a death yet). The codec cannot know the round; an id it let
    through would reach the ledger and the bounds, which index by the round's sites."""
    for one in msg if isinstance(msg, list) else (msg,):
        named: list[tuple[str, str]] = []  # (what, id)
        if isinstance(one, m.Propose):
            named.append(("source", one.subtask.source))
        elif isinstance(one, m.SwapAsk | m.SwapCommit):
            for c in one.changes:
                named += [("source", c.subtask.source), ("site", c.frm), ("site", c.to)]
        elif isinstance(one, m.RoundDone) and one.phase == 1:
            named.append(("site", one.sender))
            named += [("source", s.source) for s in one.hosted]
        for what, name in named:
            if name not in (sites if what == "site" else sources):
                raise WireError(f"{type(one).__name__} round {one.round}: {name!r} is not a "
                                f"{what} of the round")


def vote_from_wire(party: str, body: wire.StepVote) -> m.SwapVote:
    if not math.isfinite(body.delta_s) or not all(map(math.isfinite, body.by_source_delta_s)):
        raise WireError("STEP_VOTE: latency changes must be finite")
    by_source = tuple(zip(map(PeerId, body.by_source), body.by_source_delta_s, strict=True))
    return m.SwapVote(PeerId(party), body.step, body.ok, body.delta_s, by_source,
                      reason_from_wire(body.reason), body.round)
