"""A tiny driving experiment written as real files: PilotNet cars, two rounds, a
two-point bandwidth sweep, two seeds, a two-segment PArtNNer replay, a 2x2 region map."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG = """
name = "tiny"
seeds = [1, 2]
approaches = ["fognet", "local", "greedy"]
sweeps = ["sweep.toml"]
[scenario]
name = "tiny"
rounds = 2
[scenario.network]
bandwidth = 1.25e7
latency = 0.003
[[scenario.sources]]
name = "car"
speed = 0.05
count = 2
model = "pilotnet"
fps = 4
[[scenario.workers]]
name = "fog"
speed = 1.0
count = 2
quota = 4
[partnner]
model = "pilotnet"
fps = 5
car_speed = 0.02
[[partnner.segments]]
seconds = 1
bandwidth = 2.5e7
[[partnner.segments]]
seconds = 1
bandwidth = 1.0e5
[region]
models = ["pilotnet"]
bandwidths = [1.0e6, 1.0e8]
ratios = [0.5, 4.0]
"""

SWEEP = """
name = "tiny-sweep"
rounds = 2
[sweep]
param = "network.bandwidth"
values = [2.5e6, 2.5e7]
[network]
bandwidth = 1.25e7
latency = 0.003
[[sources]]
name = "car"
speed = 0.05
count = 2
model = "pilotnet"
fps = 4
[[workers]]
name = "fog"
speed = 1.0
count = 1
quota = 4
"""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    (tmp_path / "sweep.toml").write_text(SWEEP)
    path = tmp_path / "tiny.toml"
    path.write_text(CONFIG)
    return path
