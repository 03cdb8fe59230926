"""`fognet peer` (run one peer until interrupted) and `fognet cluster` (a cluster file's peers
as local processes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

import click

from fognet.errors import ConfigError
from fognet.net.ratelog import RateLimitedLog

HOST_PORT = "HOST:PORT"


def _bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"--bind {text!r}: expected HOST:PORT, e.g. 127.0.0.1:0")
    return host, int(port)


def _peer_setup(name, profile, cluster_file, bind, bootstrap, discovery, emulate, cache, heartbeat):
    """(PeerConfig, Pacer | None, on_event hook | None, emulation line) from the options."""
    from fognet.config.cluster import load_cluster
    from fognet.config.emulation import OFF
    from fognet.config.profiles import load_profile
    from fognet.net.discovery import LAN_BROADCAST, LOOPBACK_BROADCAST, parse_bootstrap
    from fognet.peer import device

    host, port = _bind(bind)
    options = dict(
        host=host, port=port, bootstrap=tuple(parse_bootstrap(list(bootstrap))),
        discovery=discovery, broadcast=LOOPBACK_BROADCAST if host.startswith("127.") else LAN_BROADCAST,
        cache_dir=cache, heartbeat_s=heartbeat,
    )
    if cluster_file is not None:
        cluster = load_cluster(cluster_file)
        config = device.config_from_cluster(cluster, name, emulate, **options)
        pacer = device.pacer_for(cluster, name, emulate)
        hook = device.link_setter(cluster, name, pacer, emulate)
        return config, pacer, hook, cluster.emulated(emulate).describe()
    if profile is None:
        raise click.UsageError("give --profile NAME (see peers/profiles) or --cluster FILE")
    prof = load_profile(profile)
    config = device.config_from_profile(name, prof, emulate=bool(emulate), **options)
    pacer = device.profile_pacer(prof, bool(emulate))
    line = (
        f"emulation: ON (compute stretched to measured / {prof.speed:g}"
        + (f"; sends paced to NIC {prof.nic:.3g} B/s" if pacer else "") + ")"
        if emulate else OFF
    )
    return config, pacer, None, line


async def _serve(config, pacer, hook, exit_with_parent: bool) -> None:
    from fognet.peer.node import Peer

    lines = RateLimitedLog(logging.getLogger(__name__), burst=32)  # a flood of fake peers: bounded

    def on_event(event) -> None:
        m = event.member
        note = lines.admit("event")
        if note is not None:
            click.echo(f"{config.name}: peer {m.node_id} {event.kind.value} ({m.profile or '-'} at {m.address}){note}")
        if hook is not None:
            hook(event)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    peer = Peer(config, pacer=pacer, on_event=on_event)
    click.echo(f"{config.name} listening on {peer.address}")
    try:
        async with asyncio.TaskGroup() as group:
            running = group.create_task(peer.run())
            watcher = group.create_task(_watch_parent(os.getppid(), stop)) if exit_with_parent else None
            await stop.wait()
            running.cancel()
            if watcher is not None:
                watcher.cancel()
    except Exception as errors:  # the TaskGroup's ExceptionGroup: show the peer's own error
        inner = getattr(errors, "exceptions", ())
        raise (inner[0] if len(inner) == 1 else errors) from None
    click.echo(f"{config.name} stopped")


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop when the process that started us is gone (no orphans if it is killed)."""
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    stop.set()


@click.command()
@click.option("--name", required=True, help="This peer's name (its id in the cluster).")
@click.option("--profile", default=None, help="Device profile: a name in peers/profiles or a .toml path.")
@click.option("--cluster", "cluster_file", type=click.Path(path_type=Path), default=None,
              help="Take profile, overrides, links and emulation for --name from this cluster file.")
@click.option("--bind", default="127.0.0.1:0", show_default=True, metavar=HOST_PORT, help="Where to listen (port 0: any free port).")
@click.option("--bootstrap", multiple=True, metavar=HOST_PORT, help="A peer to join through (repeatable).")
@click.option("--discovery/--no-discovery", default=True, show_default=True, help="UDP beacon (loopback-only when bound to 127.x).")
@click.option("--emulate/--no-emulate", default=None, help="Emulate the device (and its links); default: as the cluster file says, else off.")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Model cache directory (default: $FOGNET_CACHE).")
@click.option("--heartbeat", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds between STATE heartbeats; dead after 3 missed.")
@click.option("--exit-with-parent", is_flag=True, hidden=True)
def peer(name, profile, cluster_file, bind, bootstrap, discovery, emulate, cache, heartbeat, exit_with_parent) -> None:
    """Run one peer until interrupted (Ctrl-C or SIGTERM): serve subtasks, log who joins and leaves."""
    config, pacer, hook, emulation = _peer_setup(
        name, profile, cluster_file, bind, bootstrap, discovery, emulate, cache, heartbeat
    )
    click.echo(f"{name}: {emulation}", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config, pacer, hook, exit_with_parent))


@click.command()
@click.argument("cluster_file", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--emulate/--no-emulate", default=None, help="Override the file's emulation switch.")
@click.option("--cache-root", type=click.Path(path_type=Path), default=None, help="Give each peer its own model cache DIR/NAME.")
@click.option("--heartbeat", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds between heartbeats.")
@click.option("--quiet", is_flag=True, help="Do not echo the peers' membership logs.")
def cluster(cluster_file, emulate, cache_root, heartbeat, quiet) -> None:
    """Start every peer of FILE as its own process on loopback; Ctrl-C stops them all."""
    import threading

    from rich.console import Console
    from rich.table import Table

    from fognet.infer.launch import LocalCluster

    local = LocalCluster(
        cluster_file, emulate=emulate, cache_root=cache_root, heartbeat_s=heartbeat,
        echo=None if quiet else click.echo,
    )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with local:
            table = Table(title=f"cluster {local.cluster.name}: {len(local.launched)} peers")
            for col in ("peer", "profile", "role", "speed", "quota", "address", "pid"):
                table.add_column(col)
            for p in local.launched:
                spec = local.cluster.peer(p.name)
                table.add_row(p.name, spec.profile.name, spec.role, f"{spec.speed:g}", str(spec.quota), p.address, str(p.pid))
            Console().print(table)
            click.echo(local.cluster.emulated(emulate).describe())
            click.echo(f"join with: fognet infer --via {local.launched[0].address} --model MODEL   (Ctrl-C stops all)")
            while not stop.wait(0.5):
                pass
            click.echo("stopping...")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"stopped {len(local.launched)} peers")
