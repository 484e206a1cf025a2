"""Fidelity against a known truth (simulations): PSNR and SSIM after an affine intensity fit.

A denoiser's output and the truth live on different intensity scales (the generator outputs [0, 1]
atom images, the truth is in counts), so each estimate is first mapped onto the truth by the
least-squares ``a * x + b`` (per frame) — the best any rescaling could do — and then compared. The
same fit is applied to the noisy input, so the comparison is fair.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def affine_fit(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``a * estimate + b`` with (a, b) minimising the squared error to ``truth`` (one frame)."""
    x = np.asarray(estimate, dtype=np.float64).ravel()
    y = np.asarray(truth, dtype=np.float64).ravel()
    A = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    return (a * np.asarray(estimate, dtype=np.float64) + b)


def psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Mean over frames of the PSNR (dB) of the affinely fitted estimate; data range = truth's range."""
    est, tru = np.asarray(estimate), np.asarray(truth)
    if est.ndim == 2:
        est, tru = est[None], tru[None]
    vals = [peak_signal_noise_ratio(t.astype(np.float64), affine_fit(e, t), data_range=float(t.max() - t.min()))
            for e, t in zip(est, tru)]
    return float(np.mean(vals))


def ssim(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Mean over frames of SSIM (scikit-image, Gaussian window) of the affinely fitted estimate."""
    est, tru = np.asarray(estimate), np.asarray(truth)
    if est.ndim == 2:
        est, tru = est[None], tru[None]
    vals = [structural_similarity(t.astype(np.float64), affine_fit(e, t), data_range=float(t.max() - t.min()),
                                  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
            for e, t in zip(est, tru)]
    return float(np.mean(vals))
