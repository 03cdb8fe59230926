"""Content-addressed model store: models move between peers by sha256, never by name.

A peer keeps the .onnx files it has under `<root>/models/<sha256>.onnx`, where `root` is
`FOGNET_CACHE` (default `~/.cache/fognet`) unless a directory is given (tests give each
peer its own). A source also *registers* files it already has elsewhere (a zoo model in
its cache, a user's .onnx) so it can serve them without a copy. Bytes fetched from
another peer are verified against the hash before they are stored, and written
atomically, so a half-written or corrupt file never answers to a hash.

API
    default_root() -> Path
    ModelStore(root: Path | None = None)
        .register(path, sha256) -> None        serve an existing file under its hash
        .has(sha256) -> bool
        .shas() -> tuple[str, ...]             every model held (advertised in HELLO/STATE)
        .path(sha256) -> Path                  ModelError if absent
        .size(sha256) -> int
        .read_chunk(sha256, offset, size) -> bytes
        .put(data, sha256) -> Path             verify, then store atomically (ModelError on mismatch)
    ModelDownload(sha256, size)                reassembles MODEL_PART chunks in order
        .add(offset, data) -> None; .complete -> bool; .data() -> bytes
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from fognet.errors import ModelError, WireError

CHUNK_BYTES = 1 << 20  # one MODEL_PART carries at most this many bytes
_SHA = re.compile(r"^[0-9a-f]{64}$")


def default_root() -> Path:
    return Path(os.environ.get("FOGNET_CACHE") or Path.home() / ".cache" / "fognet").expanduser()


def check_sha(sha256: str) -> str:
    """A sha256 is 64 lower-case hex digits; anything else would let a header name a path."""
    if not isinstance(sha256, str) or not _SHA.match(sha256):
        raise WireError(f"model sha256 {str(sha256)[:80]!r} is not 64 lower-case hex digits")
    return sha256


class ModelStore:
    """The models this peer holds, by content hash (see module docstring)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._dir = self.root / "models"
        self._registered: dict[str, Path] = {}
        self._stored_shas: set[str] | None = None  # scanned once, then kept up to date

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

    def read_chunk(self, sha256: str, offset: int, size: int = CHUNK_BYTES) -> bytes:
        if offset < 0 or size <= 0:
            raise WireError(f"bad chunk request: offset {offset}, size {size}")
        with open(self.path(sha256), "rb") as fh:
            fh.seek(offset)
            return fh.read(min(size, CHUNK_BYTES))

    def put(self, data: bytes, sha256: str) -> Path:
        """Store `data` as model `sha256` after checking the hash; returns its path."""
        actual = hashlib.sha256(data).hexdigest()
        if actual != check_sha(sha256):
            raise ModelError(f"model bytes hash to {actual[:12]}..., expected {sha256[:12]}...")
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

    def __init__(self, sha256: str, size: int) -> None:
        if size <= 0:
            raise WireError(f"model {sha256[:12]}... announced with size {size}")
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
        return b"".join(self._parts)
