"""Click options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def parse_input_shapes(values: tuple[str, ...]) -> list[tuple[int, ...]] | dict[str, tuple[int, ...]] | None:
    """Parse repeated `--input-shape` values: `1,3,H,W` (in input order) or `name=1,3,H,W`.

    Mixing the two forms is refused because the positional form has no name to match.
    """
    if not values:
        return None
    named: dict[str, tuple[int, ...]] = {}
    positional: list[tuple[int, ...]] = []
    for value in values:
        name, sep, dims = value.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(","))
        except ValueError:
            raise click.BadParameter(
                f"{value!r}: expected dimensions like 1,3,224,224 or name=1,3,224,224",
                param_hint="--input-shape",
            ) from None
        if not shape or any(d <= 0 for d in shape):
            raise click.BadParameter(
                f"{value!r}: dimensions must be positive integers", param_hint="--input-shape"
            )
        if sep:
            named[name] = shape
        else:
            positional.append(shape)
    if named and positional:
        raise click.BadParameter(
            "use either name=dims for every input or dims in input order, not both",
            param_hint="--input-shape",
        )
    return named or positional


def input_shape_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--input-shape` (repeatable), parsed into `input_shapes` for `load_model`."""

    def callback(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]):
        return parse_input_shapes(value)

    return click.option(
        "--input-shape",
        "input_shapes",
        multiple=True,
        callback=callback,
        metavar="[NAME=]1,3,H,W",
        help="Concrete shape for a model input with symbolic dimensions (repeatable).",
    )(func)


def model_argument(func: Callable[..., Any]) -> Callable[..., Any]:
    """MODEL: a zoo name (see `fognet models`) or a path to an .onnx file."""
    return click.argument("model", metavar="MODEL")(func)


def encoding_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--encoding FRAMES[+ACTIVATIONS]` parsed into a `partition.encoding.Encoding`; a bad
    value is a ConfigError (one line, exit code 2)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str):
        from fognet.partition.encoding import parse_encoding

        return parse_encoding(value)

    return click.option(
        "--encoding",
        default="uint8",
        show_default=True,
        callback=callback,
        metavar="FRAMES[+ACTIVATIONS]",
        help="Bytes on the wire: frames uint8 (exact, a quarter of float32) or float32; activations "
             "raw, lz4 (lossless) or fp16 (lossy, reported with its output error). E.g. uint8+lz4, fp16.",
    )(func)
