"""PNG read and write with zlib and numpy only, so frames need no image library.

Writing: 8-bit RGB (or gray), filter "Up" on every row (vectorised, and it compresses
the generated stream's flat regions well). Reading: non-interlaced 8- or 16-bit gray,
gray+alpha, RGB, RGBA, and 8-bit palette images, returned as HxWx3 uint8 RGB (alpha
dropped, 16-bit reduced to its high byte). Filters None, Sub and Up decode vectorised
per row; Average and Paeth depend on the pixel to their left, so those rows decode in
a Python loop over pixels (correct, but ~1 s for a 1280x720 frame written that way).

API
    write_png(path, image, level=6)
    encode_png(image, level=6) -> bytes
    read_png(path) -> np.ndarray          HxWx3 uint8; raises FrameError naming the file
    decode_png(data, name="<bytes>") -> np.ndarray
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from fognet.errors import FrameError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of an HxWx3 (RGB) or HxW (gray) uint8 image."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"expected HxWx3 or HxW uint8, got {img.dtype} {img.shape}")
    height, width = img.shape[:2]
    color_type = 2 if img.ndim == 3 else 0
    rows = img.reshape(height, -1)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 wraps, as the Up filter wants
    raw = np.empty((height, rows.shape[1] + 1), np.uint8)
    raw[:, 0] = 2  # filter type Up for every row (row 0 has a zero row above it)
    raw[:, 1:] = up
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"".join(
        [SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
         _chunk(b"IEND", b"")]
    )


def write_png(path: str | Path, image: np.ndarray, level: int = 6) -> None:
    """Write an HxWx3 or HxW uint8 image as a PNG file."""
    Path(path).write_bytes(encode_png(image, level))


def read_png(path: str | Path) -> np.ndarray:
    """Read a PNG file as HxWx3 uint8 RGB; FrameError names the file if it cannot."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FrameError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return decode_png(data, str(path))


def _chunks(data: bytes, name: str):
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise FrameError(f"{name}: truncated PNG chunk {kind!r}")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise FrameError(f"{name}: PNG ends without an IEND chunk (truncated file?)")


def decode_png(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode PNG bytes to HxWx3 uint8 RGB."""
    if not data.startswith(SIGNATURE):
        raise FrameError(f"{name}: not a PNG file (bad signature)")
    header, palette, idat = None, None, []
    for kind, body in _chunks(data, name):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
    if header is None or not idat:
        raise FrameError(f"{name}: PNG has no IHDR or no IDAT chunk")
    width, height, depth, color_type, _, _, interlace = header
    if color_type not in _CHANNELS or depth not in (8, 16) or (color_type == 3 and depth != 8):
        raise FrameError(f"{name}: unsupported PNG (bit depth {depth}, colour type {color_type})")
    if interlace:
        raise FrameError(f"{name}: interlaced PNG is not supported; re-save it non-interlaced")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise FrameError(f"{name}: corrupt PNG image data ({exc})") from exc
    channels = _CHANNELS[color_type]
    bpp = channels * depth // 8
    stride = width * bpp
    if len(raw) < height * (stride + 1):
        raise FrameError(f"{name}: PNG image data is shorter than {width}x{height} needs")
    rows = _unfilter(np.frombuffer(raw, np.uint8)[: height * (stride + 1)], height, stride, bpp, name)
    if depth == 16:
        samples = rows.reshape(height, width, channels, 2)[..., 0]  # big-endian high byte
    else:
        samples = rows.reshape(height, width, channels)
    return _to_rgb(samples, color_type, palette, name)


def _to_rgb(samples: np.ndarray, color_type: int, palette, name: str) -> np.ndarray:
    if color_type == 3:
        if palette is None:
            raise FrameError(f"{name}: palette PNG without a PLTE chunk")
        index = samples[..., 0]
        if index.max(initial=0) >= len(palette):
            raise FrameError(f"{name}: palette index out of range")
        return palette[index]
    if color_type in (0, 4):
        return np.repeat(samples[..., :1], 3, axis=2)
    return np.ascontiguousarray(samples[..., :3])


def _unfilter(raw: np.ndarray, height: int, stride: int, bpp: int, name: str) -> np.ndarray:
    """Undo the per-row PNG filters; returns height x stride uint8."""
    lines = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prior = np.zeros(stride, np.uint8)
    for y in range(height):
        kind, line = int(lines[y, 0]), lines[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:
            row = _unsub(line, bpp)
        elif kind == 2:
            row = line + prior
        elif kind in (3, 4):
            row = _unfilter_slow(kind, line, prior, bpp)
        else:
            raise FrameError(f"{name}: bad PNG filter type {kind} on row {y}")
        out[y] = row
        prior = row
    return out


def _unsub(line: np.ndarray, bpp: int) -> np.ndarray:
    """Sub filter: a running sum mod 256 within each byte lane of a pixel."""
    px = line.reshape(-1, bpp).astype(np.uint32)
    return (np.cumsum(px, axis=0) % 256).astype(np.uint8).reshape(-1)


def _unfilter_slow(kind: int, line: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    """Average (3) and Paeth (4): each byte needs the decoded byte to its left."""
    cur, up = bytearray(line.tobytes()), prior.tobytes()
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        b = up[i]
        if kind == 3:
            cur[i] = (cur[i] + ((a + b) >> 1)) & 0xFF
            continue
        c = up[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        cur[i] = (cur[i] + pred) & 0xFF
    return np.frombuffer(bytes(cur), np.uint8)
