"""The atoms averaged over neighbouring frames, registered for drift: the atoms-alone output for counting.

At 0.5–2 e⁻/px one frame's atoms are uncertain, while most atoms and clusters stay put for several
frames. Averaging the network's atoms over ``frames`` frames centred on each frame (``frames // 2``
before it and as many after it), each moved onto that frame by the drift measured between
consecutive frames of the atoms themselves (phase correlation of frames smoothed by 2 px; the
atoms are far less noisy than the raw frames, which at 0.5 e⁻/px misplace the drift: on the arena's
0.5 e⁻/px movies registering on the raw frames gave atom F1 0.504–0.568 where registering on the
atoms gave 0.615–0.633, seeds 0 and 2), finds atoms more surely; where atoms hop, or at high dose, fewer frames are
better. The window is chosen per series (:func:`best_atom_window`) by the predictive score of a
window that leaves frame n + 1 out (frame n's atoms over the frames around n except n + 1, against
raw frame n + 1), so the next frame's noise cannot leak into the choice; no truth is needed. At the
ends of a series the window is cut short (the frames that exist).

The output for frame n needs frames up to n + ``frames // 2``: :class:`AtomWindow` streams with that
lag. With ``frames`` = 1 it is the network's output, unchanged.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Iterator

import numpy as np
from scipy.ndimage import gaussian_filter

from .background import shift_linear

#: what ``atom_window`` 0 chooses from (odd: centred), on a series' first ``CHOOSE_FRAMES`` frames
ATOM_WINDOW_CHOICES = (1, 3, 5, 7, 9, 13)
REGISTER_SIGMA_PX = 2.0


def _check_window(frames: int) -> int:
    frames = int(frames)
    if frames < 1 or frames % 2 == 0:
        raise ValueError(f"atom window of {frames} frames: must be odd and >= 1 (centred on each frame)")
    return frames


def _moved_onto(atoms: list, steps: list, j: int, n: int) -> np.ndarray:
    """Frame j's atoms on frame n's grid. ``steps[i]``: frame i's content at p sits at p + steps[i] in
    frame i - 1 (``steps[0]`` unused); summed in index order so the result does not depend on where a
    stream started."""
    if j == n:
        return atoms[j]
    lo, hi = min(j, n), max(j, n)
    between = np.sum(np.stack(steps[lo + 1:hi + 1]), axis=0)
    return shift_linear(atoms[j], between if j > n else -between)


def _mean_onto(frames, steps: list, n: int, js: Iterable[int]) -> np.ndarray:
    """The mean of frames ``js``, each moved onto frame n's grid (indices into ``frames`` and ``steps``)."""
    return np.mean([_moved_onto(frames, steps, j, n) for j in js], axis=0)


def registered_means(frames: np.ndarray, steps, members: Callable[[int], Iterable[int]]) -> np.ndarray:
    """For each frame n, the mean of the frames ``members(n)`` (indices into ``frames``), each moved
    onto frame n's grid by the drift between them (``steps``: the T - 1 drifts between consecutive
    frames, as :func:`~noise2atom.data.pairs.measure_drift` gives). The batch form of what
    :class:`AtomWindow` streams; the arena's ``registered-mean`` rival uses it on the raw frames.
    """
    frames = np.asarray(frames, dtype=np.float64)
    s = [np.zeros(2)] + [np.asarray(v, dtype=np.float64) for v in steps]
    return np.stack([_mean_onto(frames, s, n, members(n)) for n in range(len(frames))])


class AtomWindow:
    """Streams the registered centred mean of the atoms over ``frames`` frames (odd).

    >>> window = AtomWindow(5)                                        # doctest: +SKIP
    >>> averaged = list(window.run(zip(raw_frames, atoms_frames)))    # doctest: +SKIP
    """

    def __init__(self, frames: int = 1, register_sigma_px: float = REGISTER_SIGMA_PX):
        self.frames = _check_window(frames)
        self.half = self.frames // 2
        self.register_sigma = float(register_sigma_px)

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The network's atoms in, frame by frame; the atoms averaged over the window out (float32, the
        atoms' scale), one per frame, each once the ``frames // 2`` after it have come in."""
        if self.half == 0:
            for a in frames:
                yield np.asarray(a, dtype=np.float32)
            return
        from ..data.pairs import frame_shift

        # a sliding buffer: atoms[k], steps[k] (frame k's drift from frame k - 1), first index held
        atoms: deque = deque()
        steps: deque = deque()
        prev_smooth = None
        done = 0  # outputs given so far (index into the series)
        first = 0  # the series index of atoms[0]
        for a in frames:
            smooth = gaussian_filter(np.asarray(a, dtype=np.float64), self.register_sigma)
            if prev_smooth is not None and prev_smooth.shape != smooth.shape:
                raise ValueError(f"frame shape changed from {prev_smooth.shape} to {smooth.shape} within a series")
            steps.append(np.zeros(2) if prev_smooth is None else frame_shift(prev_smooth, smooth))
            atoms.append(np.asarray(a, dtype=np.float64))
            prev_smooth = smooth
            last = first + len(atoms) - 1
            while done + self.half <= last:
                yield self._mean(atoms, steps, first, done, last)
                done += 1
                while done - self.half > first:  # frames no later output needs
                    atoms.popleft()
                    steps.popleft()
                    first += 1
        last = first + len(atoms) - 1
        while done <= last:  # the series' last frames: the window cut short
            yield self._mean(atoms, steps, first, done, last)
            done += 1

    def _mean(self, atoms, steps, first: int, n: int, last: int) -> np.ndarray:
        a, s = list(atoms), list(steps)
        js = range(max(n - self.half, first) - first, min(n + self.half, last) - first + 1)
        return _mean_onto(a, s, n - first, js).astype(np.float32)


def blind_window_score(raw: np.ndarray, atoms: np.ndarray, frames: int, steps: np.ndarray | None = None) -> float:
    """The predictive score (:func:`~noise2atom.metrics.predictive_r2`) of the atoms averaged over a
    ``frames`` window around each frame n that leaves frame n + 1 out (n + 1 + ``frames // 2`` taken
    instead, where it exists), against raw frame n + 1: a window's worth without the next frame's noise.

    raw, atoms : (T, Y, X); steps : the drift between consecutive frames
    (:func:`~noise2atom.data.pairs.measure_drift`), measured on the atoms (as :class:`AtomWindow`
    does) when not given.
    """
    from ..data.pairs import measure_drift
    from ..metrics import predictive_r2

    h = _check_window(frames) // 2
    raw = np.asarray(raw, dtype=np.float64)
    atoms = np.asarray(atoms, dtype=np.float64)
    if steps is None:
        steps = measure_drift(atoms, REGISTER_SIGMA_PX)
    n_frames = len(raw)
    out = registered_means(atoms, steps, lambda n: [
        j for j in range(max(n - h, 0), min(n + h + (1 if h else 0), n_frames - 1) + 1) if j != n + 1])
    return predictive_r2(out, raw)


#: windows whose score is within this fraction of the best count as tied, and ties go to fewer frames
WINDOW_TIE = 0.005


def best_atom_window(raw, atoms, choices=ATOM_WINDOW_CHOICES) -> int:
    """The fewest frames (odd) among ``choices`` whose :func:`blind_window_score` on these frames is
    within :data:`WINDOW_TIE` of the highest: a longer window must predict the next frame better,
    not as well, to be taken (it smears atoms that move). One frame where the series is shorter than
    3 frames."""
    from ..data.pairs import measure_drift

    raw = np.asarray(raw, dtype=np.float64)
    if len(raw) < 3:
        return 1
    steps = measure_drift(np.asarray(atoms, dtype=np.float64), REGISTER_SIGMA_PX)
    scores = {k: blind_window_score(raw, atoms, k, steps) for k in sorted(choices)}
    top = max(scores.values())
    return next(k for k, s in scores.items() if s >= top - WINDOW_TIE * abs(top))
