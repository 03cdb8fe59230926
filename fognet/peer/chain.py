"""The worker's half of the chain data flow: run my stage, hand the result to the next.

An EXEC whose `forward` lists further hops ("host:port/start/stop", one per stage after
this one) is a chained frame: once this peer's stage is done, its outputs go straight to
the next hop as an EXEC carrying the rest of the list, and the last hop's RESULT comes
back along the chain to the source. This peer's executor is free as soon as its stage
is computed, so the source's next frame runs here while this one moves on: the frames
are pipelined. The next hop fetches the model, if it lacks it, from this peer (the sender
of its request), never from a third party.

Whose work a hop holds: the frame's source, not the worker that forwarded it (issue 11: a
car's queued chain frames were credited to the upstream worker, so a round the car played
counted them as q_p). The first hop credits its EXEC's authenticated sender and passes that
name on as `Exec.frame_source`; each later hop passes on the name it credited. A hop
believes a claimed source only where a forwarded frame can come from (`credited_source`):
a stage past the frame's input (node_start > 0), sent by a worker (quota > 0, as chain hops
are), naming another member. Anything else is credited to the sender, so a source's own
EXEC (at node 0, or from a peer that takes no work, as cars and `fognet infer` do) cannot
pass its frames off as another's to leave a round's q_p. A worker that forwards is trusted
with the name as it is trusted with the activations it sends on. So a worker that is also
a source can label its own later stages' frames as another member's: a later hop cannot
tell them from frames it forwards (only the first hop saw who sent the frame), and no
check of what the hop knows can; it takes the source's signature on the name. The lie
moves only the liar's own work between two sources' parts of the hop's backlog.

API
    format_hop(address, start, stop) -> str;  parse_hop(hop) -> (address, start, stop)
    credited_source(body, sender, members) -> str   whose backlog an EXEC's job counts in
    next_exec(body, source) -> (address, Exec);  await forward(transport, body, outputs, source)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fognet.errors import WireError
from fognet.net import wire
from fognet.net.wire import Header

if TYPE_CHECKING:
    from fognet.peer.membership import MembershipTable

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


def credited_source(body: wire.Exec, sender: str, members: MembershipTable) -> str:
    """The source an EXEC's job is credited to: the claimed `frame_source` where a forwarded
    frame can come from, else the authenticated sender (module docstring)."""
    claimed = body.frame_source
    if not claimed or claimed == sender or body.node_start <= 0:
        return sender
    hop = members.get(sender)
    if hop is None or hop.quota <= 0 or members.get(claimed) is None:
        return sender
    return claimed


def next_exec(body: wire.Exec, source: str) -> tuple[str, wire.Exec]:
    """The address of the next hop and the EXEC it gets (the rest of the chain in tow, and
    `source`, the frame's source as this hop credited it)."""
    address, start, stop = parse_hop(body.forward[0])
    nxt = wire.Exec(
        task=body.task, subtask=body.subtask, model_sha256=body.model_sha256,
        node_start=start, node_stop=stop, forward=body.forward[1:], frame_source=source,
    )
    return address, nxt


async def forward(transport, body: wire.Exec, outputs: dict, source: str) -> tuple[Header, dict]:
    """Send my stage's outputs on to the next hop and return the chain's final RESULT."""
    address, nxt = next_exec(body, source)
    reply, tensors = await transport.request(address, Header(nxt), outputs, timeout_s=HOP_TIMEOUT_S)
    return Header(reply.body), dict(tensors)
