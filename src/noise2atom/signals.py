"""HyperSpy adapter: denoise a ``Signal2D`` and get a ``Signal2D`` back, axes and metadata kept.

Needs the optional extra ``pip install "noise2atom[hyperspy]"``. The core package never imports
HyperSpy; this module only asks a signal for its data, axes and metadata.

    >>> import hyperspy.api as hs                                   # doctest: +SKIP
    >>> from noise2atom import denoise_signal                       # doctest: +SKIP
    >>> movie = hs.load("movie.hspy")                               # doctest: +SKIP
    >>> clean = denoise_signal(movie, model="movie.n2a")            # doctest: +SKIP
    >>> clean.metadata.Processing.noise2atom                        # doctest: +SKIP
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from ._version import __version__
from .errors import InputError
from .io.readers import frame_time_seconds, normalize_unit, stack_from_array


def signal_to_stack(signal):
    """A :class:`~noise2atom.io.Stack` from a HyperSpy ``Signal2D`` (one image, or a series along one
    navigation axis): pixel size and unit from the first signal axis, frame time from the
    navigation axis when its unit is a time."""
    am = getattr(signal, "axes_manager", None)
    if am is None or am.signal_dimension != 2:
        raise InputError(f"{_title(signal)}: need a HyperSpy Signal2D, got {type(signal).__name__}")
    if am.navigation_dimension > 1:
        raise InputError(f"{_title(signal)}: a {am.navigation_dimension}-D scan of images "
                         f"(shape {signal.data.shape}); noise2atom takes one image or a series of frames")
    x = am.signal_axes[0]
    cal: dict = {}
    unit = normalize_unit(x.units if isinstance(x.units, str) else None)
    if unit and x.scale > 0:
        cal["pixel_size"], cal["unit"] = float(x.scale), unit
    if am.navigation_dimension == 1:
        t = am.navigation_axes[0]
        seconds = frame_time_seconds(t.units if isinstance(t.units, str) else None, t.scale)
        if seconds:
            cal["frame_time_s"] = seconds
    return stack_from_array(np.asarray(signal.data), **cal)


def denoise_signal(signal, model=None, *, background: str | None = None, tta: bool | None = None,
                   rescale: bool = True, minutes: float = 10.0, preset: str = "small", seed: int | None = None):
    """Denoise a HyperSpy ``Signal2D`` (one image or a series of frames).

    Parameters
    ----------
    signal : hyperspy Signal2D
        Navigation dimension 0 (one image) or 1 (the frames).
    model : Noise2Atom, path of a model file, ``"default"``, or None
        ``"default"`` uses the pretrained model shipped with noise2atom (no training); None trains
        the ``preset`` on the signal itself for at most ``minutes`` (the paper trains per data set;
        see the README for when each is better).
    background, tta : optional
        As for :meth:`Noise2Atom.denoise` (default: the model's).
    rescale : bool
        Output in the input's intensity units (default) instead of [0, 1].

    Returns
    -------
    Signal2D
        A new signal: the same axes and metadata, float32 data, the title marked, and a record of
        the processing in ``metadata.Processing.noise2atom`` (noise2atom version, date, model
        source and configuration, options). The input signal is not changed.
    """
    from .model import Noise2Atom

    stack = signal_to_stack(signal)
    trained_here = model is None
    if model is None:
        net = Noise2Atom(preset=preset, seed=seed)
        net.fit(stack, minutes=minutes)
        source = f"trained on this signal ({preset} preset, {minutes:g} min budget)"
    elif isinstance(model, (str, Path)):
        from .pretrained import resolve_model

        net = resolve_model(model)
        source = str(model)
    elif isinstance(model, Noise2Atom):
        net, source = model, "a Noise2Atom object"
    else:
        raise InputError(f"model must be a Noise2Atom, a model file or None, got {type(model).__name__}")
    out = net.denoise(stack, background=background, tta=tta, rescale=rescale)
    new = signal._deepcopy_with_new_data(out.reshape(np.shape(signal.data)).astype(np.float32))
    title = new.metadata.get_item("General.title") or ""
    new.metadata.set_item("General.title", f"{title} (noise2atom)".strip())
    dc = net.config.denoise
    record = {"noise2atom_version": __version__, "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "model": source, "trained_here": trained_here, "config": net.config.to_dict(),
              "background": background or dc.background, "tta": dc.tta if tta is None else bool(tta),
              "rescale": rescale}
    new.metadata.set_item("Processing.noise2atom", record)
    return new


def _title(signal) -> str:
    try:
        return signal.metadata.General.title or type(signal).__name__
    except AttributeError:
        return type(signal).__name__
