from __future__ import annotations

import hashlib

import onnx
import pytest

from fognet.errors import ModelError, WireError
from fognet.net.wire import Reason
from fognet.peer.store import ModelDownload, ModelStore, check_model
from tests import graphs
from tests.peer import hostile


def model_bytes(model: onnx.ModelProto) -> tuple[bytes, str]:
    data = model.SerializeToString()
    return data, hashlib.sha256(data).hexdigest()


def test_put_verifies_hash_and_serves_chunks(tmp_path) -> None:
    store = ModelStore(tmp_path / "cache")
    data, sha = model_bytes(graphs.residual_model())
    assert not store.has(sha)
    path = store.put(data, sha)
    assert store.has(sha) and path.read_bytes() == data and store.size(sha) == len(data)
    assert store.read_chunk(sha, 100, 10) == data[100:110]
    assert [n.name for n in store.load(sha).graph.node] == ["c1", "c2", "add", "relu"]
    with pytest.raises(ModelError, match="hash"):
        store.put(data + b"x", sha)


def test_registered_file_is_served_without_copy(residual_file, tmp_path) -> None:
    path, sha = residual_file
    store = ModelStore(tmp_path / "cache")
    store.register(path, sha)
    assert store.path(sha) == path
    assert not (tmp_path / "cache").exists()


def test_bad_hash_text_cannot_name_a_path(tmp_path) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(WireError):
        store.has("../../etc/passwd")
    with pytest.raises(ModelError, match="no model"):
        store.path("0" * 64)


def test_download_refuses_out_of_order_chunks() -> None:
    download = ModelDownload("a" * 64, 10)
    download.add(0, b"12345")
    with pytest.raises(WireError):
        download.add(7, b"xyz")
    download.add(5, b"67890")
    assert download.complete and download.data() == b"1234567890"


def test_shas_lists_stored_and_registered_models(residual_file, tmp_path) -> None:
    path, sha = residual_file
    store = ModelStore(tmp_path / "cache")
    assert store.shas() == ()
    data, other = model_bytes(graphs.branches_model())
    store.put(data, other)
    store.register(path, sha)
    assert store.shas() == tuple(sorted([sha, other]))
    assert ModelStore(tmp_path / "cache").shas() == (other,)  # found again by a fresh scan


@pytest.mark.parametrize(
    "build", [hostile.external_initializer, hostile.external_constant, hostile.external_in_subgraph]
)
def test_external_data_is_refused_in_one_line_before_it_is_read(build, tmp_path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"S" * 64)
    store = ModelStore(tmp_path / "cache")
    data, sha = model_bytes(build(str(secret)))
    with pytest.raises(ModelError) as info:
        store.put(data, sha)
    message = str(info.value)
    assert "external data" in message and str(secret) in message and "\n" not in message
    assert info.value.reason is Reason.MALFORMED
    assert not store.has(sha) and store.shas() == ()


def test_oversized_model_is_refused_announced_and_received(tmp_path) -> None:
    data, sha = model_bytes(graphs.residual_model())
    store = ModelStore(tmp_path, max_model_bytes=len(data) - 1)
    with pytest.raises(ModelError, match="over this peer's model size cap") as info:
        store.put(data, sha)
    assert info.value.reason is Reason.TOO_LARGE and not store.has(sha)
    with pytest.raises(ModelError, match="announced") as info:
        ModelDownload(sha, len(data), max_bytes=len(data) - 1)
    assert info.value.reason is Reason.TOO_LARGE
    assert ModelStore(tmp_path, max_model_bytes=len(data)).put(data, sha).read_bytes() == data


def test_stored_model_over_the_cap_is_refused_on_load_but_a_registered_one_is_not(residual_file, tmp_path) -> None:
    path, sha = residual_file
    data = path.read_bytes()
    ModelStore(tmp_path / "cache").put(data, sha)
    small = ModelStore(tmp_path / "cache", max_model_bytes=len(data) // 2)
    with pytest.raises(ModelError, match="size cap"):
        small.load(sha)
    small.register(path, sha)  # this device's own file
    assert len(small.load(sha).graph.node) == 4


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage" * 40, b"\n\x05hello"])
def test_non_onnx_upload_is_refused_in_one_line(data, tmp_path) -> None:
    store = ModelStore(tmp_path)
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(ModelError, match="is not an ONNX model") as info:
        store.put(data, sha)
    assert "\n" not in str(info.value) and info.value.reason is Reason.MALFORMED and not store.has(sha)


def test_model_the_checker_rejects_is_refused(tmp_path) -> None:
    data, sha = model_bytes(hostile.unknown_op())
    with pytest.raises(ModelError, match="fails onnx.checker") as info:
        ModelStore(tmp_path).put(data, sha)
    assert "NoSuchOp" in str(info.value) and "\n" not in str(info.value)


def test_check_model_returns_the_parsed_model() -> None:
    data, _ = model_bytes(graphs.branches_model())
    model = check_model(data, "branches", max_bytes=len(data))
    assert [o.name for o in model.graph.output] == ["y", "y2"]
