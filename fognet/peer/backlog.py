"""The work a peer holds: reference-seconds queued or running, split by the source it is for.

The executor advertises the total in STATE (the `q_p` of DESIGN.md) and the split beside it.
A round's sources price their own frames by their rates, so their queued work must not
count again as backlog there: the split lets every peer take it out
(`placement.instance.backlog_without`). A job is credited to the source whose frame it is
(`Job.source`: the EXEC's authenticated sender, the source a chain's hops carry along,
`peer.chain.credited_source`, or this peer for its own stages).

API
    Backlog(total_ref_s, by_source)     frozen: by_source ((source, ref_s), ...) sorted by name
    Pending()                           the jobs accepted and not yet finished
        .add(source, work_s) -> ticket;  .done(ticket);  .backlog() -> Backlog;  len(pending)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Backlog:
    """The work a peer holds (reference-seconds) and the part of it each source sent."""

    total_ref_s: float = 0.0
    by_source: tuple[tuple[str, float], ...] = ()  # (source, reference-seconds), by name; "" unsaid


class Pending:
    """Predicted work of the jobs accepted and not yet finished, by ticket. Written and read
    on the event loop only (the worker thread never touches it)."""

    def __init__(self) -> None:
        self._jobs: dict[int, tuple[str, float]] = {}  # ticket -> (source, reference-seconds)
        self._ids = itertools.count()

    def add(self, source: str, work_s: float) -> int:
        ticket = next(self._ids)
        self._jobs[ticket] = (source, work_s)
        return ticket

    def done(self, ticket: int) -> None:
        del self._jobs[ticket]

    def __len__(self) -> int:
        return len(self._jobs)

    def backlog(self) -> Backlog:
        """The work held, and its split by source (one snapshot of both)."""
        parts: dict[str, float] = {}
        for source, work in list(self._jobs.values()):
            parts[source] = parts.get(source, 0.0) + work
        return Backlog(sum(parts.values()), tuple(sorted(parts.items())))
