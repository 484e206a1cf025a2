"""The pretrained default model: denoise with no training, or fine-tune from it.

``default-small.n2a`` beside this file is a ``small``-preset Ms2c (with 4 context frames) trained by
``python bench/train_default.py`` on synthetic pairs matched to many of the arena's realistic movies
(:mod:`noise2atom.data.arena`: Pt on amorphous carbon) across doses, pixel sizes and background
gradients — never on the movies the arena scores. It is *generic*: each input is normalised on its
own (:attr:`noise2atom.model.Noise2Atom.generic`). The paper trains one model per dataset; the
README says, with the arena's numbers, when that still pays.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import RunConfig, preset_config
from ..data.arena import SynthConfig, synthesize
from ..data.normalize import Normalization
from ..data.pairs import MixedPairSampler, sampler_for_series
from ..data.patches import central_crop, sample_frame_indices
from ..errors import InputError

log = logging.getLogger("noise2atom")

DEFAULT_FILE = Path(__file__).with_name("default-small.n2a")
#: what ``--model default`` / ``--init default`` name
DEFAULT_NAME = "default"
#: the default's fast student (noise2atom.distill; bench/train_default_fast.py): `denoise --fast`
FAST_FILE = Path(__file__).with_name("default-fast.n2a")
FAST_NAME = "default-fast"
#: the arena settings the default is trained on (seeds from TRAIN_SEED: the arena scores seed 0 and
#: calibrates on 1000; the Fig. 4 study uses 500 and 600)
TRAIN_DOSES = (0.5, 1.0, 2.0, 5.0, 10.0)
TRAIN_PIXEL_SIZES_NM = (0.04, 0.05, 0.065)
TRAIN_GRADIENTS = (0.0, 0.5)
TRAIN_SEED = 2000
#: pair steps of ``noise2atom train --init`` unless told otherwise
FINETUNE_STEPS = 300
#: steps in which the default fine-tune teaches the mean of the fine-tuned and the starting network back
#: to one network (``train.keep_start`` + ``train.merge_steps``; docs/benchmarks.md, *The two networks
#: taught back to one*)
FINETUNE_MERGE_STEPS = 100


def default_model_path() -> Path:
    return DEFAULT_FILE


def _with_pixel_range(model):
    """The default's file predates its pixel-size record: add the range it was trained at."""
    if model.record.get("name") == DEFAULT_NAME and "pixel_size_nm_range" not in model.record:
        model.record["pixel_size_nm_range"] = [min(TRAIN_PIXEL_SIZES_NM), max(TRAIN_PIXEL_SIZES_NM)]
    return model


def load_default(device=None):
    """The shipped default model (:class:`~noise2atom.model.Noise2Atom`)."""
    from ..model import Noise2Atom

    if not DEFAULT_FILE.exists():
        raise InputError(f"{DEFAULT_FILE}: the pretrained default model is not installed with this copy of "
                         "noise2atom; make it with `python bench/train_default.py` or pass --model")
    return _with_pixel_range(Noise2Atom.load(DEFAULT_FILE, device=device))


def load_fast(device=None):
    """The default's fast student (:mod:`noise2atom.distill`), shipped beside it."""
    from ..model import Noise2Atom

    if not FAST_FILE.exists():
        raise InputError(f"{FAST_FILE}: the fast default model is not installed with this copy of noise2atom; "
                         "make it with `python bench/train_default_fast.py` or leave out --fast")
    return Noise2Atom.load(FAST_FILE, device=device)


def resolve_model(model, device=None):
    """``"default"`` (or None) -> the shipped model; ``"default-fast"`` -> its fast student; a path ->
    that file; a Noise2Atom -> itself."""
    from ..model import Noise2Atom

    if model is None or (isinstance(model, str) and model == DEFAULT_NAME):
        return load_default(device)
    if isinstance(model, str) and model == FAST_NAME:
        return load_fast(device)
    if isinstance(model, Noise2Atom):
        return model
    return Noise2Atom.load(model, device=device)


def training_movies(*, doses=TRAIN_DOSES, pixel_sizes_nm=TRAIN_PIXEL_SIZES_NM, gradients=TRAIN_GRADIENTS,
                    frames: int = 40, size: int = 128, seed: int = TRAIN_SEED) -> list[tuple[str, np.ndarray]]:
    """(name, noisy movie) for every combination, each from its own seed."""
    out = []
    for i, (dose, px, grad) in enumerate(itertools.product(doses, pixel_sizes_nm, gradients)):
        movie = synthesize(SynthConfig(frames=frames, size=size, dose=dose, pixel_size_nm=px, gradient=grad,
                                       seed=seed + i))
        out.append((f"arena-{dose:g}e-{px:g}nm-grad{grad:g}-seed{seed + i}", movie.noisy))
    return out


def train_generic(series: list[tuple[str, np.ndarray]], *, config: RunConfig | None = None, steps: int = 3000,
                  device=None, minutes: float | None = None, workdir: str | Path | None = None,
                  progress: Callable[[int, int, dict], None] | None = None, pixel_sizes_nm=None):
    """Train one generic Ms2c on pairs matched to each of ``series`` (raw (T, Y, X) movies).

    Each batch mixes samples of all the series, each in its own normalisation; ``pixel_sizes_nm``
    (the series' pixel sizes) are recorded as the range the model knows. Returns the model
    (:attr:`~noise2atom.model.Noise2Atom.generic`) and the :class:`~noise2atom.train.trainer.TrainResult`.
    """
    import time

    from ..model import Noise2Atom
    from ..train.trainer import Trainer

    if not series:
        raise ValueError("train_generic needs at least one series")
    config = (config or preset_config("small", seed=0)).with_updates(train={"pair_steps": int(steps), "epochs": 0})
    d = config.data
    samplers, fits = [], []
    for j, (name, raw) in enumerate(series):
        raw = np.asarray(raw, dtype=np.float32)
        idx = sample_frame_indices(len(raw), d.n_frames, np.random.default_rng([config.seed, 7, j]))
        nz = Normalization.fit(raw[idx], low_percentile=d.low_percentile, high_percentile=d.high_percentile,
                               name=name)
        s = sampler_for_series(raw, raw[idx], nz, config, np.random.default_rng([config.seed, 11, j]), name=name)
        samplers.append(s)
        fits.append({"name": name, **s.fit.to_dict()})
    mixed = MixedPairSampler(samplers, np.random.default_rng([config.seed, 11]))
    # the frames the trainer probes and validates on: the middle series, in its own normalisation
    name, raw = series[len(series) // 2]
    nz = samplers[len(series) // 2].normalization
    frames = nz.forward(np.asarray(raw, dtype=np.float32))
    start = max(0, len(raw) // 2 - 4)
    val = central_crop(frames[start:start + 8], 2 * d.crop_px, config.model.size_multiple)
    model = Noise2Atom(config, device=device)
    trainer = Trainer(config, frames, device=model.device, workdir=workdir, name="generic", val_frames=val,
                      pair_sampler=mixed)
    deadline = time.monotonic() + 60.0 * minutes if minutes is not None else None
    result = trainer.run(deadline=deadline, progress=progress)
    model.s2c, model.c2s, model.critic = trainer.s2c, trainer.c2s, trainer.critic
    model.normalization = nz  # kept for the file format; a generic model fits one on each input
    model.record = {"name": DEFAULT_NAME, "normalization": "per input", "result": result.to_dict(),
                    "training_series": fits}
    if pixel_sizes_nm:
        model.record["pixel_size_nm_range"] = [float(min(pixel_sizes_nm)), float(max(pixel_sizes_nm))]
    return model, result


def finetune_config(init, *, seed: int | None = None, pair_steps: int | None = None,
                    merge_steps: int | None = None) -> RunConfig:
    """The configuration to fine-tune ``init`` on one series: its own, with a new seed and step count.

    ``merge_steps`` > 0 keeps the starting network beside the fine-tuned one where it holds up on the
    series (``train.keep_start``, checked by ``train.keep_start_margin``) and teaches their mean back
    to one network in that many steps (``train.merge_steps``), as ``noise2atom train`` does by default
    (:data:`FINETUNE_MERGE_STEPS`); 0 turns the merge off; None keeps ``init``'s.
    """
    changes = {} if pair_steps is None else {"pair_steps": int(pair_steps)}
    if merge_steps is not None:
        changes["merge_steps"] = int(merge_steps)
        if merge_steps > 0:
            changes["keep_start"] = True
    return replace(init.config.with_updates(train={**changes, "epochs": 0}), seed=seed)  # None: a new seed
