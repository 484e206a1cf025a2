"""Atom detection scored against true positions: precision, recall and F1.

Peaks are found with scikit-image's ``peak_local_max`` on a frame scaled to [0, 1] (local maxima at
least ``min_distance_px`` apart, brighter than ``threshold`` of the frame's range), refined to
sub-pixel precision by the intensity-weighted centroid of the (2r+1)² window around each maximum
(background-subtracted by the window's minimum), and matched one-to-one to the true positions by the
Hungarian algorithm (``scipy.optimize.linear_sum_assignment``); a match counts when the distance is at
most ``radius_px``. Precision = matched / found, recall = matched / true, F1 their harmonic mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.optimize import linear_sum_assignment
from skimage.feature import peak_local_max


@dataclass(frozen=True)
class AtomScore:
    """Counts and scores of one or more frames (summed counts, then the ratios)."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        true = self.true_positives + self.false_negatives
        return self.true_positives / true if true else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: "AtomScore") -> "AtomScore":
        return AtomScore(self.true_positives + other.true_positives, self.false_positives + other.false_positives,
                         self.false_negatives + other.false_negatives)

    def to_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "tp": self.true_positives,
                "fp": self.false_positives, "fn": self.false_negatives}


def find_atoms(frame: np.ndarray, *, min_distance_px: int = 2, threshold: float = 0.25,
               window_px: int = 1) -> np.ndarray:
    """Sub-pixel atom positions in one frame.

    Parameters
    ----------
    frame : ndarray (Y, X)
        A (denoised) frame, bright atoms on a darker background, any intensity scale.
    min_distance_px : int
        Smallest distance between two maxima.
    threshold : float
        Minimum peak height as a fraction of the frame's range (0..1).
    window_px : int
        Half-size of the centroid window (1 -> 3x3).

    Returns
    -------
    ndarray (n, 2) float64 of (y, x) positions in pixels.
    """
    f = np.asarray(frame, dtype=np.float64)
    lo, hi = f.min(), f.max()
    if hi <= lo:
        return np.zeros((0, 2))
    f = (f - lo) / (hi - lo)
    peaks = peak_local_max(f, min_distance=min_distance_px, threshold_abs=threshold, exclude_border=False)
    out = np.empty((len(peaks), 2))
    r = window_px
    for i, (y, x) in enumerate(peaks):
        y0, y1 = max(0, y - r), min(f.shape[0], y + r + 1)
        x0, x1 = max(0, x - r), min(f.shape[1], x + r + 1)
        w = f[y0:y1, x0:x1] - f[y0:y1, x0:x1].min()
        if w.sum() <= 0:
            out[i] = (y, x)
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        out[i] = ((w * yy).sum() / w.sum(), (w * xx).sum() / w.sum())
    return out


def locate_atoms(frames: np.ndarray, *, threshold: float = 0.25, min_distance_px: int = 2,
                 window_px: int = 1) -> np.ndarray:
    """Atom positions and intensities in every frame of a (denoised) series.

    Returns
    -------
    ndarray (n, 4) float64
        One row per atom: frame index, y, x (sub-pixel, :func:`find_atoms`) and the frame's value at
        that position (bilinear), in the frames' units.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise ValueError(f"need a (T, Y, X) series or one (Y, X) frame, got shape {frames.shape}")
    rows = []
    for t, frame in enumerate(frames):
        pos = find_atoms(frame, min_distance_px=min_distance_px, threshold=threshold, window_px=window_px)
        value = map_coordinates(frame, pos.T, order=1, mode="nearest") if len(pos) else np.zeros(0)
        rows.append(np.column_stack([np.full(len(pos), t), pos, value]))
    return np.concatenate(rows) if rows else np.zeros((0, 4))


def match_atoms(found: np.ndarray, true: np.ndarray, *, radius_px: float = 2.0) -> AtomScore:
    """One-to-one matching (Hungarian) of found to true positions within ``radius_px``."""
    found = np.asarray(found, dtype=np.float64).reshape(-1, 2)
    true = np.asarray(true, dtype=np.float64).reshape(-1, 2)
    if len(found) == 0 or len(true) == 0:
        return AtomScore(0, len(found), len(true))
    d = np.linalg.norm(found[:, None, :] - true[None, :, :], axis=2)
    cost = np.where(d <= radius_px, d, 1e6)
    rows, cols = linear_sum_assignment(cost)
    tp = int((d[rows, cols] <= radius_px).sum())
    return AtomScore(tp, len(found) - tp, len(true) - tp)


def atom_score(frames: np.ndarray, positions, *, radius_px: float = 2.0, border_px: float = 0.0,
               **find_kwargs) -> AtomScore:
    """Detection score over a series: ``positions`` holds one (n, 2) array of true (y, x) per frame.

    ``border_px`` leaves out found and true positions closer than that to the frame's edge (an atom
    just outside the field shows as a partial peak on the edge)."""
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames, positions = frames[None], [positions]
    if len(frames) != len(positions):
        raise ValueError(f"{len(frames)} frames but {len(positions)} position tables")
    total = AtomScore(0, 0, 0)
    for frame, true in zip(frames, positions):
        found = find_atoms(frame, **find_kwargs)
        true = np.asarray(true, dtype=np.float64).reshape(-1, 2)
        if border_px > 0:
            lim = np.array(frame.shape) - 1 - border_px
            found = found[np.all((found >= border_px) & (found <= lim), axis=1)]
            true = true[np.all((true >= border_px) & (true <= lim), axis=1)]
        total = total + match_atoms(found, true, radius_px=radius_px)
    return total
