"""Writing denoised series: streamed, atomic, never overwriting unless asked."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError


def check_output(path: str | Path, *, overwrite: bool = False) -> Path:
    """Fail before any work if ``path`` exists (unless ``overwrite``) or its folder is missing."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: output exists; choose another name or pass overwrite=True (--overwrite)")
    if not path.parent.exists():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    return path


class TiffStackWriter:
    """Write frames one at a time into an ImageJ TIFF; the file appears only when complete.

    Frames go to ``<name>.partial`` and are renamed onto ``path`` by :meth:`close` after the last
    frame, so an interrupted run never leaves a half-written file under the final name.
    """

    def __init__(self, path: str | Path, *, pixel_size: float | None = None, unit: str | None = None,
                 frame_time_s: float | None = None, overwrite: bool = False):
        import tifffile

        self.path = check_output(path, overwrite=overwrite)
        self._tmp = self.path.with_name(self.path.name + ".partial")
        self._writer = tifffile.TiffWriter(self._tmp, imagej=True)
        self._meta: dict = {"axes": "YX"}
        self._res = None
        if pixel_size:
            self._res = (1.0 / pixel_size, 1.0 / pixel_size)
            self._meta["unit"] = unit or "pixel"
        if frame_time_s:
            self._meta["finterval"] = frame_time_s
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame, dtype=np.float32)
        kwargs = {"contiguous": True, "metadata": self._meta}
        if self._res is not None:
            kwargs["resolution"] = self._res
        self._writer.write(frame, **kwargs)
        self.frames += 1

    def close(self) -> Path:
        self._writer.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_tiff(path: str | Path, frames: np.ndarray, *, pixel_size: float | None = None,
               unit: str | None = None, frame_time_s: float | None = None, overwrite: bool = False) -> Path:
    """Write a (T, Y, X) or (Y, X) float32 series as an ImageJ TIFF stack with calibration."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim == 2:
        frames = frames[None]
    with TiffStackWriter(path, pixel_size=pixel_size, unit=unit, frame_time_s=frame_time_s,
                         overwrite=overwrite) as w:
        for f in frames:
            w.write(f)
    return Path(path)


def write_array(path: str | Path, frames: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write ``.npy`` or ``.tif``/``.tiff`` by extension (simulated images, for example)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return write_tiff(path, frames, overwrite=overwrite)
    if suffix == ".npy":
        check_output(path, overwrite=overwrite)
        tmp = path.with_name(path.name + ".partial.npy")
        np.save(tmp, np.asarray(frames, dtype=np.float32))
        os.replace(tmp, path)
        return path
    raise InputError(f"{path}: cannot write '{path.suffix}' files; use .npy, .tif or .tiff")
