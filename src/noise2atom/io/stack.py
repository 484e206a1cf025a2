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
    data : ndarray (T, Y, X) float32, or LazyFrames
        The frames, axes ``"TYX"``; a single image is a series of one frame. ``read_stack(path,
        lazy=True)`` gives :class:`LazyFrames`: read from the file a few frames at a time.
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


class LazyFrames:
    """A read-only (T, Y, X) series left in its file and read a few frames at a time.

    Wraps a memory map, a dask array (RosettaSciIO's ``lazy=True``) or a list of frame files;
    indexing (an int, a slice or an array of frame indices) reads those frames only and returns
    float32, so a series larger than memory can be checked, normalised and denoised. ``np.asarray``
    reads it all.

    Parameters
    ----------
    source : array-like (T, Y, X)
        Anything with ``shape``, ``dtype`` and numpy-style indexing of its first axis.
    read : callable, optional
        ``read(block) -> ndarray`` for what indexing ``source`` returns (``.compute()`` for dask).
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, source, read=None):
        if len(source.shape) != 3:
            raise ValueError(f"LazyFrames needs (T, Y, X), got shape {source.shape}")
        self._source, self._read = source, read or np.asarray
        self.shape = tuple(int(n) for n in source.shape)
        self.source_dtype = np.dtype(source.dtype)
        # a C-ordered memory map is read with plain file reads instead: pages a map touches stay in
        # the process's resident memory, which would then grow with the series
        self._file = None
        if isinstance(source, np.memmap) and source.flags.c_contiguous and getattr(source, "filename", None):
            self._file = (source.filename, int(source.offset))

    def _read_frames(self, start: int, stop: int) -> np.ndarray:
        name, offset = self._file
        frame = self.shape[1] * self.shape[2]
        n = max(0, stop - start)
        a = np.fromfile(name, dtype=self.source_dtype, count=n * frame,
                        offset=offset + start * frame * self.source_dtype.itemsize)
        if a.size != n * frame:
            raise OSError(f"{name}: file ends before frame {stop} (truncated?)")
        return a.reshape(n, *self.shape[1:]).astype(np.float32, copy=False)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, np.ndarray):
            key = key.tolist()
        if isinstance(key, list):  # one read per frame: memory maps and dask both take these
            return np.stack([self[int(i)] for i in key]) if key else np.empty((0, *self.shape[1:]), np.float32)
        if self._file is not None:
            if isinstance(key, (int, np.integer)):
                i = range(len(self))[key]
                return self._read_frames(i, i + 1)[0]
            if isinstance(key, slice) and key.step in (None, 1):
                start, stop, _ = key.indices(len(self))
                return self._read_frames(start, stop)
        return np.asarray(self._read(self._source[key]), dtype=np.float32)

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a if dtype is None else a.astype(dtype, copy=False)

    def blocks(self, frames: int = 64):
        """Yield ``(start, block)``: the series in blocks of up to ``frames`` frames (float32)."""
        for start in range(0, len(self), frames):
            yield start, self[start:start + frames]

    def __iter__(self):
        for _, block in self.blocks():
            yield from block


def iter_blocks(data, frames: int = 64):
    """``(start, block)`` over an in-memory array or :class:`LazyFrames` alike."""
    if isinstance(data, LazyFrames):
        yield from data.blocks(frames)
    else:
        for start in range(0, len(data), frames):
            yield start, np.asarray(data[start:start + frames], dtype=np.float32)
