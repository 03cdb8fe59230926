"""Whether a worker takes one more subtask: its utilisation cap and a bounded queue.

DESIGN.md: a worker lends at most `cap` (default 0.9) of its time; a worker whose load
would reach its cap refuses. Live, that is measured, not predicted: `Load` keeps the
intervals the executor's thread was busy, and a worker refuses (BUSY) a subtask that
would have to queue while its utilisation over the last `window_s` is at or past `cap`,
or when `max_queue` subtasks already wait. An idle worker always accepts (its idle time
is what the cap reserves; refusing then would only delay the frame). So a worker's queue,
and the memory its inputs hold, stay bounded however many sources ask, and a source
learns at once that it should wait or go elsewhere (`fognet.infer.replay`) instead of
finding out through a timeout.

Pure: every method takes the time it runs at.

API
    Admission(cap=0.9, max_queue=16, window_s=1.0)       frozen
    Load(window_s=1.0)
        .start(now); .stop(now); .utilisation(now) -> float in [0, 1]; .running -> bool
    refusal(admission, load, waiting, now) -> str | None   why to answer BUSY, or None
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DEFAULT_CAP = 0.9
DEFAULT_MAX_QUEUE = 16


@dataclass(frozen=True)
class Admission:
    cap: float = DEFAULT_CAP  # share of its time the worker lends (DESIGN.md, at most 0.999)
    max_queue: int = DEFAULT_MAX_QUEUE  # subtasks waiting (not running) at most
    window_s: float = 1.0  # utilisation is measured over this much recent time (a round)


class Load:
    """When the worker was busy lately (one job at a time, as the executor runs them)."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._spans: deque[tuple[float, float]] = deque()
        self._since: float | None = None  # the running job's start

    @property
    def running(self) -> bool:
        return self._since is not None

    def start(self, now: float) -> None:
        self._since = now

    def stop(self, now: float) -> None:
        if self._since is not None:
            self._spans.append((self._since, now))
            self._since = None
        self._trim(now)

    def utilisation(self, now: float) -> float:
        self._trim(now)
        begin = now - self.window_s
        busy = sum(min(b, now) - max(a, begin) for a, b in self._spans if b > begin)
        if self._since is not None:
            busy += now - max(self._since, begin)
        return min(1.0, max(0.0, busy / self.window_s))

    def _trim(self, now: float) -> None:
        while self._spans and self._spans[0][1] <= now - self.window_s:
            self._spans.popleft()


def refusal(admission: Admission, load: Load, waiting: int, now: float) -> str | None:
    """Why the worker should answer BUSY to one more subtask, or None to take it.
    `waiting`: subtasks accepted and not yet running."""
    if waiting >= admission.max_queue:
        return f"{waiting} subtasks already wait (queue cap {admission.max_queue})"
    if not load.running and waiting == 0:
        return None  # idle: take it
    used = load.utilisation(now)
    if used >= admission.cap:
        return f"utilisation {used:.2f} over the last {admission.window_s:g} s is at its cap {admission.cap:g}"
    return None
