"""What a run of a cluster file emulates: the halves, the time scale, and the line it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.config.cluster import load_cluster
from fognet.config.emulation import OFF, Emulation, EmulationMode, emulation_mode

PEERS = Path(__file__).resolve().parents[2] / "peers"


def test_local4_runs_in_time_scaled_by_its_fastest_device() -> None:
    mode = load_cluster(PEERS / "local-4.toml").emulated()
    assert (mode.compute, mode.network, mode.scale, mode.link_scale) == (True, True, 2.5, 2.5)
    line = mode.describe()
    assert "time scale 2.5" in line and line.endswith(str(PEERS / "local-4.toml"))


def test_override_off_is_real_time_and_says_so() -> None:
    mode = load_cluster(PEERS / "local-4.toml").emulated(emulate=False)
    assert (mode.compute, mode.network, mode.scale, mode.link_scale) == (False, False, 1.0, 1.0)
    assert mode.describe() == OFF


@pytest.mark.parametrize(
    ("emulation", "emulate", "expected"),
    [
        (Emulation(enabled=False), None, (False, False, 1.0, 1.0)),
        (Emulation(enabled=False), True, (True, True, 3.0, 3.0)),
        (Emulation(enabled=True, compute=False), None, (False, True, 1.0, 1.0)),  # real compute: real time
        (Emulation(enabled=True, network=False), None, (True, False, 3.0, 1.0)),  # loopback links stay as measured
    ],
)
def test_each_half_and_the_override(emulation: Emulation, emulate: bool | None, expected: tuple) -> None:
    mode = emulation_mode(emulation, [0.5, 3.0], "f.toml", emulate)
    assert (mode.compute, mode.network, mode.scale, mode.link_scale) == expected


def test_devices_slower_than_this_machine_need_no_slowed_time() -> None:
    mode = emulation_mode(Emulation(enabled=True), [0.25, 0.4], "slow.toml")
    assert mode.scale == 1.0 and "time scale" not in mode.describe()
    assert mode.describe() == (
        "emulation: ON (compute stretched to measured / speed; sends paced to link and NIC bandwidth) per slow.toml"
    )
    assert EmulationMode(False, True, 1.0, "x").describe().startswith("emulation: ON (sends paced")
