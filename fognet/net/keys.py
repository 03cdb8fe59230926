"""CURVE key pairs and the allow-list that closes a cluster.

Key files are zmq.auth certificates, so `zmq.auth.load_certificate` reads them too:

    pair = write_keypair(Path("keys"), "fog1")   # keys/fog1.key (public), keys/fog1.key_secret (0600)
    pair = load_keypair(Path("keys/fog1.key_secret"))        # .secret is None for a .key file
    pair.public, pair.fingerprint                            # z85 text, 16 hex digits

The allow-list is a TOML file a person edits: one line per peer, its name and its public
key (what `fognet keys show FILE` prints as its last line):

    # who may join this cluster
    [peers]
    car1 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    fog1 = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"

    allow = load_allow_list(Path("allow.toml"))   # AllowList: .key_of(name), .name_of(key)
    keys = ClusterKeys(pair, allow)                # what a closed peer runs with

Adding a device: make its keys (`fognet keys new`), add its line to every peer's list,
restart them. A name is the peer's name in the cluster: the ZAP handler reports the name
a connecting key is listed under, and that name, not the header's `from`, says who sent
a message (see `fognet.net.auth`).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import zmq
import zmq.auth
from zmq.utils import z85

from fognet.config import toml
from fognet.errors import ConfigError

log = logging.getLogger(__name__)

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a TOML bare key
_Z85_KEY = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")


def fingerprint(public: str) -> str:
    """A short, stable name for a public key (16 hex digits of its SHA-256), for logs,
    beacons and people comparing keys by eye."""
    return hashlib.sha256(z85.decode(public.encode("ascii"))).hexdigest()[:16]


@dataclass(frozen=True)
class KeyPair:
    """One peer's CURVE keys, z85 text (40 characters each); `secret` is None when only
    the public half was read."""

    public: str
    secret: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)


@dataclass(frozen=True)
class AllowList:
    """Names and the public keys allowed under them (one key per name, one name per key)."""

    keys: Mapping[str, str]  # name -> z85 public key
    path: Path | None = None

    def key_of(self, name: str) -> str | None:
        return self.keys.get(name)

    @cached_property
    def _names(self) -> dict[str, str]:  # ZAP asks who a key is at every handshake
        return {key: name for name, key in self.keys.items()}

    def name_of(self, public: str) -> str | None:
        return self._names.get(public)

    def fingerprint_of(self, name: str) -> str | None:
        key = self.keys.get(name)
        return fingerprint(key) if key else None


@dataclass(frozen=True)
class ClusterKeys:
    """What a closed peer runs with: its own key pair and the cluster's allow-list."""

    pair: KeyPair
    allow: AllowList

    def check_name(self, name: str) -> None:
        """ConfigError unless `name` is listed with this peer's own public key: others
        would refuse every message it sent under that name."""
        listed = self.allow.key_of(name)
        where = self.allow.path or "the allow-list"
        if listed is None:
            raise ConfigError(
                f"{where}: no entry for this peer's name {name!r}; add the line "
                f'{name} = "{self.pair.public}" under [peers] (on every peer)'
            )
        if listed != self.pair.public:
            raise ConfigError(
                f"{where}: {name!r} is listed with key {fingerprint(listed)}, but this peer's key is "
                f"{self.pair.fingerprint}: use that peer's key file, or update its line"
            )


# --- key files -------------------------------------------------------------------------


def write_keypair(directory: Path, name: str) -> tuple[KeyPair, Path, Path]:
    """A new key pair as DIR/NAME.key and DIR/NAME.key_secret (created 0600, never
    overwritten); returns the pair and the two paths."""
    check_peer_name(name)
    public, secret = (k.decode("ascii") for k in zmq.curve_keypair())
    try:
        directory.mkdir(parents=True, exist_ok=True)
        public_path, secret_path = directory / f"{name}{PUBLIC_SUFFIX}", directory / f"{name}{SECRET_SUFFIX}"
        for path in (public_path, secret_path):
            if path.exists():
                raise ConfigError(f"{path} exists; keys are never overwritten (remove it, or pick another --name)")
        _write(secret_path, _certificate("Secret", name, public, secret), 0o600)
        _write(public_path, _certificate("Public", name, public, None), 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot write keys under {directory}: {exc.strerror or exc}") from exc
    return KeyPair(public, secret), public_path, secret_path


def _certificate(kind: str, name: str, public: str, secret: str | None) -> str:
    """The zmq.auth certificate format (zmq.auth.load_certificate reads it)."""
    lines = [
        f"#   ****  Generated on {datetime.datetime.now():%Y-%m-%d %H:%M:%S} by fognet  ****",
        f"#   ZeroMQ CURVE {kind} Certificate for peer {name}",
        "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions." if secret else
        "#   Give this file (or its public key) to the peers that should let this one in.",
        "",
        "metadata",
        f"    name = {name}",
        "curve",
        f'    public-key = "{public}"',
    ]
    if secret:
        lines.append(f'    secret-key = "{secret}"')
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
    os.chmod(path, mode)  # whatever the umask said


def load_keypair(path: Path, *, need_secret: bool = False) -> KeyPair:
    """The key pair in a .key or .key_secret file; ConfigError naming the file when it is
    unreadable, not a certificate, or (need_secret) has no secret key."""
    path = Path(path)
    try:
        public, secret = zmq.auth.load_certificate(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read key file: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not a CURVE key file ({exc}); make one with `fognet keys new`") from exc
    if public is None or not _Z85_KEY.match(public.decode("ascii", "replace")):
        raise ConfigError(f"{path}: no valid public-key line; make keys with `fognet keys new`")
    if secret is None and need_secret:
        raise ConfigError(f"{path}: holds no secret key; give the peer its NAME{SECRET_SUFFIX} file")
    if secret is not None and os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("%s: the secret key is readable by other users; chmod 600 it", path)
    return KeyPair(public.decode("ascii"), secret.decode("ascii") if secret else None)


# --- the allow-list ----------------------------------------------------------------------


def check_peer_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"peer name {name!r}: use letters, digits, _ and - (at most 64, first a letter or digit)")
    return name


def load_allow_list(path: Path) -> AllowList:
    """The allow-list TOML file (see the module docstring); ConfigError naming the file and
    the entry for anything malformed: an unknown table, a bad name or key, a key listed twice."""
    path = Path(path)
    raw = toml.read(path)
    top = toml.Where(str(path))
    toml.check_keys(raw, ("peers",), top)
    peers = toml.table(raw, "peers", top)
    if not peers:
        raise top.error('no [peers] table of NAME = "PUBLIC KEY" lines')
    keys: dict[str, str] = {}
    owners: dict[str, str] = {}
    for name, key in peers.items():
        where = top.key("peers").key(name)
        if not _NAME.match(name):
            raise where.error("not a peer name (letters, digits, _ and -)")
        if not isinstance(key, str) or not _Z85_KEY.match(key):
            raise where.error("expected a 40-character z85 public key (see `fognet keys show`)")
        if key in owners:
            raise where.error(f"the same key as {owners[key]!r}; each peer needs its own key pair")
        keys[name], owners[key] = key, name
    return AllowList(keys, path)


def allow_line(name: str, pair: KeyPair) -> str:
    """The allow-list line that lets `pair` in under `name`."""
    return f'{name} = "{pair.public}"'


def write_allow_list(path: Path, entries: Mapping[str, KeyPair]) -> AllowList:
    """Write an allow-list of these peers (used by the local clusters fognet starts)."""
    text = "# fognet allow-list: the peers of one closed cluster (name = public key)\n[peers]\n"
    text += "".join(allow_line(name, pair) + "\n" for name, pair in sorted(entries.items()))
    try:
        path.write_text(text, encoding="ascii")
    except OSError as exc:
        raise ConfigError(f"cannot write the allow-list {path}: {exc.strerror or exc}") from exc
    return AllowList({name: pair.public for name, pair in entries.items()}, path)


def load_cluster_keys(key_file: Path, allow_file: Path) -> ClusterKeys:
    return ClusterKeys(load_keypair(key_file, need_secret=True), load_allow_list(allow_file))


def make_local_keys(directory: Path, names: list[str]) -> dict[str, ClusterKeys]:
    """Fresh keys for every name and one allow-list of them all under `directory` (the
    closed clusters `fognet cluster`, `demo` and `infer --cluster` start)."""
    pairs = {name: write_keypair(directory, name)[0] for name in names}
    allow = write_allow_list(directory / "allow.toml", pairs)
    return {name: ClusterKeys(pair, allow) for name, pair in pairs.items()}
