"""Reading image series: one entry point, :func:`read_stack`, the format chosen by extension.

Adding a format is one function and one line in ``_READERS``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from .stack import Stack

FRAME_SUFFIXES = (".tif", ".tiff", ".png")


def _calibration_from_tiff(tif) -> dict:
    """Pixel size and unit from ImageJ metadata and the resolution tags, when present."""
    out: dict = {}
    try:
        page = tif.pages[0]
        ij = tif.imagej_metadata or {}
        unit = ij.get("unit")
        if unit in ("\\u00B5m", "micron", "um"):
            unit = "µm"
        tag = page.tags.get("XResolution")
        if tag is not None and unit and unit not in ("pixel", "inch"):
            num, den = tag.value
            if num > 0 and den > 0 and (num, den) != (1, 1):
                out["pixel_size"] = float(den) / float(num)
                out["unit"] = str(unit)
        finterval = ij.get("finterval")
        if finterval:
            out["frame_time_s"] = float(finterval)
    except Exception:  # calibration is optional; never fail a read for it
        pass
    return out


def _read_tiff(path: Path) -> tuple[np.ndarray, dict]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        data = tif.asarray()
        cal = _calibration_from_tiff(tif)
    return data, cal


def _read_png(path: Path) -> tuple[np.ndarray, dict]:
    import imageio.v3 as iio

    return np.asarray(iio.imread(path)), {}


def _read_npy(path: Path) -> tuple[np.ndarray, dict]:
    return np.load(path, allow_pickle=False), {}


_READERS: dict[str, Callable[[Path], tuple[np.ndarray, dict]]] = {
    ".tif": _read_tiff,
    ".tiff": _read_tiff,
    ".png": _read_png,
    ".npy": _read_npy,
}


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def _read_folder(path: Path) -> tuple[np.ndarray, dict]:
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES), key=_natural_key)
    if not files:
        raise InputError(f"{path}: folder holds no frames ({', '.join(FRAME_SUFFIXES)} files)")
    frames, cal = [], {}
    for i, f in enumerate(files):
        arr, c = _read_file(f)
        if arr.ndim != 2:
            raise InputError(f"{f}: frame files in a folder must be single 2-D images, got shape {arr.shape}")
        if frames and arr.shape != frames[0].shape:
            raise InputError(f"{f}: frame is {arr.shape[0]}x{arr.shape[1]} but {files[0].name} is "
                             f"{frames[0].shape[0]}x{frames[0].shape[1]}; all frames must have one size")
        frames.append(arr)
        if i == 0:
            cal = c
    return np.stack(frames), cal


def _read_file(path: Path) -> tuple[np.ndarray, dict]:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"{path}: unknown image format '{path.suffix}'; readable: "
                         f"{', '.join(sorted(_READERS))} files or a folder of frames")
    try:
        return reader(path)
    except InputError:
        raise
    except Exception as exc:  # the underlying library's message is kept for the user
        raise InputError(f"{path}: not a readable {path.suffix.lstrip('.').upper()} image ({exc})") from exc


def read_stack(path: str | Path) -> Stack:
    """Read an image series or a single image.

    Parameters
    ----------
    path : str or Path
        A TIFF stack (``.tif``/``.tiff``), a ``.npy`` array (2-D or 3-D), a PNG, or a folder of
        PNG/TIFF frames (natural sort order).

    Returns
    -------
    Stack
        ``data`` as float32 (T, Y, X); pixel size and unit when the file stores them.

    Raises
    ------
    InputError
        Missing file, unknown format, unreadable file, wrong number of dimensions, empty series.
        The message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    raw, cal = _read_folder(path) if path.is_dir() else _read_file(path)
    return stack_from_array(raw, source=path, **cal)


def stack_from_array(raw, *, source: Path | None = None, **calibration) -> Stack:
    """Check an array's shape and dtype and wrap it as a :class:`Stack` (float32, TYX)."""
    name = str(source) if source is not None else "array"
    raw = np.asarray(raw)
    if raw.dtype.kind not in "uifb":
        raise InputError(f"{name}: not numeric image data (dtype {raw.dtype})")
    if raw.size == 0:
        raise InputError(f"{name}: empty image series (shape {raw.shape})")
    if raw.ndim == 3 and raw.shape[-1] in (3, 4) and raw.shape[0] > 4:
        raise InputError(f"{name}: looks like an RGB(A) colour image (shape {raw.shape}); "
                         "noise2atom needs single-channel detector images")
    if raw.ndim == 2:
        raw = raw[None]
    if raw.ndim != 3:
        raise InputError(f"{name}: expected a 2-D image or a 3-D series (T, Y, X), got {raw.ndim}-D "
                         f"array of shape {raw.shape}")
    if min(raw.shape[1:]) < 2:
        raise InputError(f"{name}: frames of {raw.shape[1]}x{raw.shape[2]} px are not images")
    saturation = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else None
    return Stack(data=raw.astype(np.float32, copy=False), source=source, saturation=saturation,
                 metadata={"dtype": str(raw.dtype)}, **calibration)


def check_frames(stack: Stack) -> None:
    """Refuse frames a network cannot use: NaN/Inf pixels or constant frames.

    Raises
    ------
    InputError
        Naming the file and the first offending frame.
    """
    data = stack.data
    finite = np.isfinite(data).reshape(len(data), -1).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise InputError(f"{stack.name}: frame {i} contains NaN or Inf pixels; replace them "
                         "(e.g. with the frame median) before denoising")
    flat = data.reshape(len(data), -1)
    constant = flat.max(axis=1) == flat.min(axis=1)
    if constant.any():
        i = int(np.argmax(constant))
        raise InputError(f"{stack.name}: frame {i} is constant (every pixel = {flat[i, 0]:g}); "
                         f"remove blank frames before training or denoising")
