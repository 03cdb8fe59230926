"""A source's side of EXEC: one subtask sent to another peer, and the bytes it took.

`Peer.run_subtask` hands every subtask meant for another peer to a `RemoteRunner`: it
packs the inputs as the peer's `activations` setting asks (`net.encodings.pack_tensors`),
sends EXEC and waits for RESULT, then says in the `JobResult` what the wire carried both
ways, which calibrates the link, and adds the activations' raw and wire bytes to the
peer's `WireRatio`, which prices LZ4. A peer that does not answer is a PeerUnreachable
that says after how long and why.

`held_bytes` is the one rule for what tensors weigh as held (a uint8 frame its pixels):
the ratio's raw side here, and a subtask's bytes when its runner does not say what went
on the wire (`infer.wirebytes.wire_bytes`).

API
    held_bytes(tensors) -> int
    RemoteRunner(name, transport, address_of, activations, wire_ratio)
        await .run(peer, job, timeout) -> JobResult   in_/out_wire_bytes as sent
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping

import numpy as np

from fognet.data.source import Pixels
from fognet.errors import PeerUnreachable
from fognet.net import wire
from fognet.net.encodings import WireRatio, pack_tensors
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header
from fognet.peer.executor import Job, JobResult


def held_bytes(tensors: Mapping[str, object]) -> int:
    """The bytes `tensors` take as held: an array's, a uint8 frame's pixels."""
    return sum(int(v.nbytes) if isinstance(v, Pixels) else int(np.asarray(v).nbytes) for v in tensors.values())


class RemoteRunner:
    """Sends a peer's subtasks to other peers (module doc); one per Peer, ids its own."""

    def __init__(self, name: str, transport: ZmqTransport, address_of: Callable[[str], str | None],
                 activations: str, wire_ratio: WireRatio) -> None:
        self.name = name
        self.transport = transport
        self.address_of = address_of
        self.activations = activations
        self.wire_ratio = wire_ratio
        self._ids = itertools.count()

    async def run(self, peer: str, job: Job, timeout: float) -> JobResult:
        """Run `job` on `peer` (a live member) and return its outputs and the bytes sent."""
        addr = self.address_of(peer)
        if addr is None:
            raise PeerUnreachable(f"peer {peer} is not a live member of the cluster")
        key = job.key
        rows = key.rows or (-1, -1)
        body = wire.Exec(
            task=self.name, subtask=str(next(self._ids)), model_sha256=key.sha256,
            node_start=key.start, node_stop=key.stop, row_start=rows[0], row_stop=rows[1],
            work_ref_s=job.work_s, activations=self.activations,
        )
        tensors, sent = pack_tensors(job.tensors, self.activations)
        started = time.monotonic()
        try:
            reply, outputs = await self.transport.request(addr, Header(body), tensors, timeout_s=timeout)
        except PeerUnreachable as exc:  # as it happened: after how long, and why (timeout or gone)
            raise PeerUnreachable(
                f"peer {peer} ({addr}): no answer to nodes [{key.start}, {key.stop}) after "
                f"{time.monotonic() - started:.2f} s (timeout {timeout:.3g} s; {exc})"
            ) from exc
        result: wire.Result = reply.body
        self.wire_ratio.add(sent.raw, sent.wire)
        self.wire_ratio.add(held_bytes(outputs), result.out_wire_bytes)
        return JobResult(dict(outputs), result.wait_s, result.compute_s, sent.total, result.out_wire_bytes)
