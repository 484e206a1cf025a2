"""Context frames (model.context_frames): Ms2c sees earlier frames, never later ones."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, shift as nd_shift
from skimage.registration import phase_cross_correlation

from noise2atom.config import ConfigError, SimulationConfig
from noise2atom.data import causal_stacks
from noise2atom.data.normalize import Normalization
from noise2atom.data.pairs import NoiseFit, PairSampler, measure_drift


def test_causal_stacks_hold_only_the_past_oldest_first():
    frames = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 3, 4), np.float32)
    stacks = list(causal_stacks(frames, 2))
    assert [s.shape for s in stacks] == [(3, 3, 4)] * 5
    assert [list(s[:, 0, 0]) for s in stacks] == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert [list(s[:, 0, 0]) for s in causal_stacks(frames[:2], 0)] == [[0], [1]]


def test_measure_drift_finds_a_known_shift():
    rng = np.random.default_rng(0)
    atoms = (rng.random((96, 96)) < 0.01) * 1.0
    scene = 5 + gaussian_filter(atoms, 1.5) * 2 * np.pi * 1.5**2 * 20  # peaks of ~20 counts on 5
    frames = np.stack([nd_shift(scene, (0.5 * t, -1.0 * t), mode="wrap") for t in range(4)])
    frames = rng.poisson(frames).astype(np.float64)
    shifts = measure_drift(frames)
    assert shifts.shape == (3, 2)
    # content moves by (+0.5, -1) per frame, so it sat at p - (0.5, -1) in the frame before
    np.testing.assert_allclose(shifts, np.tile([-0.5, 1.0], (3, 1)), atol=0.25)
    assert measure_drift(frames[:1]).shape == (1, 2)


def _sampler(context, shifts, change_prob=0.0, gain=1e-3):
    fit = NoiseFit(gain=gain, offset=0.0, scan_correlation=0.0, atom_variance_px2=2.0, atom_height=8.0)
    bg = np.full((4, 96, 96), 2.0, dtype=np.float32)
    nz = Normalization.fit(np.stack([bg[0], bg[0] + 10.0]))
    return PairSampler(fit, bg, nz, SimulationConfig(), 64, np.random.default_rng(1), context=context,
                       shifts=np.asarray(shifts, dtype=np.float64), change_prob=change_prob)


def test_movie_pairs_drift_by_the_measured_shifts():
    s = _sampler(3, [[0.0, 3.0]])
    noisy, clean = s.batch(4)
    assert noisy.shape == (4, 4, 64, 64) and clean.shape == (4, 1, 64, 64)
    assert noisy.dtype == clean.dtype == np.float32
    # the last channel is the current frame: it shows the clean target (almost no noise here)
    cur = (noisy[:, -1] - noisy[:, -1].min()) / np.ptp(noisy[:, -1])
    assert np.corrcoef(cur.ravel(), clean.ravel())[0, 1] > 0.95
    for i in range(4):
        if np.array_equal(noisy[i, 0], noisy[i, 1]):  # a sample whose oldest frames are missing
            continue
        # content at p now sat at p + (0, 3) one frame earlier, 9 px further right three frames back
        # (less exact: atoms leave and enter the crop)
        one = phase_cross_correlation(noisy[i, -1], noisy[i, -2], upsample_factor=4)[0]
        three = phase_cross_correlation(noisy[i, -1], noisy[i, 0], upsample_factor=4)[0]
        np.testing.assert_allclose(one, [0.0, -3.0], atol=0.5)
        np.testing.assert_allclose(three, [0.0, -9.0], atol=1.25)


def test_some_movie_pairs_miss_their_oldest_frames_like_a_series_start():
    noisy, _ = _sampler(2, [[0.0, 1.0]]).batch(64)
    copies = [np.array_equal(n[0], n[1]) for n in noisy]
    assert 0 < sum(copies) < 32


def test_change_prob_makes_the_past_disagree():
    still = _sampler(1, [[0.0, 0.0]], change_prob=0.0)
    moving = _sampler(1, [[0.0, 0.0]], change_prob=1.0)
    d_still = [np.abs(n[0] - n[1]).mean() for n in still.batch(16)[0] if not np.array_equal(n[0], n[1])]
    d_moving = [np.abs(n[0] - n[1]).mean() for n in moving.batch(16)[0] if not np.array_equal(n[0], n[1])]
    assert np.mean(d_moving) > 3 * np.mean(d_still)


def test_context_frames_need_the_pair_stage_alone(tiny_config):
    with pytest.raises(ConfigError, match="context_frames"):
        tiny_config.with_updates(model={"context_frames": 2}, train={"epochs": 2, "pair_steps": 5})
    with pytest.raises(ConfigError, match="0..8"):
        tiny_config.with_updates(model={"context_frames": 9})


def test_a_context_model_uses_the_past_and_never_the_future(tiny_config, noisy_movie, tmp_path):
    from noise2atom.model import Noise2Atom

    cfg = tiny_config.with_updates(model={"context_frames": 2}, train={"epochs": 0, "pair_steps": 3})
    model = Noise2Atom(cfg)
    model.fit(noisy_movie.noisy)
    assert model.s2c.in_channels == 3 and model.c2s.in_channels == 1
    assert len(model.record["drift_std_px"]) == 2
    movie = noisy_movie.noisy.astype(np.float32)
    ref = model.denoise(movie, tile_px=None, atom_window=1)  # the network's own frames (no window after)
    future = movie.copy()
    future[4] = future[4][::-1]
    out = model.denoise(future, tile_px=None, atom_window=1)
    np.testing.assert_array_equal(out[:4], ref[:4])  # frames 0-3 never see frame 4
    assert not np.allclose(out[5], ref[5])  # frame 5 sees frame 4
    # tiles carry the channels along; the file keeps them
    tiled = model.denoise(movie, atom_window=1)
    assert tiled.shape == ref.shape and np.abs(tiled - ref).mean() < 0.05
    model.save(tmp_path / "ctx.n2a")
    again = Noise2Atom.load(tmp_path / "ctx.n2a")
    np.testing.assert_array_equal(again.denoise(movie, tile_px=None, atom_window=1), ref)
