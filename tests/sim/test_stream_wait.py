"""The simulator against the stream cost model's queueing formula: one source streaming to
one worker over a long seeded run (DESIGN.md "The stream cost model")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fognet.matching.cost import site_finish
from fognet.matching.instance import Instance, LocalDevice, PeerId, Subtask, SubtaskId, Worker
from fognet.sim.approaches import Approach
from fognet.sim.experiment import ModelCache
from fognet.sim.runner import Simulation
from fognet.sim.scenario import load
from tests.sim.conftest import write_scenario

STREAM = """
name = "stream"
seed = 11
rounds = 20
round_s = 20.0
queue = "{queue}"
arrival = "{arrival}"
[network]
bandwidth = 1e9
latency = 0.0001
[models.chain]
spec = "{model}"
[[sources]]
name = "cam"
count = 1
speed = 0.0001
model = "chain"
fps = {fps}
[[workers]]
name = "fog"
count = 1
speed = {speed}
"""


def _formula_wait(work: float, speed: float, fps: float, arrival: str, queue: str) -> float:
    """W of the piece by the cost model: site_finish less the service."""
    inst = Instance(
        workers=(Worker(PeerId("w"), speed, 0.0),), links=(), local=(LocalDevice(PeerId("cam"), 0.0001, 0.0, rate=fps),),
        subtasks=(Subtask(SubtaskId("cam.f.s0"), PeerId("cam"), work, 1, 1),), arrival=arrival, queue=queue,
    )
    return site_finish(inst, PeerId("w"), inst.subtasks)[(PeerId("cam"), 0)] - work / speed


def _simulated_wait(tmp_path: Path, chain_path: Path, arrival: str, queue: str, rho: float = 0.5):
    """(simulated mean wait, the formula's wait, service) with the whole model at load rho on the worker."""
    models = ModelCache()
    probe = load(write_scenario(tmp_path / "p.toml", STREAM.format(
        queue=queue, arrival=arrival, model=chain_path, fps=20, speed=1.0)))
    total = models.for_scenario(probe)["chain"].total_s
    fps = 20.0
    speed = total * fps / rho
    scenario = load(write_scenario(tmp_path / "s.toml", STREAM.format(
        queue=queue, arrival=arrival, model=chain_path, fps=fps, speed=speed)))
    records = Simulation(scenario, Approach("fognet"), models.for_scenario(scenario)).run().records
    assert len(records) > 6000
    assert {r.plan for r in records} == {f"0-{len(models.for_scenario(scenario)['chain'].graph)}@fog-0"}
    waited = float(np.mean([r.wait_s for r in records]))
    return waited, _formula_wait(total, speed, fps, arrival, queue), total / speed


@pytest.mark.parametrize("queue", ["fifo", "sjf"])
def test_poisson_wait_is_the_formula(tmp_path: Path, chain_path: Path, queue: str) -> None:
    """Poisson frames at load 0.5: the M/D/1 wait (Pollaczek-Khinchine; Cobham's formula
    with one class is the same), within 5% over ~8000 frames."""
    waited, expected, service = _simulated_wait(tmp_path, chain_path, "poisson", queue)
    assert expected == pytest.approx(0.5 * service / (2 * (1 - 0.5)), rel=1e-12)
    assert waited == pytest.approx(expected, rel=0.05)


def test_fixed_rate_stream_does_not_wait_for_itself(tmp_path: Path, chain_path: Path) -> None:
    waited, expected, _ = _simulated_wait(tmp_path, chain_path, "fixed", "sjf")
    assert expected == 0.0
    assert waited == pytest.approx(0.0, abs=1e-12)
