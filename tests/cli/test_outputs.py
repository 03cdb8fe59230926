"""An output path that cannot be written ends in one line and exit code 2, not a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fognet.cli import main


@pytest.mark.parametrize(
    "args, error",
    [
        (["frames", "--n", "1", "--size", "16x16", "--out", "{bad}"], "FrameError: cannot create"),
        (["profile", "pilotnet", "--estimate", "--out", "{bad}"], "ModelError: cannot write profile"),
        (
            ["match", "--random-instance", "--sources", "1", "--workers", "1",
             "--subtasks-per-source", "1", "--out", "{bad}"],
            "InstanceError: cannot write instance",
        ),
    ],
)
def test_unwritable_output_is_one_line(tmp_path, args, error):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = [a.format(bad=blocker / "out") for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1].startswith(error), result.output
    assert "Traceback" not in result.output
