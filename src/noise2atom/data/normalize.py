"""Robust mapping of detector counts to the networks' [-1, 1] range, and back.

``low`` and ``high`` are percentiles (default 0.1 % and 99.9 %) of the training frames' pixels with
saturated pixels (the integer dtype's maximum) and non-finite values left out, so a few percent of
saturated pixels cannot squash the range. ``x -> 2 (x - low) / (high - low) - 1``, clipped to
[-1, 1]. The model stores ``low`` and ``high``, so outputs in [0, 1] can be mapped back to the
input's units with :meth:`Normalization.inverse` and new series are normalised the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Normalization:
    low: float
    high: float
    low_percentile: float = 0.1
    high_percentile: float = 99.9
    saturation: float | None = None

    @classmethod
    def fit(cls, frames: np.ndarray, *, low_percentile: float = 0.1, high_percentile: float = 99.9,
            saturation: float | None = None, name: str = "array", max_pixels: int = 4_000_000,
            seed: int = 0) -> "Normalization":
        """Measure ``low``/``high`` on ``frames`` (any shape), ignoring saturated and non-finite pixels."""
        values = np.asarray(frames, dtype=np.float32).ravel()
        if values.size > max_pixels:
            values = np.random.default_rng(seed).choice(values, size=max_pixels, replace=False)
        keep = np.isfinite(values)
        if saturation is not None:
            keep &= values < saturation
        values = values[keep]
        if values.size == 0:
            raise InputError(f"{name}: no usable pixels (all saturated or non-finite)")
        low, high = np.percentile(values, [low_percentile, high_percentile])
        if high <= low:
            low, high = float(values.min()), float(values.max())
        if high <= low:
            raise InputError(f"{name}: all usable pixels have the same value {low:g}; nothing to denoise")
        return cls(float(low), float(high), low_percentile, high_percentile, saturation)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Counts -> [-1, 1] float32 (clipped)."""
        y = (np.asarray(x, dtype=np.float32) - np.float32(self.low)) * np.float32(2.0 / (self.high - self.low)) - 1.0
        return np.clip(y, -1.0, 1.0).astype(np.float32, copy=False)

    def inverse(self, y01: np.ndarray) -> np.ndarray:
        """Network output in [0, 1] -> the input's units (``low`` .. ``high``)."""
        return (self.low + np.asarray(y01, dtype=np.float32) * (self.high - self.low)).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        return cls(**d)
