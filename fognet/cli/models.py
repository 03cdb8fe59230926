"""`fognet models`: the built-in models with their input shape, size and cost."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


@click.command("models")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--slim", is_flag=True, help="Show the slim variants (hidden FC widths capped at 256) of VGG-sized models.")
@click.option("--quick", is_flag=True, help="Names, sources and input shapes only: build nothing.")
def models(names: tuple[str, ...], slim: bool, quick: bool) -> None:
    """List the built-in models (or only NAMEs): input shape, parameters, GFLOPs, nodes.

    A MODEL argument of any command takes one of these names (NAME:slim for the slim
    variant) or a path to an .onnx file. Figures need each model built once, into
    $FOGNET_CACHE (default ~/.cache/fognet); later listings read them from there.
    """
    from fognet.model import zoo

    wanted = list(names) or zoo.names()
    entries = [(zoo.entry(name), slim or name.endswith(zoo.SLIM_SUFFIX)) for name in wanted]
    table = Table(title="fognet model zoo" + (" (slim variants)" if slim else ""))
    columns = ["name", "source", "input"] + ([] if quick else ["params (M)", "GFLOPs", "nodes"])
    for col in [*columns, "description"]:
        numeric = col in ("params (M)", "GFLOPs", "nodes")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=col != "description")
    err = Console(stderr=True)
    missing_flops = False
    for entry, want_slim in entries:
        name = entry.name + (zoo.SLIM_SUFFIX if want_slim and entry.slimmable else "")
        row = [name, entry.source, _shape(entry.input_shape)]
        if not quick:
            with err.status(f"building {name} (first use only)"):
                info = zoo.summary(name)
            missing_flops |= info.flops is None
            gflops = "n/a" if info.flops is None else f"{info.flops / 1e9:.2f}"
            row += [f"{info.params / 1e6:.2f}", gflops, str(info.nodes)]
        table.add_row(*row, entry.description)
    table.caption = (
        "source: built = made in code; onnx = onnx's light_* graph with seeded weights. "
        "alexnet is torchvision's layout, bvlc-alexnet the Caffe one onnx ships."
    )
    Console().print(table)
    if missing_flops:
        click.echo("GFLOPs n/a: fognet.model.flops is not available", err=True)
