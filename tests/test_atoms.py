import numpy as np
import pytest

from noise2atom.metrics import AtomScore, atom_score, find_atoms, match_atoms


def _render(positions, size=64, sigma=1.5):
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.zeros((size, size))
    for y, x in positions:
        img += np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return img


def _positions(rng, n=12, size=64, spacing=6.0):
    pts = []
    while len(pts) < n:
        p = rng.uniform(4, size - 4, size=2)
        if all(np.hypot(*(p - q)) >= spacing for q in pts):
            pts.append(p)
    return np.array(pts)


def test_finds_isolated_atoms_with_subpixel_precision(rng):
    true = _positions(rng)
    found = find_atoms(_render(true))
    score = match_atoms(found, true, radius_px=1.0)
    assert score.f1 == 1.0
    d = np.linalg.norm(found[:, None] - true[None], axis=2).min(axis=1)
    assert d.max() < 0.3  # sub-pixel: better than the 0.5 px of a pixel grid


def test_high_dose_f1_and_noise_lowers_it(rng):
    true = _positions(rng)
    clean = _render(true)
    high = rng.poisson(200 * clean + 20) / 200.0
    low = rng.poisson(2 * clean + 1) / 2.0
    assert atom_score(high, true, radius_px=1.5).f1 >= 0.95
    assert atom_score(low, true, radius_px=1.5).f1 < atom_score(high, true, radius_px=1.5).f1


def test_matching_counts():
    true = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]])
    found = np.array([[10.5, 10.0], [20.0, 23.5], [50.0, 50.0]])
    s = match_atoms(found, true, radius_px=2.0)
    assert (s.true_positives, s.false_positives, s.false_negatives) == (1, 2, 2)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 3)
    assert match_atoms(np.zeros((0, 2)), true).f1 == 0.0
    assert (AtomScore(1, 0, 0) + AtomScore(1, 2, 0)).precision == pytest.approx(0.5)
    with pytest.raises(ValueError, match="position tables"):
        atom_score(np.zeros((2, 8, 8)), [true])
    assert find_atoms(np.ones((8, 8))).shape == (0, 2)
