"""Seeded parameter values that give sane activations, so outputs of the zoo are meaningful.

Each tensor draws from its own generator seeded by (seed, crc32 of its name): its values
depend only on the model seed and its name, never on the order tensors are made in, so
adding a layer does not reshuffle every other weight. Scales follow He/Kaiming (fan-in):
a ReLU network keeps its activations' magnitude from layer to layer, so deep models give
finite outputs that still depend on the input.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
from onnx import TensorProto, numpy_helper

BIAS_STD = 0.01
# Scale of a BatchNorm whose branch is summed with an identity skip. Untrained running
# statistics do not renormalise, so each residual sum adds its branch's energy to the skip;
# a quarter-scale branch keeps a 16-block network's activations within a small factor.
RESIDUAL_GAMMA = 0.25
RECTIFIERS = frozenset({"Relu", "LeakyRelu", "Clip"})
# Ops whose output is rectified when all their data inputs are (they move or pool values).
KEEPS_RECTIFIED = frozenset(
    {"MaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Transpose", "Flatten",
     "Dropout", "Concat", "LRN", "Resize", "Identity"}
)


def rng_for(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _tensor(name: str, values: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(values.astype(np.float32, copy=False), name)


def he(seed: int, name: str, shape: Sequence[int], fan_in: int, rectified: bool = True) -> TensorProto:
    """Weights of a Conv or Gemm: normal with std sqrt(gain / fan_in).

    The gain is 2 when the layer reads a rectified tensor (ReLU zeroes half the signal, He
    et al. 2015) and 1 when it reads a linear one (a BatchNorm or a residual sum), so a
    layer that follows no ReLU does not double its input's energy.
    """
    values = rng_for(seed, name).standard_normal(tuple(shape), dtype=np.float32)
    values *= np.float32(np.sqrt((2.0 if rectified else 1.0) / max(fan_in, 1)))
    return _tensor(name, values)


def small(seed: int, name: str, shape: Sequence[int], std: float = BIAS_STD) -> TensorProto:
    """Biases, shifts and running means: close to zero."""
    values = rng_for(seed, name).standard_normal(tuple(shape), dtype=np.float32)
    values *= np.float32(std)
    return _tensor(name, values)


def near(seed: int, name: str, shape: Sequence[int], centre: float = 1.0, spread: float = 0.1) -> TensorProto:
    """Scales and running variances: uniform in centre * [1 - spread, 1 + spread], so positive."""
    low, high = centre * (1 - spread), centre * (1 + spread)
    return _tensor(name, rng_for(seed, name).uniform(low, high, tuple(shape)))


def conv_fan_in(shape: Sequence[int]) -> int:
    """Fan-in of a Conv weight (M, C/group, k1, k2, ...)."""
    return int(np.prod(shape[1:]))
