"""A no-reference score that over-smoothing cannot win: how well denoised frame n predicts raw frame n+1.

For each consecutive pair, the raw noisy frame ``n + 1`` is predicted from the denoised frame ``n``
by the least-squares affine map ``a * d_n + b``; the score is the fraction of the raw frame's variance
explained (R², higher is better), given the sign of the slope ``a`` — negative when bright areas were
mapped to dark ones (an inverted mapping) — and averaged over pairs. The noise of frame n + 1 is independent of
frame n, so no estimate can predict it: the best possible score is reached by the true clean image
(up to drift between frames). Keeping noise in the output does not help (it is not in frame n + 1),
and blurring loses the atoms' detail that frame n + 1 does contain. A single frame is scored against
itself, which a noisy copy would win: use series.
"""

from __future__ import annotations

import numpy as np


def predictive_r2(denoised: np.ndarray, noisy: np.ndarray) -> float:
    """Mean signed R² of predicting ``noisy[n + 1]`` from ``a * denoised[n] + b`` (in [-1, 1]).

    Parameters
    ----------
    denoised, noisy : ndarray (T, Y, X)
        The same series before and after denoising (any intensity scale).
    """
    d = np.asarray(denoised, dtype=np.float64)
    s = np.asarray(noisy, dtype=np.float64)
    if d.shape != s.shape or d.ndim != 3:
        raise ValueError(f"need two (T, Y, X) series of one shape, got {d.shape} and {s.shape}")
    pairs = [(d[i], s[i + 1]) for i in range(len(d) - 1)] or [(d[0], s[0])]
    scores = []
    for x, y in pairs:
        x = x.ravel() - x.mean()
        y = y.ravel() - y.mean()
        vx, vy = (x * x).sum(), (y * y).sum()
        if vx == 0 or vy == 0:
            scores.append(0.0)
            continue
        cov = (x * y).sum()
        scores.append(float(np.sign(cov) * cov**2 / (vx * vy)))
    return float(np.mean(scores))
