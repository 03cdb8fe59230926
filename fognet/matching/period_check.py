"""An independent checker for the period game: is a placement valid, and does any step improve it?

It shares only the objective (`period.key`, `period.improves`, `period.problems`) with the
game, never its search: it lists every move (any stage to any other peer that may host
it), every swap (any two stages on different peers) and every displacement (a stage
takes another's peer, that one goes to its own source's device) in plain loops, prices
the whole placement after each from scratch, and names each step that keeps every peer
within its memory and lowers the key. None means the placement is stable: what the game
must end in. Slow on purpose; it is the reference the game is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

from fognet.matching.check import CheckReport
from fognet.matching.period import PeriodInstance, Placement, improves, key, problems


@dataclass(frozen=True)
class PeriodBlocking:
    """A step that improves the placement: `before` and `after` are the bottlenecks U."""

    kind: str  # "move" | "swap" | "displace"
    text: str
    before: float
    after: float


# The verdict has the latency checker's shape (problems, then blocking steps): one report type.
PeriodReport = CheckReport


def _with(where: Placement, changes: list[tuple[int, int, int]]) -> Placement:
    rows = [list(r) for r in where]
    for j, k, p in changes:
        rows[j][k] = p
    return tuple(tuple(r) for r in rows)


def _candidates(inst: PeriodInstance, where: Placement):
    stages = [(j, k) for j in range(len(inst.jobs)) for k in range(len(where[j]))]
    name = inst.stage_name
    peers = inst.peers
    for j, k in stages:
        for p in range(len(peers)):
            if p != where[j][k]:
                yield "move", [(j, k, p)], f"move {name(j, k)} {peers[where[j][k]]}->{peers[p]}"
    for x, (j, k) in enumerate(stages):
        for i, m in stages[x + 1:]:
            a, b = where[j][k], where[i][m]
            if a != b:
                yield "swap", [(j, k, b), (i, m, a)], f"swap {name(j, k)}<->{name(i, m)}"
    for j, k in stages:
        for i, m in stages:
            a, b, home = where[j][k], where[i][m], inst.src(i)
            if (j, k) != (i, m) and a != b and b != home and a != home:
                text = f"displace {name(i, m)} from {peers[b]} by {name(j, k)} ({name(i, m)} back to {peers[home]})"
                yield "displace", [(j, k, b), (i, m, home)], text


def check(inst: PeriodInstance, where: Placement) -> PeriodReport:
    """Validity, then every improving step (none: stable)."""
    found = problems(inst, where)
    if found:
        return PeriodReport(tuple(found), ())
    now = key(inst, where)
    blocking = []
    for kind, changes, text in _candidates(inst, where):
        after = _with(where, changes)
        if problems(inst, after):
            continue  # a peer may not host it, or one is over its memory
        new = key(inst, after)
        if improves(new, now):
            blocking.append(PeriodBlocking(kind, f"{text}: U {now[0]:.6g} -> {new[0]:.6g}", now[0], new[0]))
    blocking.sort(key=lambda b: b.after)
    return PeriodReport((), tuple(blocking))
