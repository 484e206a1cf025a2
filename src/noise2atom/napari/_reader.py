"""napari reader: microscope files as image layers with their calibration (through :func:`read_stack`)."""

from __future__ import annotations

from pathlib import Path

from ..io.readers import _RSCIIO


def get_reader(path):
    """The reader function for one microscope file, or None (napari then asks another plugin)."""
    if isinstance(path, list) or Path(str(path)).suffix.lower() not in _RSCIIO:
        return None
    return read_layers


def read_layers(path) -> list[tuple]:
    """``[(data, kwargs, "image")]``: the frames (a series stays lazy: read as napari shows them), with
    ``scale`` the pixel size (and the frame time on the frame axis, when known), ``units`` when the
    file has them, and the calibration in ``metadata["noise2atom"]``."""
    from ..io import read_stack

    stack = read_stack(path, lazy=True)
    px = stack.pixel_size or 1.0
    scale, units = [px, px], [stack.unit or "pixel"] * 2
    data = stack.data[0]
    if len(stack) > 1:
        data = stack.data
        scale.insert(0, stack.frame_time_s or 1.0)
        units.insert(0, "second" if stack.frame_time_s else "pixel")
    kwargs = {"name": Path(str(path)).name, "scale": tuple(scale),
              "metadata": {"noise2atom": {"pixel_size": stack.pixel_size, "unit": stack.unit,
                                          "frame_time_s": stack.frame_time_s, "source": str(path)}}}
    if stack.unit:
        kwargs["units"] = tuple(units)
    return [(data, kwargs, "image")]
