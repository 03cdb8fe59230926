from __future__ import annotations

from fognet.sim.engine import Engine


def test_events_run_in_time_then_schedule_order() -> None:
    engine = Engine()
    seen: list[tuple[float, str]] = []
    engine.at(2.0, lambda: seen.append((engine.now, "late")))
    engine.at(1.0, lambda: seen.append((engine.now, "first at 1")))
    engine.at(1.0, lambda: seen.append((engine.now, "second at 1")))
    engine.at(0.5, lambda: engine.after(0.5, lambda: seen.append((engine.now, "third at 1"))))
    engine.run()
    assert seen == [(1.0, "first at 1"), (1.0, "second at 1"), (1.0, "third at 1"), (2.0, "late")]
    assert engine.processed == 5


def test_run_until_stops_and_resumes_and_the_past_is_clamped() -> None:
    engine = Engine()
    seen: list[float] = []
    for t in (1.0, 2.0, 3.0):
        engine.at(t, lambda: seen.append(engine.now))
    engine.run(until=2.0)
    assert seen == [1.0, 2.0] and engine.now == 2.0 and engine.pending == 1
    engine.at(0.0, lambda: seen.append(engine.now))  # in the past: runs now
    engine.run()
    assert seen == [1.0, 2.0, 2.0, 3.0]
