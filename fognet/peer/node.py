"""The peer: one process's parts wired together, each small, all owned by `run()`.

A `Peer` binds its transport at construction (so its address is known at once), then
`run()` starts its parts in ONE `asyncio.TaskGroup`: the transport's server, membership
(HELLO/STATE heartbeats, dead after 3 missed), the bootstrap list and/or the UDP beacon,
and the loop that logs membership events. Cancelling `run()` says BYE (bounded by one
heartbeat), stops them all and closes the sockets; `running()` does that around a block.

Handlers are small and return values (the transport sends them back):
    EXEC       BUSY (ERROR reason BUSY) when the executor's admission refuses (past its
               utilisation cap with work in hand, or its queue full: fognet.peer.admission);
               else ensure the model is here (fetch it by hash from the sender, the source of
               the request, and from no one else: a third party never decides what this
               peer downloads or from whom), queue the subtask on the executor (which
               checks it against the model before building anything), reply RESULT with
               outputs, wait_s, compute_s; its work_ref_s calibrates the executor's speed,
               which STATE advertises; outputs go back as EXEC's `activations` asks
               (raw, fp16, lz4). A model the store refuses (too big, not ONNX,
               external data, fails onnx.checker) is one log line and one ERROR.
    MODEL_GET  reply MODEL_PART: one chunk of the model file, as a uint8 tensor "data"
    PING       reply PONG
    HELLO/STATE/BYE go to membership; anything else gets ERROR UNSUPPORTED.
A handler that raises gets an ERROR reply from the transport; the peer keeps serving.

The peer's node id is its name, so plans, logs and the wire all name peers the same way.
A peer with quota 0 (a pure source, e.g. `fognet infer`) is never planned as a worker by
others. A peer with `keys` runs closed (README: Closed clusters): its transport admits only
the allow-list's keys and says who sent what, an authenticated HELLO tells the transport
where its sender listens, and beacons are acted on only for listed names and keys
(`fognet.peer.trust`); without keys it runs open and warns at every start.

API
    PeerConfig(name, speed=1.0, threads=1, quota=4, host="127.0.0.1", port=0, bootstrap=(),
               discovery=False, broadcast=LOOPBACK_BROADCAST, emulate=False, cache_dir=None,
               profile="", heartbeat_s=1.0, time_scale=1.0, max_model_bytes=MAX_MODEL_BYTES,
               session_cache_bytes=SESSION_CACHE_BYTES, model_cache_bytes=MODEL_CACHE_BYTES,
               cap=0.9, max_queue=16, max_members=DEFAULT_MAX_MEMBERS,
               activations="raw")   activations: how the subtasks it sends carry them, both ways
    Peer(config, *, pacer=None, on_event=None)      on_event(MemberEvent) for each join/leave/death
        .name, .address ("host:port"), .store, .executor
        await .run()                       until cancelled
        async with .running(): ...         run() around a block
        .live_peers() -> dict[name, address]     members believed alive (self included)
        .workers() -> dict[name, address]        other live peers with quota > 0
        .address_of(name) -> str | None
        .cluster_state(links=None, default_link=None) -> ClusterState
        .matchmaker                        DINA-O rounds (fognet.peer.match.matchmaker); MATCH_TYPES go to it
        .matching_state: () -> ClusterState   what its round figures are read from (cluster_state)
        await .run_subtask(peer, job, timeout) -> JobResult   the requester's runner (wire bytes in it;
                                           another peer's through .remote, fognet.peer.remote)
        .wire_ratio                        wire / raw bytes of the activations it exchanged (prices LZ4)
        await .ensure_model(sha256, source) -> Path           fetch by hash if missing
        await .wait_for_peers(count, timeout) -> dict[name, address]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fognet.errors import FognetError, ModelError, PeerUnreachable, Refused
from fognet.net import codec, wire
from fognet.net.bounded import DroppingQueue
from fognet.net.discovery import LOOPBACK_BROADCAST, BeaconDiscovery, BootstrapDiscovery, PeerSeen
from fognet.net.emulation import Pacer
from fognet.net.encodings import WireRatio, pack_tensors
from fognet.net.keys import ClusterKeys
from fognet.net.ratelog import RateLimitedLog
from fognet.net.transport import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_INBOUND, ZmqTransport
from fognet.net.wire import Header, MsgType, Reason
from fognet.partition.cost import ClusterState, LinkState, PeerState
from fognet.peer import chain, trust
from fognet.peer.admission import DEFAULT_CAP, DEFAULT_MAX_QUEUE, Admission
from fognet.peer.executor import (
    MODEL_CACHE_BYTES,
    SESSION_CACHE_BYTES,
    Executor,
    Job,
    JobResult,
    TaskKey,
)
from fognet.peer.fetch import ModelFetcher
from fognet.peer.match.matchmaker import MATCH_TYPES, Matchmaker
from fognet.peer.membership import DEFAULT_MAX_MEMBERS, EventKind, MemberEvent, Membership
from fognet.peer.remote import RemoteRunner
from fognet.peer.store import CHUNK_BYTES, MAX_MODEL_BYTES, ModelStore, check_sha
from fognet.placement.instance import Figures, figures_from_cluster

log = logging.getLogger(__name__)

LOOPBACK_LINK = LinkState(bandwidth=1.25e9, latency=0.0002)  # what planning assumes unemulated
SPARE_CONNECTIONS = 64  # connections beyond the members' (introductions, fetches, rounds, requesters)
SIGHTINGS_QUEUED = 64  # beacon sightings waiting for an introduction; more are dropped


@dataclass(frozen=True)
class PeerConfig:
    name: str
    speed: float = 1.0  # reference-seconds per second
    threads: int = 1  # onnxruntime intra-op threads
    quota: int = 4  # subtasks per matching round; 0: accepts no work (a pure source)
    host: str = "127.0.0.1"
    port: int = 0
    bootstrap: tuple[str, ...] = ()
    discovery: bool = False  # the UDP beacon
    broadcast: str = LOOPBACK_BROADCAST
    keys: ClusterKeys | None = None  # closed cluster (CurveZMQ, fognet.net.keys); None: open
    advertise: str | None = None  # the host others reach it at, when bound to 0.0.0.0 on a LAN
    emulate: bool = False
    cache_dir: Path | None = None
    profile: str = ""
    heartbeat_s: float = 1.0
    time_scale: float = 1.0  # emulated seconds per device second (see executor)
    max_model_bytes: int = MAX_MODEL_BYTES  # a model fetched from a peer may be at most this big
    memory: float | None = None  # bytes lent to partitions, advertised in HELLO/STATE (None: no limit)
    session_cache_bytes: int = SESSION_CACHE_BYTES  # built sessions kept (LRU, estimated bytes)
    model_cache_bytes: int = MODEL_CACHE_BYTES  # loaded models kept (LRU, estimated bytes)
    cap: float = DEFAULT_CAP  # share of its time it lends: past it, EXECs that would queue get BUSY
    max_queue: int = DEFAULT_MAX_QUEUE  # EXECs waiting at most; more get BUSY
    activations: str = "raw"  # how the subtasks it sends carry activations: raw | fp16 | lz4
    max_members: int = DEFAULT_MAX_MEMBERS  # peers it keeps track of; newcomers past it are refused


class Peer:
    """See the module docstring."""

    def __init__(
        self,
        config: PeerConfig,
        *,
        pacer: Pacer | None = None,
        on_event: Callable[[MemberEvent], None] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        if config.keys is not None:
            config.keys.check_name(config.name)
            trust.check_bootstrap(config.bootstrap, config.keys)
        self.transport = ZmqTransport(
            config.name, host=config.host, port=config.port, pacer=pacer,
            keys=config.keys, advertise_host=config.advertise,
            max_connections=max(DEFAULT_MAX_CONNECTIONS, config.max_members + SPARE_CONNECTIONS),
            max_inbound=max(DEFAULT_MAX_INBOUND, config.max_members + SPARE_CONNECTIONS),
            max_header_bytes=codec.header_cap(config.max_members),  # a round of every member
        )
        self.address = self.transport.address
        self.store = ModelStore(config.cache_dir, max_model_bytes=config.max_model_bytes)
        self.executor = Executor(
            self.store, threads=config.threads, speed=config.speed, emulate=config.emulate,
            time_scale=config.time_scale, session_cache_bytes=config.session_cache_bytes,
            model_cache_bytes=config.model_cache_bytes,
            admission=Admission(cap=config.cap, max_queue=config.max_queue),
        )
        self._events: asyncio.Queue[MemberEvent] = asyncio.Queue()
        self._on_event = on_event
        self.membership = Membership(
            self.transport, self._describe, self._events, interval_s=config.heartbeat_s,
            max_members=config.max_members,
        )
        self.fetcher = ModelFetcher(self.name, self.store, self.transport, self.address_of)
        self.wire_ratio = WireRatio()  # wire bytes / raw bytes of the activations it exchanged
        self.remote = RemoteRunner(self.name, self.transport, self.address_of, config.activations, self.wire_ratio)
        self._warn = RateLimitedLog(log)  # refusals are caused by what arrives: bounded
        self._handlers = {
            MsgType.EXEC: self._on_exec,
            MsgType.MODEL_GET: self._on_model_get,
            MsgType.PING: self._on_ping,
            MsgType.HELLO: self._on_membership,
            MsgType.STATE: self._on_membership,
            MsgType.BYE: self._on_membership,
        }
        # DINA-O: this peer's part in matching rounds (a worker answers PROPOSE etc.; a
        # source plays rounds); its figures come from `matching_state`, which a source
        # session may point at the state it plans with.
        self.matching_state: Callable[[], ClusterState] = self.cluster_state
        self.matchmaker = Matchmaker(self.name, self.transport, self._round_figures)
        self._handlers |= dict.fromkeys(MATCH_TYPES, self._on_match)

    # --- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        log.info("peer %s listening on %s", self.name, self.address)
        trust.announce(self.name, self.config.keys)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.transport.serve(self._dispatch))
                group.create_task(self.membership.run())
                group.create_task(self._report_events())
                group.create_task(self.matchmaker.run())
                if self.config.bootstrap:
                    group.create_task(self._bootstrap())
                if self.config.discovery:
                    group.create_task(self._beacon())
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.membership.leave())
            self.executor.close()
            await self.transport.aclose()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Peer]:
        """`run()` around a block; the block's own errors come out as they are."""
        task = asyncio.create_task(self.run())
        await asyncio.sleep(0)
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- handlers --------------------------------------------------------------------

    def _describe(self) -> wire.Hello:
        held = self.executor.backlog()  # split by source, as rounds read it
        return wire.Hello(
            address=self.address, name=self.name, profile=self.config.profile,
            speed=self.executor.speed, backlog_ref_s=held.total_ref_s, quota=self.config.quota,
            models=self.store.shas(), key=trust.fingerprint_of(self.config.keys),
            memory_bytes=self.config.memory or 0.0,
            backlog_sources=tuple(s for s, _ in held.by_source),
            backlog_source_ref_s=tuple(w for _, w in held.by_source),
        )

    def _round_figures(self) -> Figures:
        """Figures from `matching_state`, my backlog as held now and split by source (a
        round leaves its own sources' part out: `placement.instance.backlog_without`), and
        the cap my admission refuses at, so the round never plans me past it."""
        held = self.executor.backlog()
        return replace(figures_from_cluster(self.name, self.matching_state()),
                       backlog_ref_s=held.total_ref_s, local_backlog_ref_s=held.total_ref_s,
                       backlog_by_source=held.by_source, cap=self.config.cap)

    async def _report_events(self) -> None:
        while True:
            event = await self._events.get()
            if self._on_event is not None:
                self._on_event(event)
            if event.kind is not EventKind.JOIN:  # rounds in play go on without it
                self.matchmaker.peer_dead(event.member.node_id)
            if event.kind is EventKind.LEAVE:
                self.fetcher.forget(event.member.node_id)
            else:  # a late heartbeat is no reason to refuse that peer's next request
                self.fetcher.remember(event.member.node_id, event.member.address)

    async def _bootstrap(self) -> None:
        """HELLO the bootstrap list (and the peers it names) until each has answered."""
        disco = BootstrapDiscovery(
            self.transport, self.membership.hello, self.config.bootstrap,
            interval_s=self.config.heartbeat_s, on_hello=self.membership.heard, learn=self.transport.learn,
        )
        await disco.start()
        try:
            await asyncio.Event().wait()
        finally:
            await disco.stop()

    async def _beacon(self) -> None:
        """Introduce ourselves to every peer the UDP beacon shows that membership lacks."""
        found: asyncio.Queue[PeerSeen] = DroppingQueue(SIGHTINGS_QUEUED)  # a beacon flood: bounded
        disco = BeaconDiscovery(
            self.name, self.address, found, broadcast=self.config.broadcast,
            interval_s=self.config.heartbeat_s, key=trust.fingerprint_of(self.config.keys),
        )
        await disco.start()
        try:
            while True:
                seen = await found.get()
                if not trust.admit(seen, self.config.keys, self.transport):
                    continue
                table = self.membership.table
                if seen.node_id in table or not table.admits(seen.node_id):
                    continue
                try:
                    await self.membership.introduce(seen.address)
                except FognetError:  # a beacon proves nothing: let its connection go
                    if seen.node_id not in table:
                        self.transport.forget(seen.address)
        finally:
            await disco.stop()

    async def _dispatch(self, header: Header, tensors: dict[str, np.ndarray]):
        handler = self._handlers.get(header.type)
        if handler is None:
            raise Refused(f"{self.name} does not handle {header.type.value}", Reason.UNSUPPORTED)
        return await handler(header, tensors)

    async def _on_match(self, header: Header, tensors) -> Header | None:
        return await self.matchmaker.handle(header)

    async def _on_ping(self, header: Header, tensors) -> Header:
        return Header(wire.Pong())

    async def _on_membership(self, header: Header, tensors) -> Header | None:
        if isinstance(header.body, wire.Hello):  # authenticated (closed): it is where it says
            self.transport.learn(header.body.address, header.sender, trusted=True)
        return self.membership.handle(header)

    async def _on_exec(self, header: Header, tensors: dict[str, np.ndarray]):
        body: wire.Exec = header.body
        try:
            sha = check_sha(body.model_sha256)
            if (busy := self.executor.refusal()) is not None:  # bounded queue (fognet.peer.admission)
                raise Refused(f"{self.name} is busy: {busy}", Reason.BUSY)
            await self.ensure_model(sha, header.sender)
            rows = None if body.row_start < 0 else (body.row_start, body.row_stop)
            key = TaskKey(sha, body.node_start, body.node_stop, (), rows)
            source = chain.credited_source(body, header.sender, self.membership.table)  # whose frame
            result = await self.executor.run(Job(key, tensors, max(0.0, body.work_ref_s), source))
        except ModelError as exc:  # one line here and one ERROR there; never a traceback
            self._warn.warning("refused-exec", "%s refused EXEC %s from %s: %s", self.name, body.subtask[:40], header.sender[:40], exc)
            raise
        if body.forward:  # the chain flow: my outputs go on to the next stage, its answer comes back
            return await chain.forward(self.transport, body, result.outputs, source)
        outputs, sent = pack_tensors(result.outputs, body.activations)
        reply = wire.Result(body.task, body.subtask, compute_s=result.compute_s, wait_s=result.wait_s,
                            out_wire_bytes=sent.total)
        return Header(reply), outputs

    async def _on_model_get(self, header: Header, tensors) -> tuple[Header, dict]:
        body: wire.ModelGet = header.body
        sha = check_sha(body.model_sha256)
        if not self.store.has(sha):
            raise Refused(f"{self.name} has no model {sha[:12]}...", Reason.NOT_FOUND)
        if not 0 <= body.offset_bytes < self.store.size(sha):
            raise Refused(f"offset {body.offset_bytes} is outside model {sha[:12]}... ({self.store.size(sha)} bytes)",
                          Reason.NOT_FOUND)
        data = self.store.read_chunk(sha, body.offset_bytes, max(1, min(body.max_bytes, CHUNK_BYTES)))
        part = wire.ModelPart(sha, body.offset_bytes, self.store.size(sha))
        return Header(part), {"data": np.frombuffer(data, dtype=np.uint8)}

    # --- models ----------------------------------------------------------------------

    async def ensure_model(self, sha256: str, source: str) -> Path:
        """The model file with this hash, fetched once from `source` if this peer lacks it."""
        return await self.fetcher.ensure(sha256, source)

    # --- being a source --------------------------------------------------------------

    async def run_subtask(self, peer: str, job: Job, timeout: float) -> JobResult:
        """Run `job` on `peer`: this peer's own executor when it is itself, else EXEC
        (`fognet.peer.remote`, which says the bytes the wire carried)."""
        if peer == self.name:  # my own frame's stage: my share of my backlog
            return await self.executor.run(replace(job, source=job.source or self.name))
        return await self.remote.run(peer, job, timeout)

    def address_of(self, name: str) -> str | None:
        member = self.membership.table.get(name)
        return member.address if member else None

    def live_peers(self) -> dict[str, str]:
        members = {m.node_id: m.address for m in self.membership.table.alive()}
        return {self.name: self.address, **members}

    def workers(self) -> dict[str, str]:
        """Other live peers that accept work (quota > 0)."""
        return {m.node_id: m.address for m in self.membership.table.alive() if m.quota > 0}

    def cluster_state(
        self,
        links: Mapping[tuple[str, str], LinkState] | None = None,
        default_link: LinkState | None = LOOPBACK_LINK,
    ) -> ClusterState:
        """Peers as membership last heard them (this one as it is now), for planning."""
        peers = [PeerState(self.name, self.executor.speed, self.executor.backlog_s, self.config.quota,
                           memory=self.config.memory)]
        peers += [
            PeerState(m.node_id, m.speed, m.backlog_ref_s, m.quota, memory=m.memory_bytes or None)
            for m in self.membership.table.alive()
            if m.quota > 0
        ]
        return ClusterState.of(peers, links, default_link)

    async def wait_for_peers(self, count: int, timeout: float) -> dict[str, str]:
        """Until `count` peers (self included) are live; PeerUnreachable after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.live_peers()) < count:
            if loop.time() > deadline:
                raise PeerUnreachable(
                    f"{self.name} sees {len(self.live_peers()) - 1} other peers after {timeout:.1f} s, "
                    f"expected {count - 1}"
                )
            await asyncio.sleep(0.05)
        return self.live_peers()

