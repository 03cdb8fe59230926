"""Link pacing: 1 MB over 10 Mbit/s takes about 0.8 s; one interface is shared by its sends."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from fognet.errors import ConfigError
from fognet.net import wire
from fognet.net.emulation import Link, Pacer, parse_rate
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header

TEN_MBIT = parse_rate("10Mbit")


def test_reserve_prices_latency_bandwidth_and_a_shared_interface() -> None:
    pacer = Pacer(nic_Bps=TEN_MBIT, default=Link(bandwidth_Bps=TEN_MBIT, latency_s=0.01))
    assert pacer.reserve("a", 1_000_000, now=0.0) == pytest.approx(0.81)
    # a concurrent send to another peer waits for the same interface
    assert pacer.reserve("b", 1_000_000, now=0.0) == pytest.approx(1.61)
    # once the interface is idle again, a send costs only itself
    assert pacer.reserve("a", 500_000, now=10.0) == pytest.approx(0.41)


def test_links_are_independent_without_an_interface_limit() -> None:
    pacer = Pacer(links={"a": Link(TEN_MBIT), "b": Link(TEN_MBIT / 2, 0.002)})
    assert pacer.reserve("a", 1_000_000, 0.0) == pytest.approx(0.8)
    assert pacer.reserve("b", 1_000_000, 0.0) == pytest.approx(1.602)
    assert pacer.reserve("unknown", 1_000_000, 0.0) == 0.0


def test_bad_rates_are_config_errors() -> None:
    assert parse_rate("10Mbps") == parse_rate("1.25MB/s") == 1.25e6
    with pytest.raises(ConfigError):
        parse_rate("fast")
    with pytest.raises(ConfigError):
        Link(bandwidth_Bps=0)


async def _timed_megabyte(pacer: Pacer | None) -> float:
    async def echo_nothing(header, tensors):
        return Header(wire.Pong())

    client, server = ZmqTransport(pacer=pacer), ZmqTransport()
    serving = asyncio.create_task(server.serve(echo_nothing))
    try:
        await client.request(server.address, Header(wire.Ping()), timeout_s=2)  # connect first
        data = np.zeros(1_000_000, dtype=np.uint8)
        start = time.perf_counter()
        await client.request(server.address, Header(wire.Ping()), {"data": data}, timeout_s=5)
        return time.perf_counter() - start
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await client.aclose()
        await server.aclose()


async def test_a_megabyte_over_10_mbit_is_paced() -> None:
    paced = await _timed_megabyte(Pacer(default=Link(TEN_MBIT)))
    unpaced = await _timed_megabyte(None)
    assert paced > 0.5 and paced > unpaced
