"""Putting the support back: atoms from the network plus the smooth background measured on the input.

Ms2c outputs atoms only (the paper removes the background). For a quantitative series in the input's
units, and for any fidelity measure against the raw data, the support's slowly varying intensity
(carbon thickness, a wedge, the beam current) matters too. Per frame, with ``A`` the network's atoms
(in [0, 1]) and ``R`` the raw frame (input units):

1. the atoms' brightness in input units is the least-squares slope ``a`` of the raw frame's detail on
   the atoms' detail (both minus a Gaussian blur of ``sigma_px``): the blur removes the background
   from both, so ``a`` is fitted on the atoms alone; clipped at 0 (an atom is never darker than its
   support);
2. the background is ``G_sigma * (R - a A)``: the raw frame with the atoms taken out, blurred, so its
   noise is averaged over ~(2.5 sigma)^2 pixels while the atoms leave no halo;
3. the estimate is ``background + a A`` (input units).

No truth and no extra training are needed; the network's atoms are kept as they are.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def atom_brightness(raw: np.ndarray, atoms01: np.ndarray, sigma_px: float = 4.0) -> float:
    """Least-squares slope of the raw frame's detail on the atoms' detail (negative: inverted atoms)."""
    r = np.asarray(raw, dtype=np.float64)
    a01 = np.asarray(atoms01, dtype=np.float64)
    if r.shape != a01.shape or r.ndim != 2:
        raise ValueError(f"need two (Y, X) frames of one shape, got {r.shape} and {a01.shape}")
    hr = r - gaussian_filter(r, sigma_px, mode="reflect")
    ha = a01 - gaussian_filter(a01, sigma_px, mode="reflect")
    denom = float((ha * ha).sum())
    return float((hr * ha).sum()) / denom if denom > 0 else 0.0


def restore_background(raw: np.ndarray, atoms01: np.ndarray, sigma_px: float = 4.0,
                       brightness: float | None = None) -> np.ndarray:
    """``background + a * atoms`` in the raw frame's units, for one (Y, X) frame.

    ``brightness``: ``a`` when the caller has it already (:func:`atom_brightness`); clipped at 0.
    """
    if brightness is None:
        brightness = atom_brightness(raw, atoms01, sigma_px)
    a = max(brightness, 0.0)
    r = np.asarray(raw, dtype=np.float64)
    a01 = np.asarray(atoms01, dtype=np.float64)
    bg = gaussian_filter(r - a * a01, sigma_px, mode="reflect")
    return (bg + a * a01).astype(np.float32)
