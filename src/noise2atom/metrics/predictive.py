"""A no-reference score that over-smoothing cannot win: how well denoised frame n predicts raw frame n+1.

For each consecutive pair, the raw noisy frame ``n + 1`` is predicted from the denoised frame ``n``
by the least-squares affine map ``a * d_n + b``; the score is the fraction of the raw frame's variance
explained (R², higher is better), given the sign of the slope ``a`` — negative when bright areas were
mapped to dark ones (an inverted mapping) — and averaged over pairs. The noise of frame n + 1 is independent of
frame n, so no estimate can predict it: the best possible score is reached by the true clean image
(up to drift between frames). Keeping noise in the output does not help (it is not in frame n + 1),
and blurring loses the atoms' detail that frame n + 1 does contain. A single frame is scored against
itself, which a noisy copy would win: use series.

Drift breaks that last promise: when the field moves by a few pixels between frames, a blurred frame
n overlaps frame n + 1's atoms better than a sharp one, and the score rewards blur after all (on the
real SrTiO3 series, ~3 px per frame, the best Gaussian's σ is 3 px unregistered and 2.5 px
registered). ``drift`` registers the pairs first: raw frame n + 1 is moved onto frame n's grid, by
whole pixels, by the drift measured between the raw frames (:func:`noise2atom.data.pairs.measure_drift`, two numbers per
pair, so frame n + 1's noise does not leak into the prediction), and the border the move leaves
without data is left out. The target is the same for every method, so registered scores compare
methods as fairly as unregistered ones.
"""

from __future__ import annotations

import numpy as np


def registered_pairs(denoised: np.ndarray, noisy: np.ndarray, drift) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (denoised frame n, raw frame n + 1) pairs of :func:`predictive_r2`, float64, on frame n's grid.

    ``drift``: ``None`` (as they are), ``"measure"`` (measured on ``noisy``) or a (T - 1, 2) array of
    (dy, dx) steps in :func:`~noise2atom.data.pairs.measure_drift`'s convention (frame n + 1's content
    at p sits at p + step in frame n), rounded to whole pixels. Registered pairs lose a border of the
    largest step plus one pixel.
    """
    d = np.asarray(denoised, dtype=np.float64)
    s = np.asarray(noisy, dtype=np.float64)
    if d.shape != s.shape or d.ndim != 3:
        raise ValueError(f"need two (T, Y, X) series of one shape, got {d.shape} and {s.shape}")
    if len(d) < 2:
        return [(d[0], s[0])]
    if drift is None:
        return [(d[i], s[i + 1]) for i in range(len(d) - 1)]
    if isinstance(drift, str):
        if drift != "measure":
            raise ValueError(f"drift={drift!r}: give None, 'measure' or a (T - 1, 2) array of steps")
        from ..data.pairs import measure_drift

        drift = measure_drift(s)
    steps = np.asarray(drift, dtype=np.float64)
    if steps.shape != (len(d) - 1, 2):
        raise ValueError(f"drift has shape {steps.shape}; {len(d)} frames need ({len(d) - 1}, 2)")
    out = []
    ny, nx = d.shape[1:]
    for i, step in enumerate(steps):
        # frame n + 1's content at p sits at p + step in frame n; whole pixels, so that the raw frame is
        # only cropped, never interpolated (which would average its noise and blur its atoms)
        dy, dx = (int(v) for v in np.rint(step))
        m = max(abs(dy), abs(dx)) + 1
        if 2 * m >= min(ny, nx):
            raise ValueError(f"a drift of {step} px between frames {i} and {i + 1} leaves nothing of "
                             f"{ny}x{nx} px frames to score")
        out.append((d[i][m:ny - m, m:nx - m], s[i + 1][m - dy:ny - m - dy, m - dx:nx - m - dx]))
    return out


def predictive_r2(denoised: np.ndarray, noisy: np.ndarray, drift=None) -> float:
    """Mean signed R² of predicting ``noisy[n + 1]`` from ``a * denoised[n] + b`` (in [-1, 1]).

    Parameters
    ----------
    denoised, noisy : ndarray (T, Y, X)
        The same series before and after denoising (any intensity scale).
    drift : None, "measure" or ndarray (T - 1, 2)
        Register each pair for the drift between the frames first (:func:`registered_pairs`):
        ``"measure"`` measures it on ``noisy``. ``None`` (the default) scores the frames as they are.
    """
    scores = []
    for x, y in registered_pairs(denoised, noisy, drift):
        x = x.ravel() - x.mean()
        y = y.ravel() - y.mean()
        vx, vy = (x * x).sum(), (y * y).sum()
        if vx == 0 or vy == 0:
            scores.append(0.0)
            continue
        cov = (x * y).sum()
        scores.append(float(np.sign(cov) * cov**2 / (vx * vy)))
    return float(np.mean(scores))
