"""Synthetic training pairs matched to the user's own series ("turning the cycle into pairs").

The paper's clean→noisy network Mc2s is only asked to match the *low* frequencies of the data (the
cycle goes through the low-pass Ms2b), so it never learns the noise itself. This module measures
what it would have to learn directly on the raw series, with no ground truth:

* the noise: variance against local mean (``var = gain * mean + offset``, Poisson-like counts with a
  pulse-height spread, read noise or a dark level) from the difference of consecutive frames, whose
  noise is independent while the scene barely moves; and the correlation between neighbouring
  pixels along the fast scan direction (detector afterglow), from the same differences;
* the background: each frame opened (grey-scale) wider than an atom and smoothed, so the carbon's
  thickness, gradients and the beam's drift of intensity come from the data;
* the atoms' width: the cross-correlation of consecutive frames at lags of 1 and 2 px (noise-free,
  because the two frames' noise is independent) is the autocorrelation of the atoms, a Gaussian of
  variance 2σ²;
* the atoms' height: the brightest atom-scale peaks above the background;
* the drift: the shift between consecutive frames (phase correlation of smoothed frames).

:class:`PairSampler` then draws clean images from the paper's simulator (``data.clean``) with peak
widths around the measured one, puts them on crops of the measured background at the measured
height, and adds noise with the measured statistics: the result are (noisy, clean) pairs in the
network's [-1, 1] units on which Ms2c can be trained with a plain supervised loss. With
``context`` > 0 each noisy half is a short causal movie (the frames before the current one, oldest
first): the scene drifts by a run of the measured shifts, and sites move, vanish or appear between
frames, so that Ms2c learns to use the past where it agrees with the present.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter, grey_opening

from ..config import SimulationConfig
from ..errors import InputError
from .clean import draw_clean_params, render_clean, simulate_clean
from .normalize import Normalization
from .threads import one_blas_thread

#: variance range of the simulated peaks, as factors of the measured atom variance
WIDTH_RANGE = (0.6, 1.6)
#: height range of the simulated peaks, as factors of the measured atom height
HEIGHT_RANGE = (0.5, 1.5)
_SMOOTH_PX = 1.5
#: with context frames: share of samples whose oldest frames are missing (copies of the oldest one
#: present), as at the start of a series
MISSING_PAST = 0.15
#: with context frames: how far (px, std) a site that moves between two frames goes
MOVE_PX = 2.0


@dataclass(frozen=True)
class NoiseFit:
    """What :func:`fit_pair_model` measured on a raw series (all in the input's units)."""

    gain: float          # noise variance per unit of mean intensity
    offset: float        # variance at zero intensity (read noise²); negative: a dark level
    scan_correlation: float  # lag-1 correlation of the noise along x
    atom_variance_px2: float  # σ² of an atom's (Gaussian) image
    atom_height: float   # peak height of a bright atom above the background

    def to_dict(self) -> dict:
        return {k: round(float(v), 6) for k, v in asdict(self).items()}


def _noise_curve(raw: np.ndarray) -> tuple[float, float, float]:
    """(gain, offset, lag-1 x correlation) from the differences of consecutive frames."""
    if len(raw) >= 2:
        d = (raw[1:] - raw[:-1]) / np.sqrt(2.0)
        # local means from the time average (nearly noise-free over many frames, and not compressed
        # the way a spatial smoothing compresses peaks, which would inflate the slope)
        ms = np.broadcast_to(raw.mean(axis=0), d.shape)
    else:  # one frame: the high-pass residual stands in for the noise (slightly low)
        d = raw - gaussian_filter(raw, (0, 2, 2))
        ms = gaussian_filter(raw, (0, 2, 2))
    edges = np.unique(np.quantile(ms, np.linspace(0.02, 0.98, 13)))
    xs, vs, ws = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (ms >= lo) & (ms < hi)
        if sel.sum() < 100:
            continue
        dd = d[sel]
        robust = (1.4826 * np.median(np.abs(dd - np.median(dd)))) ** 2  # an atom that moved is an outlier
        v = dd.var()
        xs.append(ms[sel].mean()); vs.append(min(v, 4 * robust) if robust > 0 else v); ws.append(np.sqrt(sel.sum()))
    if len(xs) >= 2 and np.ptp(xs) > 0:
        w = np.asarray(ws)
        A = np.stack([np.asarray(xs), np.ones(len(xs))], 1) * w[:, None]
        gain, offset = np.linalg.lstsq(A, np.asarray(vs) * w, rcond=None)[0]
    else:
        gain, offset = 0.0, float(d.var())
    if gain <= 0:  # no mean-variance slope: additive noise only
        gain, offset = 1e-6 * max(float(np.abs(ms).mean()), 1e-6), float(d.var())
    rho = float((d[:, :, 1:] * d[:, :, :-1]).mean() / max((d * d).mean(), 1e-12))
    return float(gain), float(offset), rho


def _atom_variance(raw: np.ndarray, bg_sigma: float = 4.0) -> float:
    """σ² of an atom's image from the cross-correlation of consecutive frames (needs >= 2 frames)."""
    r = raw - gaussian_filter(raw, (0, bg_sigma, bg_sigma))
    if len(r) < 2:
        return float("nan")
    a, b = r[:-1], r[1:]

    def corr(dy: int, dx: int) -> float:
        ya, yb = (slice(dy, None), slice(None, -dy or None)) if dy >= 0 else (slice(None, dy), slice(-dy, None))
        xa, xb = (slice(dx, None), slice(None, -dx or None)) if dx >= 0 else (slice(None, dx), slice(-dx, None))
        return float((a[:, ya, xa] * b[:, yb, xb]).mean())

    c0 = corr(0, 0)
    if c0 <= 0:
        return float("nan")
    est = []
    for lag in (1, 2):
        c = 0.25 * (corr(lag, 0) + corr(-lag, 0) + corr(0, lag) + corr(0, -lag)) / c0
        if 0 < c < 1:
            est.append(-lag * lag / (4 * np.log(c)))
    return float(np.mean(est)) if est else float("nan")


def opening_px(atom_variance_px2: float, background_px: int = 0) -> int:
    """Width of the grey opening that separates background from atoms: ``background_px`` when > 0,
    else just wider than one atom (±3σ), which also takes clusters wider than that for background."""
    if background_px > 0:
        return int(background_px) | 1
    return int(2 * np.ceil(3 * float(np.sqrt(atom_variance_px2))) + 1)


def background_maps(raw: np.ndarray, atom_variance_px2: float, background_px: int = 0) -> np.ndarray:
    """Per frame: smoothed, opened wider than an atom (or ``background_px``), smoothed again; lifted
    to the data's level."""
    size = opening_px(atom_variance_px2, background_px)
    sm = gaussian_filter(raw, (0, _SMOOTH_PX, _SMOOTH_PX))
    bg = np.stack([gaussian_filter(grey_opening(f, size=(size, size)), 3.0) for f in sm])
    # the opening of a noisy frame is its lower envelope; atoms are sparse, so the median pixel is background
    return (bg + np.median(sm - bg)).astype(np.float32)


def fit_pair_model(raw: np.ndarray, *, name: str = "array", default_variance_px2: float = 2.0,
                   background_px: int = 0) -> tuple[NoiseFit, np.ndarray]:
    """Measure noise, background, atom width and height on raw frames (T, Y, X).

    ``background_px``: width of the opening that takes the background (0: just wider than an atom;
    set it wider than the largest cluster when clusters are bigger than a few atoms).

    Returns the :class:`NoiseFit` and the background maps (T, Y, X) in the input's units.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[1] < 16 or raw.shape[2] < 16:
        raise InputError(f"{name}: need frames of at least 16x16 px to measure the noise, got {raw.shape}")
    gain, offset, rho = _noise_curve(raw)
    var = _atom_variance(raw)
    if not np.isfinite(var):
        var = default_variance_px2
    var = float(np.clip(var, 0.5, 25.0))
    bg = background_maps(raw, var, background_px)
    sm = gaussian_filter(raw, (0, _SMOOTH_PX, _SMOOTH_PX))
    attenuation = var / (var + _SMOOTH_PX**2)  # the smoothing lowers a Gaussian peak by this factor
    height = float(np.percentile(sm - bg, 99.9) / attenuation)
    if not height > 0:
        raise InputError(f"{name}: found no peaks above the background; is this a series of atoms (bright on dark)?")
    return NoiseFit(gain, offset, rho, var, height), bg


def frame_shift(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """(dy, dx): ``current``'s content at p sits at p + (dy, dx) in ``previous`` (phase correlation,
    to 0.1 px; give it smoothed frames).

    numpy's BLAS runs on one thread here (:func:`~noise2atom.data.threads.one_blas_thread`): the
    sub-pixel step's small matrix products, split over threads between the network's frames, fought
    torch's threads for the cores (on 2 CPU cores the fast model's 128² frames took ~11 ms more each
    with the atoms' window, which alone costs ~2 ms; with one BLAS thread the difference is within
    noise: ``bench/bench_speed.py --atom-windows``, docs/performance.md)."""
    from skimage.registration import phase_cross_correlation

    with one_blas_thread():
        shift = phase_cross_correlation(previous, current, upsample_factor=10, normalization=None)[0]
    return np.asarray(shift, dtype=np.float64)


def measure_drift(raw: np.ndarray, smooth_px: float = 2.0) -> np.ndarray:
    """(T - 1, 2) shifts (dy, dx) between consecutive frames: frame n's content sits at p + shift[n-1]
    in frame n - 1 (:func:`frame_shift` of frames smoothed by ``smooth_px``). A single frame gives one
    zero shift."""
    raw = np.asarray(raw, dtype=np.float64)
    if len(raw) < 2:
        return np.zeros((1, 2))
    sm = gaussian_filter(raw, (0, smooth_px, smooth_px))
    return np.array([frame_shift(a, b) for a, b in zip(sm[:-1], sm[1:])], dtype=np.float64)


def _tap_weight(rho: float) -> float:
    """w of the 2-tap filter (1 - w) x_i + w x_(i-1) whose output has lag-1 correlation ``rho``."""
    rho = float(np.clip(rho, 0.0, 0.499))
    if rho < 1e-3:
        return 0.0
    # rho = w (1 - w) / ((1 - w)² + w²)  ->  (1 + 2 rho) w² - (1 + 2 rho) w + rho = 0
    a = 1 + 2 * rho
    return float((a - np.sqrt(a * a - 4 * a * rho)) / (2 * a))


def noise_terms(fit: NoiseFit) -> tuple[float, float, float, float]:
    """(w, gain, dark, read) that :func:`add_noise` draws with: the scan filter's tap weight, and the
    Poisson gain, dark level and read-noise std before that filter (which lowers the variance)."""
    w = _tap_weight(fit.scan_correlation)
    shrink = (1 - w) ** 2 + w**2  # the filter lowers the variance by this factor
    dark = -fit.offset / fit.gain if fit.offset < 0 else 0.0
    return w, fit.gain / shrink, dark, float(np.sqrt(max(fit.offset, 0.0) / shrink))


def add_noise(expected: np.ndarray, fit: NoiseFit, rng: np.random.Generator) -> np.ndarray:
    """Noisy frames (n, y, x) with the measured noise statistics, from expected intensities."""
    w, gain, dark, read = noise_terms(fit)
    lam = np.concatenate([expected[..., :1], expected], axis=-1)  # one extra column for the filter
    counts = gain * rng.poisson(np.maximum(lam - dark, 0.0) / gain) + dark
    if read > 0:
        counts = counts + rng.normal(0.0, read, counts.shape)
    return ((1 - w) * counts[..., 1:] + w * counts[..., :-1]).astype(np.float32)


def movie_peak(imgs: list[np.ndarray]) -> np.ndarray:
    """(b, 1, 1) brightness scale of b short movies (``imgs[0]`` the current frame): the current
    frame's peak, but at least half the brightest frame's, so that a frame whose atoms have all left
    the crop (only their far tails remain, ~1e-10) cannot blow the earlier frames up; 1 for empty
    movies."""
    b = imgs[0].shape[0]
    now = imgs[0].reshape(b, -1).max(axis=1)
    every = np.max([im.reshape(b, -1).max(axis=1) for im in imgs], axis=0)
    peak = np.maximum(now, 0.5 * every)
    return np.where(peak > 0, peak, 1.0)[:, None, None]


class PairSampler:
    """(noisy, clean) batches matched to a series: clean from the paper's simulator, noise measured.

    Parameters
    ----------
    fit : NoiseFit
    backgrounds : ndarray (T, Y, X)
        Background maps in the input's units (:func:`fit_pair_model`).
    normalization : Normalization
        The model's input normalisation (the noisy half of each pair goes through it).
    simulation : SimulationConfig
        Sites and atoms per site of the clean images; the peak variance range is replaced by
        ``WIDTH_RANGE`` times the measured one.
    size : int
    rng : numpy Generator
    context : int
        Frames before the current one in each noisy sample (0: single frames).
    shifts : ndarray (S, 2), optional
        Measured frame-to-frame shifts (:func:`measure_drift`); runs of them drift the scene.
    change_prob : float
        Chance per site and frame that it moves (half), vanishes (a quarter) or a new one appears
        (a quarter).
    """

    def __init__(self, fit: NoiseFit, backgrounds: np.ndarray, normalization: Normalization,
                 simulation: SimulationConfig, size: int, rng: np.random.Generator, *, context: int = 0,
                 shifts: np.ndarray | None = None, change_prob: float = 0.1):
        t, h, w = backgrounds.shape
        if h < size or w < size:
            raise InputError(f"background maps are {h}x{w}, smaller than the {size} px crop")
        v = fit.atom_variance_px2
        self.simulation = replace(simulation, variance_px2=(WIDTH_RANGE[0] * v, WIDTH_RANGE[1] * v),
                                  kernel_px=max(simulation.kernel_px, int(2 * np.ceil(4 * np.sqrt(WIDTH_RANGE[1] * v)) + 1)))
        self.fit, self.backgrounds, self.normalization = fit, backgrounds, normalization
        self.size, self.rng = size, rng
        self.context, self.change_prob = int(context), float(change_prob)
        self.shifts = np.zeros((1, 2)) if shifts is None or len(shifts) == 0 else np.asarray(shifts, np.float64)

    def batch(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """(noisy, clean): (b, 1 + context, size, size) and (b, 1, size, size), float32 in [-1, 1]."""
        if self.context > 0:
            return self._movie_batch(b)
        c = self.size
        clean = simulate_clean(b, size=c, config=self.simulation, seed=self.rng)  # [-1, 1]
        t, h, w = self.backgrounds.shape
        ti = self.rng.integers(0, t, size=b)
        ys = self.rng.integers(0, h - c + 1, size=b)
        xs = self.rng.integers(0, w - c + 1, size=b)
        bg = np.stack([self.backgrounds[i, y:y + c, x:x + c] for i, y, x in zip(ti, ys, xs)])
        heights = self.rng.uniform(*HEIGHT_RANGE, size=(b, 1, 1)) * self.fit.atom_height
        expected = bg + heights * (clean + 1.0) / 2.0
        noisy = self.normalization.forward(add_noise(expected, self.fit, self.rng))
        return noisy[:, None], clean[:, None]

    def _movie_batch(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Short causal movies: frame 0 is the current one, frames 1..k go back in time."""
        c, k, rng, p = self.size, self.context, self.rng, self.change_prob
        params = draw_clean_params(b, config=self.simulation, rng=rng)
        n_sites = params["y"].shape[1]
        L = self.simulation.lattice_px
        # as many candidate sites, empty now, that may hold an atom in earlier frames (one that left)
        extra = rng.uniform(0, L, size=(2, b, n_sites))
        ys = np.concatenate([params["y"].astype(np.float64), extra[0]], axis=1)
        xs = np.concatenate([params["x"].astype(np.float64), extra[1]], axis=1)
        atoms = np.concatenate([params["atoms"], np.zeros((b, n_sites), params["atoms"].dtype)], axis=1)
        candidate = np.arange(2 * n_sites)[None, :] >= n_sites
        shift = np.zeros((b, 2))
        start = rng.integers(0, len(self.shifts), size=b)  # a run of consecutive measured shifts
        frames = []
        for j in range(k + 1):
            if j > 0:
                shift = shift + self.shifts[(start - j + 1) % len(self.shifts)]
                r = rng.random(ys.shape)
                move = r < p / 2
                ys = ys + move * rng.normal(0, MOVE_PX, ys.shape)
                xs = xs + move * rng.normal(0, MOVE_PX, xs.shape)
                atoms = np.where((r >= p / 2) & (r < 3 * p / 4), 0, atoms)  # landed after this frame
                atoms = np.where((r >= 3 * p / 4) & (r < p) & candidate, 1, atoms)  # left after it
            frames.append((ys + shift[:, :1], xs + shift[:, 1:], atoms, shift.copy()))
        imgs = [render_clean({**params, "y": y, "x": x, "atoms": a}, size=c, config=self.simulation, normalize=False)
                for y, x, a, _ in frames]
        peak = movie_peak(imgs)
        t, h, w = self.backgrounds.shape
        ti = rng.integers(0, t, size=b)
        y0 = rng.integers(0, h - c + 1, size=b)
        x0 = rng.integers(0, w - c + 1, size=b)
        heights = rng.uniform(*HEIGHT_RANGE, size=(b, 1, 1)) * self.fit.atom_height
        noisy = np.empty((b, k + 1, c, c), dtype=np.float32)
        for j, (img, (_, _, _, sh)) in enumerate(zip(imgs, frames)):
            oy = np.clip(y0 - np.round(sh[:, 0]).astype(int), 0, h - c)  # the background drifts along
            ox = np.clip(x0 - np.round(sh[:, 1]).astype(int), 0, w - c)
            bg = np.stack([self.backgrounds[i, y:y + c, x:x + c] for i, y, x in zip(ti, oy, ox)])
            noisy[:, k - j] = self.normalization.forward(add_noise(bg + heights * img / peak, self.fit, rng))
        for i in np.where(rng.random(b) < MISSING_PAST)[0]:  # series start: the oldest frames are copies
            first = rng.integers(1, k + 1)  # channel of the oldest frame present
            noisy[i, :first] = noisy[i, first]
        clean = (2.0 * np.clip(imgs[0] / peak, 0.0, 1.0) - 1.0).astype(np.float32)
        return noisy, clean[:, None]


def sampler_for_series(raw: np.ndarray, train_frames: np.ndarray, normalization: Normalization, config,
                       rng: np.random.Generator, *, name: str = "array") -> PairSampler:
    """The :class:`PairSampler` of one raw series under a :class:`~noise2atom.config.RunConfig`:
    noise, atoms and drift measured on the 16 consecutive frames in its middle, backgrounds from
    ``train_frames`` (raw, the frames sampled for training)."""
    start = max(0, len(raw) // 2 - 4)
    block = np.asarray(raw[start:start + 16])  # consecutive frames: their differences are noise
    bpx = config.train.pair_background_px
    fit, _ = fit_pair_model(block, name=name, background_px=bpx)
    bg = background_maps(np.asarray(train_frames, dtype=np.float64), fit.atom_variance_px2, bpx)
    k = config.model.context_frames
    shifts = measure_drift(block) if k > 0 else None
    return PairSampler(fit, bg, normalization, config.simulation, config.data.crop_px, rng, context=k,
                       shifts=shifts, change_prob=config.train.pair_change_prob)


class MixedPairSampler:
    """Pairs drawn from several :class:`PairSampler` at once: each sample of a batch comes from one of
    them, chosen at random with the given weights (a model for many series: the pretrained default).

    Each sampler keeps the normalisation of its own series, so the network learns what it will see at
    inference, where every input is normalised on its own (``Noise2Atom.generic``).
    """

    def __init__(self, samplers: list[PairSampler], rng: np.random.Generator, weights=None):
        if not samplers:
            raise ValueError("MixedPairSampler needs at least one sampler")
        contexts = {s.context for s in samplers}
        sizes = {s.size for s in samplers}
        if len(contexts) != 1 or len(sizes) != 1:
            raise ValueError(f"samplers differ in context {sorted(contexts)} or crop size {sorted(sizes)}")
        self.samplers = list(samplers)
        w = np.ones(len(samplers)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()
        self.context, self.size = contexts.pop(), sizes.pop()
        self.rng = rng

    def batch(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        counts = self.rng.multinomial(b, self.weights)
        noisy, clean = [], []
        for s, n in zip(self.samplers, counts):
            if n:
                s.rng = self.rng  # one stream for all: resuming restores it
                x, y = s.batch(int(n))
                noisy.append(x)
                clean.append(y)
        order = self.rng.permutation(b)
        return np.concatenate(noisy)[order], np.concatenate(clean)[order]
