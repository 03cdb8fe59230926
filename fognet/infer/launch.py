"""Start a cluster file's peers as processes on loopback, and stop every one of them.

Each peer is `fognet peer --cluster FILE --name NAME` in its own process (this Python,
`-c "from fognet.cli import main; main()"`, so it works without the console script),
bound to 127.0.0.1 on a free port, discovery off, bootstrapped to the first peer started.
A peer prints `NAME listening on HOST:PORT` as its first line; that is how its address
is learned. The rest of its output is handed line by line to `echo`, or dropped.

Closed by default: `start()` makes a key pair for every peer of the file (and for
`extra_keys`, e.g. a requester that joins later) and one allow-list, in a fresh directory
(`keys_dir`, removed by `stop()`); each peer runs with its own key, and bootstraps to the
first by name. `keys_for(name)` is what a peer played in this process runs with, and
`via` the bootstrap entry to give it. `closed=False` runs the peers open.

No orphans: all children share one process group, which `stop()` sends SIGINT (each
peer says BYE and exits), then SIGKILL after `timeout`; each child also exits by itself
when this process dies (`--exit-with-parent`). `LocalCluster` is a context manager.

API
    Launched(name, address, pid)
    LocalCluster(path, *, names=None, emulate=None, cache_root=None, heartbeat_s=1.0,
                 echo=None, start_timeout_s=60.0, closed=True, extra_keys=())
        .start() -> list[Launched]      PeerError if a peer exits or stays silent
        .stop(timeout_s=5.0) -> None
        .cluster -> Cluster             the parsed file (ConfigError when malformed)
        .keys_dir, .keys_for(name) -> ClusterKeys | None, .identity_for(identity), .via -> "name@host:port" (closed)
        .security() -> str              one line: closed (how many keys) or open
    source_identity(cluster, emulate=None) -> Identity   the file's first source, played here
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fognet.config.cluster import Cluster, load_cluster
from fognet.errors import ConfigError, PeerError
from fognet.infer.session import Identity
from fognet.net.discovery import named
from fognet.net.keys import SECRET_SUFFIX, ClusterKeys, make_local_keys
from fognet.peer import device
from fognet.placement.state import cluster_state

log = logging.getLogger(__name__)

ENTRY = "from fognet.cli import main; main()"


@dataclass(frozen=True)
class Launched:
    name: str
    address: str
    pid: int


def source_identity(cluster: Cluster, emulate: bool | None = None,
                    name: str | None = None) -> Identity:
    """The file's source `name` (default: its first) as this process plays it: its device,
    pacer and link hook, and the links and NICs it plans with, priced as `fognet plan`
    prices them (`cluster_state`)."""
    if not cluster.sources:
        where = cluster.path or cluster.name
        raise ConfigError(f"{where}: no peer has role source or both; a source session needs one to play")
    names = [p.name for p in cluster.sources]
    if name is not None and name not in names:
        raise ConfigError(f"{cluster.path or cluster.name}: {name!r} is not a source "
                          f"(sources: {', '.join(names)})")
    source = name or names[0]
    pacer = device.pacer_for(cluster, source, emulate)
    state = cluster_state(cluster, cluster.emulated(emulate).link_scale)
    return Identity(
        config=device.config_from_cluster(cluster, source, emulate),
        pacer=pacer, on_event=device.link_setter(cluster, source, pacer, emulate),
        links=state.links, default_link=state.default_link,
        nics={pid: p.nic for pid, p in state.peers.items() if p.nic is not None},
    )


class LocalCluster:
    """See the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        names: Sequence[str] | None = None,
        emulate: bool | None = None,
        cache_root: Path | None = None,
        heartbeat_s: float = 1.0,
        echo: Callable[[str], None] | None = None,
        start_timeout_s: float = 60.0,
        closed: bool = True,
        extra_keys: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.cluster: Cluster = load_cluster(self.path)
        self.names = list(names) if names is not None else list(self.cluster.names)
        for name in self.names:
            self.cluster.peer(name)  # ConfigError for a name the file lacks
        self.emulate = emulate
        self.cache_root = cache_root
        self.heartbeat_s = heartbeat_s
        self.echo = echo
        self.start_timeout_s = start_timeout_s
        self.closed = closed
        self.extra_keys = list(extra_keys)
        self.keys_dir: Path | None = None
        self._keys: dict[str, ClusterKeys] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._lines: dict[str, queue.Queue[str | None]] = {}
        self._pgid: int | None = None
        self.launched: list[Launched] = []

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def keys_for(self, name: str) -> ClusterKeys | None:
        """The keys `name` runs with (None: the cluster is open)."""
        return self._keys.get(name)

    def identity_for(self, identity):
        """`identity` (a session's `Identity`) with the keys its peer runs with here."""
        return replace(identity, config=replace(identity.config, keys=self.keys_for(identity.config.name)))

    @property
    def via(self) -> str:
        """The bootstrap entry for a peer joining the started cluster."""
        first = self.launched[0]
        return named(first.name, first.address) if self.closed else first.address

    def security(self) -> str:
        if not self.closed:
            return "security: OPEN (--open): anyone who reaches these ports can join, read tensors and send work"
        return (f"security: closed (CurveZMQ): a key per peer, {len(self._keys)} on the allow-list; "
                "strangers are refused, all traffic is encrypted")

    def _make_keys(self) -> None:
        if self.closed and not self._keys:
            self.keys_dir = Path(tempfile.mkdtemp(prefix="fognet-keys-"))
            names = list(dict.fromkeys([*self.cluster.names, *self.extra_keys]))
            self._keys = make_local_keys(self.keys_dir, names)

    def start(self) -> list[Launched]:
        self._make_keys()
        if not self.names:
            return []
        first, *rest = self.names
        self._spawn(first, bootstrap=None)
        first_addr = self._address(first)
        for name in rest:
            self._spawn(name, bootstrap=named(first, first_addr) if self.closed else first_addr)
        self.launched = [Launched(first, first_addr, self._procs[first].pid)]
        self.launched += [Launched(n, self._address(n), self._procs[n].pid) for n in rest]
        return self.launched

    def _command(self, name: str, bootstrap: str | None) -> list[str]:
        cmd = [
            sys.executable, "-c", ENTRY, "peer", "--cluster", str(self.path), "--name", name,
            "--bind", "127.0.0.1:0", "--no-discovery", "--exit-with-parent",
            "--heartbeat", str(self.heartbeat_s),
        ]
        if bootstrap:
            cmd += ["--bootstrap", bootstrap]
        if self.emulate is not None:
            cmd.append("--emulate" if self.emulate else "--no-emulate")
        if self.cache_root is not None:
            cmd += ["--cache", str(Path(self.cache_root) / name)]
        if self.keys_dir is not None:
            cmd += ["--keys", str(self.keys_dir / f"{name}{SECRET_SUFFIX}"), "--allow", str(self.keys_dir / "allow.toml")]
        return cmd

    def _spawn(self, name: str, bootstrap: str | None) -> None:
        proc = subprocess.Popen(
            self._command(name, bootstrap),
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, bufsize=1,
            process_group=0 if self._pgid is None else self._pgid,
        )
        if self._pgid is None:
            self._pgid = proc.pid
        self._procs[name] = proc
        lines: queue.Queue[str | None] = queue.Queue()
        self._lines[name] = lines
        threading.Thread(target=_pump, args=(proc, lines), daemon=True, name=f"pump-{name}").start()

    def _address(self, name: str) -> str:
        """Wait for the peer's first line, `NAME listening on HOST:PORT`."""
        deadline = time.monotonic() + self.start_timeout_s
        lines = self._lines[name]
        while True:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise PeerError(f"peer {name} printed no address within {self.start_timeout_s:.0f} s") from None
            if line is None:
                code = self._procs[name].wait()
                raise PeerError(f"peer {name} exited with code {code} before listening (see its error above)")
            if " listening on " in line:
                threading.Thread(target=self._forward, args=(name,), daemon=True).start()
                return line.rsplit(" ", 1)[-1].strip()

    def _forward(self, name: str) -> None:
        lines = self._lines[name]
        while (line := lines.get()) is not None:
            if self.echo is not None:
                self.echo(line.rstrip("\n"))

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGINT the group, wait, SIGKILL what is left, remove the keys; safe to call twice."""
        if self.keys_dir is not None:
            shutil.rmtree(self.keys_dir, ignore_errors=True)
            self.keys_dir = None
        if self._pgid is None:
            return
        _signal_group(self._pgid, signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        for proc in self._procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self._pgid, signal.SIGKILL)
        for proc in self._procs.values():
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self._pgid = None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _pump(proc: subprocess.Popen, lines: queue.Queue) -> None:
    """Read a child's stdout so it never blocks on a full pipe."""
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.put(line)
    except ValueError:  # closed under us at shutdown
        pass
    lines.put(None)
