"""Queue and network arithmetic on hand-checked cases."""

from __future__ import annotations

import pytest

from fognet.sim.engine import Engine
from fognet.sim.resources import ComputeQueue, Network


def _done(engine: Engine, out: dict, key):
    return lambda *args: out.__setitem__(key, (engine.now, *args))


@pytest.mark.parametrize("discipline, order", [("fifo", ["a", "b", "c"]), ("sjf", ["a", "c", "b"])])
def test_queue_serves_in_its_order_with_wait_and_compute(discipline: str, order: list[str]) -> None:
    engine = Engine()
    queue = ComputeQueue(engine, "w", speed=2.0, discipline=discipline)
    out: dict = {}
    engine.at(0.0, queue.submit, 1.0, _done(engine, out, "a"))  # 0.5 s at speed 2
    engine.at(0.1, queue.submit, 0.8, _done(engine, out, "b"))  # 0.4 s
    engine.at(0.2, queue.submit, 0.2, _done(engine, out, "c"))  # 0.1 s
    engine.at(0.3, lambda: out.__setitem__("backlog", queue.backlog()))
    engine.run()
    assert sorted("abc", key=lambda k: out[k][0]) == order
    # at 0.3: 0.2 s of a left (0.4 ref-s) + b + c queued
    assert out["backlog"] == pytest.approx(0.4 + 0.8 + 0.2)
    end = 0.0
    for key in order:
        finish, wait, run = out[key]
        submitted = {"a": 0.0, "b": 0.1, "c": 0.2}[key]
        assert run == pytest.approx({"a": 0.5, "b": 0.4, "c": 0.1}[key])
        assert finish == pytest.approx(max(end, submitted) + run)
        assert wait == pytest.approx(finish - run - submitted)
        end = finish
    assert queue.busy_s == pytest.approx(1.0)


def test_initial_backlog_delays_the_first_job() -> None:
    engine = Engine()
    queue = ComputeQueue(engine, "w", speed=0.5, backlog=0.1)
    out: dict = {}
    queue.submit(0.05, _done(engine, out, "x"))
    engine.run()
    assert out["x"][0] == pytest.approx(0.2 + 0.1)


def _net(links: dict, nics: dict | None = None) -> tuple[Engine, Network]:
    engine = Engine()
    net = Network(engine, lambda a, b: links[frozenset((a, b))])
    for peer, nic in (nics or {}).items():
        net.add_interface(peer, nic)
    return engine, net


def test_lone_transfer_takes_latency_plus_bytes_over_bandwidth() -> None:
    engine, net = _net({frozenset("sw"): (1e6, 0.01)})
    out: dict = {}
    net.send("s", "w", 250_000, _done(engine, out, "x"))
    engine.run()
    assert out["x"][0] == pytest.approx(0.01 + 0.25, abs=1e-12)


def test_concurrent_transfers_share_a_link() -> None:
    engine, net = _net({frozenset("sw"): (1e6, 0.0)})
    out: dict = {}
    net.send("s", "w", 100_000, _done(engine, out, "small"))
    net.send("s", "w", 300_000, _done(engine, out, "big"))
    engine.run()
    # both at 0.5 MB/s until small ends at 0.2 s; big then alone: 0.2 + 0.2 = 0.4 s
    assert out["small"][0] == pytest.approx(0.2)
    assert out["big"][0] == pytest.approx(0.4)


def test_source_nic_is_shared_by_sends_to_different_peers() -> None:
    links = {frozenset("sa"): (1e7, 0.001), frozenset("sb"): (1e7, 0.001)}
    engine, net = _net(links, {"s": 1e6})
    out: dict = {}
    net.send("s", "a", 100_000, _done(engine, out, "a"))
    net.send("s", "b", 100_000, _done(engine, out, "b"))
    engine.run()
    # the NIC carries 200 kB at 1 MB/s (0.2 s), then the last bytes cross the link (1 ms):
    # the stream model's lat + PS / nic_src with PS = 2 x 100 kB
    assert out["a"][0] == pytest.approx(0.201) and out["b"][0] == pytest.approx(0.201)


def test_lone_transfer_bound_by_the_nic_still_pays_the_links_latency() -> None:
    """The source's NIC (1 MB/s) is slower than the link (10 MB/s): the bytes leave in
    n / nic and arrive lat later, as both cost models price a send (lat + n / nic)."""
    engine, net = _net({frozenset("sw"): (1e7, 0.003)}, {"s": 1e6})
    out: dict = {}
    net.send("s", "w", 50_000, _done(engine, out, "x"))
    engine.run()
    assert out["x"][0] == pytest.approx(0.003 + 50_000 / 1e6, abs=1e-12)



def test_a_slow_receiving_nic_is_a_floor_without_the_latency() -> None:
    """The receiver's NIC takes the bytes as they arrive: it bounds the transfer at
    n / nic_b (the model's in / nic_p term); the latency is already behind them."""
    engine, net = _net({frozenset("sw"): (1e7, 0.003)}, {"w": 1e6})
    out: dict = {}
    net.send("s", "w", 50_000, _done(engine, out, "x"))
    engine.run()
    assert out["x"][0] == pytest.approx(max(0.003 + 50_000 / 1e7, 50_000 / 1e6), abs=1e-12)

def test_empty_and_local_transfers() -> None:
    engine, net = _net({frozenset("sw"): (1e6, 0.02)})
    out: dict = {}
    net.send("s", "w", 0, _done(engine, out, "empty"))
    net.send("s", "s", 10_000, _done(engine, out, "local"))
    engine.run()
    assert out["empty"][0] == pytest.approx(0.02) and out["local"][0] == 0.0
