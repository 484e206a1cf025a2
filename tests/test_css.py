import numpy as np
import pytest

from noise2atom.metrics import css, css_pair


def direct_eq10(a, b):
    c1, c2 = 1e-4, 9e-4
    mu_a, mu_b = a.mean(), b.mean()
    cov = np.mean((a - mu_a) * (b - mu_b))
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (a.var() + b.var() + c2))


def test_matches_direct_numpy(rng):
    frames = rng.random((4, 37, 31))
    res = css(frames)
    scaled = [(f - f.min()) / (f.max() - f.min()) for f in frames]
    expected = [direct_eq10(scaled[i], scaled[i + 1]) for i in range(3)]
    np.testing.assert_allclose(res.pairs, expected, rtol=1e-12)
    assert res.mean == pytest.approx(np.mean(expected))


def test_limits(rng):
    f = rng.random((1, 20, 20))
    assert css(np.concatenate([f, f, f])).pairs.tolist() == pytest.approx([1.0, 1.0])
    # a constant output scores 1: CSS alone rewards blur
    assert css(np.ones((3, 8, 8)), data_range=(0, 2)).mean == pytest.approx(1.0)
    noise = css(rng.random((5, 64, 64))).mean
    assert noise < 0.1


def test_fixed_range_and_errors(rng):
    frames = rng.random((3, 10, 10))
    assert css(frames, data_range=(0, 1)).pairs[0] == pytest.approx(css_pair(frames[0], frames[1]))
    with pytest.raises(ValueError, match="at least 2 frames"):
        css(frames[:1])
    with pytest.raises(ValueError, match="low < high"):
        css(frames, data_range=(1, 1))
