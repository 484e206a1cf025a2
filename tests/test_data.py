import numpy as np
import pytest

from noise2atom.config import SimulationConfig
from noise2atom.data import Normalization, NoisyCrops, draw_clean_params, render_clean, simulate_clean
from noise2atom.errors import InputError


def test_clean_params_follow_the_paper():
    p = draw_clean_params(400, rng=np.random.default_rng(0))
    assert p["n_sites"].min() >= 75 and p["n_sites"].max() <= 150
    assert p["n_sites"].min() < 85 and p["n_sites"].max() > 140  # the whole range is used
    atoms = p["atoms"][p["atoms"] > 0]
    assert set(np.unique(atoms)) == {1, 2, 3, 4}
    assert (p["atoms"] > 0).sum(axis=1).tolist() == p["n_sites"].tolist()
    assert 1.0 <= p["variance_px2"].min() and p["variance_px2"].max() <= 10.0
    assert p["y"].max() < 256 and p["x"].max() < 256
    # sites are distinct within an image
    for y, x, k in zip(p["y"], p["x"], p["n_sites"]):
        assert len(set(zip(y[:k], x[:k]))) == k


def test_render_equals_direct_convolution():
    """The separable renderer gives the same image as convolving the lattice with the 33x33 kernel."""
    from scipy.signal import fftconvolve

    cfg = SimulationConfig()
    p = draw_clean_params(2, rng=np.random.default_rng(3))
    img = render_clean(p, size=128)
    for i in range(2):
        lattice = np.zeros((256, 256))
        k = p["n_sites"][i]
        np.add.at(lattice, (p["y"][i, :k], p["x"][i, :k]), p["atoms"][i, :k])
        t = np.arange(33) - 16
        g = np.exp(-(t**2) / (2 * p["variance_px2"][i]))
        kern = np.outer(g, g) / np.outer(g, g).sum()
        full = fftconvolve(lattice, kern, mode="same")[64:192, 64:192]
        ref = 2 * full / full.max() - 1
        np.testing.assert_allclose(img[i], ref, atol=2e-5)
    assert cfg.kernel_px == 33


def test_simulate_clean_range_shape_and_seed():
    a = simulate_clean(5, seed=1)
    assert a.shape == (5, 128, 128) and a.dtype == np.float32
    assert a.max() == pytest.approx(1.0) and a.min() >= -1.0
    np.testing.assert_array_equal(a, simulate_clean(5, seed=1))
    assert not np.array_equal(a, simulate_clean(5, seed=2))
    assert simulate_clean(3, size=64, seed=1).shape == (3, 64, 64)


def test_normalization_ignores_saturated_pixels(rng):
    frames = rng.poisson(5.0, size=(4, 64, 64)).astype(np.uint16)
    base = Normalization.fit(frames, saturation=65535)
    frames[:, :8, :] = 65535  # 12.5 % saturated
    n = Normalization.fit(frames, saturation=65535)
    assert n.high == pytest.approx(base.high, abs=1.0)
    y = n.forward(frames)
    assert y.min() >= -1 and y.max() <= 1
    assert (y[:, 8:, :] > -1).mean() > 0.5  # the real range is not squashed to the bottom
    np.testing.assert_allclose(n.inverse((n.forward(np.float32(n.low + 1.0)) + 1) / 2), n.low + 1.0, rtol=1e-5)
    assert Normalization.from_dict(n.to_dict()) == n


def test_normalization_constant_input_refused():
    with pytest.raises(InputError, match="same value"):
        Normalization.fit(np.full((2, 8, 8), 3.0), name="flat.tif")


def test_noisy_crops_visit_every_frame_and_refuse_small_frames(rng):
    frames = np.stack([np.full((40, 50), i, dtype=np.float32) for i in range(5)])
    crops = NoisyCrops(frames, 32, rng)
    seen = {int(crops.batch(1)[0, 0, 0, 0]) for _ in range(5)}
    assert seen == set(range(5))
    assert crops.batch(3).shape == (3, 1, 32, 32)
    with pytest.raises(InputError, match="smaller than the 64x64 training crop"):
        NoisyCrops(frames, 64, rng, name="tiny.tif")


def test_render_runs_numpys_blas_on_one_thread_and_restores_it(monkeypatch):
    """The simulator's matrix product runs between training steps: on two BLAS threads, spinning
    after the call, it slowed a `small` pair step ~1.2x on 2 cores (docs/performance.md). Inside it
    BLAS has one thread; afterwards the caller's setting is back; the images do not change."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    params = draw_clean_params(3, rng=np.random.default_rng(0))
    img = render_clean(params, size=64)
    seen, real = [], np.matmul

    def spy(*a, **k):
        seen.append(blas_threads())
        return real(*a, **k)

    monkeypatch.setattr(np, "matmul", spy)
    with threadpool_limits(2, user_api="blas"):  # the caller's setting: two threads
        assert np.array_equal(render_clean(params, size=64), img)
        assert all(n == 2 for n in blas_threads())
    assert seen and before and all(n == 1 for n in seen[0])
    assert blas_threads() == before
