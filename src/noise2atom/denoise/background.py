"""Putting the support back: atoms from the network plus the smooth background measured on the input.

Ms2c outputs atoms only (the paper removes the background). For a quantitative series in the input's
units, and for any fidelity measure against the raw data, the support's slowly varying intensity
(carbon thickness, a wedge, the beam current) matters too. Per frame, with ``A`` the network's atoms
(in [0, 1]) and ``R`` the raw frame (input units):

1. the atoms' brightness in input units is the least-squares slope ``a`` of the raw frame's detail on
   the atoms' detail (both minus a Gaussian blur of ``sigma_px``): the blur removes the background
   from both, so ``a`` is fitted on the atoms alone; clipped at 0 (an atom is never darker than its
   support);
2. the background is ``G_sigma * (R - a A)``: the raw frame with the atoms taken out, blurred, so its
   noise is averaged over ~(2.5 sigma)^2 pixels while the atoms leave no halo;
3. the estimate is ``background + a A`` (input units).

With ``frames`` > 1 (:class:`SupportTracker`), step 2 averages ``R - a A`` over the current frame and
the ones before it, each moved onto the current frame by the drift measured between consecutive raw
frames (phase correlation), before the blur: the support is static carbon, so its estimate gains
what the past frames add, and no later frame is used. With ``atom_frames`` > 1 the atoms ``A`` are
averaged the same way over the current frame and ``atom_frames - 1`` before it, before steps 1–3: at low dose a single
frame's atoms are uncertain and the clusters stay put, so the average predicts the next frame better;
at high dose, or where atoms hop, one frame is best. :meth:`noise2atom.Noise2Atom.choose_support`
picks the number from the series itself by the predictive score (frame n's estimate against raw
frame n + 1), no truth needed. Either way the output's mean is the current raw frame's, as it is for
one frame. With ``atom_power`` p != 1 the atoms are ``A**p`` before all this: p > 1 dims the faint,
uncertain parts of the network's atoms against its confident peaks (chosen per series too: 1, 1.5 or 2).
With ``brightness="local"`` the slope of step 1 is fitted over Gaussian windows of σ
``BRIGHTNESS_WINDOW_PX`` (:func:`local_brightness`) instead of the whole frame, so the atoms' scale
can follow a brightness that changes across the field (the network's atoms are in [0, 1], while
their true heights vary with the clusters' size and the support's thickness); chosen per series
too.

No truth and no extra training are needed; the network's atoms are kept as they are, up to that power.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from ..config import ATOM_BRIGHTNESS_MODES

#: frames up to this side are blurred by a wide window as matrix products (BLAS), larger ones by scipy
WIDE_BLUR_MAX_PX = 1024


@lru_cache(maxsize=8)
def _blur_operator(n: int, sigma_px: float) -> np.ndarray:
    """The (n, n) matrix of scipy's 1-D Gaussian blur (mode reflect, truncated at 4 σ): ``M @ x`` is
    ``gaussian_filter1d(x, sigma_px, axis=0, mode="reflect")``."""
    op = gaussian_filter1d(np.eye(n), sigma_px, axis=0, mode="reflect")
    op.setflags(write=False)
    return op


def wide_blur(x: np.ndarray, sigma_px: float) -> np.ndarray:
    """``gaussian_filter(x, sigma_px, mode="reflect")`` of a (Y, X) array, the same to ~1e-15; for a
    wide σ on frames up to ``WIDE_BLUR_MAX_PX`` a side, as two matrix products (BLAS) instead of
    scipy's 257-tap convolution at σ 32 px."""
    ny, nx = x.shape
    if max(ny, nx) > WIDE_BLUR_MAX_PX or sigma_px < 8:
        return gaussian_filter(x, sigma_px, mode="reflect")
    return _blur_operator(ny, float(sigma_px)) @ x @ _blur_operator(nx, float(sigma_px)).T


def _moved(x: np.ndarray, d: int, axis: int) -> np.ndarray:
    """``x`` moved by a whole ``d`` px along ``axis``, edges replicated: ``out[i] = x[clip(i + d)]``."""
    n = x.shape[axis]
    out = np.empty_like(x)
    src, dst = np.moveaxis(x, axis, 0), np.moveaxis(out, axis, 0)
    d = min(max(d, -n), n)
    if d >= 0:
        dst[:n - d] = src[d:]
        dst[n - d:] = src[-1]
    else:
        dst[-d:] = src[:n + d]
        dst[:-d] = src[0]
    return out


def shift_linear(x: np.ndarray, offset) -> np.ndarray:
    """``scipy.ndimage.shift(x, offset, order=1, mode="nearest")`` of a float64 array, the same to
    ~1e-13: the content moves by ``offset`` px (``out[p] = x[p - offset]``, bilinear, edges replicated).
    One axis at a time, as two moved copies and one weighted sum each: about half scipy's time, and
    the shift is most of what the support's choice (144 settings over 16 frames) spends."""
    out = np.asarray(x, dtype=np.float64)
    for axis, s in enumerate(offset):
        s = float(s)
        if s == 0.0:
            continue
        d = int(np.floor(-s))
        w = -s - d  # out[i] = (1 - w) x[i + d] + w x[i + d + 1]
        lo = _moved(out, d, axis)
        if w == 0.0:
            out = lo
            continue
        out = _moved(out, d + 1, axis)
        out -= lo
        out *= w
        out += lo
    return out


def _details(raw: np.ndarray, atoms01: np.ndarray, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The raw frame's and the atoms' detail: each minus its Gaussian blur of ``sigma_px``."""
    r = np.asarray(raw, dtype=np.float64)
    a01 = np.asarray(atoms01, dtype=np.float64)
    if r.shape != a01.shape or r.ndim != 2:
        raise ValueError(f"need two (Y, X) frames of one shape, got {r.shape} and {a01.shape}")
    return r - gaussian_filter(r, sigma_px, mode="reflect"), a01 - gaussian_filter(a01, sigma_px, mode="reflect")


def atom_brightness(raw: np.ndarray, atoms01: np.ndarray, sigma_px: float = 4.0) -> float:
    """Least-squares slope of the raw frame's detail on the atoms' detail (negative: inverted atoms)."""
    hr, ha = _details(raw, atoms01, sigma_px)
    denom = float((ha * ha).sum())
    return float((hr * ha).sum()) / denom if denom > 0 else 0.0


def local_brightness(raw: np.ndarray, atoms01: np.ndarray, sigma_px: float = 4.0,
                     window_px: float = 32.0) -> np.ndarray:
    """The slope of :func:`atom_brightness` fitted in a Gaussian window of ``window_px`` (σ) around
    each pixel instead of over the whole frame: a (Y, X) map, clipped at 0.

    ``a(p) = (G_w * (hr ha) + m a_frame) / (G_w * (ha ha) + m)``, with ``hr``, ``ha`` the raw frame's
    and the atoms' detail, ``a_frame`` the whole frame's slope and ``m`` the frame's mean of ``ha²``:
    where a window holds little of the atoms' detail the map falls back to the frame's slope, and
    with a window wider than the frame it is that slope.
    """
    hr, ha = _details(raw, atoms01, sigma_px)
    m = float((ha * ha).mean())
    if m <= 0:
        return np.zeros_like(hr)
    frame = float((hr * ha).mean()) / m
    num = wide_blur(hr * ha, window_px) + m * frame
    return np.clip(num / (wide_blur(ha * ha, window_px) + m), 0.0, None)


def brightness_of(raw: np.ndarray, atoms01: np.ndarray, sigma_px: float, brightness: str):
    """The atoms' brightness in input units: one slope for the frame (``"frame"``, a float clipped at
    0) or a map of slopes fitted over windows of ``BRIGHTNESS_WINDOW_PX`` (``"local"``, an array)."""
    if brightness == "local":
        return local_brightness(raw, atoms01, sigma_px, BRIGHTNESS_WINDOW_PX)
    if brightness != "frame":
        raise ValueError(f"brightness={brightness!r} must be one of {', '.join(ATOM_BRIGHTNESS_CHOICES)}")
    return max(atom_brightness(raw, atoms01, sigma_px), 0.0)


def restore_background(raw: np.ndarray, atoms01: np.ndarray, sigma_px: float = 4.0,
                       brightness: float | str | None = None) -> np.ndarray:
    """``background + a * atoms`` in the raw frame's units, for one (Y, X) frame.

    ``brightness``: ``a`` when the caller has it already (:func:`atom_brightness`; clipped at 0), or
    how to fit it (``"frame"``, the default, or ``"local"``: :func:`brightness_of`).
    """
    if brightness is None or isinstance(brightness, str):
        a = brightness_of(raw, atoms01, sigma_px, brightness or "frame")
    else:
        a = max(brightness, 0.0)
    r = np.asarray(raw, dtype=np.float64)
    a01 = np.asarray(atoms01, dtype=np.float64)
    bg = gaussian_filter(r - a * a01, sigma_px, mode="reflect")
    return (bg + a * a01).astype(np.float32)


#: what ``--background keep`` tries for each setting left at 0 (:meth:`noise2atom.Noise2Atom.choose_support`):
#: the support's frames, its blur (px) and the atoms' window; it looks at a series' first
#: ``CHOOSE_FRAMES`` frames, at most ``CHOOSE_PX`` square of their centre
SUPPORT_FRAME_CHOICES = (4, 8)
SUPPORT_SIGMA_CHOICES = (4.0, 2.5, 1.5)
ATOM_FRAME_CHOICES = (1, 2, 4, 8)
ATOM_POWER_CHOICES = (1.0, 1.5, 2.0)
#: the atoms' brightness: one slope per frame, or slopes fitted over Gaussian windows of
#: ``BRIGHTNESS_WINDOW_PX`` (σ, px): the configuration's modes but ``"auto"``, which chooses one per series
ATOM_BRIGHTNESS_CHOICES = tuple(m for m in ATOM_BRIGHTNESS_MODES if m != "auto")
BRIGHTNESS_WINDOW_PX = 32.0
CHOOSE_FRAMES = 16
CHOOSE_PX = 256
#: the support's blur where one is needed and none is fixed (scoring checkpoints in training; a
#: series too short to choose on)
DEFAULT_SIGMA_PX = 4.0


@dataclass(frozen=True)
class SupportSettings:
    """How ``--background keep`` builds its output: the support averaged over ``frames`` registered
    frames and blurred with ``sigma_px``, the atoms raised to ``atom_power`` and averaged over
    ``atom_frames``. A 0 (in :meth:`noise2atom.Noise2Atom.support_options`) is a setting still to be
    chosen (:attr:`unchosen`)."""

    frames: int
    sigma_px: float
    atom_frames: int
    atom_power: float = 1.0
    brightness: str = "frame"

    @property
    def unchosen(self) -> bool:
        """Whether any setting is 0 (or the brightness ``"auto"``), to be chosen per series."""
        return 0 in (self.frames, self.sigma_px, self.atom_frames, self.atom_power) or self.brightness == "auto"

    def tracker(self) -> "SupportTracker":
        return SupportTracker(self.frames, self.sigma_px, atom_frames=self.atom_frames, atom_power=self.atom_power,
                              brightness=self.brightness)

    def restore(self, raws, atoms01, steps=None) -> np.ndarray:
        """The whole series at once: (T, Y, X) float32 in the raw frames' units (a fresh tracker;
        ``steps`` as in :meth:`SupportTracker.restore`)."""
        return self.tracker().restore(raws, atoms01, steps)

    def to_options(self) -> dict:
        """As the ``background_frames``, ``background_sigma_px``, ``atom_frames``, ``atom_power``,
        ``atom_brightness`` options of denoise."""
        return {"background_frames": self.frames, "background_sigma_px": self.sigma_px,
                "atom_frames": self.atom_frames, "atom_power": self.atom_power, "atom_brightness": self.brightness}


class SupportTracker:
    """Streams :func:`restore_background` over a series, averaging the support over ``frames``
    drift-registered frames (the current one and those before it), and the atoms (raised to
    ``atom_power``) over ``atom_frames``, their brightness fitted per frame or over local windows
    (``brightness``, :func:`brightness_of`).

    >>> tracker = SupportTracker(frames=4, sigma_px=4.0)           # doctest: +SKIP
    >>> full = [tracker.add(raw, atoms) for raw, atoms in zip(raws, atoms01)]   # doctest: +SKIP
    """

    def __init__(self, frames: int = 1, sigma_px: float = 4.0, register_sigma_px: float = 2.0,
                 atom_frames: int = 1, atom_power: float = 1.0, brightness: str = "frame"):
        if frames < 1:
            raise ValueError(f"frames={frames} must be >= 1")
        if atom_frames < 1:
            raise ValueError(f"atom_frames={atom_frames} must be >= 1")
        if not 0.25 <= atom_power <= 4:
            raise ValueError(f"atom_power={atom_power} must be in [0.25, 4]")
        if brightness not in ATOM_BRIGHTNESS_CHOICES:
            raise ValueError(f"brightness={brightness!r} must be one of {', '.join(ATOM_BRIGHTNESS_CHOICES)}")
        self.atom_power = float(atom_power)
        self.brightness = brightness
        self.frames, self.sigma, self.register_sigma = int(frames), float(sigma_px), float(register_sigma_px)
        self.atom_frames = int(atom_frames)
        keep = max(self.frames, self.atom_frames) - 1
        self._past: deque = deque(maxlen=keep)  # (residual, atoms in [0, 1], offset to the current frame)
        self._prev_smooth: np.ndarray | None = None
        self._prev_shape: tuple | None = None
        #: the atoms (input units) put into the last frame's output, before its level is set
        self.last_atoms: np.ndarray | None = None

    def add(self, raw: np.ndarray, atoms01: np.ndarray, step: np.ndarray | None = None) -> np.ndarray:
        """The restored frame (input units) for the next frame of the series.

        ``step``: the drift (dy, dx) from the previous frame to this one when the caller has measured it
        already (:func:`noise2atom.data.pairs.measure_drift`, as this tracker measures it); ignored on
        the first frame."""
        return self.add_each(raw, atoms01, step, (self.frames,))[0]

    def add_each(self, raw: np.ndarray, atoms01: np.ndarray, step: np.ndarray | None = None,
                 frames=(1,)) -> list[np.ndarray]:
        """:meth:`add`'s frame once for each support length in ``frames`` (each at most this tracker's
        ``frames``): what trackers of those ``frames`` and this one's other settings would each return,
        for the cost of one (the atoms, their brightness and the registered past are shared)."""
        if any(not 1 <= f <= self.frames for f in frames):
            raise ValueError(f"frames={tuple(frames)}: each must be in [1, {self.frames}] (this tracker's)")
        if self.atom_power != 1.0:
            atoms01 = np.clip(np.asarray(atoms01, dtype=np.float64), 0.0, 1.0) ** self.atom_power
        if self.frames == 1 and self.atom_frames == 1:
            out = restore_background(raw, atoms01, self.sigma, self.brightness)
            return [out] + [out.copy() for _ in frames[1:]]
        from ..data.pairs import frame_shift

        r = np.asarray(raw, dtype=np.float64)
        a01 = np.asarray(atoms01, dtype=np.float64)
        if self._prev_shape is not None and self._prev_shape != r.shape:
            self._past.clear()
            self._prev_shape = self._prev_smooth = None
        smooth = None  # kept only where this tracker measures the drift itself
        if step is None:
            smooth = gaussian_filter(r, self.register_sigma)
            if self._prev_shape is not None:
                if self._prev_smooth is None:
                    raise ValueError("give the drift step for every frame after the first, or for none")
                # the current frame's content at p sat at p + step in the previous frame
                step = frame_shift(self._prev_smooth, smooth)
        if self._prev_shape is not None:
            self._past = deque(((res, at, off + np.asarray(step, dtype=np.float64)) for res, at, off in self._past),
                               maxlen=self._past.maxlen)
        past = list(self._past)
        # the atoms (in [0, 1]) of this frame and the ones before it, moved onto this frame, averaged;
        # then scaled to this raw frame as one frame's atoms are
        pooled = np.mean([a01] + [shift_linear(at, -off)
                                  for _, at, off in past[:self.atom_frames - 1]], axis=0)
        atoms = brightness_of(r, pooled, self.sigma, self.brightness) * pooled
        resid = r - atoms
        aligned = [resid] + [shift_linear(res, -off) for res, _, off in past[:max(frames) - 1]]
        if self._past.maxlen:
            self._past.appendleft((resid, a01, np.zeros(2)))
        self._prev_smooth, self._prev_shape = smooth, r.shape
        self.last_atoms = atoms
        outs = []
        for f in frames:
            if f == 1 and self.atom_frames == 1:  # as a one-frame tracker: restore_background
                outs.append(restore_background(r, a01, self.sigma, self.brightness))
                continue
            out = self.smooth_support(np.mean(aligned[:f], axis=0)) + atoms
            # the level is this frame's: past frames bring the support's texture, not their beam current
            # or dose (nor the scatter of their own atoms' fitted brightness)
            out += r.mean() - out.mean()
            outs.append(out.astype(np.float32))
        return outs

    def restore(self, raws, atoms01, steps=None) -> np.ndarray:
        """:meth:`add` over a series, stacked: (T, Y, X) float32 (from a fresh tracker: the series' output).
        ``steps``: the series' drift when measured already (:func:`noise2atom.data.pairs.measure_drift`,
        T - 1 rows), so that trying many settings on one series registers it once."""
        return self.restore_each(raws, atoms01, steps, (self.frames,))[0]

    def restore_each(self, raws, atoms01, steps=None, frames=(1,)) -> list[np.ndarray]:
        """:meth:`restore` once for each support length in ``frames`` (:meth:`add_each`), from one pass."""
        if steps is not None and len(steps) != max(len(raws) - 1, 1):
            raise ValueError(f"{len(steps)} drift steps for {len(raws)} frames (need one between each two)")
        per_frame = [self.add_each(r, a, None if steps is None or i == 0 else steps[i - 1], frames)
                     for i, (r, a) in enumerate(zip(raws, atoms01))]
        return [np.stack(outs) for outs in zip(*per_frame)]

    def smooth_support(self, support: np.ndarray) -> np.ndarray:
        """The filter on the registered frames' mean of ``raw - atoms``: a Gaussian of ``sigma_px``.
        A subclass may try another (``bench/support_choices.py --wiener``). Not called, and
        ``last_atoms`` not set, with one frame and one atom frame (:func:`restore_background` then)."""
        return gaussian_filter(support, self.sigma, mode="reflect")

