"""ModelFetcher against a real source over ZeroMQ on 127.0.0.1 (a small MODEL_GET server)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

import numpy as np
import pytest

from fognet.errors import ModelError
from fognet.net import wire
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Reason
from fognet.peer.fetch import ModelFetcher
from fognet.peer.store import ModelStore
from tests import graphs

CHUNK = 100  # the source answers this many bytes per MODEL_PART


@contextlib.asynccontextmanager
async def source(files: dict[str, bytes], hold: asyncio.Event):
    """Serves `files` by hash in CHUNK-byte parts; parts after the first wait for `hold`."""

    async def handler(header: Header, tensors):
        body: wire.ModelGet = header.body
        data = files[body.model_sha256]
        if body.offset_bytes > 0:
            await hold.wait()
        part = data[body.offset_bytes : body.offset_bytes + CHUNK]
        reply = wire.ModelPart(body.model_sha256, body.offset_bytes, len(data))
        return Header(reply), {"data": np.frombuffer(part, dtype=np.uint8)}

    server = ZmqTransport("src")
    serving = asyncio.create_task(server.serve(handler))
    try:
        yield server
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await server.aclose()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_downloads_in_flight_share_the_size_cap(tmp_path) -> None:
    model = graphs.residual_model().SerializeToString()
    other = graphs.conv_chain_model().SerializeToString()
    files = {sha(model): model, sha(other): other}
    store = ModelStore(tmp_path, max_model_bytes=len(model) + len(other) - 1)  # either alone fits
    hold = asyncio.Event()
    client = ZmqTransport("w1")
    fetcher = ModelFetcher("w1", store, client, {"src": None}.get)
    async with asyncio.timeout(20), source(files, hold) as server:
        fetcher.remember("src", server.address)  # known only from an earlier membership event
        try:
            first = asyncio.create_task(fetcher.ensure(sha(model), "src"))
            while fetcher.in_flight_bytes == 0:  # its first part came: its size is reserved
                await asyncio.sleep(0.01)
            assert fetcher.in_flight_bytes == len(model)
            with pytest.raises(ModelError, match="already downloading") as info:
                await fetcher.ensure(sha(other), "src")
            assert info.value.reason is Reason.BUSY
            hold.set()
            path = await first
            assert path.read_bytes() == model and fetcher.in_flight_bytes == 0
            assert (await fetcher.ensure(sha(other), "src")).read_bytes() == other  # room again
        finally:
            await client.aclose()


async def test_a_refused_hash_is_not_fetched_again_and_bye_forgets_the_address(tmp_path) -> None:
    junk = b"\x00\x01junk" * 30
    files = {sha(junk): junk}
    hold = asyncio.Event()
    hold.set()
    store = ModelStore(tmp_path)
    client = ZmqTransport("w1")
    fetcher = ModelFetcher("w1", store, client, lambda name: None)
    async with asyncio.timeout(20), source(files, hold) as server:
        fetcher.remember("src", server.address)
        try:
            with pytest.raises(ModelError, match="not an ONNX model"):
                await fetcher.ensure(sha(junk), "src")
            files.clear()  # the source could not serve it again: the refusal must come from memory
            with pytest.raises(ModelError, match="not an ONNX model"):
                await fetcher.ensure(sha(junk), "src")
            fetcher.forget("src")
            with pytest.raises(ModelError, match="only from the peer that asked") as info:
                await fetcher.ensure("ab" * 32, "src")
            assert info.value.reason is Reason.NOT_FOUND
        finally:
            await client.aclose()
