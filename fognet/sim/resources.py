"""What frames use: network interfaces and links that share their bandwidth, and compute queues.

Network. A transfer of n bytes from a to b crosses up to three media: the link (a, b)
in that direction (capacity `bw_ab`), and a's and b's interfaces (capacity `nic`, when
the profile gives one; without it an interface is no limit, as DESIGN.md says). Each
medium is a processor-sharing server: the transfers on it at the same moment share its
capacity equally. A transfer passes through its media at the same time (the bytes
stream); a byte that has left the sender's interface or the link still propagates for
`lat_ab`, so the transfer has arrived `lat_ab` after the link and a's interface have
carried all n bytes, and when b's interface has. Alone on idle media that is
`max(lat_ab + n / bw_ab, lat_ab + n / nic_a, n / nic_b)`: a source's send is the stream
cost model's `t_in` (`matching.cost`, DESIGN.md) exactly, also when the source's NIC is
the bottleneck (the planner's `lat + in / min(bw, nic_src)` too); a returning output
differs from the model's `t_out` only where the worker's NIC is slower than the link
(the model leaves out the latency there). With company, every sharing is enforced.
(Counting the latency after the link's bytes alone, as this module once did, let a
send bound by the source's NIC arrive `lat_ab` before both cost models said, and fognet
ran below the idle-cluster floor in sweep-bandwidth at 62.5 MB/s.)

Compute. A worker runs one subtask at a time at `speed` reference-seconds per second,
from a queue served first-come-first-served or shortest-work-first (DESIGN.md's order
for matched subtasks). Its backlog (reference-seconds of accepted work not yet done) is
what the next round's planner and game see.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from fognet.errors import ConfigError
from fognet.sim.engine import Engine

_EPS_BYTES = 1e-12  # relative: ends this close in virtual bytes are the same moment


class _Transfer:
    __slots__ = ("parts", "done")

    def __init__(self, parts: int, done: Callable[[], None]) -> None:
        self.parts = parts
        self.done = done


class Medium:
    """A link direction or an interface: `capacity` bytes/s shared equally by its transfers.

    Processor sharing in virtual time: every transfer on the medium is carried at the
    same rate, so `virtual` (bytes carried per transfer since the start) orders their
    ends, and a heap of each transfer's end in virtual bytes makes joining and leaving
    O(log n) however many transfers share the medium.
    """

    __slots__ = ("name", "capacity", "delay", "busy_s", "_engine", "_heap", "_virtual",
                 "_updated", "_version", "_seq")

    def __init__(self, engine: Engine, name: str, capacity: float, delay: float = 0.0) -> None:
        self._engine = engine
        self.name = name
        self.capacity = float(capacity)
        self.delay = float(delay)  # a link's latency
        self.busy_s = 0.0
        self._heap: list[tuple[float, int, _Transfer, float]] = []
        self._virtual = 0.0
        self._updated = 0.0
        self._version = 0
        self._seq = 0

    @property
    def active(self) -> int:
        return len(self._heap)

    def add(self, transfer: _Transfer, nbytes: float, delay: float = 0.0) -> None:
        """Carry `nbytes` of `transfer`; its part here is done `delay` s after the last byte."""
        self._advance()
        self._seq += 1
        heapq.heappush(self._heap, (self._virtual + float(nbytes), self._seq, transfer, delay))
        self._schedule()

    def _advance(self) -> None:
        now = self._engine.now
        if self._heap:
            self._virtual += self.capacity / len(self._heap) * (now - self._updated)
            self.busy_s += now - self._updated
        self._updated = now

    def _schedule(self) -> None:
        self._version += 1
        if self._heap:
            left = max(self._heap[0][0] - self._virtual, 0.0)
            when = self._engine.now + left * len(self._heap) / self.capacity
            self._engine.at(when, self._tick, self._version)

    def _tick(self, version: int) -> None:
        if version != self._version:
            return  # a transfer joined since: re-scheduled
        self._advance()
        heap = self._heap
        limit = self._virtual + _EPS_BYTES * max(1.0, self._virtual)
        finished = [heapq.heappop(heap)]  # the one this tick was scheduled for
        while heap and heap[0][0] <= limit:
            finished.append(heapq.heappop(heap))
        self._schedule()
        for _, _, transfer, delay in finished:
            if delay > 0:
                self._engine.at(self._engine.now + delay, _part_done, transfer)
            else:
                _part_done(transfer)


def _part_done(transfer: _Transfer) -> None:
    transfer.parts -= 1
    if transfer.parts == 0:
        transfer.done()


class Network:
    """Transfers over shared links and interfaces, timed on an `Engine`."""

    def __init__(self, engine: Engine, link: Callable[[str, str], tuple[float, float]]) -> None:
        self.engine = engine
        self._link_of = link  # (a, b) -> (bytes/s, seconds)
        self._links: dict[tuple[str, str], Medium] = {}
        self._nics: dict[str, Medium] = {}
        self.transfers = 0
        self.bytes_sent = 0.0

    def add_interface(self, peer: str, nic: float | None) -> None:
        if nic:
            self._nics[peer] = Medium(self.engine, f"nic:{peer}", nic)

    def media(self, a: str, b: str) -> list[Medium]:
        link = self._links.get((a, b))
        if link is None:
            bandwidth, latency = self._link_of(a, b)
            link = self._links[(a, b)] = Medium(self.engine, f"{a}->{b}", bandwidth, latency)
        media = [link]
        for peer in (a, b):
            nic = self._nics.get(peer)
            if nic is not None:
                media.append(nic)
        return media

    def send(self, a: str, b: str, nbytes: float, done: Callable[[], None]) -> None:
        """Move `nbytes` from a to b; `done()` runs when the last byte has arrived."""
        engine = self.engine
        if a == b:
            engine.at(engine.now, done)
            return
        media = self.media(a, b)
        self.transfers += 1
        self.bytes_sent += nbytes
        if nbytes <= 0:
            engine.at(engine.now + media[0].delay, done)
            return
        transfer = _Transfer(len(media), done)
        latency = media[0].delay
        media[0].add(transfer, nbytes, latency)  # the link
        for medium in media[1:]:  # the sender's bytes still cross the link; the receiver's have
            medium.add(transfer, nbytes, latency if medium is self._nics.get(a) else 0.0)

    def interfaces(self) -> dict[str, Medium]:
        return dict(self._nics)


@dataclass(order=True)
class _Job:
    key: tuple
    work: float = field(compare=False)
    done: Callable[[float, float], None] = field(compare=False)
    queued_at: float = field(compare=False)


class ComputeQueue:
    """One worker's processor: one job at a time, FIFO or shortest-work-first.

    `done(wait_s, compute_s)` is called when a job ends, with the time it queued and the
    time it ran.
    """

    def __init__(self, engine: Engine, peer: str, speed: float, discipline: str = "fifo", backlog: float = 0.0) -> None:
        if discipline not in ("fifo", "sjf"):
            raise ConfigError(f"queue discipline {discipline!r}: expected 'fifo' or 'sjf'")
        self.engine = engine
        self.peer = peer
        self.speed = float(speed)
        self.sjf = discipline == "sjf"
        self._queue: list[_Job] = []
        self._queued_work = 0.0
        self._seq = 0
        self._running_until = 0.0
        self._busy = False
        self.busy_s = 0.0
        self.jobs = 0
        if backlog > 0:  # work accepted before the simulation starts (another tenant's)
            self.submit(backlog, lambda wait, run: None)

    def backlog(self) -> float:
        """Reference-seconds of work accepted and not yet done, as of now."""
        running = max(self._running_until - self.engine.now, 0.0) * self.speed
        return running + self._queued_work

    def submit(self, work: float, done: Callable[[float, float], None]) -> None:
        self._seq += 1
        key = (work, self._seq) if self.sjf else (self._seq,)
        heapq.heappush(self._queue, _Job(key, work, done, self.engine.now))
        self._queued_work += work
        if not self._busy:
            self._start_next()

    def _start_next(self) -> None:
        if not self._queue:
            self._busy = False
            return
        job = heapq.heappop(self._queue)
        self._queued_work -= job.work
        if not self._queue:
            self._queued_work = 0.0  # no drift from float sums
        self._busy = True
        now = self.engine.now
        run = job.work / self.speed
        self._running_until = now + run
        self.busy_s += run
        self.jobs += 1
        self.engine.at(now + run, self._end, job, now - job.queued_at, run)

    def _end(self, job: _Job, wait: float, run: float) -> None:
        self._start_next()
        job.done(wait, run)
