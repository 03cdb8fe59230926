"""Hostile messages for fuzzing a peer: seeded, fast, and shaped like what an attacker sends.

    fuzzer = Fuzzer(seed=1, target="f1", addresses=["127.0.0.1:40001", ...])
    family, frames = fuzzer.message()        # frames: list[bytes], frame 0 the would-be header

Families (each drawn equally often, `FAMILIES`):
    bytes     1-3 frames of random bytes (now and then a frame 0 over the header cap)
    msgpack   a random msgpack value (nested lists, maps, ints, floats, bytes) as the header
    mutated   a schema-valid header of a random type, then keys deleted, retyped, added, the
              version/type/id/from changed, or frame 0's bytes flipped or cut
    tensors   a valid header whose tensor list lies: frame counts, dtypes, shapes (negative,
              huge, zero with huge, not ints), and frames of the wrong length
    values    a schema-valid body of a random type with hostile values (NaN, inf, 2^63, -1,
              empty and 4 KB strings, random hashes, node ranges and rows out of range)
              that the codec passes and the handlers must refuse

Every address a message names (HELLO's, a roster's) is one of `addresses` or a string that
is not host:port, never a host name: fuzzing must not reach out of 127.0.0.1, nor another
process's ports (give it loopback ports bound but not listening). HELLO/STATE/BYE come from
a pool of member names, every other type from a disjoint pool of strangers: a stranger's
EXEC is then refused at once instead of waiting for a model fetch from a fake member's dead
address (bounded, but by a 10 s timeout, which would turn the fuzz into a test of timeouts).

This is plain `random`, not hypothesis, so a benchmark can send 100,000 of them; the
tests drive hypothesis strategies of their own over the same schema.

    with dead_addresses(16) as addresses: ...       # loopback ports bound, never listening
    report = blast("127.0.0.1:5001", fuzzer.messages(10_000))   # sync: run it in a thread
    report.sent, report.replies, report.errors[Reason.MALFORMED], report.seconds
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import socket
import time
import types
import typing
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from enum import Enum

import msgpack
import numpy as np
import zmq

from fognet.errors import WireError
from fognet.net import codec
from fognet.net.wire import ALLOWED_DTYPES, BODIES, PROTOCOL_VERSION, Error, Header, MsgType, Ping

FAMILIES = ("bytes", "msgpack", "mutated", "tensors", "values")
MEMBER_TYPES = frozenset({MsgType.HELLO, MsgType.STATE, MsgType.BYE})
MEMBERS = 1000  # distinct member names the fuzz claims
STRANGERS = 1000
_DTYPES = sorted(ALLOWED_DTYPES)
_INTS = (0, 1, -1, 2, 7, 2**31 - 1, 2**31, 2**63 - 1, -(2**63), 2**64 - 1)
_FLOATS = (0.0, -0.0, 1.0, -1.0, 1e-300, 1e308, math.inf, -math.inf, math.nan)


class Fuzzer:
    """See the module docstring."""

    def __init__(self, seed: int, target: str, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError("the fuzzer needs at least one address it may name")
        self.rng = random.Random(seed)
        self.target = target
        self.addresses = tuple(addresses)
        self.types = sorted(BODIES, key=lambda t: t.value)
        self._fields = {t: _fields(BODIES[t]) for t in self.types}

    def message(self) -> tuple[str, list[bytes]]:
        family = self.rng.choice(FAMILIES)
        return family, getattr(self, f"_{family}")()

    def messages(self, count: int) -> Iterator[tuple[str, list[bytes]]]:
        return (self.message() for _ in range(count))

    # --- families ---------------------------------------------------------------------

    def _bytes(self) -> list[bytes]:
        rng = self.rng
        frames = [rng.randbytes(rng.randint(0, 200)) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.05:
            frames[0] = b"\xdd\x00\x01\x00\x00" + b"\x80" * 70_000  # a header bomb, over the cap
        return frames

    def _msgpack(self) -> list[bytes]:
        return [msgpack.packb(self._any(3), use_bin_type=True),
                *(self.rng.randbytes(self.rng.randint(0, 64)) for _ in range(self.rng.randint(0, 2)))]

    def _mutated(self) -> list[bytes]:
        rng = self.rng
        head, frames = self._valid()
        for _ in range(rng.randint(1, 3)):
            choice = rng.randrange(6)
            if choice == 0 and head:
                del head[rng.choice(sorted(head))]
            elif choice == 1 and head:
                head[rng.choice(sorted(head))] = self._any(2)
            elif choice == 2:
                head[self._text()] = self._any(1)
            elif choice == 3:
                head[rng.choice(("v", "type", "id", "from"))] = rng.choice(
                    (0, 2, "1", None, "PING", "TELEPORT", -1, 2**64 - 1, "", self.target))
        packed = bytearray(msgpack.packb(head, use_bin_type=True))
        if rng.random() < 0.3 and packed:
            for _ in range(rng.randint(1, 4)):
                packed[rng.randrange(len(packed))] = rng.randrange(256)
        if rng.random() < 0.1:
            del packed[rng.randrange(len(packed) + 1):]
        return [bytes(packed), *frames]

    def _tensors(self) -> list[bytes]:
        rng = self.rng
        head, _ = self._valid()
        descs, frames = [], []
        for i in range(rng.randint(1, 4)):
            dtype = rng.choice(_DTYPES) if rng.random() < 0.8 else rng.choice(("object", "U8", "complex64", 3))
            shape = [rng.choice((0, 1, 3, 4, 16, 224)) for _ in range(rng.randint(0, 4))]
            if rng.random() < 0.5:
                shape.append(rng.choice((-1, 2**31, 2**63 - 1, 2**64 - 1, 1.5, "3", None, [2])))
            descs.append([rng.choice((f"t{i}", "input", "x", "")), dtype, shape])
            size = rng.choice((0, 1, 7, 8, 48, 64, 4096))
            if rng.random() < 0.4 and dtype in ALLOWED_DTYPES and all(type(d) is int and 0 <= d < 512 for d in shape):
                consistent = np.dtype(dtype).itemsize * math.prod(shape)  # it reaches the handler
                size = consistent if consistent <= 1 << 16 else size
            frames.append(rng.randbytes(size))
        if rng.random() < 0.3:
            frames = frames[: rng.randrange(len(frames) + 1)] + [b"\x00" * rng.randint(0, 9)]
        head["tensors"] = descs
        return [msgpack.packb(head, use_bin_type=True), *frames]

    def _values(self) -> list[bytes]:
        return [msgpack.packb(self._valid()[0], use_bin_type=True)]

    # --- a schema-valid header with hostile values -------------------------------------

    def _valid(self) -> tuple[dict, list[bytes]]:
        rng = self.rng
        msg_type = rng.choice(self.types)
        pool, count = ("member", MEMBERS) if msg_type in MEMBER_TYPES else ("stranger", STRANGERS)
        sender = f"{pool}-{rng.randrange(count)}"
        length = rng.choice((0, 1, 1, 2, 3, 20))  # one length for every tuple: they line up
        head = {"v": PROTOCOL_VERSION, "type": msg_type.value, "id": rng.choice(_INTS[:5] + (rng.randrange(1 << 32),)),
                "from": sender, "tensors": []}
        for field, hint, optional in self._fields[msg_type]:
            if optional and rng.random() < 0.3:
                continue  # optional fields are often left out
            head[field] = self._value(field, hint, length, sender)
        if msg_type is MsgType.ROUND_OPEN and rng.random() < 0.5:  # one that names us: we join it
            names = [sender, self.target, *head.get("roster", [])[:2]]
            head["roster"], head["addresses"] = names, [rng.choice(self.addresses) for _ in names]
            head["budget_s"] = rng.choice((0.0, 0.5, 1.0, 1e9, math.nan))
        return head, []

    def _value(self, name: str, hint, length: int, sender: str):
        rng = self.rng
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            inner = next(a for a in args if a is not type(None))
            return None if rng.random() < 0.3 else self._value(name, inner, length, sender)
        if origin is tuple:
            return [self._value(name, args[0], length, sender) for _ in range(length)]
        if isinstance(hint, type) and issubclass(hint, Enum):
            return rng.choice([m.value for m in hint]) if rng.random() < 0.9 else self._text()
        if hint is bool:
            return rng.random() < 0.5
        if hint is int:
            return rng.choice(_INTS) if rng.random() < 0.6 else rng.randint(-5, 300)
        if hint is float:
            return rng.choice(_FLOATS) if rng.random() < 0.6 else rng.uniform(0, 10)
        if "address" in name or name == "peers":
            return rng.choice(self.addresses) if rng.random() < 0.7 else rng.choice(("nowhere", ":", "127.0.0.1:0", ""))
        if "sha256" in name or name == "models":
            return rng.randbytes(32).hex() if rng.random() < 0.7 else self._text()
        return rng.choice((sender, self.target, f"{self.target}#w", self._text()))

    # --- primitives -------------------------------------------------------------------

    def _text(self) -> str:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return ""
        if kind == 1:
            return "".join(rng.choice("abcxyz019#:/.\u00e9\u4e2d\U0001f600") for _ in range(rng.randint(1, 12)))
        if kind == 2:
            return "A" * 4096
        return rng.choice(("round", "address", "x", "..", "../etc/passwd", "\x00"))

    def _any(self, depth: int):
        rng = self.rng
        kind = rng.randrange(8 if depth > 0 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice(_INTS)
        if kind == 2:
            return rng.choice(_FLOATS)
        if kind == 3:
            return self._text()
        if kind == 4:
            return rng.randbytes(rng.randint(0, 16))
        if kind == 5:
            return rng.random() < 0.5
        if kind == 6:
            return [self._any(depth - 1) for _ in range(rng.randint(0, 4))]
        return {self._text() if rng.random() < 0.8 else rng.randrange(9): self._any(depth - 1)
                for _ in range(rng.randint(0, 4))}



def _fields(cls: type) -> tuple[tuple[str, typing.Any, bool], ...]:
    """(name, annotation, optional) of each field of a body class, read once."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name], f.default is not dataclasses.MISSING) for f in dataclasses.fields(cls))


@contextlib.contextmanager
def dead_addresses(n: int) -> Iterator[list[str]]:
    """Loopback ports bound but not listening: a connection there is refused at once, and no
    other process on this machine can be listening on them meanwhile."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        yield [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclasses.dataclass(frozen=True)
class BlastReport:
    sent: int  # fuzzed messages sent (the closing PING not counted)
    replies: int  # replies received before the closing PONG
    errors: Counter  # Reason -> ERROR replies
    families: Counter  # family -> messages sent
    seconds: float  # from the first send to the closing PONG


MARK_ID = 0x7E57  # the closing PING's id


def blast(address: str, messages: Iterable[tuple[str, list[bytes]]], timeout_s: float = 60.0) -> BlastReport:
    """Send (family, frames) `messages` to the ROUTER at `address` from one raw DEALER, as
    fast as it takes them, then a PING; return once its PONG is back (every message before
    it has been read and started). Replies are read as they come and counted by ERROR reason."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDTIMEO, int(timeout_s * 1000))  # a peer that stops reading fails the blast
    sock.connect(f"tcp://{address}")
    errors: Counter = Counter()
    families: Counter = Counter()
    replies = count = 0
    try:
        started = time.perf_counter()
        for family, frames in messages:
            count += 1
            families[family] += 1
            sock.send_multipart(frames)
            while sock.poll(0, zmq.POLLIN):
                replies += 1
                _count_error(sock.recv_multipart(), errors)
        sock.send_multipart(codec.encode(Header(Ping(), id=MARK_ID, sender="fuzz")))
        deadline = time.monotonic() + timeout_s
        while True:
            if not sock.poll(max(0, int((deadline - time.monotonic()) * 1000)), zmq.POLLIN):
                raise TimeoutError(f"no PONG from {address} within {timeout_s} s after the blast")
            frames = sock.recv_multipart()
            if _is_mark(frames):
                break
            replies += 1
            _count_error(frames, errors)
        return BlastReport(count, replies, errors, families, time.perf_counter() - started)
    finally:
        sock.close(0)
        ctx.term()


def _count_error(frames: list, errors: Counter) -> None:
    try:
        header, _ = codec.decode(frames)
    except WireError:
        errors["undecodable reply"] += 1
        return
    if isinstance(header.body, Error):
        errors[header.body.reason] += 1


def _is_mark(frames: list) -> bool:
    try:
        header, _ = codec.decode(frames)
    except WireError:
        return False
    return header.id == MARK_ID and header.type is MsgType.PONG
