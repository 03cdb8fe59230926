"""to_model_input: layouts, sizes, dtypes and normalisation; bad shapes fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

from fognet.data.source import IMAGENET_MEAN, IMAGENET_STD, Box, Labels, resize, to_model_input
from fognet.errors import FognetError, ModelError


def _image(h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_nchw_default_is_imagenet_normalised_float32():
    img = _image()
    x = to_model_input(img, (1, 3, 48, 64))
    assert x.shape == (1, 3, 48, 64) and x.dtype == np.float32 and x.flags.c_contiguous
    expected = (img / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    assert np.allclose(x[0].transpose(1, 2, 0), expected, atol=1e-5)


def test_unit_normalisation_and_nhwc_layout():
    img = _image()
    x = to_model_input(img, (1, 48, 64, 3), normalize="unit")
    assert x.shape == (1, 48, 64, 3)
    assert np.allclose(x[0], img / 255.0, atol=1e-6)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_resize_to_model_size_and_dtype():
    x = to_model_input(_image(720, 1280), (1, 3, 224, 224), dtype="float16")
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float16


def test_bilinear_resize_of_a_constant_and_a_ramp():
    const = np.full((30, 40, 3), 77, np.uint8)
    assert np.allclose(resize(const, 7, 11), 77)
    # levels 0, 32, ..., 224: the quarter-pixel blends are whole levels, so uint8 is exact
    ramp = np.repeat((32 * np.arange(8, dtype=np.uint8))[None, :, None], 3, axis=2).repeat(2, axis=0)
    # half-pixel centres: out x maps to (x + 0.5) / 2 - 0.5, clamped at the ends
    expected = 32 * np.clip((np.arange(16) + 0.5) / 2 - 0.5, 0, 7)
    assert np.array_equal(resize(ramp, 2, 16)[0, :, 0], expected)
    assert np.allclose(resize(ramp.astype(np.float32), 2, 16)[0, :, 0], expected)  # float path


def test_shrinking_low_passes_instead_of_aliasing():
    """A one-pixel checkerboard shrunk 4x is its mean grey, not a sampled black or white."""
    board = ((np.indices((64, 64)).sum(axis=0) % 2) * 255).astype(np.uint8)
    out = resize(np.repeat(board[..., None], 3, axis=2), 16, 16)
    assert out.dtype == np.float32 and out.shape == (16, 16, 3)
    assert np.allclose(out, 127.5, atol=2.0)


@pytest.mark.parametrize(
    "shape",
    [(3, 224, 224), (1, 1, 224, 224), (2, 3, 224, 224), (1, 3, "H", 224), (1, 3, 0, 224),
     (1, 5, 5, 5)],
)
def test_shapes_that_cannot_take_an_image_fail_with_model_error(shape):
    with pytest.raises(ModelError, match="shape|batch"):
        to_model_input(_image(), shape)


def test_bad_image_and_normalisation_fail_clearly():
    with pytest.raises(ModelError, match="HxWx3"):
        to_model_input(np.zeros((10, 10), np.uint8), (1, 3, 8, 8))
    with pytest.raises(FognetError, match="normalization"):
        to_model_input(_image(), (1, 3, 8, 8), normalize="zscore")


def test_labels_say_which_fields_they_carry():
    labels = Labels(steering=0.1, boxes=(Box("car", 1, 2, 3, 4),), attributes=(("weather", "rainy"),))
    assert labels.present() == ("steering", "boxes", "attributes")
    assert labels.attribute("weather") == "rainy" and labels.attribute("scene") is None
    assert Labels().present() == () and hash(labels) == hash(Labels(**labels.__dict__))
