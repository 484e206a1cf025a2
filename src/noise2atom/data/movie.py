"""A small noisy STEM-like movie with known truth, for the demo and the end-to-end test.

The chain: Pt atoms (single atoms and small clusters) on a carbon support of uneven thickness ->
finite probe (Gaussian, width varying slightly per atom) -> dose (Poisson counts) -> detector
(afterglow along the fast scan direction x, Gaussian read noise). Between frames the field drifts
and some atoms hop. It is deliberately simple; the arena's generator (``noise2atom synth``) is the
realistic one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import lfilter


@dataclass
class Movie:
    """noisy: (T, Y, X) float32 detector counts; clean: (T, Y, X) float32 expected counts (support
    and atoms); atoms: (T, Y, X) float32 the atoms' part of ``clean`` alone (what Noise2Atom aims
    to restore: peaks without background); positions: one (n, 2) float array of (y, x) atom
    positions per frame; params: what was drawn."""

    noisy: np.ndarray
    clean: np.ndarray
    atoms: np.ndarray
    positions: list
    params: dict


def simulate_movie(frames: int = 20, size: int = 128, *, dose_e_per_px: float = 2.0, seed: int = 0,
                   atoms: int | None = None, probe_sigma_px: float = 1.6, contrast: float = 4.0,
                   afterglow: float = 0.5, read_noise: float = 0.3, drift_px: float = 0.15,
                   hop_prob: float = 0.03) -> Movie:
    """Simulate a movie of Pt atoms on carbon.

    Parameters
    ----------
    frames, size : int
        Number of frames and side in pixels.
    dose_e_per_px : float
        Mean detector counts per pixel of a frame (the Poisson level).
    atoms : int or None
        Number of Pt atoms; default scales with the area (about one per 160 px²).
    contrast : float
        Peak height of one Pt atom relative to the mean support signal.
    afterglow : float
        Fraction of a pixel's signal carried to the next pixel along x (scan-correlated noise).
    """
    rng = np.random.default_rng(seed)
    n_atoms = atoms if atoms is not None else max(4, int(size * size / 160))
    # atoms: half single, half in clusters of 3-8 atoms ~2.3 px apart
    pos = []
    while len(pos) < n_atoms:
        centre = rng.uniform(6, size - 6, size=2)
        if rng.random() < 0.5:
            pos.append(centre)
        else:
            for _ in range(int(rng.integers(3, 9))):
                pos.append(centre + rng.normal(0, 2.3, size=2))
    pos = np.asarray(pos[:n_atoms])
    widths = probe_sigma_px * rng.uniform(0.85, 1.15, size=len(pos))
    support = gaussian_filter(rng.normal(size=(size, size)), sigma=size / 8, mode="wrap")
    support = 1.0 + 0.35 * support / (support.std() + 1e-12)
    support = np.clip(support, 0.3, None)

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    shift = np.zeros(2)
    clean, noisy, atom_part, positions = [], [], [], []
    for _ in range(frames):
        hop = rng.random(len(pos)) < hop_prob
        pos[hop] += rng.normal(0, 2.0, size=(int(hop.sum()), 2))
        pos = np.clip(pos, 2, size - 3)
        shift += rng.normal(0, drift_px, size=2)
        p = pos + shift
        img = support.copy()
        for (y, x), w in zip(p, widths):
            y0, y1 = int(max(0, y - 4 * w)), int(min(size, y + 4 * w + 1))
            x0, x1 = int(max(0, x - 4 * w)), int(min(size, x + 4 * w + 1))
            img[y0:y1, x0:x1] += contrast * np.exp(
                -((yy[y0:y1, x0:x1] - y) ** 2 + (xx[y0:y1, x0:x1] - x) ** 2) / (2 * w * w))
        scale = dose_e_per_px / img.mean()
        lam = img * scale
        atom_part.append(((img - support) * scale).astype(np.float32))
        counts = rng.poisson(lam).astype(np.float64)
        counts = lfilter([1.0 - afterglow], [1.0, -afterglow], counts, axis=1)
        counts += rng.normal(0, read_noise, size=counts.shape)
        clean.append(lam.astype(np.float32))
        noisy.append(counts.astype(np.float32))
        inside = (p[:, 0] >= 0) & (p[:, 0] < size) & (p[:, 1] >= 0) & (p[:, 1] < size)
        positions.append(p[inside].copy())
    params = {"seed": seed, "dose_e_per_px": dose_e_per_px, "atoms": int(len(pos)),
              "probe_sigma_px": probe_sigma_px, "contrast": contrast, "afterglow": afterglow,
              "read_noise": read_noise, "drift_px": drift_px, "hop_prob": hop_prob}
    return Movie(np.stack(noisy), np.stack(clean), np.stack(atom_part), positions, params)
