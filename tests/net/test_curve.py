"""CURVE key files, the allow-list, and what a closed transport puts on the wire (real
ZeroMQ on 127.0.0.1, through a recording TCP relay)."""

from __future__ import annotations

import asyncio
import contextlib
import stat

import numpy as np
import pytest
import zmq.auth

from fognet.errors import ConfigError, PeerUnreachable
from fognet.net.keys import (
    allow_line,
    load_allow_list,
    load_keypair,
    make_local_keys,
    write_keypair,
)
from fognet.net.transport import ZmqTransport
from fognet.net.wire import Header, Pong


def test_key_files_are_zmq_certificates_and_the_secret_is_private(tmp_path) -> None:
    pair, public_path, secret_path = write_keypair(tmp_path / "k", "fog1")
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    public, secret = zmq.auth.load_certificate(secret_path)
    assert (public.decode(), secret.decode()) == (pair.public, pair.secret)
    assert zmq.auth.load_certificate(public_path) == (public, None)
    assert load_keypair(public_path).secret is None and load_keypair(secret_path) == pair
    assert len(pair.fingerprint) == 16 and pair.fingerprint != write_keypair(tmp_path / "k", "fog2")[0].fingerprint
    with pytest.raises(ConfigError, match="never overwritten"):
        write_keypair(tmp_path / "k", "fog1")
    with pytest.raises(ConfigError, match="holds no secret key"):
        load_keypair(public_path, need_secret=True)
    (tmp_path / "junk.key").write_text("hello\n")
    with pytest.raises(ConfigError, match="junk.key"):
        load_keypair(tmp_path / "junk.key")


def test_allow_list_reads_what_keys_show_prints_and_names_bad_entries(tmp_path) -> None:
    a, b = (write_keypair(tmp_path, n)[0] for n in ("car1", "fog1"))
    path = tmp_path / "allow.toml"
    path.write_text(f"# mine\n[peers]\n{allow_line('car1', a)}\n{allow_line('fog1', b)}\n")
    allow = load_allow_list(path)
    assert allow.key_of("fog1") == b.public and allow.name_of(a.public) == "car1"
    assert allow.name_of(write_keypair(tmp_path, "x")[0].public) is None
    for text, field in [
        (f'[peers]\ncar1 = "{a.public}"\nfog1 = "{a.public}"\n', "the same key as 'car1'"),
        ('[peers]\ncar1 = "short"\n', "peers.car1: expected a 40-character"),
        (f'[peer]\ncar1 = "{a.public}"\n', "unknown field 'peer'"),
        ("[peers\n", "not valid TOML"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=field):
            load_allow_list(path)


@contextlib.asynccontextmanager
async def relay(target: str):
    """A TCP relay on 127.0.0.1 that forwards both ways and keeps every byte it saw."""
    seen = bytearray()
    host, port = target.rsplit(":", 1)

    async def pipe(reader, writer):
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                seen.extend(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def accept(reader, writer):
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        server.close()


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "open"])
async def test_closed_transport_encrypts_tensors_and_headers(tmp_path, closed) -> None:
    keys = make_local_keys(tmp_path, ["a", "b"]) if closed else {"a": None, "b": None}
    secret = np.frombuffer(b"FOGNET-SECRET-TENSOR" * 64, dtype=np.uint8)

    async def echo(header, tensors):
        return Header(Pong()), {"back": np.asarray(tensors["x"])}

    async with asyncio.timeout(20):
        server = ZmqTransport("a", keys=keys["a"])
        client = ZmqTransport("b", keys=keys["b"])
        serving = asyncio.create_task(server.serve(echo))
        try:
            async with relay(server.address) as (addr, seen):
                client.learn(addr, "a")
                reply, tensors = await client.request(addr, Header(Pong()), {"x": secret}, timeout_s=5.0)
                assert reply.sender == "a" and bytes(tensors["back"]) == secret.tobytes()
                assert len(seen) > secret.nbytes  # both ways went through the relay
                plain = b"FOGNET-SECRET-TENSOR" in seen, b"PONG" in seen
                assert plain == ((False, False) if closed else (True, True))
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await client.aclose()
            await server.aclose()


async def test_closed_client_never_connects_to_an_address_it_cannot_name(tmp_path) -> None:
    keys = make_local_keys(tmp_path, ["a", "b"])
    client = ZmqTransport("b", keys=keys["b"])
    try:
        with pytest.raises(PeerUnreachable, match="no allowed peer is known at 127.0.0.1:9"):
            await client.request("127.0.0.1:9", Header(Pong()), timeout_s=0.5)
        assert not client.learn("127.0.0.1:9", "mallory")  # not on the list: never learnt
        assert client.learn("127.0.0.1:9", "a") and not client.learn("127.0.0.1:9", "b")
        assert client.learn("127.0.0.1:9", "b", trusted=True)  # the peer itself said so
    finally:
        await client.aclose()
