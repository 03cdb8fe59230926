"""A peer facing hostile models and requests, over real ZeroMQ on 127.0.0.1: each refusal is one
ERROR and one log line, nothing is stored or built for it, and the peer keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import numpy as np
import pytest

from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, random_feeds, run
from fognet.net import wire
from fognet.net.base import RemoteError
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Reason
from fognet.peer.node import Peer, PeerConfig
from tests import graphs
from tests.graphs import save
from tests.peer import hostile

TIMEOUT = 20.0


@contextlib.asynccontextmanager
async def pair(tmp_path, **worker):
    """A worker f1 (config overrides in `worker`) and a member mallory, who knows it."""
    f1 = Peer(PeerConfig("f1", cache_dir=tmp_path / "f1", heartbeat_s=0.2, **worker))
    mallory = Peer(PeerConfig("mallory", cache_dir=tmp_path / "mallory", heartbeat_s=0.2, bootstrap=(f1.address,)))
    async with f1.running(), mallory.running():
        await f1.wait_for_peers(2, timeout=5.0)
        await mallory.wait_for_peers(2, timeout=5.0)
        yield f1, mallory


async def exec_on(sender: Peer, worker: Peer, sha: str, start: int, stop: int, feeds) -> tuple:
    body = wire.Exec("t", "1", sha, start, stop)
    return await sender.transport.request(worker.address, Header(body), feeds, timeout_s=10.0)


async def still_serves(sender: Peer, worker: Peer, model_file) -> None:
    """`worker` runs a good model `sender` asks for, and gives the whole model's output."""
    path, sha = model_file
    sender.store.register(path, sha)
    graph = analyse(load_model(path).model)
    feeds = random_feeds(graph.inputs, seed=3)
    reply, outputs = await exec_on(sender, worker, sha, 0, len(graph), feeds)
    assert isinstance(reply.body, wire.Result)
    assert np.allclose(outputs["y"], run(make_session(graph.model), feeds)["y"], atol=1e-5)


def one_line_refusals(caplog, name: str) -> list[str]:
    """The log lines the peer wrote for refusals; none may carry a traceback."""
    assert not [r for r in caplog.records if r.exc_info], "a refusal logged a traceback"
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{name} refused")]


async def test_model_with_external_data_is_refused_and_never_read(residual_file, tmp_path, caplog, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the peer's working directory: what the attack would read
    (tmp_path / "secret.bin").write_bytes(b"S" * 64)
    evil, evil_sha = save(hostile.external_initializer("secret.bin"), tmp_path / "evil.onnx")
    feeds = {"x": np.zeros((1, 3, 16, 16), np.float32)}
    caplog.set_level(logging.WARNING)
    async with asyncio.timeout(TIMEOUT), pair(tmp_path) as (f1, mallory):
        mallory.store.register(evil, evil_sha)  # served as is: a registered file skips the gate
        for _ in range(2):  # the second ask is refused from memory, the same way
            with pytest.raises(RemoteError) as info:
                await exec_on(mallory, f1, evil_sha, 0, 4, feeds)
            assert info.value.reason is Reason.MALFORMED
            assert "external data at 'secret.bin'" in str(info.value) and "\n" not in str(info.value)
        assert not f1.store.has(evil_sha) and f1.executor.sessions.entries == 0
        await still_serves(mallory, f1, residual_file)
    lines = one_line_refusals(caplog, "f1")
    assert len(lines) == 2 and all("external data" in line for line in lines)


async def test_oversized_model_is_refused_from_its_announced_size(residual_file, tmp_path, caplog) -> None:
    path, sha = residual_file
    small = save(graphs.conv_chain_model(), tmp_path / "chain.onnx")
    caplog.set_level(logging.WARNING)
    cap = path.stat().st_size - 1
    assert small[0].stat().st_size <= cap
    async with asyncio.timeout(TIMEOUT), pair(tmp_path, max_model_bytes=cap) as (f1, mallory):
        mallory.store.register(path, sha)
        with pytest.raises(RemoteError) as info:
            await exec_on(mallory, f1, sha, 0, 2, random_feeds(analyse(load_model(path).model).inputs))
        assert info.value.reason is Reason.TOO_LARGE and "(announced)" in str(info.value)
        assert f"cap of {cap} bytes" in str(info.value)
        assert not f1.store.has(sha) and f1.fetcher.in_flight_bytes == 0
        await still_serves(mallory, f1, small)
    assert len(one_line_refusals(caplog, "f1")) == 1


async def test_non_onnx_upload_is_refused(residual_file, tmp_path, caplog) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01not a model" * 100)
    sha = hashlib.sha256(junk.read_bytes()).hexdigest()
    caplog.set_level(logging.WARNING)
    async with asyncio.timeout(TIMEOUT), pair(tmp_path) as (f1, mallory):
        mallory.store.register(junk, sha)
        with pytest.raises(RemoteError, match="is not an ONNX model") as info:
            await exec_on(mallory, f1, sha, 0, 1, {})
        assert info.value.reason is Reason.MALFORMED and not f1.store.has(sha)
        await still_serves(mallory, f1, residual_file)
    assert len(one_line_refusals(caplog, "f1")) == 1


async def test_tensorless_execs_over_every_range_build_no_session(residual_file, tmp_path) -> None:
    path, sha = residual_file
    n = len(analyse(load_model(path).model))
    async with asyncio.timeout(TIMEOUT), pair(tmp_path) as (f1, mallory):
        mallory.store.register(path, sha)
        for start in range(n):
            for stop in range(start + 1, n + 1):
                with pytest.raises(RemoteError, match="lacks input") as info:
                    await exec_on(mallory, f1, sha, start, stop, {})
                assert info.value.reason is Reason.MALFORMED
        assert f1.executor.sessions.entries == 0 and f1.executor.models.entries == 1
        await still_serves(mallory, f1, residual_file)
        assert f1.executor.sessions.entries == 1


async def test_model_is_fetched_only_from_the_peer_that_asked(residual_file, tmp_path) -> None:
    path, sha = residual_file
    feeds = random_feeds(analyse(load_model(path).model).inputs, seed=5)
    async with asyncio.timeout(TIMEOUT), pair(tmp_path) as (f1, holder):
        holder.store.register(path, sha)
        while sha not in f1.membership.table.get("mallory").models:  # its next STATE says it holds it
            await asyncio.sleep(0.05)
        stranger = ZmqTransport("stranger")  # not a member: f1 cannot ask it, and asks no one else
        try:
            with pytest.raises(RemoteError, match="only from the peer that asked") as info:
                await stranger.request(f1.address, Header(wire.Exec("t", "1", sha, 0, 4)), feeds, timeout_s=5.0)
        finally:
            await stranger.aclose()
        assert info.value.reason is Reason.NOT_FOUND and not f1.store.has(sha)
        await still_serves(holder, f1, residual_file)  # asked by the holder itself, it fetches
        assert f1.store.has(sha)
