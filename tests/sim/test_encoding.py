"""The simulator prices every approach's bytes under the scenario's one encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from fognet.errors import ConfigError
from fognet.partition.encoding import Encoding
from fognet.sim.approaches import Approach
from fognet.sim.experiment import ModelCache
from fognet.sim.runner import Simulation
from fognet.sim.scenario import load
from tests.sim.conftest import write_scenario
from tests.sim.test_runner import ONE_ON_ONE

VALUES = {"seed": 3, "rounds": 1, "speed": 0.001, "fps": 1, "workers": 1, "bandwidth": 2e6,
          "latency": 0.004, "wspeed": 4.0, "quota": 2}


def _scenario(tmp_path: Path, chain_path: Path, extra: str):
    text = extra + ONE_ON_ONE.format(model=chain_path, **VALUES)
    return load(write_scenario(tmp_path / "s.toml", text))


@pytest.mark.parametrize("extra,encoding,frame_share,out_share", [
    ("", Encoding("uint8", "raw"), 0.25, 1.0),  # the default: the camera's bytes
    ('encoding = "float32"\n', Encoding("float32", "raw"), 1.0, 1.0),
    ('encoding = "fp16"\n', Encoding("uint8", "fp16"), 0.25, 0.5),
    ('encoding = "lz4"\nlz4_ratio = 0.4\n', Encoding("uint8", "lz4", 0.4), 0.25, 0.4),
])
def test_best_node_latency_is_the_formula_on_the_bytes_sent(tmp_path, chain_path, extra, encoding,
                                                           frame_share, out_share) -> None:
    scenario = _scenario(tmp_path, chain_path, extra)
    assert scenario.encoding == encoding
    models = ModelCache()
    costs = models.for_scenario(scenario)["chain"]
    remote = Simulation(scenario, Approach("best-node"), models.for_scenario(scenario)).run().records[0]
    in_b = costs.graph.inputs[0].nbytes * frame_share
    out_b = costs.graph.outputs[0].nbytes * out_share
    expected = 0.004 + in_b / 2e6 + costs.total_s / 4.0 + 0.004 + out_b / 2e6
    assert remote.latency_s == pytest.approx(expected, abs=1e-12)


def test_a_bad_encoding_names_the_field(tmp_path, chain_path) -> None:
    with pytest.raises(ConfigError, match="encoding"):
        _scenario(tmp_path, chain_path, 'encoding = "uint8+zstd"\n')
