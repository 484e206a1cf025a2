"""Noise statistics of a raw frame, to compare simulated and real data: scan correlation, power spectrum.

The noise is separated from the structure by subtracting a Gaussian low-pass (``sigma_px``); what is
left is mostly noise plus the finest detail. ``scan_correlation`` is the lag-k correlation of that
residual along x (the fast scan direction) and along y; ``radial_power_spectrum`` is the azimuthal
mean of |FFT|² of the whole frame (mean removed), normalised to unit total power.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def highpass_residual(frame: np.ndarray, sigma_px: float = 3.0) -> np.ndarray:
    f = np.asarray(frame, dtype=np.float64)
    return f - gaussian_filter(f, sigma_px, mode="nearest")


def scan_correlation(frame: np.ndarray, max_lag: int = 4, sigma_px: float = 3.0) -> dict:
    """Correlation of the high-pass residual at lags 1..max_lag along x and y: {'x': [...], 'y': [...]}."""
    r = highpass_residual(frame, sigma_px)
    r = r - r.mean()
    v = (r * r).mean()
    out = {"x": [], "y": []}
    for k in range(1, max_lag + 1):
        out["x"].append(float((r[:, k:] * r[:, :-k]).mean() / v))
        out["y"].append(float((r[k:] * r[:-k]).mean() / v))
    return out


def radial_power_spectrum(frame: np.ndarray, bins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(spatial frequency in cycles/pixel, 0..0.5; normalised power) averaged over rings."""
    f = np.asarray(frame, dtype=np.float64)
    f = f - f.mean()
    p = np.abs(np.fft.fftshift(np.fft.fft2(f))) ** 2
    ny, nx = f.shape
    fy = np.fft.fftshift(np.fft.fftfreq(ny))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(nx))[None, :]
    r = np.sqrt(fy**2 + fx**2).ravel()
    edges = np.linspace(0, 0.5, bins + 1)
    idx = np.digitize(r, edges) - 1
    ok = (idx >= 0) & (idx < bins)
    power = np.bincount(idx[ok], weights=p.ravel()[ok], minlength=bins) / np.maximum(
        np.bincount(idx[ok], minlength=bins), 1)
    return 0.5 * (edges[1:] + edges[:-1]), power / power.sum()
