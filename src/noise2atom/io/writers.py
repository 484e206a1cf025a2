"""Writing denoised series: streamed, atomic, never overwriting unless asked."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import InputError


def check_output(path: str | Path, *, overwrite: bool = False) -> Path:
    """Fail before any work if ``path`` exists (unless ``overwrite``), or its folder is missing, is
    not a folder or cannot be written to."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: output exists; choose another name or pass overwrite=True (--overwrite)")
    if not path.parent.exists():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    if not path.parent.is_dir():
        raise InputError(f"{path}: {path.parent} is a file, not a folder")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise InputError(f"{path}: folder {path.parent} is not writable")
    return path


@contextmanager
def _atomic(path: Path, suffix: str = ".partial", *, overwrite: bool = False):
    """Yield a temporary name beside ``path`` (unique to this process); move it onto ``path`` only
    when the block completes, remove it when the block fails: an interrupted write never leaves a
    file under the final name, and two processes never write into one temporary file.

    Without ``overwrite`` the move is a hard link, which fails if ``path`` appeared meanwhile (another
    process finished first): the other file is kept and this one refused. A full disk is answered
    in one line (:func:`noise2atom.io.chunks.disk_full_error`).
    """
    from .chunks import disk_full_error, is_disk_full, temporary_name

    tmp = temporary_name(path, suffix)
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise InputError(f"{path}: another process wrote this output while this one ran; its file is "
                                 "kept (pass --overwrite to replace it)") from None
            except OSError as exc:  # a file system without hard links
                if is_disk_full(exc):
                    raise
                if path.exists():
                    raise InputError(f"{path}: another process wrote this output while this one ran; its file "
                                     "is kept (pass --overwrite to replace it)") from None
                os.replace(tmp, path)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(path, exc) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_tiff_stream(path: str | Path, frames: Iterable[np.ndarray], *, n_frames: int, frame_shape: tuple[int, int],
                      pixel_size: float | None = None, unit: str | None = None,
                      frame_time_s: float | None = None, overwrite: bool = False) -> Path:
    """Stream ``n_frames`` (Y, X) frames into an ImageJ TIFF (axes TYX, float32) with calibration.

    Frames are consumed one at a time (a series larger than memory can be written) into
    ``<name>.partial``, which is renamed onto ``path`` only after the last frame: an interrupted
    run never leaves a half-written file under the final name, and the partial file is removed.
    """
    import tifffile

    path = check_output(path, overwrite=overwrite)
    meta: dict = {"axes": "TYX"}
    kwargs: dict = {}
    if pixel_size:
        kwargs["resolution"] = (1.0 / pixel_size, 1.0 / pixel_size)
        meta["unit"] = unit or "pixel"
    if frame_time_s:
        meta["finterval"] = frame_time_s
    count = 0

    def checked():
        nonlocal count
        for f in frames:
            f = np.asarray(f, dtype=np.float32)
            if f.shape != tuple(frame_shape):
                raise ValueError(f"frame {count} has shape {f.shape}, expected {tuple(frame_shape)}")
            count += 1
            yield f

    with _atomic(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, checked(), shape=(n_frames, *frame_shape), dtype="float32", imagej=True,
                         metadata=meta, **kwargs)
        if count != n_frames:
            raise ValueError(f"{path}: got {count} frames, expected {n_frames}")
    return path


def write_tiff(path: str | Path, frames: np.ndarray, *, pixel_size: float | None = None,
               unit: str | None = None, frame_time_s: float | None = None, overwrite: bool = False) -> Path:
    """Write a (T, Y, X) or (Y, X) series as a float32 ImageJ TIFF stack with calibration."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim == 2:
        frames = frames[None]
    return write_tiff_stream(path, iter(frames), n_frames=len(frames), frame_shape=frames.shape[1:],
                             pixel_size=pixel_size, unit=unit, frame_time_s=frame_time_s, overwrite=overwrite)


def write_array(path: str | Path, frames: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write ``.npy`` or ``.tif``/``.tiff`` by extension (simulated images, for example)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return write_tiff(path, frames, overwrite=overwrite)
    if suffix == ".npy":
        check_output(path, overwrite=overwrite)
        with _atomic(path, ".partial.npy", overwrite=overwrite) as tmp:  # np.save would append .npy to any other name
            np.save(tmp, np.asarray(frames, dtype=np.float32))
        return path
    raise InputError(f"{path}: cannot write '{path.suffix}' files; use .npy, .tif or .tiff")


def write_atoms_csv(path: str | Path, table: np.ndarray, *, pixel_size: float | None = None,
                    unit: str | None = None, overwrite: bool = False) -> Path:
    """Write atom rows (frame, y, x, intensity: :func:`noise2atom.metrics.locate_atoms`) as CSV.

    Columns ``frame, x_px, y_px``, then ``x_<unit>, y_<unit>`` when the pixel size is known (the
    origin is the first pixel's centre, as for the pixel columns), then ``intensity``. Written to a
    temporary name and renamed when complete.
    """
    import csv

    path = check_output(path, overwrite=overwrite)
    table = np.asarray(table, dtype=np.float64).reshape(-1, 4)
    calibrated = bool(pixel_size) and bool(unit)
    header = ["frame", "x_px", "y_px"] + ([f"x_{unit}", f"y_{unit}"] if calibrated else []) + ["intensity"]
    with _atomic(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for t, y, x, v in table:
            cal = [f"{x * pixel_size:.6g}", f"{y * pixel_size:.6g}"] if calibrated else []
            w.writerow([int(t), f"{x:.3f}", f"{y:.3f}", *cal, f"{v:.6g}"])
    return path


def write_hspy(path: str | Path, frames, *, pixel_size: float | None = None, unit: str | None = None,
               frame_time_s: float | None = None, title: str = "", processing: dict | None = None,
               overwrite: bool = False) -> Path:
    """Write a (T, Y, X) or (Y, X) series (an array, or a dask array written block by block) as a
    HyperSpy ``.hspy`` file (RosettaSciIO; HyperSpy itself is not needed to write or to read it):
    float32, a navigation axis ``time`` (seconds when the
    frame time is known), signal axes ``y``/``x`` with the pixel size and unit, and ``processing`` in
    ``metadata.Processing.noise2atom``. Written to a temporary name and renamed when complete."""
    from rsciio.hspy import file_writer

    from .._version import __version__

    path = check_output(path, overwrite=overwrite)
    lazy = hasattr(frames, "dask")  # a dask array: RosettaSciIO writes it block by block
    data = frames.astype(np.float32) if lazy else np.asarray(frames, dtype=np.float32)
    space = [{"name": n, "scale": float(pixel_size) if pixel_size else 1.0, "offset": 0.0,
              "units": unit if pixel_size and unit else "<undefined>", "size": int(k), "navigate": False}
             for n, k in zip(("y", "x"), data.shape[-2:])]
    axes = space if data.ndim == 2 else [
        {"name": "time", "scale": float(frame_time_s) if frame_time_s else 1.0, "offset": 0.0,
         "units": "s" if frame_time_s else "<undefined>", "size": int(data.shape[0]), "navigate": True}, *space]
    signal = {"data": data, "axes": axes,
              "metadata": {"General": {"title": title}, "Signal": {"signal_type": ""},
                           "Processing": {"noise2atom": processing or {}}},
              "original_metadata": {}, "attributes": {"_lazy": lazy}, "tmp_parameters": {},
              "package_info": {"name": "noise2atom", "version": __version__}, "learning_results": {}, "models": {}}
    with _atomic(path, overwrite=overwrite) as tmp:
        file_writer(str(tmp), signal)
    return path


#: OME-NGFF wants UDUNITS-2 names for axis units
_NGFF_UNITS = {"nm": "nanometer", "Å": "angstrom", "pm": "picometer", "µm": "micrometer", "mm": "millimeter",
               "m": "meter"}


def write_ome_zarr(path: str | Path, frames, *, pixel_size: float | None = None, unit: str | None = None,
                   frame_time_s: float | None = None, processing: dict | None = None,
                   overwrite: bool = False) -> Path:
    """Write a (T, Y, X) or (Y, X) series (an array, or a dask array written block by block) as an
    OME-Zarr image (``name.ome.zarr``, one resolution level, float32, chunks of up to 64 frames):
    axes ``t``/``y``/``x`` with the pixel size and frame time as the scale transformation and their
    units (UDUNITS names: ``nanometer``, ``second``), ``processing`` in the group's ``noise2atom``
    attribute. Needs the ``[zarr]`` extra (ome-zarr). The folder is built under a temporary name
    and renamed when complete."""
    import shutil

    try:
        import zarr
        from ome_zarr.writer import write_image
    except ImportError as exc:
        raise InputError(f"{path}: writing OME-Zarr needs the [zarr] extra ({exc}); install it with: "
                         "pip install 'noise2atom[zarr]'") from exc
    path = check_output(path, overwrite=overwrite)
    lazy = hasattr(frames, "dask")
    data = frames.astype(np.float32) if lazy else np.asarray(frames, dtype=np.float32)
    if data.ndim == 2:
        data = data[None]
    space_unit = _NGFF_UNITS.get(unit or "") if pixel_size else None
    units = {**({"t": "second"} if frame_time_s else {}), **({"y": space_unit, "x": space_unit} if space_unit else {})}
    scale = {"t": float(frame_time_s or 1.0), "y": float(pixel_size or 1.0), "x": float(pixel_size or 1.0)}
    from .chunks import disk_full_error, is_disk_full, temporary_name

    tmp = temporary_name(path)
    shutil.rmtree(tmp, ignore_errors=True)

    try:
        root = zarr.open_group(str(tmp), mode="w")
        write_image(data, root, scale_factors=[], axes="tyx", scale=scale, axes_units=units or None,
                    storage_options={"chunks": (min(64, data.shape[0]), *data.shape[1:])})
        root.attrs["noise2atom"] = {"pixel_size": pixel_size, "unit": unit, "frame_time_s": frame_time_s,
                                    "processing": processing or {}}
        if path.exists() and overwrite:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        try:
            os.rename(tmp, path)  # refuses (OSError) if another process made a non-empty folder meanwhile
        except OSError as exc:
            if path.exists():
                raise InputError(f"{path}: another process wrote this output while this one ran; its folder is "
                                 "kept (pass --overwrite to replace it)") from exc
            raise
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(path, exc) from exc
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
