"""The event engine: a clock and a heap of (time, seq, callback, args), nothing else.

It knows no frames, peers or policies; the resources model and the runner schedule
callbacks on it. `seq` is a global counter, so events at the same time run in the
order they were scheduled and every run with the same seed is identical.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any


class Engine:
    """A discrete-event loop. Callbacks may schedule further events at `now` or later."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[..., Any], tuple]] = []
        self._seq = 0
        self.processed = 0

    def at(self, time: float, callback: Callable[..., Any], *args: Any) -> None:
        """Run `callback(*args)` at `time` (never before now: the past cannot change)."""
        if time < self.now:
            time = self.now
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, callback, args))

    def after(self, delay: float, callback: Callable[..., Any], *args: Any) -> None:
        self.at(self.now + delay, callback, *args)

    def run(self, until: float = float("inf"), max_events: int | None = None) -> None:
        """Process events in (time, seq) order up to `until` (inclusive) or the event budget."""
        heap = self._heap
        pop = heapq.heappop
        budget = max_events if max_events is not None else -1
        while heap and heap[0][0] <= until and budget != 0:
            time, _, callback, args = pop(heap)
            self.now = time
            callback(*args)
            self.processed += 1
            budget -= 1
        if until != float("inf") and (not heap or heap[0][0] > until):
            self.now = max(self.now, until)

    @property
    def pending(self) -> int:
        return len(self._heap)
