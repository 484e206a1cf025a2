"""Every method of the arena behind one interface: ``method(noisy, *, seed, minutes, causal) -> Output``.

Fair tuning. The Gaussian, the median and temporal averaging take their one parameter (``param``)
from the benchmark, which tunes it with the truth on a separate calibration movie (so they are the
best these filters can do); called without it, as on real data, they choose it by the predictive
score (frame n predicts raw frame n + 1; ``metrics.predictive_r2``). The others choose from the data
alone: by J-invariant self-supervised calibration
(Noise2Self, ``skimage.restoration.calibrate_denoiser``) for non-local means, TV and wavelets; by the
noise level measured after the variance-stabilising transform for BM3D; by Stein's unbiased risk
estimate for the low-rank SVT threshold. Learned methods train on the noisy series itself.

Methods that look at neighbouring frames (temporal averaging, SVT) would leak frame n + 1's own noise
into the predictive score, so with ``causal=True`` they only use frames up to n; the benchmark scores
their prediction with that run and everything else with the usual centred window.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.ndimage import gaussian_filter, median_filter, uniform_filter1d

from ..data.arena import scan_filter_weight
from ..metrics.predictive import predictive_r2
from ..metrics.noise import scan_correlation


@dataclass
class Output:
    denoised: np.ndarray              # (T, Y, X) float32
    params: dict = field(default_factory=dict)
    fit_seconds: float = 0.0          # calibration / training, not per frame


# ---------------------------------------------------------------------------------------------- helpers

def anscombe(x: np.ndarray) -> np.ndarray:
    """Variance-stabilising transform for Poisson counts: 2 sqrt(x + 3/8)."""
    return 2.0 * np.sqrt(np.maximum(x, 0.0) + 0.375)


def inverse_anscombe(y: np.ndarray) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse (Makitalo & Foi 2011)."""
    y = np.maximum(np.asarray(y, dtype=np.float64), 1e-3)
    return np.maximum(0.25 * y**2 + 0.25 * np.sqrt(1.5) / y - 1.375 / y**2 + 0.625 * np.sqrt(1.5) / y**3 - 0.125, 0.0)


def noise_sigma(frames: np.ndarray) -> float:
    """Noise std from differences between rows (the noise is uncorrelated across scan lines), robust (MAD)."""
    d = np.diff(np.asarray(frames, dtype=np.float64), axis=-2).ravel()
    return float(np.median(np.abs(d - np.median(d))) / 0.6745 / np.sqrt(2))


def _choose_by_prediction(noisy: np.ndarray, candidates, make: Callable):
    """Run ``make(value)`` for each candidate value; keep the one whose output best predicts the next raw frame."""
    return max(candidates, key=lambda v: predictive_r2(make(v), noisy))


def _spatial_filter(noisy, param, grid, apply: Callable, name: str) -> Output:
    """A per-frame filter with one parameter: ``param`` as given, or chosen by the predictive score on <= 8 frames."""
    t0 = time.perf_counter()
    if param is None:
        sub = noisy[: min(len(noisy), 8)]
        param = _choose_by_prediction(sub, grid, lambda v: apply(sub, v))
    fit = time.perf_counter() - t0
    return Output(apply(noisy, param).astype(np.float32), {name: param}, fit)


def _per_frame(fn, frames):
    return np.stack([fn(f) for f in frames]).astype(np.float32)


# --------------------------------------------------------------------------------------------- methods

def identity(noisy, **_):
    return Output(np.asarray(noisy, dtype=np.float32), {})


GRIDS = {"gaussian": (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0), "median": (3, 5, 7), "temporal": (1, 2, 3, 5, 8),
         "registered-mean": tuple((k, s) for k in (1, 2, 4, 8) for s in (0.5, 1.0, 1.5, 2.0, 3.0)),
         "tk-r-em": ("sfr_hrstem", "sfr_lrstem")}


def gaussian(noisy, *, param=None, **_):
    """Gaussian filter; sigma given, or chosen by the predictive score among 0.5-3 px."""
    return _spatial_filter(noisy, param, GRIDS["gaussian"], lambda x, s: gaussian_filter(x, (0, s, s)), "sigma_px")


def median(noisy, *, param=None, **_):
    """Median filter; window given, or chosen by the predictive score among 3, 5, 7 px."""
    return _spatial_filter(noisy, param, GRIDS["median"], lambda x, k: median_filter(x, size=(1, k, k)), "size_px")


def temporal(noisy, *, causal: bool = False, param=None, **_):
    """Mean over a sliding window of frames (centred, or past-only when ``causal``); length by prediction."""
    t0 = time.perf_counter()
    x = np.asarray(noisy, dtype=np.float32)

    def window(k, causal_):
        if k <= 1:
            return x.copy()
        if causal_:
            c = np.cumsum(np.concatenate([np.zeros_like(x[:1]), x]), axis=0)
            idx = np.arange(len(x))
            lo = np.maximum(idx + 1 - k, 0)
            return ((c[idx + 1] - c[lo]) / (idx + 1 - lo)[:, None, None]).astype(np.float32)
        return uniform_filter1d(x, size=k, axis=0, mode="nearest")

    k = param
    if k is None:
        k = _choose_by_prediction(x, [k for k in GRIDS["temporal"] if k <= len(x)], lambda k: window(k, True))
    fit = time.perf_counter() - t0
    centred = k + 1 - k % 2  # the centred window is the odd length >= k
    out = window(k, True) if causal else window(centred, False)
    return Output(out, {"frames": k if causal else centred, "causal": causal}, fit)


def registered_mean(noisy, *, causal: bool = False, param=None, **_):
    """Drift-corrected frame averaging, then a Gaussian: what a microscopist does by hand. Each frame is
    the mean of ``frames`` frames (centred, or it and the ones before it when ``causal``) moved onto it by
    the drift measured between the raw frames (:func:`noise2atom.data.pairs.measure_drift`, as
    ``--background keep`` registers its support), blurred by ``sigma_px``; ``param`` = (frames,
    sigma_px), or both chosen by the predictive score with the causal window."""
    from ..data.pairs import measure_drift
    from ..denoise.window import registered_means

    t0 = time.perf_counter()
    x = np.asarray(noisy, dtype=np.float64)
    steps = measure_drift(x)

    def mean(k, causal_):
        lo_off, hi_off = (k - 1, 0) if causal_ else (k // 2, k // 2)
        return registered_means(x, steps, lambda n: range(max(n - lo_off, 0), min(n + hi_off, len(x) - 1) + 1))

    def make(p, causal_):
        k, s = p
        return gaussian_filter(mean(int(k), causal_), (0, s, s)).astype(np.float32)

    if param is None:
        param = _choose_by_prediction(x, [(k, s) for k, s in GRIDS["registered-mean"] if k <= len(x)],
                                      lambda p: make(p, True))
    k, s = int(param[0]), float(param[1])
    fit = time.perf_counter() - t0
    frames = k if causal else k // 2 * 2 + 1  # the centred window is the odd length >= k
    return Output(make((frames, s), causal), {"frames": frames, "sigma_px": s, "causal": causal}, fit)


def _calibrated(denoise_fn, grid, noisy):
    """J-invariant calibration on the first frame (VST-stabilised, scaled to [0, 1]), applied to all frames."""
    from skimage.restoration import calibrate_denoiser

    t0 = time.perf_counter()
    v = anscombe(noisy)
    lo, hi = float(v.min()), float(v.max())
    scaled = (v - lo) / (hi - lo + 1e-12)
    probe = scaled[0][:128, :128]
    best_fn, (params, losses) = calibrate_denoiser(probe, denoise_fn, denoise_parameters=grid,
                                                   extra_output=True)
    best = params[int(np.argmin(losses))]
    fit = time.perf_counter() - t0
    out = _per_frame(lambda f: denoise_fn(f, **best), scaled) * (hi - lo) + lo
    return Output(inverse_anscombe(out).astype(np.float32), {k: float(v) if not isinstance(v, str) else v
                                                              for k, v in best.items()}, fit)


def nl_means(noisy, **_):
    from skimage.restoration import denoise_nl_means, estimate_sigma

    v = anscombe(noisy[0])
    s = float(estimate_sigma(v) / (v.max() - v.min() + 1e-12))
    grid = {"h": [s * f for f in (0.4, 0.6, 0.8, 1.0, 1.3)], "sigma": [s], "patch_size": [5],
            "patch_distance": [6], "fast_mode": [True]}
    return _calibrated(denoise_nl_means, grid, noisy)


def tv(noisy, **_):
    from skimage.restoration import denoise_tv_chambolle

    return _calibrated(denoise_tv_chambolle, {"weight": [0.02, 0.05, 0.1, 0.2, 0.4, 0.8]}, noisy)


def wavelet(noisy, **_):
    from skimage.restoration import denoise_wavelet

    v = anscombe(noisy[0])
    s = noise_sigma(v[None]) / (v.max() - v.min() + 1e-12)
    grid = {"sigma": [s * f for f in (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)], "wavelet": ["db2"], "mode": ["soft"],
            "rescale_sigma": [True]}
    return _calibrated(denoise_wavelet, grid, noisy)


def _scan_psd(shape, sigma: float, rho: float) -> np.ndarray:
    """Noise PSD (bm3d's convention) of white noise passed through a 2-tap filter along x with lag-1 correlation rho."""
    w = scan_filter_weight(rho)
    k = np.zeros((1, 2))
    k[0] = (1 - w, w)
    k /= np.sqrt((k**2).sum())
    return np.abs(np.fft.fft2(k, shape)) ** 2 * shape[0] * shape[1] * sigma**2


def bm3d(noisy, **_):
    """BM3D (``bm3d`` package) on Anscombe-stabilised frames, with the measured noise level and scan correlation."""
    import bm3d as _bm3d

    if not hasattr(np, "trapz"):  # bm3d 4.0.3 / bm4d 4.2.5 still call np.trapz, removed in NumPy 2.4
        np.trapz = np.trapezoid
    t0 = time.perf_counter()
    v = anscombe(noisy)
    sigma = noise_sigma(v)
    rho = float(np.mean([scan_correlation(f, max_lag=1)["x"][0] for f in v[: min(len(v), 4)]]))
    psd = _scan_psd(v.shape[1:], sigma, rho)
    fit = time.perf_counter() - t0
    out = _per_frame(lambda f: _bm3d.bm3d(f, psd), v)
    return Output(inverse_anscombe(out).astype(np.float32), {"sigma_vst": sigma, "scan_rho": rho}, fit)


def _svt_sure(s: np.ndarray, lam: float, m: int, n: int, sigma: float) -> np.ndarray:
    """SURE of singular value soft-thresholding (Candes, Sing-Long & Trzasko 2013) for a batch of spectra s (B, k)."""
    shrunk = np.maximum(s - lam, 0.0)
    div = (s > lam).sum(axis=1) + abs(m - n) * np.where(s > 0, np.maximum(1 - lam / np.maximum(s, 1e-12), 0), 0).sum(1)
    s2 = s**2
    diff = s2[:, :, None] - s2[:, None, :]
    np.einsum("bii->bi", diff)[:] = np.inf
    div = div + 2 * (s[:, :, None] * shrunk[:, :, None] / diff).sum(axis=(1, 2))
    return -m * n * sigma**2 + np.minimum(s2, lam**2).sum(axis=1) + 2 * sigma**2 * div


def svt(noisy, *, causal: bool = False, patch: int = 8, stride: int = 4, window: int = 7, **_):
    """Low-rank series denoiser in the spirit of PGURE-SVT (Furnival et al. 2017).

    On Anscombe-stabilised frames: every ``patch``² patch (step ``stride``) of frame n is stacked with
    the same patch in a window of neighbouring frames into a Casorati matrix (pixels x frames); its
    singular values are soft-thresholded by one global threshold chosen by minimising SURE over a
    sample of patches; overlapping patch estimates are averaged. ``causal`` uses frames n-window+1..n.
    """
    t0 = time.perf_counter()
    v = anscombe(noisy)
    T, H, W = v.shape
    k = min(window, T)
    sigma = noise_sigma(v)
    ys = list(range(0, H - patch + 1, stride))
    xs = list(range(0, W - patch + 1, stride))
    if ys[-1] != H - patch:
        ys.append(H - patch)
    if xs[-1] != W - patch:
        xs.append(W - patch)

    def frames_for(t):
        lo = t - k + 1 if causal else t - k // 2
        lo = int(np.clip(lo, 0, T - k))
        return lo, lo + k

    def casorati(t):
        lo, hi = frames_for(t)
        blk = v[lo:hi]
        mats = np.stack([blk[:, y:y + patch, x:x + patch].reshape(k, -1).T for y in ys for x in xs])
        return mats, t - lo

    # the threshold: SURE summed over patches of a few frames, on a grid
    rng = np.random.default_rng(0)
    sample = np.concatenate([casorati(int(t))[0] for t in rng.choice(T, size=min(T, 3), replace=False)])
    sample = sample[rng.choice(len(sample), size=min(len(sample), 3000), replace=False)]
    sv = np.linalg.svd(sample - sample.mean(axis=1, keepdims=True), compute_uv=False)
    grid = np.linspace(0, float(np.percentile(sv[:, 0], 90)), 40)
    risks = [float(_svt_sure(sv, lam, patch * patch, k, sigma).sum()) for lam in grid]
    lam = float(grid[int(np.argmin(risks))])
    fit = time.perf_counter() - t0

    out = np.zeros_like(v)
    for t in range(T):
        mats, col = casorati(t)
        mean = mats.mean(axis=1, keepdims=True)
        u, s, vt = np.linalg.svd(mats - mean, full_matrices=False)
        s = np.maximum(s - lam, 0)
        est = np.einsum("bik,bk,bk->bi", u, s, vt[:, :, col]) + mean[:, :, 0]
        acc = np.zeros((H, W))
        cnt = np.zeros((H, W))
        i = 0
        for y in ys:
            for x in xs:
                acc[y:y + patch, x:x + patch] += est[i].reshape(patch, patch)
                cnt[y:y + patch, x:x + patch] += 1
                i += 1
        out[t] = acc / cnt
    return Output(inverse_anscombe(out).astype(np.float32),
                  {"threshold": lam, "sigma_vst": sigma, "window": k, "causal": causal}, fit)


def noise2void(noisy, *, seed: int = 0, minutes: float = 1.0, **_):
    """Noise2Void (Krull et al. 2019) trained on the series, with the structured blind spot of StructN2V
    along the fast scan (the scan noise is correlated with the next pixel in x); see ``n2v.py``."""
    from .n2v import train_n2v

    return train_n2v(noisy, seed=seed, minutes=minutes)


_N2A_LAST: dict = {}  # the last trained model, so both noise2atom outputs come from one training


def _noise2atom_model(noisy, seed: int, minutes: float, preset: str, start: str = "fresh", train: dict | None = None):
    """(model, params, fit seconds) for this series and budget; trained once, reused by the second output.

    ``start``: ``"fresh"`` trains the preset from scratch (the paper's way, one model per series);
    ``"default"`` uses the pretrained default as it is; ``"fast"`` its fast student
    (``noise2atom denoise --fast``); ``"tuned"`` fine-tunes the default on the series
    (``noise2atom train``, its default start). ``train``: fields of the training configuration
    changed from those (e.g. ``{"pair_lr_schedule": "cosine"}``), for the trained starts.
    """
    import hashlib

    from ..config import preset_config
    from ..model import Noise2Atom
    from ..pretrained import (DEFAULT_FILE, FAST_FILE, FINETUNE_MERGE_STEPS, FINETUNE_STEPS, finetune_config,
                              load_default, load_fast)

    if start != "fresh" and not DEFAULT_FILE.exists():
        raise MethodUnavailable(f"the pretrained default model is not installed ({DEFAULT_FILE})")
    if start == "fast" and not FAST_FILE.exists():
        raise MethodUnavailable(f"the fast default model is not installed ({FAST_FILE})")
    key = (hashlib.sha1(np.ascontiguousarray(noisy).tobytes()).hexdigest(), noisy.shape, seed, minutes, preset, start,
           tuple(sorted((train or {}).items())))
    if _N2A_LAST.get("key") != key:
        t0 = time.perf_counter()
        if start in ("default", "fast"):
            model = load_default() if start == "default" else load_fast()
            params = {"start": start, "steps": 0}
        else:
            init = load_default() if start == "tuned" else None
            config = (finetune_config(init, seed=seed, pair_steps=FINETUNE_STEPS,
                                      merge_steps=FINETUNE_MERGE_STEPS) if init is not None
                      else preset_config(preset, seed=seed))
            model = Noise2Atom(config.with_updates(train=train) if train else config)
            with tempfile.TemporaryDirectory() as tmp:
                result = model.fit(noisy, minutes=minutes, workdir=tmp, init=init)
            params = {"start": start, "steps": result.steps, "kept_step": result.kept_step,
                      "restarts": result.restarts, "preset": config.preset,
                      **({"start_check": result.start_check, "keep_start": result.keep_start}
                         if result.start_check else {})}
        _N2A_LAST.clear()
        _N2A_LAST.update(key=key, model=model, params=params, fit=time.perf_counter() - t0)
        return model, params, _N2A_LAST["fit"]
    return _N2A_LAST["model"], {**_N2A_LAST["params"], "reused_training": True}, 0.0


def _noise2atom_method(noisy, *, start: str, background: str, seed: int = 0, minutes: float = 1.0,
                       preset: str = "small", causal: bool = False, train: dict | None = None, **_) -> Output:
    """This package as an arena method: the model of ``start`` (:func:`_noise2atom_model`; trained once
    per series and budget, shared by the outputs; ``train``: its training configuration's changes),
    denoised with ``background`` ``"remove"`` (atoms alone, averaged over the model's window of frames
    centred on each: with ``causal``, each frame's own atoms, which see no later frame) or ``"keep"``
    (atoms on the input's smooth support)."""
    model, params, fit = _noise2atom_model(noisy, seed, minutes, preset, start, train)
    if background == "remove":
        window = 1 if causal else model.choose_atom_window(noisy, atom_window=None)
        return Output(model.denoise(noisy, background="remove", atom_window=window),
                      {**params, "atom_window": window}, fit)
    # the support's settings, chosen on the series as denoise does, and then given to it: the row
    # records the settings its output used
    settings = model.choose_support(noisy).to_options()
    return Output(model.denoise(noisy, background="keep", **settings), {**params, "background": "keep", **settings},
                  fit)


#: noise2atom's arena methods: trained on the series (``noise2atom``, the small preset on CPU), the
#: pretrained default as it is (``-default``), its fast student (``-fast``), the default fine-tuned on
#: the series as ``noise2atom train`` does (``-tuned``: since 2026-12-07 with its start kept where it holds
#: up on the series (``train.keep_start_margin``) and the two networks then taught back to one in 100
#: steps; rows of ``-tuned`` before that day are ``-tuned-plain``'s), the plain fine-tune
#: (``-tuned-plain``, ``--no-keep-start``), the fine-tune with its start kept beside it, the two
#: networks' outputs averaged (``-tuned-withstart``, ``--merge-steps 0 --keep-start-margin 1``: always,
#: unchecked), or that mean taught back to one network in 100 steps (``-tuned-merged``, always, unchecked);
#: ``-tuned-bf16``: ``-tuned`` with its training passes in bfloat16 (``--precision bf16``); ``-tuned-torchpairs``:
#: ``-tuned`` with its pairs drawn by torch on the training device (``--pair-sampler torch``);
#: ``-tuned-pairworkers``: ``-tuned`` with its pairs drawn by a worker process (``--pair-workers 1``: the numpy
#: sampler's draws from other random streams, a control for ``-torchpairs``); ``-support``: the same model with ``--background keep``
_STARTS = {"fresh": ("fresh", None), "default": ("default", None), "fast": ("fast", None),
           "tuned": ("tuned", None), "tuned-plain": ("tuned", {"keep_start": False, "merge_steps": 0}),
           "tuned-withstart": ("tuned", {"keep_start": True, "keep_start_margin": 1.0, "merge_steps": 0}),
           "tuned-merged": ("tuned", {"keep_start": True, "keep_start_margin": 1.0, "merge_steps": 100}),
           "tuned-bf16": ("tuned", {"precision": "bf16"}),
           "tuned-torchpairs": ("tuned", {"pair_sampler": "torch"}),
           "tuned-pairworkers": ("tuned", {"pair_workers": 1})}
NOISE2ATOM_METHODS = {f"noise2atom{'' if name == 'fresh' else '-' + name}{'-support' if bg == 'keep' else ''}":
                      partial(_noise2atom_method, start=start, train=train, background=bg)
                      for name, (start, train) in _STARTS.items() for bg in ("remove", "keep")}


TKREM_ENV = "NOISE2ATOM_TKREM_PYTHON"
TKREM_MODELS = ("sfr_hrstem", "sfr_lrstem")
_TKREM_SCRIPT = """
import os, sys
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, tk_r_em
x = np.load(sys.argv[1])
net = tk_r_em.load_network(sys.argv[3])
np.save(sys.argv[2], np.asarray(net.predict(x, batch_size=8), dtype=np.float32).reshape(x.shape))
"""


class MethodUnavailable(RuntimeError):
    """A method whose software is not installed here (the benchmark skips it and says why)."""


def tkrem_python() -> str | None:
    """The Python of the isolated TensorFlow environment that runs tk-r-em, if one is configured."""
    import os
    from pathlib import Path

    exe = os.environ.get(TKREM_ENV)
    return exe if exe and Path(exe).exists() else None


def tk_r_em(noisy, *, param=None, **_):
    """tk-r-em (Lobato et al.), a pretrained GAN restorer for electron micrographs, single frames, no training.

    It needs TensorFlow, which must not enter this environment: it runs in a separate interpreter
    named by the environment variable ``NOISE2ATOM_TKREM_PYTHON`` (see ``bench/setup_tkrem.sh``).
    ``param`` picks the network: ``sfr_hrstem`` (high-resolution STEM) or ``sfr_lrstem``; the
    benchmark tunes that choice on its calibration movie like a filter's parameter.
    """
    import subprocess
    from pathlib import Path

    exe = tkrem_python()
    if exe is None:
        raise MethodUnavailable(f"tk-r-em needs an isolated TensorFlow environment: set {TKREM_ENV} to its python "
                                "(bench/setup_tkrem.sh creates one)")
    model = param or TKREM_MODELS[0]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npy", Path(tmp) / "out.npy"
        np.save(src, np.asarray(noisy, dtype=np.float32))
        t0 = time.perf_counter()
        r = subprocess.run([exe, "-c", _TKREM_SCRIPT, str(src), str(dst), model], capture_output=True, text=True)
        if r.returncode != 0:
            raise MethodUnavailable(f"tk-r-em failed in {exe}: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}")
        out = np.load(dst)
    return Output(out.astype(np.float32), {"model": model, "subprocess_seconds": round(time.perf_counter() - t0, 2)})


METHODS: dict[str, Callable[..., Output]] = {
    "noisy": identity,
    "gaussian": gaussian,
    "median": median,
    "nl-means": nl_means,
    "tv": tv,
    "wavelet": wavelet,
    "bm3d": bm3d,
    "temporal": temporal,
    "registered-mean": registered_mean,
    "svt": svt,
    "noise2void": noise2void,
    "tk-r-em": tk_r_em,
    **NOISE2ATOM_METHODS,
}
#: use neighbouring frames: scored for prediction by a causal run (noise2atom's atoms alone: averaged
#: over frames after each one, denoise's atom_window)
TEMPORAL = {"temporal", "registered-mean", "svt", *(m for m in NOISE2ATOM_METHODS if not m.endswith("-support"))}
LEARNED = {"noise2void", *NOISE2ATOM_METHODS}  # take a training budget in minutes
