from __future__ import annotations

import hashlib

import pytest

from fognet.errors import ModelError, WireError
from fognet.peer.store import ModelDownload, ModelStore


def test_put_verifies_hash_and_serves_chunks(tmp_path) -> None:
    store = ModelStore(tmp_path / "cache")
    data = bytes(range(256)) * 50
    sha = hashlib.sha256(data).hexdigest()
    assert not store.has(sha)
    path = store.put(data, sha)
    assert store.has(sha) and path.read_bytes() == data and store.size(sha) == len(data)
    assert store.read_chunk(sha, 100, 10) == data[100:110]
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
    data = b"model bytes"
    other = hashlib.sha256(data).hexdigest()
    store.put(data, other)
    store.register(path, sha)
    assert store.shas() == tuple(sorted([sha, other]))
    assert ModelStore(tmp_path / "cache").shas() == (other,)  # found again by a fresh scan
