"""A peer's side of closed clusters: what it says about its key, and whom discovery may
introduce. The mechanism (CURVE, ZAP, the sender check) is `fognet.net.auth`; the files
are `fognet.net.keys`.

    announce(name, keys)            one line at every start: closed (with the key's
                                    fingerprint and the allow-list's size) or, open, a WARNING
    fingerprint_of(keys) -> str     what beacons and HELLO carry ("" when open)
    check_bootstrap(entries, keys)  ConfigError for an entry a closed peer cannot connect to:
                                    one that names no peer, or one not on the allow-list
    admit(seen, keys, transport)    a beacon sighting a closed peer may act on: the name is
                                    on the list with that fingerprint (then the transport
                                    learns where it is); open: always
"""

from __future__ import annotations

import logging

from fognet.errors import ConfigError
from fognet.net.discovery import PeerSeen, split_named
from fognet.net.keys import ClusterKeys
from fognet.net.transport import ZmqTransport

log = logging.getLogger(__name__)

OPEN_WARNING = (
    "peer %s runs OPEN (no --keys/--allow): anyone who can reach its port can join the "
    "cluster, read the tensors it is sent and send it work; close it with `fognet keys new` "
    "and an allow-list (README: Closed clusters)"
)


def announce(name: str, keys: ClusterKeys | None) -> None:
    if keys is None:
        log.warning(OPEN_WARNING, name)
    else:
        log.info("peer %s runs closed: key %s, %d peers allowed by %s", name, keys.pair.fingerprint,
                 len(keys.allow.keys), keys.allow.path or "its allow-list")


def fingerprint_of(keys: ClusterKeys | None) -> str:
    return keys.pair.fingerprint if keys is not None else ""


def check_bootstrap(entries, keys: ClusterKeys) -> None:
    for entry in entries:
        name, addr = split_named(entry)
        if name is None:
            raise ConfigError(
                f"bootstrap {entry}: a closed peer connects only to a key it knows; name the peer "
                f"there: NAME@{addr}, NAME one of {', '.join(sorted(keys.allow.keys))}"
            )
        if keys.allow.key_of(name) is None:
            raise ConfigError(f"bootstrap {entry}: {name!r} is not on the allow-list {keys.allow.path or ''}")


def admit(seen: PeerSeen, keys: ClusterKeys | None, transport: ZmqTransport) -> bool:
    if keys is None:
        return True
    if keys.allow.fingerprint_of(seen.node_id) != seen.key:
        log.debug("beacon of %s at %s: not on the allow-list with key %s", seen.node_id, seen.address, seen.key)
        return False
    return transport.learn(seen.address, seen.node_id)
