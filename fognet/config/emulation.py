"""Emulation settings: whether peers on one machine pretend to be a file's devices and links.

A cluster file's `[emulation]` table is one switch with two halves: `compute` stretches
run time to measured / speed, `network` paces sends to the links and NICs. A run may
override the file (`--emulate/--no-emulate`: True or False sets both halves; None
follows the file).

Time scale: this machine cannot run faster than itself, so a file with devices faster
than 1.0 is emulated in slowed time. With compute emulated, the scale S is the largest
speed in the file (at least 1): every peer's compute is stretched to
`measured * S / speed` (the fastest runs as measured), and, so that compute and
transfers keep their ratio, links and NICs are paced at `bandwidth / S` and `latency * S`
(`link_scale`), and sources plan with reference times and links scaled the same way.
Everything measured is then S times what the devices would take; the output says so.

API
    Emulation(enabled=False, compute=True, network=True)      the file's [emulation] table
    parse_emulation(raw, where) -> Emulation
    EmulationMode(compute, network, scale, source)           what one run emulates
        .link_scale   S when sends are paced, else 1 (links are this machine's)
        .describe()   one line for the output
    emulation_mode(emulation, speeds, source, emulate=None) -> EmulationMode
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fognet.config import toml
from fognet.config.toml import Where

EMULATION_KEYS = ("enabled", "compute", "network")
OFF = "emulation: off (compute and transfers are this machine's, measured)"


@dataclass(frozen=True)
class Emulation:
    """Whether peers on one machine pretend to be the devices and links of the file."""

    enabled: bool = False
    compute: bool = True  # stretch compute to measured / speed
    network: bool = True  # pace sends to link and interface bandwidth, add latency


def parse_emulation(raw: Mapping[str, Any], where: Where) -> Emulation:
    toml.check_keys(raw, EMULATION_KEYS, where)
    return Emulation(**{key: toml.flag(raw, key, where) for key in raw})


@dataclass(frozen=True)
class EmulationMode:
    """What one run emulates: compute, network, and the time scale S (1 when compute is real)."""

    compute: bool
    network: bool
    scale: float  # emulated seconds per device second
    source: str = ""  # the file (or cluster) it follows, for the output

    @property
    def link_scale(self) -> float:
        """How much slower links are paced, and priced, than the file says."""
        return self.scale if self.network else 1.0

    def describe(self) -> str:
        if not (self.compute or self.network):
            return OFF
        parts = [p for p, on in (("compute stretched to measured / speed", self.compute),
                                 ("sends paced to link and NIC bandwidth", self.network)) if on]
        if self.scale > 1.0:
            parts.append(f"time scale {self.scale:g}: every time is {self.scale:g}x the devices' "
                         "so the fastest runs as measured")
        return f"emulation: ON ({'; '.join(parts)}) per {self.source}"


def emulation_mode(
    emulation: Emulation, speeds: Iterable[float], source: str = "", emulate: bool | None = None
) -> EmulationMode:
    """The file's settings, overridden by `emulate` when it is not None, for devices of `speeds`."""
    if emulate is not None:
        compute = network = emulate
    else:
        compute = emulation.enabled and emulation.compute
        network = emulation.enabled and emulation.network
    scale = max([1.0, *speeds]) if compute else 1.0
    return EmulationMode(compute, network, scale, source)
