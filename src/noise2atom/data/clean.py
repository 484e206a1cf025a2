"""Clean-domain simulator (paper, "Datasets" 1): images made only of Gaussian atomic peaks.

The chain per image: draw 75-150 distinct sites on a 256x256 lattice, put 1-4 atoms on each, convolve
with one normalised 33x33 Gaussian kernel whose variance is drawn from [1, 10] px², crop the centre,
scale to [-1, 1] (the generator's tanh range: the brightest pixel -> 1, empty background -> -1).

Because the kernel is an isotropic Gaussian truncated to a square, it is separable, and convolving
a lattice of point sites is exactly ``Gy @ diag(atoms) @ Gx.T``: one small batched matrix product
per image. This gives the same numbers as a 2-D convolution (zero outside the lattice) at a
fraction of the cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import SimulationConfig
from .threads import one_blas_thread


def _rng(seed_or_rng) -> np.random.Generator:
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def draw_clean_params(n: int, *, config: SimulationConfig = SimulationConfig(), rng=None) -> dict[str, Any]:
    """Draw the random parameters of ``n`` clean images.

    Returns
    -------
    dict
        ``y``, ``x``: (n, K) int lattice coordinates of the sites (K = max sites, padded);
        ``atoms``: (n, K) int atoms per site, 0 for padding; ``n_sites``: (n,) int;
        ``variance_px2``: (n,) float, the kernel variance of each image.
    """
    rng = _rng(rng)
    lo, hi = config.sites
    L = config.lattice_px
    n_sites = rng.integers(lo, hi + 1, size=n)
    pos = np.zeros((n, hi), dtype=np.int64)
    mask = np.zeros((n, hi), dtype=bool)
    for i, k in enumerate(n_sites):
        pos[i, :k] = rng.choice(L * L, size=int(k), replace=False)
        mask[i, :k] = True
    a_lo, a_hi = config.atoms_per_site
    atoms = rng.integers(a_lo, a_hi + 1, size=(n, hi)) * mask
    v_lo, v_hi = config.variance_px2
    variance = rng.uniform(v_lo, v_hi, size=n)
    return {"y": pos // L, "x": pos % L, "atoms": atoms, "n_sites": n_sites, "variance_px2": variance}


def render_clean(params: dict[str, Any], *, size: int = 128,
                 config: SimulationConfig = SimulationConfig(), normalize: bool = True) -> np.ndarray:
    """Render drawn parameters as the centre ``size`` x ``size`` crop, scaled to [-1, 1].

    Site coordinates may be fractional (a drifting scene). ``normalize=False`` returns the
    convolved site counts unscaled (one atom of the image's width peaks at ~1/(2πσ²)), so that
    several images of one scene keep a common scale.

    Returns
    -------
    ndarray (n, size, size) float32 in [-1, 1] (``normalize``), else >= 0
    """
    L, half = config.lattice_px, config.kernel_px // 2
    if not 1 <= size <= L:
        raise ValueError(f"size={size} must be between 1 and the lattice size {L}")
    var = np.asarray(params["variance_px2"], dtype=np.float32)[:, None, None]
    coords = (np.arange(size, dtype=np.float32) + (L - size) // 2)[None, :, None]
    taps = np.arange(-half, half + 1, dtype=np.float32)[None, :]
    norm = np.exp(-(taps**2) / (2 * var[:, :, 0])).sum(axis=1)[:, None, None]  # 1-D kernel sum

    def axis_weights(site: np.ndarray) -> np.ndarray:
        d = coords - site[:, None, :].astype(np.float32)
        g = np.exp(-(d**2) / (2 * var)) * (np.abs(d) <= half)
        return g / norm  # (n, size, K)

    gy = axis_weights(params["y"]) * params["atoms"][:, None, :].astype(np.float32)
    gx = axis_weights(params["x"])
    with one_blas_thread():  # beside training: BLAS threads spinning after it slowed torch (threads.py)
        img = np.matmul(gy, gx.transpose(0, 2, 1))  # (n, size, size)
    if not normalize:
        return img.astype(np.float32)
    peak = img.reshape(len(img), -1).max(axis=1)[:, None, None]
    img = np.divide(img, peak, out=np.zeros_like(img), where=peak > 0)
    return (2.0 * img - 1.0).astype(np.float32)


def simulate_clean(n: int, *, size: int = 128, config: SimulationConfig = SimulationConfig(),
                   seed=None, chunk: int = 256) -> np.ndarray:
    """Simulate ``n`` clean atomic images (the paper's domain C).

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Side of the centre crop in pixels (the paper: 128).
    config : SimulationConfig
        Sites, atoms per site, kernel size and variance range.
    seed : int, numpy Generator or None
        Same seed, same images.

    Returns
    -------
    ndarray (n, size, size) float32 in [-1, 1]
    """
    rng = _rng(seed)
    out = np.empty((n, size, size), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        out[start:start + m] = render_clean(draw_clean_params(m, config=config, rng=rng), size=size, config=config)
    return out
