"""The atoms averaged over frames centred on each frame, registered for the drift measured on them
(denoise.window)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from noise2atom.config import ConfigError
from noise2atom.data.pairs import measure_drift
from noise2atom.denoise.background import shift_linear
from noise2atom.denoise.window import AtomWindow, best_atom_window, blind_window_score
from noise2atom.metrics import psnr


def _field(frames=12, size=80, step=(2, -1), seed=0, hop=False):
    """Atoms in [0, 1] of one field moving by ``step`` px a frame (or new atoms every frame: ``hop``),
    and raw Poisson frames of them on a flat support."""
    rng = np.random.default_rng(seed)
    pad = 40

    def canvas():
        c = np.zeros((size + 2 * pad, size + 2 * pad))
        c[tuple(rng.integers(0, size + 2 * pad, size=(2, 90)))] = 1.0
        return np.clip(gaussian_filter(c, 1.3) * 2 * np.pi * 1.3**2, 0, 1)

    fixed = canvas()
    atoms = np.stack([(canvas() if hop else fixed)[pad + n * step[0]:pad + n * step[0] + size,
                                                   pad + n * step[1]:pad + n * step[1] + size]
                      for n in range(frames)])
    raw = rng.poisson(5.0 + 40.0 * atoms).astype(np.float64)
    return atoms, raw


def _direct(atoms, k):
    where = np.concatenate([np.zeros((1, 2)), np.cumsum(measure_drift(atoms), axis=0)])
    h = k // 2
    return np.stack([np.mean([atoms[j] if j == n else shift_linear(atoms[j], where[j] - where[n])
                              for j in range(max(n - h, 0), min(n + h, len(atoms) - 1) + 1)], axis=0)
                     for n in range(len(atoms))])


def test_the_stream_is_the_registered_centred_mean_and_one_frame_changes_nothing():
    atoms, _ = _field()
    for k in (3, 5):
        out = np.stack(list(AtomWindow(k).run(atoms)))
        np.testing.assert_allclose(out, _direct(atoms, k), atol=1e-6)
    same = np.stack(list(AtomWindow(1).run(atoms)))
    np.testing.assert_array_equal(same, atoms.astype(np.float32))
    for bad in (0, 2, -3):
        with pytest.raises(ValueError, match="odd"):
            AtomWindow(bad)


def test_registered_averaging_cleans_noisy_atoms_that_plain_averaging_smears():
    atoms, raw = _field()
    noisy = atoms + np.random.default_rng(1).normal(0, 0.3, atoms.shape)
    out = np.stack(list(AtomWindow(5).run(noisy)))
    plain = np.stack([noisy[max(n - 2, 0):n + 3].mean(axis=0) for n in range(len(noisy))])
    inner = (slice(2, -2), slice(8, -8), slice(8, -8))
    assert psnr(out[inner], atoms[inner]) > psnr(noisy[inner], atoms[inner]) + 3
    assert psnr(out[inner], atoms[inner]) > psnr(plain[inner], atoms[inner]) + 3


def test_the_window_is_long_where_atoms_stay_and_one_frame_where_they_hop():
    atoms, raw = _field(frames=16)
    noisy = atoms + np.random.default_rng(2).normal(0, 0.3, atoms.shape)
    assert best_atom_window(raw, noisy) >= 7
    hop_atoms, hop_raw = _field(frames=16, hop=True)
    noisy_hop = hop_atoms + np.random.default_rng(3).normal(0, 0.3, hop_atoms.shape)
    assert best_atom_window(hop_raw, noisy_hop) == 1
    assert best_atom_window(raw[:2], noisy[:2]) == 1  # too short to choose


def test_the_choice_cannot_see_the_next_frames_noise():
    """Atoms that are the raw frames themselves: a window holding frame n + 1 would predict it perfectly;
    the blind score's window leaves it out, so averaging pure noise over more frames gains nothing."""
    rng = np.random.default_rng(4)
    raw = rng.poisson(5.0, size=(10, 48, 48)).astype(np.float64)
    scores = [blind_window_score(raw, raw, k) for k in (1, 3, 5)]
    assert max(abs(s) for s in scores) < 0.01


def test_the_model_averages_its_atoms_when_asked_and_refuses_what_does_not_fit():
    from noise2atom import pretrained
    from noise2atom.data.arena import SynthConfig, synthesize

    model = pretrained.load_default()
    raw = synthesize(SynthConfig(frames=8, size=64, dose=1.0, seed=6)).noisy
    one = model.denoise(raw, background="remove", atom_window=1)
    three = model.denoise(raw, background="remove", atom_window=3)
    np.testing.assert_allclose(three, np.stack(list(AtomWindow(3).run(one))), atol=1e-6)
    assert not np.allclose(three, one, atol=1e-3)
    chosen = model.choose_atom_window(raw, atom_window=0)
    assert chosen in (1, 3, 5, 7, 9, 13)
    np.testing.assert_allclose(model.denoise(raw, background="remove", atom_window=0),
                               model.denoise(raw, background="remove", atom_window=chosen), atol=1e-6)
    with pytest.raises(ConfigError, match="odd"):
        model.denoise(raw, background="remove", atom_window=4)
    with pytest.raises(ConfigError, match="atom_frames"):
        model.denoise(raw, background="keep", atom_window=3)


def test_a_longer_window_must_predict_better_not_as_well(monkeypatch):
    import noise2atom.denoise.window as w

    atoms, raw = _field(frames=6)
    for scores, expected in (({1: 0.10, 3: 0.12, 5: 0.1205, 7: 0.11}, 3),   # 5 within 0.5 % of the best: tied
                             ({1: 0.10, 3: 0.12, 5: 0.125, 7: 0.11}, 5),
                             ({1: 0.10, 3: 0.09, 5: 0.08, 7: 0.07}, 1)):
        monkeypatch.setattr(w, "blind_window_score", lambda r, a, k, s=None, sc=scores: sc[k])
        assert w.best_atom_window(raw, atoms, choices=(1, 3, 5, 7)) == expected


def test_registration_runs_numpys_blas_on_one_thread_and_restores_it(monkeypatch):
    """frame_shift's sub-pixel step runs between the network's frames: with numpy's BLAS on several
    threads it fought torch's threads for the cores (bench/bench_speed.py --atom-windows). Inside it
    BLAS has one thread; afterwards the caller's setting is back; the shift found is unchanged."""
    import skimage.registration
    from threadpoolctl import threadpool_info

    from noise2atom.data import pairs

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    _, raw = _field(frames=2, step=(2, -1))
    smooth = gaussian_filter(raw, (0, 2, 2))
    shift = pairs.frame_shift(smooth[0], smooth[1])
    np.testing.assert_allclose(shift, [2, -1], atol=0.3)
    seen = []
    real = skimage.registration.phase_cross_correlation

    def spy(*a, **k):
        seen.append(blas_threads())
        return real(*a, **k)

    monkeypatch.setattr(skimage.registration, "phase_cross_correlation", spy)
    assert np.array_equal(pairs.frame_shift(smooth[0], smooth[1]), shift)
    assert seen and before and all(n == 1 for n in seen[0])
    assert blas_threads() == before
