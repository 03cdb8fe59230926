"""`fognet keys new` and `fognet keys show`: the CURVE key pairs that close a cluster."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def keys() -> None:
    """CURVE key pairs for closed clusters (see README: Closed clusters)."""


@keys.command("new")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for NAME.key (public) and NAME.key_secret (0600).")
@click.option("--name", default=None, help="The peer's name in the cluster (default: this host's name).")
def new(out_dir: Path, name: str | None) -> None:
    """Write a new key pair; print its public key and the allow-list line that admits it."""
    import socket

    from fognet.net.keys import allow_line, write_keypair

    name = name or socket.gethostname().split(".")[0]
    pair, public_path, secret_path = write_keypair(out_dir, name)
    click.echo(f"wrote {public_path} (public) and {secret_path} (secret, keep it on this device)")
    click.echo(f"fingerprint: {pair.fingerprint}")
    click.echo("add this line under [peers] in every peer's allow-list:")
    click.echo(allow_line(name, pair))


@keys.command("show")
@click.argument("key_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
def show(key_file: Path) -> None:
    """Print the public key and fingerprint in FILE (a .key or .key_secret; the secret is
    never printed), then its allow-list line."""
    from fognet.net.keys import PUBLIC_SUFFIX, SECRET_SUFFIX, allow_line, load_keypair

    pair = load_keypair(key_file)
    name = key_file.name.removesuffix(SECRET_SUFFIX).removesuffix(PUBLIC_SUFFIX)
    click.echo(f"public key:  {pair.public}")
    click.echo(f"fingerprint: {pair.fingerprint}")
    click.echo(allow_line(name, pair))
