"""Parallel columns: the frozen roster of a large LAN crosses the wire, bounded by size."""

from __future__ import annotations

import asyncio
import dataclasses
import tracemalloc

import msgpack
import pytest

from fognet.errors import WireError
from fognet.net import codec, columns, wire
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Reason
from fognet.peer.match.courier import player_columns, players_of
from fognet.peer.match.opening import open_body
from fognet.placement.instance import Figures, LinkFigure


def frozen(n: int, name_len: int = 6, splits: int = 4) -> tuple[wire.RoundOpen, dict]:
    """A frozen ROUND_OPEN of n players, each a source linked to every other and a worker
    whose backlog is split among `splits` sources; and the players' figures."""
    names = [f"p{k:0{name_len - 1}d}" for k in range(n)]
    roster = {p: f"127.0.0.1:{40000 + k}" for k, p in enumerate(names)}
    players = {}
    for p in names:
        links = tuple(LinkFigure(q, 12.5e6 + j * 1.1, 0.0012 + j * 1e-6)
                      for j, q in enumerate(names) if q != p)
        split = tuple((names[j], 0.01 * j + 0.001) for j in range(min(splits, n)))
        players[p] = (Figures(4, 1.37, 0.123, 0.71, 0.0456, links, "welfare", 0.9, 10.0,
                              1.25e8, backlog_by_source=split), True)
    body = open_body(7, 5.0, roster, players[names[0]][0], True, names, True)
    return dataclasses.replace(body, **player_columns(players)), players


def test_a_frozen_roster_of_100_peers_crosses_a_peer_capped_at_128_members() -> None:
    """It is 268 KB: over the 64 KiB every header had, which broke rounds past ~70 peers."""
    body, players = frozen(100)
    cap = codec.header_cap(128)
    frames = codec.encode(Header(body, sender="p0000"), max_header_bytes=cap)
    assert len(frames[0]) > codec.MAX_HEADER_BYTES
    header, _ = codec.decode(frames, max_header_bytes=cap)
    assert header.body == body
    assert players_of(header.body) == players  # every player checked before use
    for refused in (lambda: codec.encode(Header(body)), lambda: codec.decode(frames)):
        with pytest.raises(WireError, match="exceeds") as caught:
            refused()  # a peer that allows only 64 KiB (the default) refuses it
        assert caught.value.reason is Reason.TOO_LARGE


def test_the_roster_bound_holds_a_roster_of_long_names_each_splitting_among_all() -> None:
    n = 48
    body, _ = frozen(n, name_len=16, splits=n)
    size = len(codec.encode(Header(body, sender="x" * 16), max_header_bytes=1 << 30)[0])
    assert size <= columns.roster_bytes(n) < codec.header_cap(n)


def test_only_a_round_open_may_be_larger_than_64_kib() -> None:
    cap = codec.header_cap(128)
    hello = wire.Hello("127.0.0.1:1", models=tuple(f"{i:064x}" for i in range(2000)))
    with pytest.raises(WireError, match="exceeds"):
        codec.encode(Header(hello), max_header_bytes=cap)
    head = {"v": 1, "type": "HELLO", "id": 1, "from": "x", "tensors": [],
            "address": "127.0.0.1:1", "models": list(hello.models)}
    late = {"id": 1, "v": 1, "from": "x", "tensors": [], "type": "ROUND_OPEN",
            "padding": "x" * 70_000}  # names its type, but not where encode puts it
    for raw in (msgpack.packb(head), msgpack.packb(late)):
        assert len(raw) > codec.MAX_HEADER_BYTES
        with pytest.raises(WireError, match="only a ROUND_OPEN") as caught:
            codec.decode([raw], max_header_bytes=cap)
        assert caught.value.reason is Reason.TOO_LARGE


def test_a_round_open_bomb_over_the_cap_is_never_unpacked() -> None:
    cap = codec.header_cap(128)
    start = msgpack.packb({"v": 1, "type": "ROUND_OPEN"})[1:]  # the entries, no map header
    n = cap  # empty maps: ~80 bytes of Python objects each
    bomb = b"\xdf" + (3).to_bytes(4, "big") + start + b"\xa1x\xdd" + n.to_bytes(4, "big") + b"\x80" * n
    tracemalloc.start()
    try:
        with pytest.raises(WireError, match="exceeds"):
            codec.decode([bomb], max_header_bytes=cap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"refusing a header bomb allocated {peak} bytes"


async def test_peers_capped_for_their_members_exchange_a_large_frozen_roster() -> None:
    body, players = frozen(100)
    cap = codec.header_cap(128)
    got: asyncio.Queue = asyncio.Queue()

    async def handler(header: Header, tensors) -> None:
        await got.put(header.body)

    a = ZmqTransport("a", host="127.0.0.1", max_header_bytes=cap)
    b = ZmqTransport("b", host="127.0.0.1", max_header_bytes=cap)
    try:
        serving = asyncio.ensure_future(b.serve(handler))
        await a.send(b.address, Header(body))
        received = await asyncio.wait_for(got.get(), 10)
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    finally:
        await a.aclose()
        await b.aclose()
    assert received == body and players_of(received) == players
