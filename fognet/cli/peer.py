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


def _cluster_keys(keys_file: Path | None, allow_file: Path | None):
    """The keys of a closed peer, or None (open) when neither file is given."""
    if keys_file is None and allow_file is None:
        return None
    if keys_file is None or allow_file is None:
        raise click.UsageError("a closed peer needs both --keys FILE.key_secret and --allow FILE (or neither: open)")
    from fognet.net.keys import load_cluster_keys

    return load_cluster_keys(keys_file, allow_file)


def _peer_setup(name, profile, cluster_file, bind, bootstrap, discovery, emulate, cache, heartbeat, keys=None,
                advertise=None, cap=None, memory=None, max_members=None):
    """(PeerConfig, Pacer | None, on_event hook | None, emulation line) from the options;
    cap and memory not given are the device's (its profile's or cluster file's)."""
    from fognet.config.cluster import load_cluster
    from fognet.config.emulation import OFF
    from fognet.config.profiles import load_profile
    from fognet.net.discovery import LAN_BROADCAST, LOOPBACK_BROADCAST, parse_bootstrap
    from fognet.peer import device

    host, port = _bind(bind)
    options = dict(
        host=host, port=port, bootstrap=tuple(parse_bootstrap(list(bootstrap))),
        discovery=discovery, broadcast=LOOPBACK_BROADCAST if host.startswith("127.") else LAN_BROADCAST,
        cache_dir=cache, heartbeat_s=heartbeat, keys=keys, advertise=advertise,
    )
    limits = {"cap": cap, "memory": memory, "max_members": max_members}
    options |= {k: v for k, v in limits.items() if v is not None}
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
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Settings from this TOML file (README: Running on real devices); flags given here win.")
@click.option("--name", default=None, help="This peer's name (its id in the cluster).")
@click.option("--profile", default=None, help="Device profile: a name in peers/profiles or a .toml path.")
@click.option("--cluster", "cluster_file", type=click.Path(path_type=Path), default=None,
              help="Take profile, overrides, links and emulation for --name from this cluster file.")
@click.option("--bind", default="127.0.0.1:0", show_default=True, metavar=HOST_PORT, help="Where to listen (port 0: any free port).")
@click.option("--advertise", default=None, metavar="HOST",
              help="The address others reach this peer at (bound to 0.0.0.0 on a LAN: this device's IP).")
@click.option("--bootstrap", multiple=True, metavar="[NAME@]HOST:PORT",
              help="A peer to join through (repeatable); a closed peer names it: NAME@HOST:PORT.")
@click.option("--discovery/--no-discovery", default=True, show_default=True, help="UDP beacon (loopback-only when bound to 127.x).")
@click.option("--emulate/--no-emulate", default=None, help="Emulate the device (and its links); default: as the cluster file says, else off.")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Model cache directory (default: $FOGNET_CACHE).")
@click.option("--heartbeat", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds between STATE heartbeats; dead after 3 missed.")
@click.option("--keys", "keys_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="This peer's NAME.key_secret (`fognet keys new`): with --allow, a closed peer.")
@click.option("--allow", "allow_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The cluster's allow-list (TOML: [peers] NAME = \"PUBLIC KEY\").")
@click.option("--cap", type=click.FloatRange(min=0, max=0.999, min_open=True), default=None,
              help="Share of its time it lends at most: past it, EXECs that would queue get BUSY "
                   "(default: the profile's, 0.9).")
@click.option("--memory", type=click.FloatRange(min=0, min_open=True), default=None, metavar="BYTES",
              help="Memory it lends to partitions, advertised in HELLO/STATE, e.g. 5e8 "
                   "(default: the profile's; no placement puts more on it).")
@click.option("--max-members", type=click.IntRange(min=1), default=None,
              help="Peers it keeps track of; newcomers past it are refused (default 128).")
@click.option("--exit-with-parent", is_flag=True, hidden=True)
@click.pass_context
def peer(ctx, config_file, exit_with_parent, **params) -> None:
    """Run one peer until interrupted (Ctrl-C or SIGTERM): serve subtasks, log who joins and leaves.
    Without --keys/--allow it runs open and says so."""
    if config_file is not None:
        params = _with_file(ctx, params, config_file)
    name = params["name"]
    if not name:
        raise click.UsageError("give --name NAME (or name = ... in --config)")
    keys = _cluster_keys(params.pop("keys_file"), params.pop("allow_file"))
    config, pacer, hook, emulation = _peer_setup(keys=keys, **params)
    click.echo(f"{name}: {emulation}", err=True)
    click.echo(f"{name}: {_limits(config)}", err=True)
    if keys is not None:
        click.echo(f"{name}: closed cluster: key {keys.pair.fingerprint}, {len(keys.allow.keys)} peers on "
                   f"{keys.allow.path}", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config, pacer, hook, exit_with_parent))


def _limits(config) -> str:
    """One line: what the peer lends (cap, memory) and how many peers it tracks."""
    memory = f"{config.memory / 1e6:.6g} MB" if config.memory else "no memory limit"
    return (f"lends at most {config.cap:g} of its time and {memory} to partitions "
            f"(memory advertised in HELLO/STATE); tracks at most {config.max_members} peers")


_FILE_PARAMS = {"cluster": "cluster_file", "keys": "keys_file", "allow": "allow_file"}


def _with_file(ctx: click.Context, params: dict, config_file: Path) -> dict:
    """`params` with the peer file's values wherever the command line did not set them."""
    from fognet.config.peerfile import read_peer_file

    merged = dict(params)
    for field, value in read_peer_file(config_file).items():
        name = _FILE_PARAMS.get(field, field)
        if ctx.get_parameter_source(name) in (None, click.core.ParameterSource.DEFAULT):
            merged[name] = value
    return merged


def _join_command(local) -> str:
    """The `fognet infer` line that joins the started cluster (with the requester's keys when closed)."""
    if local.keys_dir is None:
        return f"fognet infer --via {local.via} --model MODEL"
    keys = local.keys_dir
    click.echo(f"closed cluster: keys and allow-list in {keys} (removed when it stops)")
    return f"fognet infer --via {local.via} --keys {keys / 'infer.key_secret'} --allow {keys / 'allow.toml'} --model MODEL"


@click.command()
@click.argument("cluster_file", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--emulate/--no-emulate", default=None, help="Override the file's emulation switch.")
@click.option("--cache-root", type=click.Path(path_type=Path), default=None, help="Give each peer its own model cache DIR/NAME.")
@click.option("--heartbeat", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds between heartbeats.")
@click.option("--quiet", is_flag=True, help="Do not echo the peers' membership logs.")
@click.option("--open", "open_cluster", is_flag=True, help="Run the peers open (default: closed, with keys made for them).")
def cluster(cluster_file, emulate, cache_root, heartbeat, quiet, open_cluster) -> None:
    """Start every peer of FILE as its own process on loopback; Ctrl-C stops them all.
    Closed by default: keys for every peer (and a requester, `infer`) in a temporary
    directory that lasts as long as the cluster."""
    import threading

    from rich.console import Console
    from rich.table import Table

    from fognet.infer.launch import LocalCluster

    local = LocalCluster(
        cluster_file, emulate=emulate, cache_root=cache_root, heartbeat_s=heartbeat,
        echo=None if quiet else click.echo, closed=not open_cluster, extra_keys=("infer",),
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
            click.echo(local.security())
            click.echo(f"join with: {_join_command(local)}   (Ctrl-C stops all)")
            while not stop.wait(0.5):
                pass
            click.echo("stopping...")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"stopped {len(local.launched)} peers")
