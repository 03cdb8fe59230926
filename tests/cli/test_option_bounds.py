"""Counts and durations that must be positive are refused at the command line (exit 2, the
error naming the option), before any model is loaded or any peer started."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fognet.cli import main

INFER = ["infer", "--model", "no-such-model", "--via", "127.0.0.1:9"]


@pytest.mark.parametrize(
    "args, option",
    [
        ([*INFER, "--window", "0"], "--window"),
        ([*INFER, "--window", "-3"], "--window"),
        ([*INFER, "--timeout", "0"], "--timeout"),
        ([*INFER, "--timeout", "-1.5"], "--timeout"),
        (["peer", "--name", "p1", "--heartbeat", "0"], "--heartbeat"),
        (["peer", "--name", "p1", "--heartbeat", "-0.1"], "--heartbeat"),
        (["cluster", "no-such-file.toml", "--heartbeat", "0"], "--heartbeat"),
        ([*INFER, "--fps", "10", "--max-lag", "0"], "--max-lag"),
        ([*INFER, "--fps", "10", "--max-lag", "-0.5"], "--max-lag"),
        ([*INFER, "--fps", "10", "--max-lag", "soon"], "--max-lag"),
        (["peer", "--name", "p1", "--cap", "0"], "--cap"),
        (["peer", "--name", "p1", "--cap", "1.0"], "--cap"),  # a queue at 1 never drains
        (["peer", "--name", "p1", "--cap", "half"], "--cap"),
        (["peer", "--name", "p1", "--memory", "0"], "--memory"),
        (["peer", "--name", "p1", "--memory", "-4e9"], "--memory"),
        (["peer", "--name", "p1", "--memory", "4GB"], "--memory"),
        (["peer", "--name", "p1", "--max-members", "0"], "--max-members"),
        (["peer", "--name", "p1", "--max-members", "2.5"], "--max-members"),
    ],
)
def test_non_positive_values_are_refused(args, option) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: Invalid value for '{option}'"), result.output
    assert "Traceback" not in result.output and "no-such" not in result.output


def test_max_lag_needs_a_camera_clock() -> None:
    result = CliRunner().invoke(main, [*INFER, "--max-lag", "0.5"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (
        "Error: --max-lag goes with --fps: a frame is late only against the camera's clock")
