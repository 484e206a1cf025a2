"""Sampling training batches: frames from the series, random crops, clean images on the fly."""

from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator

import numpy as np

from ..config import SimulationConfig
from ..errors import InputError
from .clean import simulate_clean


def sample_frame_indices(n_total: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``min(n, n_total)`` distinct frame indices, sorted (the paper samples 120 frames)."""
    k = min(n, n_total)
    return np.sort(rng.choice(n_total, size=k, replace=False))


def central_crop(frames: np.ndarray, max_side: int, multiple: int) -> np.ndarray:
    """The centre of (N, Y, X) frames, each side at most ``max_side`` and a multiple of ``multiple``."""
    _, h, w = frames.shape
    ch, cw = min(h, max_side) // multiple * multiple, min(w, max_side) // multiple * multiple
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return frames[:, y0:y0 + ch, x0:x0 + cw]


def causal_stacks(frames: Iterable[np.ndarray], context: int) -> Iterator[np.ndarray]:
    """Yield, for each frame n, ``(1 + context, Y, X)``: frames n - context .. n (oldest first), the
    missing ones at the start of the series replaced by copies of the first frame. Streams: holds
    ``context`` frames. ``context=0`` yields each frame with a leading axis of 1."""
    past: deque = deque(maxlen=context + 1)
    for f in frames:
        past.append(f)
        have = list(past)
        yield np.stack([have[0]] * (context + 1 - len(have)) + have)


class NoisyCrops:
    """Random ``crop`` x ``crop`` patches of normalised noisy frames.

    Parameters
    ----------
    frames : ndarray (N, Y, X) float32 in [-1, 1]
    crop : int
    rng : numpy Generator
    name : str
        Where the frames came from, for error messages.
    """

    def __init__(self, frames: np.ndarray, crop: int, rng: np.random.Generator, *, name: str = "array"):
        _, h, w = frames.shape
        if h < crop or w < crop:
            fits = min(h, w) // 16 * 16
            hint = f"pass --crop {fits}" if fits >= 48 else "no valid crop (a multiple of 16 above 33) fits"
            raise InputError(f"{name}: frames are {h}x{w} px, smaller than the {crop}x{crop} training crop; "
                             f"{hint} or use larger frames")
        self.frames = frames
        self.crop = crop
        self.rng = rng
        self._order: list[int] = []

    def next_frames(self, b: int) -> np.ndarray:
        """Frame indices for one batch: each epoch visits every frame once, in a fresh order."""
        out = []
        while len(out) < b:
            if not self._order:
                self._order = list(self.rng.permutation(len(self.frames)))
            out.append(self._order.pop())
        return np.asarray(out)

    def batch(self, b: int) -> np.ndarray:
        """(b, 1, crop, crop) float32."""
        idx = self.next_frames(b)
        _, h, w = self.frames.shape
        ys = self.rng.integers(0, h - self.crop + 1, size=b)
        xs = self.rng.integers(0, w - self.crop + 1, size=b)
        c = self.crop
        return np.stack([self.frames[i, y:y + c, x:x + c] for i, y, x in zip(idx, ys, xs)])[:, None]

    def batch_with_pairs(self, b: int, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(crops, the same places in ``pairs``): ``pairs[i]`` is the frame that follows (or precedes) frame i."""
        idx = self.next_frames(b)
        _, h, w = self.frames.shape
        ys = self.rng.integers(0, h - self.crop + 1, size=b)
        xs = self.rng.integers(0, w - self.crop + 1, size=b)
        c = self.crop
        a = np.stack([self.frames[i, y:y + c, x:x + c] for i, y, x in zip(idx, ys, xs)])[:, None]
        p = np.stack([pairs[i, y:y + c, x:x + c] for i, y, x in zip(idx, ys, xs)])[:, None]
        return a, p

    def state(self) -> dict:
        return {"order": [int(i) for i in self._order]}

    def load_state(self, state: dict) -> None:
        self._order = list(state["order"])


class CleanImages:
    """Clean-domain batches simulated on the fly (nothing stored)."""

    def __init__(self, config: SimulationConfig, size: int, rng: np.random.Generator):
        self.config, self.size, self.rng = config, size, rng

    def batch(self, b: int) -> np.ndarray:
        return simulate_clean(b, size=self.size, config=self.config, seed=self.rng)[:, None]


class CausalCrops:
    """Random (1 + context, crop, crop) causal stacks of normalised frames from one or more series.

    ``last_only``: every stack ends on a series' last frame (series that are already one frame with
    its earlier ones); otherwise on any frame, a series' first frames taking copies of its frame 0
    for the missing past (as denoising does at a series' start).
    """

    def __init__(self, series: list[np.ndarray], context: int, crop: int, rng: np.random.Generator, *,
                 last_only: bool = False):
        self.series = [s for s in series if min(s.shape[1:]) >= crop]
        if not self.series:
            sides = ", ".join(f"{s.shape[1]}x{s.shape[2]}" for s in series)
            raise ValueError(f"crops of {crop} px need frames at least that large (got {sides})")
        self.context, self.crop, self.rng, self.last_only = context, crop, rng, last_only

    def batch(self, n: int) -> np.ndarray:
        out = np.empty((n, self.context + 1, self.crop, self.crop), np.float32)
        for b in range(n):
            s = self.series[self.rng.integers(len(self.series))]
            t = len(s) - 1 if self.last_only else int(self.rng.integers(len(s)))
            y = int(self.rng.integers(s.shape[1] - self.crop + 1))
            x = int(self.rng.integers(s.shape[2] - self.crop + 1))
            idx = [max(0, i) for i in range(t - self.context, t + 1)]  # missing pasts: copies of frame 0
            out[b] = s[idx, y:y + self.crop, x:x + self.crop]
        return out
