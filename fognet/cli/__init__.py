"""The `fognet` command: one click group, one module per area of commands.

commands         every subcommand, gathered in one list (the group registers it)
options          click options shared by several commands
peer             `fognet peer` (one peer until interrupted) and `fognet cluster` (a cluster file's peers)
keys             `fognet keys new/show`: the CURVE key pairs that close a cluster
infer            `fognet infer`: frames through a cluster, latency, the split and who ran what
infer_chain      `fognet infer --flow chain`: the throughput mode's live run and its report
demo             `fognet demo`: the main job on built-in defaults, end to end
demo_cars        `fognet demo --sources N`: several cars contending for a few fog nodes, three ways
plan             `fognet plan`: DINA-P's plan beside the reference plans
plan_throughput  `fognet plan --mode throughput`: the chain plan of least period
split            `fognet split` and `fognet cuts`: vertical partitions, and where a model can be cut
match            `fognet match`: play, check or solve a matching instance
match_period     `fognet match` on a chain instance ("objective": "period"): the period game
models           `fognet models`: the built-in models, their shapes, sizes and costs
profile          `fognet profile`: per-node reference times measured on this machine
simulate         `fognet simulate`: every approach on a scenario or sweep
experiment       `fognet experiment driving/report`: whole experiments, figures and report
bench            `fognet bench [--compare]`: the latency suite users run on their LAN
data             `fognet data inspect/generate`: datasets as fognet reads them, or written in a layout
frames           `fognet frames`: the generated driving stream as PNG files

Errors from fognet's own tree are printed as one line, `TypeName: message`, with exit
code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys

import click

from fognet.errors import FognetError


class _Group(click.Group):
    """A click group that maps FognetError to one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FognetError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"{type(exc).__name__}: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="fognet")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int) -> None:
    """fognet: DNN inference across edge/fog peers on one LAN."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )


def _register() -> None:
    from fognet.cli import commands

    for command in commands.ALL:
        main.add_command(command)


_register()
