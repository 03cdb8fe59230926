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
    ],
)
def test_non_positive_values_are_refused(args, option) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: Invalid value for '{option}'"), result.output
    assert "Traceback" not in result.output and "no-such" not in result.output
