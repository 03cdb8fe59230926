"""Frames as uint8 and activations as LZ4 or float16, between real peers over ZeroMQ on
127.0.0.1: the exact encodings give the float32 transfer's outputs bit for bit."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from fognet.data.source import model_pixels, to_model_input
from fognet.infer.requester import Requester, Timed
from fognet.model.graph import analyse
from fognet.model.load import load_model
from fognet.model.runtime import make_session, run
from fognet.partition.stages import Plan, Stage
from fognet.peer.node import Peer, PeerConfig
from tests import graphs
from tests.graphs import save

TIMEOUT = 30.0
SOURCES = {"car": "raw", "carz": "lz4", "carh": "fp16"}  # one source per activation encoding
FP16_RTOL = 5e-3  # float16 keeps 11 bits; two conv stages compound it, well below this


@contextlib.asynccontextmanager
async def cluster(tmp_path, path, sha):
    workers = ["f1", "f2", "f3"]
    first = Peer(PeerConfig("f1", cache_dir=tmp_path / "f1", heartbeat_s=0.2))
    others = [Peer(PeerConfig(n, cache_dir=tmp_path / n, heartbeat_s=0.2, bootstrap=(first.address,)))
              for n in workers[1:]]
    sources = [Peer(PeerConfig(n, cache_dir=tmp_path / n, heartbeat_s=0.2, quota=0, activations=a,
                               bootstrap=(first.address,))) for n, a in SOURCES.items()]
    peers = [first, *others, *sources]
    async with contextlib.AsyncExitStack() as stack:
        for p in peers:
            await stack.enter_async_context(p.running())
        for p in peers:
            await p.wait_for_peers(len(peers), timeout=5.0)
        for s in sources:
            s.store.register(path, sha)
        yield {p.name: p for p in peers}


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (48, 40, 3), dtype=np.uint8) for _ in range(n)]


async def _run(peer: Peer, graph, plan_for, frames):
    requester = Requester(peer.run_subtask, graph, timeout=10.0)
    results = await requester.run([Timed(f) for f in frames], plan_for(peer.name), window=2)
    assert all(r.ok for r in results), [r.error for r in results]
    return results


def _same_bits(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)) for k in a
    )


@pytest.mark.parametrize("spatial", [False, True], ids=["stages", "sliced-first-stage"])
async def test_uint8_frames_and_lz4_give_the_float32_transfer_bit_for_bit(tmp_path, spatial) -> None:
    path, sha = save(graphs.conv_chain_model(), tmp_path / "chain.onnx")
    graph = analyse(load_model(path).model)
    shape = graph.inputs[0].shape
    if spatial:  # the first stage's slices each get their uint8 rows (with halo)
        def plan_for(src):
            return Plan(sha, src, (Stage(0, 4, ("f1", "f2"), rows=((0, 7), (7, 16))), Stage(4, 6, ("f3",))))
    else:
        def plan_for(src):
            return Plan(sha, src, (Stage(0, 2, ("f1",)), Stage(2, 4, ("f2",)), Stage(4, 6, ("f3",))))
    images = _images(4)
    floats = [{"x": to_model_input(im, shape)} for im in images]
    pixels = [{"x": model_pixels(im, shape)} for im in images]
    async with asyncio.timeout(TIMEOUT), cluster(tmp_path, path, sha) as peers:
        reference = await _run(peers["car"], graph, plan_for, floats)  # float32 frames, raw activations
        as_uint8 = await _run(peers["car"], graph, plan_for, pixels)
        as_lz4 = await _run(peers["carz"], graph, plan_for, pixels)
        as_fp16 = await _run(peers["carh"], graph, plan_for, pixels)
    whole = make_session(graph.model)
    for i, ref in enumerate(reference):
        assert np.allclose(ref.outputs["y"], run(whole, floats[i])["y"], atol=1e-5)
        assert _same_bits(as_uint8[i].outputs, ref.outputs)
        assert _same_bits(as_lz4[i].outputs, ref.outputs)
        err = np.abs(as_fp16[i].outputs["y"] - ref.outputs["y"]).max() / np.abs(ref.outputs["y"]).max()
        assert err <= FP16_RTOL
    # the first stage's bytes are what went on the wire: one byte per pixel, not four
    first = [t for t in as_uint8[0].timings if t.stage == 0]
    assert sum(t.in_bytes for t in first) * 4 == sum(
        t.in_bytes for t in reference[0].timings if t.stage == 0
    )
    # fp16 sends half the activation bytes back
    ref_back = sum(t.out_bytes for t in reference[0].timings)
    assert sum(t.out_bytes for t in as_fp16[0].timings) * 2 == ref_back


async def test_lz4_ratio_is_measured_from_what_was_sent(tmp_path) -> None:
    path, sha = save(graphs.conv_chain_model(), tmp_path / "chain.onnx")
    graph = analyse(load_model(path).model)
    pixels = [{"x": model_pixels(im, graph.inputs[0].shape)} for im in _images(2, seed=5)]
    async with asyncio.timeout(TIMEOUT), cluster(tmp_path, path, sha) as peers:
        carz, car = peers["carz"], peers["car"]
        assert carz.wire_ratio.value == 1.0  # nothing sent yet: priced as raw
        results = await _run(carz, graph, lambda s: Plan(sha, s, (Stage(0, 2, ("f1",)), Stage(2, 6, ("f2",)))),
                             pixels)
        await _run(car, graph, lambda s: Plan(sha, s, (Stage(0, 2, ("f1",)), Stage(2, 6, ("f2",)))), pixels)
    sent = sum(t.out_bytes for r in results for t in r.timings) + sum(
        t.in_bytes for r in results for t in r.timings if t.stage > 0)
    raw = carz.wire_ratio.raw
    assert raw > 0 and carz.wire_ratio.wire == sent
    assert carz.wire_ratio.value == pytest.approx(sent / raw)
    assert car.wire_ratio.value == 1.0  # raw activations: wire bytes are the raw bytes
