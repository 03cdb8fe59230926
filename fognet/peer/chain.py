"""The worker's half of the chain data flow: run my stage, hand the result to the next.

An EXEC whose `forward` lists further hops ("host:port/start/stop", one per stage after
this one) is a chained frame: once this peer's stage is done, its outputs go straight to
the next hop as an EXEC carrying the rest of the list, and the last hop's RESULT comes
back along the chain to the source. This peer's executor is free as soon as its stage
is computed, so the source's next frame runs here while this one moves on: the frames
are pipelined. The next hop fetches the model, if it lacks it, from this peer (the sender
of its request), never from a third party.
"""

from __future__ import annotations

from fognet.errors import WireError
from fognet.net import wire
from fognet.net.wire import Header

HOP_TIMEOUT_S = 120.0  # a whole downstream chain's answer; the source's own timeout bounds it too


def format_hop(address: str, start: int, stop: int) -> str:
    return f"{address}/{start}/{stop}"


def parse_hop(hop: str) -> tuple[str, int, int]:
    """("host:port", start, stop) of one forward entry; WireError if malformed."""
    try:
        address, start, stop = hop.rsplit("/", 2)
        first, last = int(start), int(stop)
    except ValueError:
        raise WireError(f"forward hop {hop[:60]!r} is not 'host:port/start/stop'") from None
    if not address or not 0 <= first < last:
        raise WireError(f"forward hop {hop[:60]!r} has no address or an empty node range")
    return address, first, last


def next_exec(body: wire.Exec) -> tuple[str, wire.Exec]:
    """The address of the next hop and the EXEC it gets (the rest of the chain in tow)."""
    address, start, stop = parse_hop(body.forward[0])
    nxt = wire.Exec(
        task=body.task, subtask=body.subtask, model_sha256=body.model_sha256,
        node_start=start, node_stop=stop, forward=body.forward[1:],
    )
    return address, nxt


async def forward(transport, body: wire.Exec, outputs: dict) -> tuple[Header, dict]:
    """Send my stage's outputs on to the next hop and return the chain's final RESULT."""
    address, nxt = next_exec(body)
    reply, tensors = await transport.request(address, Header(nxt), outputs, timeout_s=HOP_TIMEOUT_S)
    return Header(reply.body), dict(tensors)
