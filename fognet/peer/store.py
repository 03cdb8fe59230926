"""Content-addressed model store: models move between peers by sha256, never by name.

A peer keeps the .onnx files it has under `<root>/models/<sha256>.onnx`, where `root` is
`FOGNET_CACHE` (default `~/.cache/fognet`) unless a directory is given (tests give each
peer its own). A source also *registers* files it already has elsewhere (a zoo model in
its cache, a user's .onnx) so it can serve them without a copy. Bytes fetched from
another peer are verified against the hash before they are stored, and written
atomically, so a half-written or corrupt file never answers to a hash.

Models from the network are data, never a way into the disk: `check_model` is the one
gate every model passes before anything builds a session from it. It refuses bytes over
the size cap (announced sizes too, before a byte is fetched), bytes that are not ONNX,
any tensor stored as external data (onnxruntime would read that file relative to the
peer's working directory and hand its bytes back as outputs), and whatever
`onnx.checker` rejects. Each refusal is a one-line ModelError whose `reason` is the wire
Reason an ERROR reply gives for it, so a peer answers and keeps serving. A hash whose
bytes failed the gate stays refused (the bytes ARE the hash), so asking again costs no
second download; the last REFUSALS_KEPT such hashes are remembered.

API
    default_root() -> Path
    check_model(data, origin, max_bytes=None) -> onnx.ModelProto   the gate (ModelError)
    ModelStore(root: Path | None = None, *, max_model_bytes=MAX_MODEL_BYTES)
        .register(path, sha256) -> None        serve an existing file under its hash
        .has(sha256) -> bool
        .shas() -> tuple[str, ...]             every model held (advertised in HELLO/STATE)
        .path(sha256) -> Path                  ModelError if absent
        .size(sha256) -> int
        .load(sha256) -> onnx.ModelProto       read and passed through check_model
        .read_chunk(sha256, offset, size) -> bytes
        .put(data, sha256) -> Path             check hash and model, then store atomically
        .refusal(sha256) -> ModelError | None  why bytes with this hash were refused, if they were
    ModelDownload(sha256, size, max_bytes=MAX_MODEL_BYTES)   reassembles MODEL_PART chunks in order
        .add(offset, data) -> None; .complete -> bool; .data() -> bytes
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import onnx

from fognet.errors import ModelError, ModelRefused, WireError
from fognet.model.load import parse_model
from fognet.net.wire import Reason

CHUNK_BYTES = 1 << 20  # one MODEL_PART carries at most this many bytes
# The largest zoo model (vgg19) is ~550 MB; protobuf cannot parse 2 GiB. A download is held
# in memory until its hash is checked, so this is also what one fetch may cost in RAM.
MAX_MODEL_BYTES = 1 << 30
REFUSALS_KEPT = 256
_SHA = re.compile(r"^[0-9a-f]{64}$")


def default_root() -> Path:
    return Path(os.environ.get("FOGNET_CACHE") or Path.home() / ".cache" / "fognet").expanduser()


def check_sha(sha256: str) -> str:
    """A sha256 is 64 lower-case hex digits; anything else would let a header name a path."""
    if not isinstance(sha256, str) or not _SHA.match(sha256):
        raise WireError(f"model sha256 {str(sha256)[:80]!r} is not 64 lower-case hex digits")
    return sha256


def refused_model(message: str, reason: Reason = Reason.MALFORMED) -> ModelRefused:
    """A refusal of a model from the network, with the Reason its ERROR reply gives."""
    return ModelRefused(message, reason)


def check_size(size: int, max_bytes: int | None, origin: str) -> None:
    """Refuse a model over the cap (called on the announced size, then on the bytes)."""
    if max_bytes is not None and size > max_bytes:
        raise refused_model(
            f"{origin} is {size} bytes, over this peer's model size cap of {max_bytes} bytes",
            Reason.TOO_LARGE,
        )


def check_model(data: bytes, origin: str, max_bytes: int | None = None) -> onnx.ModelProto:
    """The parsed model if `data` is a self-contained, checker-valid ONNX model of at most
    `max_bytes`; else a one-line ModelError (see module docstring). Nothing reads a tensor
    before this returns."""
    check_size(len(data), max_bytes, origin)
    try:
        model = parse_model(data, origin)
    except ModelError as exc:
        raise refused_model(str(exc)) from exc
    for where, tensor in _tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            location = next((e.value for e in tensor.external_data if e.key == "location"), "?")
            raise refused_model(
                f"{origin} refused: tensor {tensor.name or '?'!r} ({where}) is external data at "
                f"{location[:200]!r}; a model from the network must carry its own weights"
            )
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise refused_model(f"{origin} fails onnx.checker: {first[:300]}") from exc
    return model


def _tensors(model: onnx.ModelProto) -> Iterator[tuple[str, onnx.TensorProto]]:
    """Every tensor a model carries: initialisers, sparse ones, node and function attributes,
    and those of every subgraph (If, Loop, Scan bodies), so none escapes the external check."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)
        for attr in function.attribute_proto:
            yield from _attribute_tensors(attr, f"function {function.name}")


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[tuple[str, onnx.TensorProto]]:
    for tensor in graph.initializer:
        yield "initializer", tensor
    for sparse in graph.sparse_initializer:
        yield "sparse initializer", sparse.values
        yield "sparse initializer", sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[tuple[str, onnx.TensorProto]]:
    for attr in node.attribute:
        yield from _attribute_tensors(attr, f"node {node.name or node.op_type}")


def _attribute_tensors(attr: onnx.AttributeProto, where: str) -> Iterator[tuple[str, onnx.TensorProto]]:
    where = f"attribute {attr.name} of {where}"
    if attr.HasField("t"):
        yield where, attr.t
    for tensor in attr.tensors:
        yield where, tensor
    sparse = [attr.sparse_tensor] if attr.HasField("sparse_tensor") else []
    for s in [*sparse, *attr.sparse_tensors]:
        yield where, s.values
        yield where, s.indices
    graphs = [attr.g] if attr.HasField("g") else []
    for graph in [*graphs, *attr.graphs]:
        yield from _graph_tensors(graph)


class ModelStore:
    """The models this peer holds, by content hash (see module docstring)."""

    def __init__(self, root: Path | None = None, *, max_model_bytes: int = MAX_MODEL_BYTES) -> None:
        if max_model_bytes <= 0:
            raise ModelError(f"the model size cap must be positive, got {max_model_bytes}")
        self.root = Path(root) if root is not None else default_root()
        self.max_model_bytes = max_model_bytes
        self._dir = self.root / "models"
        self._registered: dict[str, Path] = {}
        self._stored_shas: set[str] | None = None  # scanned once, then kept up to date
        self._refused: OrderedDict[str, ModelError] = OrderedDict()

    def register(self, path: Path, sha256: str) -> None:
        self._registered[check_sha(sha256)] = Path(path)

    def _stored(self, sha256: str) -> Path:
        return self._dir / f"{check_sha(sha256)}.onnx"

    def shas(self) -> tuple[str, ...]:
        if self._stored_shas is None:
            found = self._dir.glob("*.onnx") if self._dir.is_dir() else ()
            self._stored_shas = {p.stem for p in found if _SHA.match(p.stem)}
        return tuple(sorted(self._stored_shas | set(self._registered)))

    def has(self, sha256: str) -> bool:
        return sha256 in self._registered or self._stored(sha256).is_file()

    def path(self, sha256: str) -> Path:
        if sha256 in self._registered:
            return self._registered[sha256]
        stored = self._stored(sha256)
        if not stored.is_file():
            raise ModelError(f"this peer has no model with sha256 {sha256[:12]}...")
        return stored

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def refusal(self, sha256: str) -> ModelError | None:
        return self._refused.get(sha256)

    def load(self, sha256: str) -> onnx.ModelProto:
        """The model, read and passed through `check_model`: a stored file came from the
        network, so it meets the size cap too; a registered one is this device's own."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model {sha256[:12]}... at {path}: {exc.strerror or exc}") from exc
        cap = None if sha256 in self._registered else self.max_model_bytes
        return check_model(data, f"model {sha256[:12]}...", cap)

    def read_chunk(self, sha256: str, offset: int, size: int = CHUNK_BYTES) -> bytes:
        if offset < 0 or size <= 0:
            raise WireError(f"bad chunk request: offset {offset}, size {size}")
        with open(self.path(sha256), "rb") as fh:
            fh.seek(offset)
            return fh.read(min(size, CHUNK_BYTES))

    def put(self, data: bytes, sha256: str) -> Path:
        """Store `data` as model `sha256` after checking the hash and `check_model`."""
        check_size(len(data), self.max_model_bytes, f"model {sha256[:12]}...")
        actual = hashlib.sha256(data).hexdigest()
        if actual != check_sha(sha256):
            raise refused_model(f"model bytes hash to {actual[:12]}..., expected {sha256[:12]}...")
        try:
            check_model(data, f"model {sha256[:12]}...", self.max_model_bytes)
        except ModelError as exc:
            self._refused[sha256] = exc
            while len(self._refused) > REFUSALS_KEPT:
                self._refused.popitem(last=False)
            raise
        target = self._stored(sha256)
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{id(data)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            if self._stored_shas is not None:
                self._stored_shas.add(sha256)
        except OSError as exc:
            raise ModelError(f"cannot write model cache {self._dir}: {exc.strerror or exc}") from exc
        return target


class ModelDownload:
    """Chunks of one model arriving in order; refuses a chunk that does not fit."""

    def __init__(self, sha256: str, size: int, max_bytes: int = MAX_MODEL_BYTES) -> None:
        if size <= 0:
            raise WireError(f"model {sha256[:12]}... announced with size {size}")
        check_size(size, max_bytes, f"model {sha256[:12]}... (announced)")
        self.sha256 = sha256
        self.size = size
        self._parts: list[bytes] = []
        self._received = 0

    @property
    def received(self) -> int:
        return self._received

    @property
    def complete(self) -> bool:
        return self._received >= self.size

    def add(self, offset: int, data: bytes) -> None:
        if offset != self._received or not data or self._received + len(data) > self.size:
            raise WireError(
                f"model chunk at {offset} (+{len(data)} bytes) does not follow {self._received} of {self.size}"
            )
        self._parts.append(bytes(data))
        self._received += len(data)

    def data(self) -> bytes:
        """The whole model, once: the parts are dropped, so it is not held twice."""
        data = b"".join(self._parts)
        self._parts = [data]
        return data
