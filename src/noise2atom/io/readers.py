"""Reading image series: one entry point, :func:`read_stack`, the format chosen by extension.

TIFF (ImageJ and OME calibration), PNG and ``.npy`` are read directly; the microscopes' own formats
go through RosettaSciIO (``rsciio``): Gatan DM3/DM4, Velox and Berkeley EMD, FEI TIA ``.emi``/``.ser``,
MRC, HyperSpy ``.hspy`` (and ``.zspy`` when ``zarr`` is installed). Their axes give the pixel size and
unit (odd unit strings such as ``n_m`` normalised) and, for a series, the frame time; the file's
metadata is kept in ``Stack.metadata``. Adding a format is one function and one line in ``_READERS``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from .stack import LazyFrames, Stack, iter_blocks

FRAME_SUFFIXES = (".tif", ".tiff", ".png")


_UNITS = {"nm": "nm", "n_m": "nm", "nanometer": "nm", "nanometers": "nm", "nanometre": "nm", "nanometres": "nm",
          "µm": "µm", "μm": "µm", "um": "µm", "u_m": "µm", "\\u00b5m": "µm", "micron": "µm", "microns": "µm",
          "micrometer": "µm", "micrometre": "µm", "å": "Å", "a": "Å", "angstrom": "Å", "angstroms": "Å",
          "pm": "pm", "picometer": "pm", "picometre": "pm", "mm": "mm", "millimeter": "mm", "m": "m",
          "meter": "m", "metre": "m"}


def normalize_unit(unit) -> str | None:
    """A length unit as microscopists write it (``n_m`` -> ``nm``, ``um``/``micron`` -> ``µm``,
    ``A`` -> ``Å``); ``None`` for none, pixels or an undefined unit; unknown strings kept as they are."""
    if unit is None:
        return None
    u = str(unit).strip()
    if u.lower() in ("", "pixel", "pixels", "px", "<undefined>", "undefined", "none", "inch"):
        return None
    return _UNITS.get(u.lower(), _UNITS.get(u, u))


#: nanometres per unit, for the length units normalize_unit returns
NM_PER_UNIT = {"nm": 1.0, "Å": 0.1, "pm": 1e-3, "µm": 1e3, "mm": 1e6, "m": 1e9}


def pixel_size_nm(pixel_size, unit) -> float | None:
    """The pixel size in nm, or None when it or its unit is unknown."""
    factor = NM_PER_UNIT.get(normalize_unit(unit) or "")
    if pixel_size is None or factor is None or not pixel_size > 0:
        return None
    return float(pixel_size) * factor


def _calibration_from_tiff(tif) -> dict:
    """Pixel size and unit from ImageJ metadata, OME-XML or the resolution tags, when present."""
    out: dict = {}
    try:
        if tif.is_ome and tif.ome_metadata:
            m = re.search(r'PhysicalSizeX="([^"]+)"', tif.ome_metadata)
            if m and float(m.group(1)) > 0:
                u = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata)
                out["pixel_size"] = float(m.group(1))
                out["unit"] = normalize_unit(u.group(1) if u else "µm")  # OME's default unit
            t = re.search(r'TimeIncrement="([^"]+)"', tif.ome_metadata)
            if t and float(t.group(1)) > 0:
                out["frame_time_s"] = float(t.group(1))
            if out:
                return out
        page = tif.pages[0]
        ij = tif.imagej_metadata or {}
        unit = normalize_unit(ij.get("unit"))
        tag = page.tags.get("XResolution")
        if tag is not None and unit:
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


def _read_tiff(path: Path, lazy: bool = False) -> tuple[np.ndarray, dict]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        cal = _calibration_from_tiff(tif)
        if not lazy:
            return tif.asarray(), cal
    try:  # uncompressed, contiguous pixels (what tifffile and ImageJ write): left in the file
        return tifffile.memmap(path, mode="r"), cal
    except ValueError:  # compressed or scattered strips cannot be mapped: read whole
        return tifffile.imread(path), cal


def _read_png(path: Path, lazy: bool = False) -> tuple[np.ndarray, dict]:
    import imageio.v3 as iio

    return np.asarray(iio.imread(path)), {}


def _read_npy(path: Path, lazy: bool = False) -> tuple[np.ndarray, dict]:
    return np.load(path, allow_pickle=False, mmap_mode="r" if lazy else None), {}


#: RosettaSciIO plugin per extension
_RSCIIO = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd", ".emi": "tia",
           ".ser": "tia", ".mrc": "mrc", ".hspy": "hspy", ".zspy": "zspy"}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9, "min": 60.0, "second": 1.0,
               "millisecond": 1e-3, "microsecond": 1e-6, "nanosecond": 1e-9, "minute": 60.0}


def frame_time_seconds(units, scale) -> float | None:
    """The frame time in seconds from a navigation axis' units and scale (None unless a time unit)."""
    u = str(units or "").strip()
    scale = float(scale or 0)
    return scale * _TIME_UNITS[u] if u in _TIME_UNITS and scale > 0 else None


def _read_rsciio(path: Path, lazy: bool = False) -> tuple[np.ndarray, dict]:
    """The first image signal (2 signal axes, at most 1 navigation axis: the frames) of a file
    (``lazy``: a dask array, read when indexed)."""
    import importlib

    plugin = _RSCIIO[path.suffix.lower()]
    try:
        reader = importlib.import_module(f"rsciio.{plugin}").file_reader
    except ImportError as exc:
        raise InputError(f"{path}: reading {path.suffix} files needs RosettaSciIO's '{plugin}' support "
                         f"({exc}); install it with: pip install 'rosettasciio[{'zspy' if plugin == 'zspy' else ''}]' "
                         f"h5py") from exc
    signals = reader(str(path), lazy=lazy)
    images = [s for s in signals if sum(not a.get("navigate", False) for a in s["axes"]) == 2]
    if not images:
        shapes = ", ".join(str(np.shape(s["data"])) for s in signals) or "none"
        raise InputError(f"{path}: holds no image (signals of shapes {shapes}); noise2atom needs 2-D frames")
    sig = images[0]
    data = sig["data"] if lazy else np.asarray(sig["data"])
    axes = sig["axes"]
    nav = [a for a in axes if a.get("navigate", False)]
    if len(nav) > 1:
        raise InputError(f"{path}: a {len(nav)}-D scan of images (shape {data.shape}); noise2atom reads "
                         "single images and series of frames")
    space = [a for a in axes if not a.get("navigate", False)]
    cal: dict = {}
    sx, unit = float(space[-1].get("scale", 1.0) or 0), normalize_unit(space[-1].get("units"))
    if unit and sx > 0:
        cal["pixel_size"], cal["unit"] = sx, unit
    seconds = frame_time_seconds(nav[0].get("units"), nav[0].get("scale")) if nav else None
    if seconds:
        cal["frame_time_s"] = seconds
    cal["metadata"] = {"reader": f"rsciio.{plugin}", "signals_in_file": len(signals),
                       "metadata": sig.get("metadata", {}), "axes": [dict(a) for a in axes]}
    return data, cal


def _read_zarr(path: Path, lazy: bool = False) -> tuple[np.ndarray, dict]:
    """An OME-Zarr image (NGFF 0.4 or 0.5; its first, full-resolution dataset) or a bare Zarr array.
    Axes other than t/y/x must have size 1; pixel size, unit and frame time come from the scale
    transformation and the axes' units. Needs the ``[zarr]`` extra."""
    try:
        import dask.array as da
        import zarr
    except ImportError as exc:
        raise InputError(f"{path}: reading Zarr needs the [zarr] extra ({exc}); install it with: "
                         "pip install 'noise2atom[zarr]'") from exc
    node = zarr.open(str(path), mode="r")
    if isinstance(node, zarr.Array):
        return (da.from_zarr(node) if lazy else np.asarray(node[...])), {}
    attrs = dict(node.attrs)
    multiscales = attrs.get("ome", attrs).get("multiscales")
    if not multiscales:
        raise InputError(f"{path}: a Zarr group without OME-Zarr 'multiscales' metadata")
    ms = multiscales[0]
    dataset = ms["datasets"][0]
    arr = node[dataset["path"]]
    axes = [a if isinstance(a, dict) else {"name": a} for a in ms.get("axes", [])] or \
        [{"name": n} for n in "tyx"[-arr.ndim:]]
    names = [a["name"] for a in axes]
    scale = next((t["scale"] for t in dataset.get("coordinateTransformations", []) if t.get("type") == "scale"),
                 [1.0] * arr.ndim)
    index = []
    for name, size in zip(names, arr.shape):
        if name in ("t", "y", "x"):
            index.append(slice(None))
        elif size == 1:
            index.append(0)
        else:
            raise InputError(f"{path}: axis '{name}' has {size} entries; noise2atom reads single-channel images and "
                             "series of frames (t, y, x)")
    data = da.from_zarr(arr)[tuple(index)]
    cal: dict = {"metadata": {"reader": "zarr", "multiscales": ms, "noise2atom": attrs.get("noise2atom", {})}}
    by_name = {n: (a, float(k)) for n, a, k in zip(names, axes, scale)}
    if "x" in by_name:
        a, k = by_name["x"]
        unit = normalize_unit(a.get("unit"))
        if unit and k > 0:
            cal["pixel_size"], cal["unit"] = k, unit
    if "t" in by_name:
        a, k = by_name["t"]
        if (seconds := frame_time_seconds(a.get("unit"), k)) is not None:
            cal["frame_time_s"] = seconds
    return (data if lazy else data.compute()), cal


_READERS: dict[str, Callable[..., tuple[np.ndarray, dict]]] = {
    ".tif": _read_tiff,
    ".tiff": _read_tiff,
    ".png": _read_png,
    ".npy": _read_npy,
    **{suffix: _read_rsciio for suffix in _RSCIIO},
}


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


class _FrameFiles:
    """A folder's frame files as a lazy (T, Y, X) array: indexing reads those files only."""

    def __init__(self, files: list[Path], first: np.ndarray):
        self.files, self.dtype, self.ndim = files, first.dtype, 3
        self.shape = (len(files), *first.shape)

    def __getitem__(self, key):
        idx = range(len(self.files))[key]
        if isinstance(idx, int):
            return self._frame(idx)
        return np.stack([self._frame(i) for i in idx]) if len(idx) else np.empty((0, *self.shape[1:]), self.dtype)

    def _frame(self, i: int) -> np.ndarray:
        f = self.files[i]
        arr, _ = _read_file(f)
        if arr.ndim != 2:
            raise InputError(f"{f}: frame files in a folder must be single 2-D images, got shape {arr.shape}")
        if arr.shape != self.shape[1:]:
            raise InputError(f"{f}: frame is {arr.shape[0]}x{arr.shape[1]} but {self.files[0].name} is "
                             f"{self.shape[1]}x{self.shape[2]}; all frames must have one size")
        return arr


def _read_folder(path: Path, lazy: bool = False) -> tuple[np.ndarray, dict]:
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES), key=_natural_key)
    if not files:
        raise InputError(f"{path}: folder holds no frames ({', '.join(FRAME_SUFFIXES)} files)")
    first, cal = _read_file(files[0])
    if first.ndim != 2:
        raise InputError(f"{files[0]}: frame files in a folder must be single 2-D images, got shape {first.shape}")
    frames = _FrameFiles(files, first)
    return (frames if lazy else frames[:]), cal


def _read_file(path: Path, lazy: bool = False) -> tuple[np.ndarray, dict]:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"{path}: unknown image format '{path.suffix}'; readable: "
                         f"{', '.join(sorted(_READERS))} files or a folder of frames")
    try:
        return reader(path, lazy) if lazy else reader(path)
    except InputError:
        raise
    except Exception as exc:  # the underlying library's message is kept for the user
        raise InputError(f"{path}: not a readable {path.suffix.lstrip('.').upper()} image ({exc})") from exc


def read_stack(path: str | Path, *, lazy: bool = False) -> Stack:
    """Read an image series or a single image.

    Parameters
    ----------
    path : str or Path
        A TIFF stack (``.tif``/``.tiff``), a ``.npy`` array (2-D or 3-D), a PNG, a microscope file
        (``.dm3``/``.dm4``, ``.emd``, ``.emi``/``.ser``, ``.mrc``, ``.hspy``, ``.zspy``), an OME-Zarr
        folder (``.zarr``, with the ``[zarr]`` extra), or a folder of PNG/TIFF frames (natural sort order).
    lazy : bool
        Leave the frames in the file (``Stack.data`` is then :class:`~noise2atom.io.stack.LazyFrames`,
        read a few frames at a time): memory maps for TIFF and ``.npy``, RosettaSciIO's lazy (dask)
        reading for the microscope formats, one file at a time for folders. Compressed TIFFs and
        PNGs are read whole.

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
    if path.is_dir() and path.suffix.lower() == ".zarr":
        try:
            raw, cal = _read_zarr(path, lazy)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{path}: not a readable Zarr image ({exc})") from exc
    else:
        raw, cal = _read_folder(path, lazy) if path.is_dir() else _read_file(path, lazy)
    return stack_from_array(raw, source=path, lazy=lazy, **cal)


def stack_from_array(raw, *, source: Path | None = None, lazy: bool = False, **calibration) -> Stack:
    """Check an array's shape and dtype and wrap it as a :class:`Stack` (float32, TYX); ``lazy``
    keeps an array-like (memory map, dask array) unread, as :class:`LazyFrames`."""
    name = str(source) if source is not None else "array"
    if not lazy or isinstance(raw, np.ndarray) and not isinstance(raw, np.memmap):
        raw, lazy = np.asarray(raw), False
    if raw.dtype.kind not in "uifb":
        raise InputError(f"{name}: not numeric image data (dtype {raw.dtype})")
    if int(np.prod(raw.shape)) == 0:
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
    metadata = {"dtype": str(raw.dtype), **calibration.pop("metadata", {})}
    data = LazyFrames(raw) if lazy else raw.astype(np.float32, copy=False)
    return Stack(data=data, source=source, saturation=saturation, metadata=metadata, **calibration)


def check_frames(stack: Stack) -> None:
    """Refuse frames a network cannot use: NaN/Inf pixels or constant frames. Reads the series in
    blocks, so a lazy one is checked without loading it whole.

    Raises
    ------
    InputError
        Naming the file and the first offending frame.
    """
    for start, block in iter_blocks(stack.data):
        flat = block.reshape(len(block), -1)
        finite = np.isfinite(flat).all(axis=1)
        if not finite.all():
            i = start + int(np.argmin(finite))
            raise InputError(f"{stack.name}: frame {i} contains NaN or Inf pixels; replace them "
                             "(e.g. with the frame median) before denoising")
        constant = flat.max(axis=1) == flat.min(axis=1)
        if constant.any():
            j = int(np.argmax(constant))
            raise InputError(f"{stack.name}: frame {start + j} is constant (every pixel = {flat[j, 0]:g}); "
                             f"remove blank frames before training or denoising")
