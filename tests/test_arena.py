"""The arena's generator: dose, truth, seeding, noise statistics, files."""

import numpy as np
import pytest

from noise2atom.data.arena import SynthConfig, read_positions, save_synth, synthesize
from noise2atom.errors import InputError
from noise2atom.metrics import atom_score
from noise2atom.metrics.noise import radial_power_spectrum, scan_correlation


@pytest.mark.parametrize("dose", [0.5, 2.0, 10.0])
def test_dose_gives_the_stated_mean_counts(dose):
    m = synthesize(frames=3, size=128, dose=dose, seed=1)
    assert m.clean[0].mean() == pytest.approx(dose, rel=1e-4)  # the scale is fixed on frame 0
    # counts: Poisson x unit-mean pulse heights, mixed along x, plus zero-mean read noise (glitches are rare)
    assert m.noisy.mean() == pytest.approx(dose, rel=0.05)


def test_seeded_runs_are_identical_and_seeds_differ():
    a = synthesize(frames=3, size=64, dose=1.0, seed=7)
    b = synthesize(frames=3, size=64, dose=1.0, seed=7)
    c = synthesize(frames=3, size=64, dose=1.0, seed=8)
    assert np.array_equal(a.noisy, b.noisy) and np.array_equal(a.clean, b.clean)
    assert all(np.array_equal(p, q) for p, q in zip(a.positions, b.positions))
    assert not np.array_equal(a.noisy, c.noisy)


def test_positions_table_matches_the_clean_frames():
    m = synthesize(frames=4, size=128, dose=2.0, seed=3)
    # every true column is a peak of the noise-free atom image, and every peak is a true column
    score = atom_score(m.atoms, m.positions, radius_px=1.0, threshold=0.05)
    assert score.f1 >= 0.97
    for t, p in enumerate(m.positions):
        iy, ix = np.round(p).astype(int).T
        assert (m.atoms[t][iy, ix] > 0.2 * m.atoms[t].max() / 3).mean() > 0.95


def test_scene_is_physical():
    m = synthesize(frames=2, size=256, dose=5.0, seed=4)
    cols = m.columns[0]
    assert set(np.unique(cols["n_atoms"])) <= {1, 2, 3}
    assert (cols["cluster"] >= 0).any() and (cols["cluster"] < 0).any()  # clusters and single atoms
    p = m.positions[0]
    d = np.linalg.norm(p[:, None] - p[None], axis=2) + np.eye(len(p)) * 1e9
    assert d.min() >= 0.9 * 0.277 / 0.05 - 0.5  # columns at least ~ a Pt-Pt distance apart
    # brighter columns hold more atoms (Z-contrast grows with the number of atoms)
    peak = [m.atoms[0][int(round(y)), int(round(x))] for y, x in p]
    one = np.mean([v for v, n in zip(peak, cols["n_atoms"]) if n == 1])
    three = [v for v, n in zip(peak, cols["n_atoms"]) if n == 3]
    if three:
        assert np.mean(three) > 2 * one


def test_noise_is_correlated_along_the_scan_like_the_real_frames():
    m = synthesize(frames=1, size=256, dose=1.0, seed=0)
    c = scan_correlation(m.noisy[0])
    assert 0.3 < c["x"][0] < 0.55      # real Pt-on-carbon frames: 0.32-0.44 by the same measure
    assert abs(c["x"][1]) < 0.1         # none at lag 2, as in the real frames
    assert abs(c["y"][0]) < 0.1
    flat = synthesize(frames=1, size=256, dose=1.0, seed=0, scan_correlation=0.0)
    assert abs(scan_correlation(flat.noisy[0])["x"][0]) < 0.1


def test_gradient_tilts_the_background():
    flat = synthesize(frames=1, size=128, dose=5.0, seed=2, thickness_variation=0.0)
    tilted = synthesize(frames=1, size=128, dose=5.0, seed=2, thickness_variation=0.0, gradient=0.8)
    def spread(img):
        b = img.reshape(4, 32, 4, 32).mean(axis=(1, 3))
        return b.max() - b.min()
    assert spread(tilted.clean[0] - tilted.atoms[0]) > 3 * spread(flat.clean[0] - flat.atoms[0])


def test_movie_moves():
    m = synthesize(frames=6, size=128, dose=5.0, seed=5, drift_px=1.0)
    ids0 = dict(zip(m.columns[0]["id"], m.positions[0]))
    ids5 = dict(zip(m.columns[5]["id"], m.positions[5]))
    common = [i for i in ids0 if i in ids5]
    assert common
    assert np.median([np.linalg.norm(ids5[i] - ids0[i]) for i in common]) > 0.5


def test_glitches_saturate():
    m = synthesize(frames=2, size=128, dose=1.0, seed=1, glitch_prob=1e-3)
    assert (m.noisy == m.config.saturation).sum() > 0
    assert m.noisy.max() == m.config.saturation


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="dose"):
        SynthConfig(dose=0)
    with pytest.raises(ValueError, match="scan_correlation"):
        SynthConfig(scan_correlation=0.7)


def test_save_and_read_back(tmp_path):
    from noise2atom.io import read_stack

    m = synthesize(frames=3, size=64, dose=2.0, seed=1)
    save_synth(m, tmp_path / "s")
    stack = read_stack(tmp_path / "s" / "noisy.tif")
    assert np.array_equal(stack.data, m.noisy)
    assert stack.pixel_size == pytest.approx(0.05) and stack.unit == "nm"
    back = read_positions(tmp_path / "s" / "positions.csv")
    assert len(back) == 3 and all(np.allclose(a, b, atol=1e-3) for a, b in zip(back, m.positions))
    before = (tmp_path / "s" / "noisy.tif").stat().st_mtime_ns
    with pytest.raises(InputError, match="exists"):
        save_synth(m, tmp_path / "s")
    assert (tmp_path / "s" / "noisy.tif").stat().st_mtime_ns == before


def test_power_spectrum_is_normalised():
    f, p = radial_power_spectrum(np.random.default_rng(0).normal(size=(64, 64)))
    assert p.sum() == pytest.approx(1.0) and len(f) == len(p)
    assert p[2:].max() / p[2:].min() < 3  # white noise is flat (the first rings hold the removed mean)
