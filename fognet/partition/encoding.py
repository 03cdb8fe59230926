"""How many bytes a tensor takes on the wire, under the encoding a run sends with.

A 224x224x3 camera frame is 150 KB as the camera's uint8 bytes and 602 KB as the float32
model input: on a Wi-Fi-class link that is the difference between offloading paying or
not, so the cost model prices the bytes actually sent. Frames (the model's inputs) go
as uint8 pixels, normalised where the first stage runs, or as float32; activations (every
other tensor) raw, as float16 (half of a float's bytes; lossy) or LZ4-compressed, priced
by the measured ratio of wire to raw bytes (1 until something was measured). Every pricing
(planner, game instance, simulator, predictions) takes sizes from `wire_sizes`, so every
approach of a comparison is priced under the same encoding.

API
    FRAMES = ("float32", "uint8"), ACTIVATIONS = ("raw", "fp16", "lz4")
    Encoding(frames="uint8", activations="raw", lz4_ratio=1.0)   frozen
        .bytes_on_wire(tensor_bytes, is_frame, dtype="float32") -> float
        .lossy, .name ("uint8", "uint8+lz4", ...), .measured(ratio) -> Encoding
    parse_encoding("uint8" | "float32" | "fp16" | "lz4" | "float32+lz4" | ...) -> Encoding
    wire_sizes(graph, encoding) -> {tensor name: bytes on the wire}
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fognet.errors import ConfigError
from fognet.model.graph import ModelGraph

FRAMES = ("float32", "uint8")
ACTIVATIONS = ("raw", "fp16", "lz4")
_HALVED = ("float32", "float64")  # what float16 carries; integer tensors stay raw


@dataclass(frozen=True)
class Encoding:
    frames: str = "uint8"  # how the model's inputs travel
    activations: str = "raw"  # how every other tensor travels
    lz4_ratio: float = 1.0  # wire bytes per raw byte under LZ4, as measured (1: none yet)

    def __post_init__(self) -> None:
        if self.frames not in FRAMES:
            raise ConfigError(f"frames encoding {self.frames!r}: use one of {FRAMES}")
        if self.activations not in ACTIVATIONS:
            raise ConfigError(f"activations encoding {self.activations!r}: use one of {ACTIVATIONS}")
        if not 0 < self.lz4_ratio <= 2:
            raise ConfigError(f"lz4_ratio {self.lz4_ratio}: expected wire / raw bytes in (0, 2]")

    @property
    def lossy(self) -> bool:
        """float16 activations change the outputs; every other encoding is exact."""
        return self.activations == "fp16"

    @property
    def name(self) -> str:
        return self.frames if self.activations == "raw" else f"{self.frames}+{self.activations}"

    def measured(self, ratio: float) -> Encoding:
        """This encoding with LZ4 priced at a measured wire / raw ratio (clamped to (0, 2])."""
        return replace(self, lz4_ratio=min(2.0, max(1e-3, float(ratio))))

    def bytes_on_wire(self, tensor_bytes: float, is_frame: bool, dtype: str = "float32") -> float:
        """Bytes a tensor of `tensor_bytes` (as the model holds it, of `dtype`) takes when sent."""
        itemsize = np.dtype(dtype).itemsize
        if tensor_bytes < 0:  # an unknown size stays unknown
            return tensor_bytes
        if is_frame:
            return tensor_bytes / itemsize if self.frames == "uint8" else tensor_bytes
        if self.activations == "fp16" and dtype in _HALVED:
            return tensor_bytes * 2 / itemsize
        if self.activations == "lz4":
            return tensor_bytes * self.lz4_ratio
        return tensor_bytes


DEFAULT_ENCODING = Encoding()


def parse_encoding(text: str) -> Encoding:
    """`FRAMES[+ACTIVATIONS]` or one of them alone: "uint8", "float32+lz4", "fp16" (uint8
    frames, float16 activations), "lz4"; ConfigError naming the bad part."""
    frames, activations = "uint8", "raw"
    parts = [p.strip() for p in str(text).split("+") if p.strip()]
    if not parts or len(parts) > 2:
        raise ConfigError(f"encoding {text!r}: expected FRAMES[+ACTIVATIONS], e.g. uint8 or uint8+lz4")
    for part in parts:
        if part in FRAMES:
            frames = part
        elif part in ACTIVATIONS:
            activations = part
        else:
            raise ConfigError(f"encoding {text!r}: {part!r} is none of {FRAMES + ACTIVATIONS}")
    return Encoding(frames, activations)


def wire_sizes(graph: ModelGraph, encoding: Encoding = DEFAULT_ENCODING) -> dict[str, float]:
    """Bytes each tensor of the graph takes on the wire; the model's inputs are the frames."""
    frames = {t.name for t in graph.inputs}
    return {
        name: encoding.bytes_on_wire(float(info.nbytes), name in frames, info.dtype)
        for name, info in graph.tensors.items()
    }
