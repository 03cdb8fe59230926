"""The rate-limited log: a flood of one kind of line writes `burst` lines per window, says
how many it left out, and never holds back another kind."""

from __future__ import annotations

import logging

from fognet.net.ratelog import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_writes_a_burst_per_window_and_counts_the_rest(caplog) -> None:
    clock = Clock()
    warn = RateLimitedLog(logging.getLogger("test.ratelog"), burst=3, per_s=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.ratelog"):
        written = [warn.warning("bad", "bad message %d", i) for i in range(1000)]
        other = warn.warning("other", "another kind")
        clock.now = 10.0
        after = warn.warning("bad", "bad message %d", 1000)
    lines = [r.getMessage() for r in caplog.records]
    assert written[:3] == [True] * 3 and not any(written[3:]) and other and after
    assert lines[:4] == ["bad message 0", "bad message 1", "bad message 2", "another kind"]
    assert lines[4] == "bad message 1000 (and 997 more like it left out)"
    assert (warn.written, warn.suppressed) == (5, 997)


def test_a_traceback_is_attached_only_to_lines_written(caplog) -> None:
    warn = RateLimitedLog(logging.getLogger("test.ratelog.tb"), burst=1, clock=Clock())
    with caplog.at_level(logging.ERROR, logger="test.ratelog.tb"):
        for _ in range(50):
            try:
                raise KeyError("bug")
            except KeyError:
                warn.error("bug", "handler failed", exc_info=True)
    assert len(caplog.records) == 1 and isinstance(caplog.records[0].exc_info[1], KeyError)


def test_a_disabled_level_counts_nothing() -> None:
    logger = logging.getLogger("test.ratelog.off")
    logger.setLevel(logging.ERROR)
    warn = RateLimitedLog(logger, burst=1, clock=Clock())
    assert not warn.warning("x", "quiet") and (warn.written, warn.suppressed) == (0, 0)
