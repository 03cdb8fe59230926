"""Joining a cluster as a source (step 1 of `session`): who it is, when enough workers are
live, and the model in a form every worker can load.

API
    requester_config(keys) -> PeerConfig      a requester that is not a device ("infer-<pid>",
                                              or, closed, the name the allow-list gives its key)
    await wait_for_workers(peer, options) -> {name: address}   PeerUnreachable past join_timeout_s
    shareable(loaded, store) -> LoadedModel   the model registered under the hash EXECs name
    estimated_times(loaded, graph) -> [s]     per-node reference seconds from FLOPs
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from fognet.errors import ConfigError, PeerUnreachable
from fognet.model.graph import ModelGraph
from fognet.model.load import LoadedModel
from fognet.net.keys import ClusterKeys
from fognet.peer.node import Peer, PeerConfig
from fognet.peer.store import ModelStore

if TYPE_CHECKING:
    from fognet.infer.session import SessionOptions

log = logging.getLogger(__name__)


async def wait_for_workers(peer: Peer, options: SessionOptions) -> dict[str, str]:
    """Wait for the expected workers, or for a worker count that holds for two heartbeats."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.join_timeout_s
    stable_since, count = loop.time(), -1
    while True:
        workers = peer.workers()
        if len(workers) != count:
            stable_since, count = loop.time(), len(workers)
        if options.expect_workers is not None and count >= options.expect_workers:
            return workers
        if options.expect_workers is None and count > 0 and loop.time() - stable_since > 2 * options.heartbeat_s:
            return workers
        if loop.time() > deadline:
            via = ", ".join(options.via) or "nobody (no --via)"
            raise PeerUnreachable(
                f"only {count} worker(s) answered via {via} within {options.join_timeout_s:.0f} s"
                + (f"; expected {options.expect_workers}" if options.expect_workers else "")
            )
        await asyncio.sleep(0.05)


def requester_config(keys: ClusterKeys | None) -> PeerConfig:
    """A requester that is not a device; closed, it is named as the allow-list names its key."""
    name = keys.allow.name_of(keys.pair.public) if keys is not None else None
    if keys is not None and name is None:
        raise ConfigError(f"{keys.allow.path}: this requester's key {keys.pair.fingerprint} is not on it")
    return PeerConfig(name or f"infer-{os.getpid()}", quota=0, profile="requester", keys=keys)


def shareable(loaded: LoadedModel, store: ModelStore) -> LoadedModel:
    """The model as workers can load it alone, registered in the store under its hash.

    EXEC names a model by hash only, so a file with symbolic input dimensions (made
    concrete here by --input-shape) cannot be loaded by a worker as it is. Such a model is
    shared as its normalised form instead: static shapes, same node names and order, so
    node positions agree on every peer. Otherwise the file itself is shared.
    """
    if loaded.file_static:
        store.register(loaded.path, loaded.sha256)
        return loaded
    data = loaded.model.SerializeToString()
    sha = hashlib.sha256(data).hexdigest()
    path = store.put(data, sha)
    log.info("sharing %s with static input shapes as %s...", loaded.name, sha[:12])
    return replace(loaded, path=path, sha256=sha)


def estimated_times(loaded: LoadedModel, graph: ModelGraph) -> list[float]:
    from fognet.model.profile import estimate_profile

    return estimate_profile(loaded).times_for(graph)
