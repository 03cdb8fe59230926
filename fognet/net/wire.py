"""The wire schema: every message peers exchange, readable top to bottom.

A message is a `Header` (who sent it, a request id, and a typed body) plus named tensors.
On the wire (see `fognet.net.codec`) frame 0 is a msgpack map
`{v, type, id, from, tensors, <body fields>...}` and frames 1.. are the tensor buffers,
whose dtype and shape travel in `tensors` as `[name, dtype, shape]` (raw bytes) or
`[name, dtype, shape, encoding]` (a uint8 frame, float16 or LZ4: `fognet.net.encodings`).

Each body is a frozen dataclass whose field names carry their units (`_s` seconds,
`_ref_s` reference-seconds of work, `_bytes`, `_Bps` bytes/s). The codec validates every
field against the dataclass annotations, so bodies stay plain typed values; lists of
records travel as parallel tuples, checked in `fognet.net.columns`.

Adding a message type is a local change: add a member to `MsgType`, write a body class
decorated with `@body(MsgType.X)`, done. Adding a field: give it a default, so the codec
still accepts headers that omit it. Supported field types: int, float, str, bool, bytes,
`tuple[str, ...]`, `tuple[int, ...]`, `tuple[float, ...]`, `Reason`, `X | None`.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

import numpy as np

from fognet.errors import WireError
from fognet.net.columns import PlayerColumns, same_length

PROTOCOL_VERSION = 1


def new_node_id() -> str:
    """A fresh random node id; ids are never stored, so each run is a new node."""
    return uuid.uuid4().hex


class MsgType(str, Enum):
    """What the sender of each message means (-> : a request and its reply; one-way: none)."""

    # membership and liveness (fognet/peer/membership.py)
    HELLO = "HELLO"  # I exist, here is how to reach me and what I offer; reply with your HELLO
    STATE = "STATE"  # one-way heartbeat: my current state (backlog, quota, models)
    BYE = "BYE"  # one-way: I am leaving the cluster now; forget me
    PING = "PING"  # are you there? -> PONG
    PONG = "PONG"  # yes, I am here
    # execution and models (fognet/peer/node.py, fognet/infer/requester.py)
    EXEC = "EXEC"  # source -> worker: run this subtask on these input tensors -> RESULT
    RESULT = "RESULT"  # worker -> source: the output tensors of the subtask you sent
    MODEL_GET = "MODEL_GET"  # worker -> source: send me part of the model with this hash -> MODEL_PART
    MODEL_PART = "MODEL_PART"  # source -> worker: these bytes of the model file
    ERROR = "ERROR"  # the reply to any request I could not or would not serve, with a Reason
    # the live matching round (fognet/peer/match/); ids of a peer in the game: its name as a
    # source, "name#w" as a worker
    ROUND_OPEN = "ROUND_OPEN"  # one-way, peer <-> round leader: round r is on; my figures (frozen: all)
    PROPOSE = "PROPOSE"  # source -> worker: hold my subtask this round? -> ACCEPT or REJECT
    ACCEPT = "ACCEPT"  # worker -> source: I hold your subtask (a lighter one may still bump it)
    REJECT = "REJECT"  # worker -> source: I do not hold your subtask, for this reason (the
    # reply to PROPOSE, or a request -> MATCH_ACK when a lighter proposal bumps a held subtask)
    PROPOSALS_DONE = "PROPOSALS_DONE"  # one-way, source -> leader: none of mine unanswered; leader -> workers (everyone): none at all
    HOSTED = "HOSTED"  # one-way, worker -> sources that proposed: phase 1 is over; what I hold
    # (with `home`, source -> sources: my subtasks and their sites after phase 1)
    TURN = "TURN"  # source -> next source: your turn to try phase-2 steps -> MATCH_ACK
    STEP_ASK = "STEP_ASK"  # initiator -> party: what would this step do to your sites? -> STEP_VOTE
    STEP_VOTE = "STEP_VOTE"  # party -> initiator: my latency change (by source), or no and why
    STEP_COMMIT = "STEP_COMMIT"  # one-way, initiator -> every source + touched workers: apply
    # it (the step's parties at once, the other sources batched: several steps in order)
    STEP_ABORT = "STEP_ABORT"  # one-way, initiator -> the parties it locked: the step is off, unlock
    ROUND_DONE = "ROUND_DONE"  # one-way, the source that sees a full idle cycle -> all: game over
    MATCH_ACK = "MATCH_ACK"  # the TURN was taken, or the bump's REJECT re-proposed
    PEER_GONE = "PEER_GONE"  # one-way, peer -> round: this peer did not answer in time, forget it


class Reason(str, Enum):
    """Why a REJECT, STEP_VOTE (ok=False) or ERROR was sent. The matching game's reasons
    (fognet.matching.messages.Reason) are the first seven, with the same names and values."""

    # the matching game: a peer is sane but says no
    QUOTA_FULL = "QUOTA_FULL"  # the worker hosts its quota of subtasks with less work
    WORSE_THAN_HELD = "WORSE_THAN_HELD"  # bumped: a proposal with less work arrived
    OUT_OF_REACH = "OUT_OF_REACH"  # no link between the subtask's source and this worker
    NOT_YOURS = "NOT_YOURS"  # a subtask cannot run on another source's own device
    STALE_STEP = "STALE_STEP"  # the step assumes a placement that is no longer true
    BUSY = "BUSY"  # the party is locked by another step in progress
    STALE_ROUND = "STALE_ROUND"  # the message names a round that is over (or not yet begun)
    # ERROR only: a request refused (fognet.errors.Refused) or a protocol break (WireError)
    NOT_FOUND = "NOT_FOUND"  # unknown model, subtask, round or party
    UNSUPPORTED = "UNSUPPORTED"  # the receiver does not handle (or know) this message type
    MALFORMED = "MALFORMED"  # the message broke the wire schema (detail names the field)
    VERSION = "VERSION"  # unsupported protocol version
    TOO_LARGE = "TOO_LARGE"  # the message exceeds the receiver's size cap
    HANDLER_FAILED = "HANDLER_FAILED"  # the receiver raised while handling the message (a bug)
    NOT_ALLOWED = "NOT_ALLOWED"  # a closed peer: the header claims a sender its key is not


@dataclass(frozen=True)
class TensorDesc:
    """What frame i+1 holds: dtype and shape travel in the header, bytes in the frame."""

    name: str
    dtype: str  # numpy dtype name, one of ALLOWED_DTYPES: what the receiver gets
    shape: tuple[int, ...]
    encoding: dict | None = None  # None: raw bytes; else how the frame encodes them (net.encodings)

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor as received (its raw frame's length when not encoded)."""
        return np.dtype(self.dtype).itemsize * math.prod(self.shape)


# How a sender may carry activations (fognet.net.encodings): as they are, as float16
# (lossy, half the bytes), or LZ4-compressed (lossless).
ACTIVATIONS = ("raw", "fp16", "lz4")

ALLOWED_DTYPES = frozenset(
    "bool int8 uint8 int16 uint16 int32 uint32 int64 uint64 float16 float32 float64".split()
)


class Body:
    """Base of message bodies; `TYPE` is set by the `@body` decorator."""

    TYPE: ClassVar[MsgType]


BODIES: dict[MsgType, type[Body]] = {}


def body(msg_type: MsgType):
    """Register a frozen dataclass as the body of `msg_type`."""

    def register(cls: type) -> type:
        cls = dataclass(frozen=True)(cls)
        cls.TYPE = msg_type
        BODIES[msg_type] = cls
        return cls

    return register


@dataclass(frozen=True)
class Header:
    """Frame 0 of a message. `id` pairs a reply with its request; the transport sets `id`
    and `sender` on what it sends, so handlers may leave them at their defaults."""

    body: Body
    id: int = 0
    sender: str = ""  # node id ("from" on the wire)

    @property
    def type(self) -> MsgType:
        return self.body.TYPE


# --- membership and liveness -------------------------------------------------------------


@body(MsgType.HELLO)
class Hello(Body):
    address: str  # "host:port" of the sender's ROUTER
    name: str = ""  # human name from the peer profile, e.g. "car1"
    profile: str = ""  # profile/device kind, e.g. "jetson-nano"
    speed: float = 1.0  # reference-seconds of work done per second
    backlog_ref_s: float = 0.0  # accepted work not yet done
    quota: int = 0  # subtasks accepted per round
    models: tuple[str, ...] = ()  # sha256 of the model files the sender holds
    peers: tuple[str, ...] = ()  # "name@host:port" of other peers the sender knows (gossip)
    instance: str = ""  # random per run: tells two peers using the same name apart
    heartbeat_s: float = 0.0  # the sender's STATE interval; it is dead after 3 of these (0: unknown)
    key: str = ""  # a closed peer's public-key fingerprint (fognet.net.keys); "" when open
    memory_bytes: float = 0.0  # memory the peer lends to partitions (weights + activations); 0: not said
    # backlog_ref_s split by the source whose frames it is (their EXECs' senders; the peer's
    # own stages under its name): a round takes its own sources' part out (`backlog_split`)
    backlog_sources: tuple[str, ...] = ()
    backlog_source_ref_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        same_length("backlog split", backlog_sources=self.backlog_sources,
                    backlog_source_ref_s=self.backlog_source_ref_s)


@body(MsgType.STATE)
class State(Hello):
    pass


@body(MsgType.BYE)
class Bye(Body):
    pass


@body(MsgType.PING)
class Ping(Body):
    pass


@body(MsgType.PONG)
class Pong(Body):
    pass


# --- execution and models ----------------------------------------------------------------


@body(MsgType.EXEC)
class Exec(Body):
    task: str
    subtask: str
    model_sha256: str
    node_start: int  # compute nodes [node_start, node_stop) of the model
    node_stop: int
    row_start: int = -1  # output rows of a spatial slice; -1 = the whole stage
    row_stop: int = -1
    work_ref_s: float = 0.0  # the sender's predicted reference-seconds (0: unknown); calibrates speed
    activations: str = "raw"  # how to send the outputs back: one of ACTIVATIONS

    forward: tuple[str, ...] = ()  # chain flow: "host:port/start/stop" of each later stage (peer/chain.py)
    # chain flow: the source whose frame this is, as the first hop saw its sender ("": the
    # sender's own frame); credits its backlog, if the receiver believes it (peer/chain.py)
    frame_source: str = ""

    def __post_init__(self) -> None:
        if self.activations not in ACTIVATIONS:  # refused before the subtask runs
            raise WireError(f"activations: {self.activations!r} is not one of {ACTIVATIONS}")


@body(MsgType.RESULT)
class Result(Body):
    task: str
    subtask: str
    compute_s: float = 0.0  # measured run time on the worker
    wait_s: float = 0.0  # time the subtask waited in the worker's queue
    out_wire_bytes: int = -1  # bytes the output tensors take in this message (-1: not said)


@body(MsgType.ERROR)
class Error(Body):
    reason: Reason
    detail: str = ""


@body(MsgType.MODEL_GET)
class ModelGet(Body):
    model_sha256: str
    offset_bytes: int = 0
    max_bytes: int = 8 << 20


@body(MsgType.MODEL_PART)
class ModelPart(Body):
    """The bytes travel as one uint8 tensor named "data"."""

    model_sha256: str
    offset_bytes: int
    total_bytes: int


# --- the live matching round --------------------------------------------------------------
# Step ids are ints, unique per initiator (its agent counts them): (initiator, step) names a
# step, and a lock. Every STEP_* body carries the same int.


MAX_ROUND = 2**62  # round numbers (and one past them) always fit the wire's int64


@body(MsgType.ROUND_OPEN)
class RoundOpen(PlayerColumns, Body):
    """Who plays a round, agreed through its leader (fognet/peer/match/opening.py): a peer
    tells the leader its figures and what it knows of the round (again whenever that
    grows); the leader calls every roster peer with it (a peer it reaches joins the round),
    and once it froze the round sends every player the frozen roster with every player's
    figures (the `p_` columns of `fognet.net.columns.PlayerColumns`, keyword-only)."""

    round: int
    budget_s: float  # seconds left until the round's deadline, at the sender, when sent
    roster: tuple[str, ...]  # names of the peers that play the round
    addresses: tuple[str, ...]  # "host:port" of each, in roster order
    rule: str = "welfare"
    quota: int = 0  # as a worker: subtasks accepted this round (0: not a worker)
    speed: float = 1.0  # as a worker: reference-seconds per second
    backlog_ref_s: float = 0.0  # as a worker
    backlog_sources: tuple[str, ...] = ()  # both backlogs split by source, as in HELLO
    backlog_source_ref_s: tuple[float, ...] = ()
    source: bool = False  # has subtasks this round
    local_speed: float = 1.0  # as a source: its own device
    local_backlog_ref_s: float = 0.0
    link_peers: tuple[str, ...] = ()  # as a source: the peers whose worker it reaches
    link_Bps: tuple[float, ...] = ()
    link_latency_s: tuple[float, ...] = ()
    cap: float = 0.9  # as a worker: the utilisation it lends at most
    rate: float = 1.0  # as a source: frames/s
    nic_Bps: float = 0.0  # the peer's interface bandwidth (both roles); 0: no limit
    sources: tuple[str, ...] = ()  # the round's sources as far as the sender knows
    frozen: bool = False  # the sender settled who plays: adopt its roster and sources
    hold_s: float = 0.0  # keep the round open at least this long (s from sending): gathering
    latest: int = 0  # the highest round played to its end at the sender (a late source starts past it)

    def __post_init__(self) -> None:
        for name, n in (("round", self.round), ("latest", self.latest)):
            if not 0 <= n <= MAX_ROUND:
                raise WireError(f"ROUND_OPEN {name}: {n} is not in [0, {MAX_ROUND}]")
        same_length("ROUND_OPEN roster", roster=self.roster, addresses=self.addresses)
        same_length("ROUND_OPEN links", link_peers=self.link_peers, link_Bps=self.link_Bps,
                    link_latency_s=self.link_latency_s)
        same_length("ROUND_OPEN backlog split", backlog_sources=self.backlog_sources,
                    backlog_source_ref_s=self.backlog_source_ref_s)
        self.check_players(self.roster)


@body(MsgType.PROPOSE)
class Propose(Body):
    round: int
    subtask: str
    source: str
    work_ref_s: float
    in_bytes: int
    out_bytes: int
    stage: int = 0  # the source's stage the subtask is a slice of


@body(MsgType.ACCEPT)
class Accept(Body):
    round: int
    subtask: str


@body(MsgType.REJECT)
class Reject(Body):
    round: int
    subtask: str
    reason: Reason


@body(MsgType.PROPOSALS_DONE)
class ProposalsDone(Body):
    round: int
    everyone: bool = False  # from the round's leader: every live source is done (else: the sender)


@body(MsgType.HOSTED)
class Hosted(Body):
    """Subtask i: (subtasks[i], sources[i], work_ref_s[i], in_bytes[i], out_bytes[i], stages[i])."""

    round: int
    subtasks: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    work_ref_s: tuple[float, ...] = ()
    in_bytes: tuple[int, ...] = ()
    out_bytes: tuple[int, ...] = ()
    stages: tuple[int, ...] = ()
    home: bool = False  # from a source to the others: its subtasks after phase 1, each at
    sites: tuple[str, ...] = ()  # sites[i] (its own name, or a worker's game id; none: home)

    def __post_init__(self) -> None:
        same_length("HOSTED", subtasks=self.subtasks, sources=self.sources,
                    work_ref_s=self.work_ref_s, in_bytes=self.in_bytes, out_bytes=self.out_bytes,
                    stages=self.stages)
        if self.sites:
            same_length("HOSTED sites", subtasks=self.subtasks, sites=self.sites)


@body(MsgType.TURN)
class Turn(Body):
    round: int
    idle: int  # sources in a row that found no approvable step
    commits: int = 0  # STEP_COMMITs of the game so far: the new holder applies them all first


@body(MsgType.STEP_ASK)
class StepAsk(Body):
    """Change i moves subtask i (with its source, work and bytes) from frm[i] to to[i]."""

    round: int
    step: int  # unique per initiator
    kind: str  # "move", "swap" or "displace"
    party: str  # the game id asked: a peer's name as a source, "name#w" as a worker
    subtasks: tuple[str, ...]
    sources: tuple[str, ...]
    work_ref_s: tuple[float, ...]
    in_bytes: tuple[int, ...]
    out_bytes: tuple[int, ...]
    frm: tuple[str, ...]
    to: tuple[str, ...]
    stages: tuple[int, ...] = ()
    commits: int = 0  # STEP_COMMITs sent to the party's role so far: it votes once it has them

    def __post_init__(self) -> None:
        same_length("STEP_ASK", subtasks=self.subtasks, sources=self.sources,
                    work_ref_s=self.work_ref_s, in_bytes=self.in_bytes,
                    out_bytes=self.out_bytes, frm=self.frm, to=self.to, stages=self.stages)


@body(MsgType.STEP_VOTE)
class StepVote(Body):
    round: int
    step: int
    ok: bool  # False: the party refuses (reason says why)
    delta_s: float = 0.0  # change of the total latency on the party's sites
    by_source: tuple[str, ...] = ()  # the same change split by source
    by_source_delta_s: tuple[float, ...] = ()
    reason: Reason | None = None

    def __post_init__(self) -> None:
        same_length("STEP_VOTE", by_source=self.by_source,
                    by_source_delta_s=self.by_source_delta_s)


@body(MsgType.STEP_COMMIT)
class StepCommit(Body):
    round: int
    step: int
    kind: str
    subtasks: tuple[str, ...]
    sources: tuple[str, ...]
    work_ref_s: tuple[float, ...]
    in_bytes: tuple[int, ...]
    out_bytes: tuple[int, ...]
    frm: tuple[str, ...]
    to: tuple[str, ...]
    stages: tuple[int, ...] = ()
    # a batch (`sizes` given): several steps' commits in the order made, commit k the next
    # sizes[k] changes, of step steps[k] and kind kinds[k] (`step` and `kind`: the last's)
    steps: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        same_length("STEP_COMMIT", subtasks=self.subtasks, sources=self.sources,
                    work_ref_s=self.work_ref_s, in_bytes=self.in_bytes,
                    out_bytes=self.out_bytes, frm=self.frm, to=self.to, stages=self.stages)
        same_length("STEP_COMMIT batch", steps=self.steps, kinds=self.kinds, sizes=self.sizes)
        if self.sizes and (min(self.sizes) < 1 or sum(self.sizes) != len(self.subtasks)):
            raise WireError(f"STEP_COMMIT sizes: each >= 1, adding up to the "
                            f"{len(self.subtasks)} changes listed")


@body(MsgType.STEP_ABORT)
class StepAbort(Body):
    round: int
    step: int


@body(MsgType.ROUND_DONE)
class RoundDone(Body):
    round: int
    commits: int = 0  # STEP_COMMITs of the game (a source's), and those to the peer's worker:
    worker_commits: int = 0  # the game ends here once they are applied


@body(MsgType.MATCH_ACK)
class MatchAck(Body):
    round: int


@body(MsgType.PEER_GONE)
class PeerGone(Body):
    round: int
    peer: str  # the peer's name
