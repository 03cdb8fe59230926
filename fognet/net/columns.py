"""Parallel columns in wire bodies: their checks, the backlog split, the frozen roster's.

A body carries a list of records as parallel tuples (one per field), which msgpack packs
far smaller than a list of maps. The codec checks each tuple's item type; this module
checks what it cannot (the tuples line up, counts add up) and raises `WireError`, which
the receiving transport turns into an ERROR MALFORMED reply.

    same_length(name, **columns)            parallel tuples line up
    backlog_split(sources, ref_s)           a backlog split as (source, ref-s) pairs, checked
    PlayerColumns                           the frozen ROUND_OPEN's `p_` columns (a base of
                                            `wire.RoundOpen`): every player's figures
    roster_bytes(players) -> int            at most the header bytes a frozen roster takes
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fognet.errors import WireError


def same_length(name: str, **columns: tuple) -> None:
    """Parallel tuples must line up; a WireError here becomes an ERROR MALFORMED reply."""
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise WireError(f"{name}: parallel fields differ in length ({detail})")


def backlog_split(sources: tuple[str, ...], ref_s: tuple[float, ...]) -> tuple[tuple[str, float], ...]:
    """A HELLO/STATE's or ROUND_OPEN's backlog split as (source, reference-seconds) pairs,
    refused unless each source is named once with a finite part >= 0."""
    if len(set(sources)) != len(sources):
        raise WireError("backlog_sources: a source is listed twice")
    if not all(math.isfinite(w) and w >= 0 for w in ref_s):
        raise WireError("backlog_source_ref_s: every part must be a finite number >= 0")
    return tuple(zip(sources, ref_s, strict=True))


@dataclass(frozen=True, kw_only=True)
class PlayerColumns:
    """Frozen by the round's leader: every player's figures, in roster order (empty
    otherwise). One entry per roster peer in each of `PLAYER_COLUMNS`; links and backlog
    splits flattened (`p_links[k]` / `p_splits[k]` of them are player k's).
    `fognet.peer.match.courier.players_of` reads them (each player checked as a peer's
    own figures), `player_columns` writes them."""

    p_rule: tuple[str, ...] = ()
    p_quota: tuple[int, ...] = ()
    p_speed: tuple[float, ...] = ()
    p_backlog_ref_s: tuple[float, ...] = ()
    p_source: tuple[bool, ...] = ()
    p_local_speed: tuple[float, ...] = ()
    p_local_backlog_ref_s: tuple[float, ...] = ()
    p_cap: tuple[float, ...] = ()
    p_rate: tuple[float, ...] = ()
    p_nic_Bps: tuple[float, ...] = ()
    p_links: tuple[int, ...] = ()  # how many of the flattened links below are each player's
    p_link_peers: tuple[str, ...] = ()
    p_link_Bps: tuple[float, ...] = ()
    p_link_latency_s: tuple[float, ...] = ()
    p_splits: tuple[int, ...] = ()  # how many of the flattened backlog split entries are each player's
    p_split_sources: tuple[str, ...] = ()
    p_split_ref_s: tuple[float, ...] = ()

    @property
    def players(self) -> bool:
        """It carries every player's figures (a frozen roster from the leader)."""
        return any(getattr(self, k) for k in PLAYER_COLUMNS)

    def check_players(self, roster: tuple[str, ...]) -> None:
        """The columns line up with `roster` and their flattened parts add up."""
        if not self.players:
            return
        same_length("ROUND_OPEN players", roster=roster, **{
            k: getattr(self, k) for k in PLAYER_COLUMNS})
        same_length("ROUND_OPEN players' links", p_link_peers=self.p_link_peers,
                    p_link_Bps=self.p_link_Bps, p_link_latency_s=self.p_link_latency_s)
        if any(n < 0 for n in self.p_links) or sum(self.p_links) != len(self.p_link_peers):
            raise WireError(f"ROUND_OPEN p_links: counts must be >= 0 and add up to the "
                            f"{len(self.p_link_peers)} links listed")
        same_length("ROUND_OPEN players' backlog splits", p_split_sources=self.p_split_sources,
                    p_split_ref_s=self.p_split_ref_s)
        if any(n < 0 for n in self.p_splits) or sum(self.p_splits) != len(self.p_split_sources):
            raise WireError(f"ROUND_OPEN p_splits: counts must be >= 0 and add up to the "
                            f"{len(self.p_split_sources)} backlog split entries listed")


# the columns with one entry per roster peer
PLAYER_COLUMNS = ("p_rule", "p_quota", "p_speed", "p_backlog_ref_s", "p_source", "p_local_speed",
                  "p_local_backlog_ref_s", "p_cap", "p_rate", "p_nic_Bps", "p_links", "p_splits")


# A frozen roster's size: each player's name, address and scalar figures, and per pair of
# players a link (a name of up to 16 characters, two float64) and a backlog split entry (a
# name, a float64). Measured: 26 bytes per pair of 6-character names (100 players, each a
# source linked to every other, 4 sources in each split: 268 KB).
ROSTER_BYTES_PER_PLAYER = 512
ROSTER_BYTES_PER_PAIR = 64


def roster_bytes(players: int) -> int:
    """At most the header bytes of a frozen ROUND_OPEN of `players` players (each linked to
    every other and splitting its backlog among all): what the receiver of one must allow
    (`fognet.net.codec.header_cap`)."""
    return players * ROSTER_BYTES_PER_PLAYER + players * players * ROSTER_BYTES_PER_PAIR
