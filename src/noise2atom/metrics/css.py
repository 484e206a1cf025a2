"""Consecutive structural similarity, CSS (paper eq. 10).

For frames I_n and I_{n+1} scaled to [0, 1]::

    CSS = (2 μ_n μ_{n+1} + C1)(2 σ_{n,n+1} + C2) / ((μ_n² + μ_{n+1}² + C1)(σ_n² + σ_{n+1}² + C2))

with means, variances and covariance taken over the whole frame (population moments),
C1 = 1e-4 and C2 = 9e-4. Identical frames give 1. CSS alone rewards blur — a constant series
scores 1 too — so report it beside a fidelity measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

C1 = 1e-4
C2 = 9e-4


@dataclass(frozen=True)
class CssResult:
    """pairs: CSS of frames (0,1), (1,2), ...; mean: their mean."""

    pairs: np.ndarray
    mean: float

    def to_dict(self) -> dict:
        return {"pairs": [float(p) for p in self.pairs], "mean": float(self.mean)}


def _scale(frames: np.ndarray, data_range: tuple[float, float] | None) -> np.ndarray:
    f = np.asarray(frames, dtype=np.float64)
    if data_range is not None:
        lo, hi = data_range
        if not hi > lo:
            raise ValueError(f"data_range={data_range} must satisfy low < high")
        return (f - lo) / (hi - lo)
    flat = f.reshape(len(f), -1)
    lo = flat.min(axis=1)[:, None, None]
    span = (flat.max(axis=1) - flat.min(axis=1))[:, None, None]
    return np.divide(f - lo, span, out=np.zeros_like(f), where=span > 0)


def css_pair(a: np.ndarray, b: np.ndarray) -> float:
    """Eq. (10) for two frames already scaled to [0, 1]."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    ma, mb = a.mean(), b.mean()
    va, vb = a.var(), b.var()
    cov = ((a - ma) * (b - mb)).mean()
    return float((2 * ma * mb + C1) * (2 * cov + C2) / ((ma**2 + mb**2 + C1) * (va + vb + C2)))


def css(frames: np.ndarray, *, data_range: tuple[float, float] | None = None) -> CssResult:
    """CSS of every consecutive pair of a series.

    Parameters
    ----------
    frames : ndarray (T, Y, X), T >= 2
    data_range : (low, high) or None
        None (default): each frame is min-max scaled to [0, 1]; otherwise all frames are scaled by
        the fixed range ``(x - low) / (high - low)``.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[0] < 2:
        raise ValueError(f"CSS needs a series of at least 2 frames (T, Y, X), got shape {frames.shape}")
    f = _scale(frames, data_range)
    pairs = np.array([css_pair(f[i], f[i + 1]) for i in range(len(f) - 1)])
    return CssResult(pairs=pairs, mean=float(pairs.mean()))
