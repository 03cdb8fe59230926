"""Every `fognet` subcommand, gathered in one list so the group is defined in one place."""

from __future__ import annotations

import click

ALL: list[click.Command] = []

from fognet.cli.split import cuts, split  # noqa: E402

ALL += [split, cuts]

from fognet.cli.profile import profile  # noqa: E402

ALL += [profile]

from fognet.cli.frames import frames  # noqa: E402

ALL += [frames]

from fognet.cli.data import data  # noqa: E402

ALL += [data]

from fognet.cli.match import match  # noqa: E402

ALL += [match]

from fognet.cli.models import models  # noqa: E402

ALL += [models]

from fognet.cli.infer import infer  # noqa: E402
from fognet.cli.peer import cluster, peer  # noqa: E402

ALL += [peer, cluster, infer]

from fognet.cli.plan import plan  # noqa: E402

ALL += [plan]

from fognet.cli.simulate import simulate  # noqa: E402

ALL += [simulate]

from fognet.cli.demo import demo  # noqa: E402

ALL += [demo]

from fognet.cli.experiment import experiment  # noqa: E402

ALL += [experiment]

from fognet.cli.bench import bench  # noqa: E402

ALL += [bench]
