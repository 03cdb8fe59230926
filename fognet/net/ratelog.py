"""Log lines that the network can cause, at a bounded rate.

Anyone who can reach a peer's port can make it log: a malformed message, a refused EXEC,
a name conflict, a stray datagram. One line per message would let a flood fill the disk and
drown the lines that matter, so everything that logs because of what arrived goes through
a `RateLimitedLog`: per kind of line at most `burst` lines every `per_s` seconds; the rest
are counted, and the next line written of that kind says how many were left out. A
traceback (`exc_info`) is only ever attached to a line that is written, so a bug that
every message hits shows its traceback once per window, never once per message.

    warn = RateLimitedLog(log)                      # next to `log = logging.getLogger(...)`
    warn.warning("malformed", "malformed message on %s: %s", where, exc)
    warn.error("handler", "handler failed on %s", kind, exc_info=True)
    warn.suppressed                                 # lines left out so far (all kinds)
    note = warn.admit("event")                      # for lines written elsewhere (click.echo):
    if note is not None: click.echo(f"... {note}")  # None: left out; else "" or " (and N more ...)"

`kind` must be a constant of the calling code (never text from the wire), so the table
of kinds stays as small as the code; it is capped anyway.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

BURST = 5  # lines of one kind written per window
PER_S = 10.0  # the window, seconds
MAX_KINDS = 256


@dataclass
class _Window:
    started: float
    written: int = 0
    left_out: int = 0  # since the last line written of this kind


class RateLimitedLog:
    """See the module docstring. Not thread-safe (use it from one event loop)."""

    def __init__(
        self, logger: logging.Logger, *, burst: int = BURST, per_s: float = PER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.burst, self.per_s, self._clock = burst, per_s, clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self.written = 0
        self.suppressed = 0

    def warning(self, kind: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        return self.log(logging.WARNING, kind, msg, *args, exc_info=exc_info)

    def error(self, kind: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        return self.log(logging.ERROR, kind, msg, *args, exc_info=exc_info)

    def log(self, level: int, kind: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Write the line unless its kind is over its rate; True if it was written."""
        if not self.logger.isEnabledFor(level):
            return False
        note = self.admit(kind)
        if note is None:
            return False
        self.logger.log(level, msg + note, *args, exc_info=exc_info)
        return True

    def admit(self, kind: str) -> str | None:
        """Count one line of `kind`: None if it is over its rate (left out), else what to
        append to it ("" or how many like it were left out since the last one written)."""
        window = self._window(kind)
        if window.written >= self.burst:
            window.left_out += 1
            self.suppressed += 1
            return None
        window.written += 1
        self.written += 1
        note = f" (and {window.left_out} more like it left out)" if window.left_out else ""
        window.left_out = 0
        return note

    def _window(self, kind: str) -> _Window:
        now = self._clock()
        window = self._windows.get(kind)
        if window is None:
            window = self._windows[kind] = _Window(now)
            while len(self._windows) > MAX_KINDS:
                self._windows.popitem(last=False)
        elif now - window.started >= self.per_s:
            window.started, window.written = now, 0
        self._windows.move_to_end(kind)
        return window
