"""Property-based tests (hypothesis): the tiler, CSS and the array reader, for any shape."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noise2atom.denoise.tiling import Blender, extract_tiles, pad_frame, plan_tiles, tile_window
from noise2atom.errors import InputError
from noise2atom.io import stack_from_array
from noise2atom.metrics.css import css, css_pair

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tilings(draw):
    tile = draw(st.integers(4, 96))
    overlap = draw(st.integers(0, tile // 2))
    h, w = draw(st.integers(1, 220)), draw(st.integers(1, 220))
    return h, w, tile, overlap


@FAST
@given(tilings())
def test_blend_weights_cover_every_pixel_exactly_once(t):
    """Normalised blend weights sum to exactly 1 at every pixel (none left out, none counted twice),
    so tiles of an identity 'network' give the frame back."""
    h, w, tile, overlap = t
    plan = plan_tiles(h, w, tile, overlap)
    total = np.zeros(plan.padded)
    for i, (y, x) in enumerate(plan.origins):
        total[y:y + tile, x:x + tile] += tile_window(plan, i)
    assert (total[:h, :w] > 0).all()  # every pixel is seen by some tile with positive weight
    frame = np.random.default_rng(h * 1000 + w).random((h, w)).astype(np.float32)
    blender = Blender(plan)
    for i, tile_in in enumerate(extract_tiles(pad_frame(frame, plan), plan)):
        blender.add(i, tile_in)
    out = blender.result()
    assert out.shape == (h, w)
    np.testing.assert_allclose(out, frame, atol=1e-5)
    const = Blender(plan)
    for i in range(len(plan.origins)):
        const.add(i, np.full((tile, tile), 0.7, np.float32))
    np.testing.assert_allclose(const.result(), 0.7, atol=1e-6)  # weights of each pixel sum to 1


images = st.tuples(st.integers(7, 40), st.integers(7, 40), st.integers(0, 2**31 - 1))


@FAST
@given(images, st.floats(0.0, 3.0))
def test_css_is_symmetric_at_most_one_and_one_for_identical_frames(shape, noise):
    h, w, seed = shape
    rng = np.random.default_rng(seed)
    a = rng.random((h, w))
    b = a + noise * rng.standard_normal((h, w))
    ab, ba = css_pair(a, b), css_pair(b, a)
    assert ab == pytest.approx(ba, abs=1e-12)
    assert ab <= 1 + 1e-12
    assert css_pair(a, a) == pytest.approx(1.0, abs=1e-12)
    r = css(np.stack([a, a, b]))
    assert r.pairs[0] == pytest.approx(1.0, abs=1e-9) and r.mean <= 1 + 1e-9


dtypes = st.sampled_from(["uint8", "uint16", "int8", "int16", "int32", "float16", "float32", "float64", "bool"])


@FAST
@given(st.lists(st.integers(1, 9), min_size=1, max_size=4), dtypes, st.integers(0, 2**31 - 1))
def test_the_array_reader_accepts_images_and_refuses_the_rest_in_one_line(shape, dtype, seed):
    raw = (np.random.default_rng(seed).random(shape) * 50).astype(dtype)
    ok_shape = raw.ndim in (2, 3) and min(raw.shape[-2:]) >= 2 and not (
        raw.ndim == 3 and raw.shape[-1] in (3, 4) and raw.shape[0] > 4)
    if ok_shape:
        stack = stack_from_array(raw)
        assert stack.data.dtype == np.float32 and stack.data.ndim == 3
        assert stack.data.shape[-2:] == raw.shape[-2:]
        np.testing.assert_array_equal(stack.data.reshape(raw.shape), raw.astype(np.float32))
    else:
        with pytest.raises(InputError) as exc:
            stack_from_array(raw)
        assert "\n" not in str(exc.value) and str(exc.value).startswith("array:")


def test_complex_data_is_refused():
    with pytest.raises(InputError, match="not numeric image data"):
        stack_from_array(np.ones((4, 4), np.complex64))
