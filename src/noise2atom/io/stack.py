"""The one stack type every reader returns and every stage passes on."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Stack:
    """An image series with its calibration.

    Attributes
    ----------
    data : ndarray (T, Y, X) float32
        The frames, axes ``"TYX"``; a single image is a series of one frame.
    pixel_size : float or None
        Size of one pixel in ``unit``; ``None`` when the file stores none (never a silent 1.0).
    unit : str or None
        Unit of ``pixel_size`` (e.g. ``"nm"``).
    frame_time_s : float or None
        Time between frames in seconds, when known.
    source : Path or None
        The file the data came from.
    saturation : float or None
        The value a saturated detector pixel takes in the source (the integer dtype's maximum), or
        ``None`` for float data; such pixels are left out of the normalisation statistics.
    metadata : dict
        Anything else the reader found (kept, not interpreted).
    """

    data: np.ndarray
    pixel_size: float | None = None
    unit: str | None = None
    frame_time_s: float | None = None
    source: Path | None = None
    saturation: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    axes = "TYX"

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"Stack data must be (T, Y, X), got shape {self.data.shape}")

    @property
    def name(self) -> str:
        return str(self.source) if self.source is not None else "array"

    def __len__(self) -> int:
        return self.data.shape[0]

    def with_data(self, data: np.ndarray) -> "Stack":
        """A new stack with other frames of the same calibration (e.g. the denoised series)."""
        return replace(self, data=data, saturation=None, metadata=dict(self.metadata))
