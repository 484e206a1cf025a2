"""The Python API: :class:`Noise2Atom` with ``fit`` / ``denoise`` / ``save`` / ``load``.

A saved model is one ``safetensors`` file: the weights of Ms2c, Mc2s and D as tensors, and in the
header (JSON text, never pickle) the whole :class:`~noise2atom.config.RunConfig`, the intensity
normalisation, the training record, the package and torch versions, and a small example input with
its expected output, which :meth:`Noise2Atom.load` re-runs to prove the file rebuilds the same model.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ._version import __version__
from .config import ATOM_BRIGHTNESS_MODES, BACKGROUND_MODES, ConfigError, RunConfig, preset_config
from .data.normalize import Normalization
from .data.pairs import measure_drift
from .data.patches import CausalCrops, causal_stacks, central_crop, sample_frame_indices
from .denoise.window import AtomWindow, best_atom_window
from .denoise.background import (ATOM_BRIGHTNESS_CHOICES, ATOM_FRAME_CHOICES, ATOM_POWER_CHOICES, CHOOSE_FRAMES,
                                 CHOOSE_PX, DEFAULT_SIGMA_PX, SUPPORT_FRAME_CHOICES, SUPPORT_SIGMA_CHOICES,
                                 SupportSettings)
from .denoise.inference import denoise_frames
from .errors import InputError
from .io import LazyFrames, Stack, check_frames, pixel_size_nm, read_stack, stack_from_array
from .metrics import predictive_r2
from .models import build_critic, build_generator, ensemble_size, first_member
from .train.match import match_teacher
from .train.trainer import Trainer, TrainResult, default_device

log = logging.getLogger("noise2atom")

#: the most memory the merge's frames take (``train.merge_steps``): 120 windows of 5 frames of 128²,
#: 51 of 512², 12 of 1024²; at least 4 windows whatever their size
MERGE_WINDOW_BYTES = 256 * 2**20

MODEL_FORMAT = "noise2atom-model"
MODEL_FORMAT_VERSION = 1
#: tiles per forward pass at least, on a GPU (:meth:`Noise2Atom.default_batch`)
GPU_MIN_BATCH = 32


def as_stack(data) -> Stack:
    """A path, an array (2-D or 3-D) or a :class:`Stack` -> a checked :class:`Stack`."""
    if isinstance(data, Stack):
        stack = data
    elif isinstance(data, (str, os.PathLike)):
        stack = read_stack(data)
    else:
        stack = stack_from_array(np.asarray(data))
    check_frames(stack)
    return stack


def best_support(raw, atoms01, *, frames: int = 0, sigma_px: float = 0.0,
                 atom_frames: int = 0, atom_power: float = 0.0, brightness: str = "auto") -> SupportSettings:
    """The :class:`~noise2atom.denoise.background.SupportSettings` whose
    :class:`~noise2atom.denoise.background.SupportTracker` output best predicts the next raw frame
    (:func:`~noise2atom.metrics.predictive_r2`) over the given frames. Each setting given as 0 is
    chosen from its choices (``SUPPORT_FRAME_CHOICES``, ``SUPPORT_SIGMA_CHOICES``,
    ``ATOM_FRAME_CHOICES``, ``ATOM_POWER_CHOICES``), and so is ``brightness`` given as ``"auto"``
    (``ATOM_BRIGHTNESS_CHOICES``); the others stay as given. Frames larger than ``CHOOSE_PX`` are
    scored on their centre; the drift between the frames is measured once for all settings, and one
    tracker pass gives every support length of a setting
    (:meth:`~noise2atom.denoise.background.SupportTracker.restore_each`). Ties go
    to one brightness per frame, the atoms as they are (power 1), fewer frames, a wider blur, fewer
    atom frames; with fewer than 3 frames nothing is chosen (4 frames, σ 4 px, 1 atom frame, power 1,
    one brightness per frame).

    raw : sequence of (Y, X) arrays, input units; atoms01 : the network's atoms for them, in [0, 1].
    """
    raw = np.asarray(raw, dtype=np.float64)
    atoms01 = np.asarray(atoms01, dtype=np.float64)
    if raw.shape != atoms01.shape or raw.ndim != 3:
        raise ValueError(f"need two (T, Y, X) series of one shape, got {raw.shape} and {atoms01.shape}")
    if len(raw) < 3:
        return SupportSettings(frames or SUPPORT_FRAME_CHOICES[0], sigma_px or DEFAULT_SIGMA_PX, atom_frames or 1,
                               atom_power or 1.0, ATOM_BRIGHTNESS_CHOICES[0] if brightness == "auto" else brightness)
    raw, atoms01 = (central_crop(x, CHOOSE_PX, 1) for x in (raw, atoms01))
    steps = measure_drift(raw)  # the same for every setting: registered once, as each tracker would
    brightnesses = ATOM_BRIGHTNESS_CHOICES if brightness == "auto" else (brightness,)
    powers = (atom_power,) if atom_power else ATOM_POWER_CHOICES
    lengths = (frames,) if frames else SUPPORT_FRAME_CHOICES
    sigmas = (sigma_px,) if sigma_px else SUPPORT_SIGMA_CHOICES
    windows = (atom_frames,) if atom_frames else [c for c in ATOM_FRAME_CHOICES if c <= len(raw)]
    scores = {}
    for b, p, s, k in itertools.product(brightnesses, powers, sigmas, windows):
        # one tracker pass gives every support length (the same outputs as one tracker per length)
        tracker = SupportSettings(int(max(lengths)), float(s), int(k), float(p), b).tracker()
        for f, out in zip(lengths, tracker.restore_each(raw, atoms01, steps, tuple(int(f) for f in lengths))):
            scores[SupportSettings(int(f), float(s), int(k), float(p), b)] = predictive_r2(out, raw)
    best, best_score = None, -np.inf
    for b, p, f, s, k in itertools.product(brightnesses, powers, lengths, sigmas, windows):
        settings = SupportSettings(int(f), float(s), int(k), float(p), b)  # in this order, so the first
        if best is None or scores[settings] > best_score + 1e-9:         # of equal scores is the one ties go to
            best, best_score = settings, scores[settings]
    return best


class Noise2Atom:
    """A Noise2Atom denoiser: train on one noisy series, then denoise it (or similar series).

    Parameters
    ----------
    config : RunConfig, optional
        Defaults to the ``preset`` configuration.
    preset : {"small", "paper"}
    seed : int, optional
        Overrides the configuration's seed.
    device : str or torch.device, optional
        CUDA when available, else CPU.

    Examples
    --------
    >>> model = Noise2Atom(preset="small", seed=0)              # doctest: +SKIP
    >>> model.fit("movie.tif", minutes=5)                        # doctest: +SKIP
    >>> clean = model.denoise("movie.tif")   # (T, Y, X) float32 in [0, 1]   # doctest: +SKIP
    >>> model.save("movie.n2a")                                  # doctest: +SKIP
    """

    def __init__(self, config: RunConfig | None = None, *, preset: str = "small", seed: int | None = None,
                 device=None):
        if config is None:
            config = preset_config(preset, seed=seed)
        elif seed is not None:
            config = config.with_updates(seed=seed)
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.normalization: Normalization | None = None
        self.record: dict = {}
        torch.manual_seed(config.seed)
        self.s2c = build_generator(config, noisy_side=True).to(self.device)
        self.c2s = build_generator(config).to(self.device)
        self.critic = build_critic(config).to(self.device)

    # -- training ------------------------------------------------------------------------------
    def prepare(self, data) -> tuple[Stack, np.ndarray, np.ndarray, np.ndarray | None, "PairSampler | None"]:
        """Sample the training frames and fit the normalisation.

        Returns the stack, the normalised training frames (N, Y, X), and up to 8 consecutive
        normalised frames from the middle of the series, centre-cropped to at most twice the training
        crop, on which the weights to keep are chosen, and (when ``train.predict_weight`` > 0 and the
        series has >= 2 frames) the normalised raw neighbour of each training frame, and (when
        ``train.pair_steps`` > 0) the sampler of synthetic pairs matched to the series.
        """
        stack = as_stack(data)
        d = self.config.data
        idx = sample_frame_indices(len(stack), d.n_frames, np.random.default_rng([self.config.seed, 7]))
        frames = stack.data[idx]
        self.normalization = Normalization.fit(frames, low_percentile=d.low_percentile,
                                               high_percentile=d.high_percentile,
                                               saturation=stack.saturation, name=stack.name)
        start = max(0, len(stack) // 2 - 4)
        val = central_crop(stack.data[start:start + 8], 2 * d.crop_px, self.config.model.size_multiple)
        pairs = None  # the raw neighbour of each training frame, for train.predict_weight
        if len(stack) >= 2 and self.config.train.predict_weight > 0:
            pairs = self.normalization.forward(stack.data[np.where(idx + 1 < len(stack), idx + 1, idx - 1)])
        sampler = None
        if self.config.train.pair_steps > 0:
            from .data.pairs import sampler_for_series

            sampler = sampler_for_series(stack.data, frames, self.normalization, self.config,
                                         np.random.default_rng([self.config.seed, 11]), name=stack.name)
            shifts = sampler.shifts if sampler.context > 0 else None
            log.info("%s: pair model %s%s", stack.name, sampler.fit.to_dict(),
                     "" if shifts is None else f", drift std (y, x) {np.round(shifts.std(axis=0), 2).tolist()} px")
        return stack, self.normalization.forward(frames), self.normalization.forward(val), pairs, sampler

    def fit(self, data, *, epochs: int | None = None, minutes: float | None = None, max_steps: int | None = None,
            workdir: str | Path | None = None, resume: bool = False,
            progress: Callable[[int, int, dict], None] | None = None,
            init: "Noise2Atom | None" = None) -> TrainResult:
        """Train on a noisy series (path, array or Stack).

        Parameters
        ----------
        epochs : int, optional
            Overrides ``config.train.epochs`` (one epoch = N sampled frames / batch size steps).
        minutes : float, optional
            Wall-clock budget: training stops cleanly after the step that crosses it.
        workdir : path, optional
            Folder for ``losses.csv`` and checkpoints; needed for ``resume``. Data-parallel (torchrun):
            the same folder in every process (process 0 writes it; every process reads it to resume).
        resume : bool
            Continue from the newest checkpoint in ``workdir`` (same configuration, and the same number
            of data-parallel processes, required).
        init : Noise2Atom, optional
            Start Ms2c from this model's weights (fine-tuning, e.g. :func:`noise2atom.pretrained.load_default`); its network must
            have the same shape (``model`` section) as this one's.
        """
        if epochs is not None:
            self.config = self.config.with_updates(train={"epochs": int(epochs)})
        if resume and workdir is None:
            raise ConfigError("resume=True needs the workdir of the interrupted run")
        stack, frames, val_frames, pairs, sampler = self.prepare(data)
        init_s2c = None
        if init is not None:
            if init.config.model != self.config.model:
                raise ConfigError("the model to start from has another network shape (model section "
                                  f"{init.config.model.__dict__} vs {self.config.model.__dict__}); start "
                                  "from one of the same preset and context frames")
            # a model that is already an ensemble (train.keep_start) starts from its own fine-tuned network
            init_s2c = {k: v.detach().to("cpu") for k, v in first_member(init.s2c).state_dict().items()}
        trainer = Trainer(self.config, frames, device=self.device, workdir=workdir, name=stack.name,
                          val_frames=val_frames, pair_frames=pairs, pair_sampler=sampler, init_s2c=init_s2c)
        if resume and not trainer.resume():
            log.warning("no checkpoint in %s; starting a new run", workdir)
        deadline = time.monotonic() + 60.0 * minutes if minutes is not None else None
        result = trainer.run(max_steps=max_steps, deadline=deadline, progress=progress)
        self.s2c, self.c2s, self.critic = trainer.s2c, trainer.c2s, trainer.critic
        if result.keep_start and self.config.train.merge_steps > 0:
            t0 = time.monotonic()
            result.merged_steps = self._merge(stack, trainer.seed, trainer.total_steps, progress, deadline)
            result.merge_seconds = time.monotonic() - t0
            result.seconds += result.merge_seconds
        elif self.config.train.merge_steps > 0 and not self.config.train.keep_start:
            log.warning("%s: train.merge_steps merges the networks that train.keep_start keeps, and it is off; "
                        "left out", stack.name)
        px_nm = pixel_size_nm(stack.pixel_size, stack.unit)
        self.record = {"result": result.to_dict(), "source": stack.name, "frames_used": len(frames),
                       **({"pixel_size_nm_range": [px_nm, px_nm]} if px_nm else {}),
                       "effective_brightness_weight": trainer.brightness_weight, "seed_used": trainer.seed,
                       **({"pair_model": sampler.fit.to_dict()} if sampler is not None else {}),
                       **({"init": init.record.get("name", "a Noise2Atom model")} if init is not None else {}),
                       **({"drift_std_px": np.round(sampler.shifts.std(axis=0), 3).tolist()}
                          if sampler is not None and sampler.context > 0 else {})}
        return result

    def _merge(self, stack: Stack, seed: int, steps_before: int,
               progress: Callable[[int, int, dict], None] | None = None, deadline: float | None = None) -> int:
        """``train.merge_steps``: teach Ms2c, the mean of the fine-tuned and the starting network
        (``train.keep_start``), back to one network, starting from the fine-tuned one, on crops of
        the series' own frames (each with its earlier frames). Returns the steps taken: 0 when the
        time budget (``deadline``, ``time.monotonic()``) ran out first, and then the two networks stay."""
        t, m = self.config.train, self.config.model.size_multiple
        if deadline is not None and time.monotonic() >= deadline:
            log.warning("%s: the time budget ran out before train.merge_steps; the two networks are kept "
                        "(twice the time per frame)", stack.name)
            return 0
        rng = np.random.default_rng([seed, 13])
        windows = self._merge_windows(stack, rng)
        crop = min(t.merge_crop_px, *stack.data.shape[1:]) // m * m
        crops = CausalCrops(windows, self.config.model.context_frames, crop, rng, last_only=True)
        student = copy.deepcopy(first_member(self.s2c))
        log.info("%s: teaching the mean of the fine-tuned and the starting network to one network "
                 "(train.merge_steps %d, crops of %d px)", stack.name, t.merge_steps, crop)
        total = steps_before + t.merge_steps
        on_step = None if progress is None else (lambda i, n, loss: progress(steps_before + i, total, {"merge": loss}))
        steps, losses = match_teacher(student, self.s2c, crops, steps=t.merge_steps, batch_size=t.merge_batch,
                                      lr=t.merge_lr, cosine=False, device=self.device, deadline=deadline,
                                      progress=on_step, precision=t.precision)
        if steps < t.merge_steps:  # a network taught part of the way was never measured: keep the two
            log.warning("%s: the time budget ran out after %d of %d merge steps (train.merge_steps); the two "
                        "networks are kept (twice the time per frame)", stack.name, steps, t.merge_steps)
            return 0
        log.info("merged in %d steps: mean squared difference to the two networks' mean %.2e (last 10 steps)",
                 steps, float(np.mean(losses[-10:])))
        self.s2c = student
        return steps

    def _merge_windows(self, stack: Stack, rng: np.random.Generator) -> list[np.ndarray]:
        """The frames the merge learns on: up to ``data.n_frames`` sampled frames, each with its
        earlier ones (``(1 + context, Y, X)``, normalised; a series' first frames take copies of frame
        0), at most :data:`MERGE_WINDOW_BYTES` of them in all (but 4 windows at least)."""
        k = self.config.model.context_frames
        per_window = (k + 1) * int(np.prod(stack.data.shape[1:])) * 4
        n = max(4, min(self.config.data.n_frames, MERGE_WINDOW_BYTES // per_window))
        windows = []
        for i in sample_frame_indices(len(stack), n, rng):
            *_, last = causal_stacks(np.asarray(stack.data[max(0, int(i) - k):int(i) + 1], dtype=np.float32), k)
            windows.append(self.normalization.forward(last))
        return windows

    # -- inference -----------------------------------------------------------------------------
    @property
    def generic(self) -> bool:
        """True for a model trained on many series (the pretrained default): it normalises each input
        on its own instead of applying the normalisation of its training data."""
        return self.record.get("normalization") == "per input"

    def normalization_for(self, frames: np.ndarray, *, name: str = "array",
                          saturation: float | None = None) -> Normalization:
        """The intensity normalisation used on ``frames`` (T, Y, X): the training data's, or (for a
        :attr:`generic` model) one fitted on up to ``data.n_frames`` frames of the input itself."""
        if not self.generic:
            if self.normalization is None:
                raise RuntimeError("this model has no normalisation: train it (fit) or load a trained model first")
            return self.normalization
        if not isinstance(frames, LazyFrames):  # a lazy series is sampled frame by frame, never read whole
            frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        d = self.config.data
        idx = sample_frame_indices(len(frames), d.n_frames, np.random.default_rng([self.config.seed, 7]))
        return Normalization.fit(np.asarray(frames[idx], dtype=np.float32), low_percentile=d.low_percentile,
                                 high_percentile=d.high_percentile, saturation=saturation, name=name)

    def pixel_size_warning(self, stack: Stack, *, tolerance: float = 1.5) -> str | None:
        """A one-line warning when ``stack``'s pixel size lies outside the range the model was trained
        at (``record["pixel_size_nm_range"]``) by more than ``tolerance`` times: the atoms then have
        another width in pixels than the network learned. None when either size is unknown."""
        rng = self.record.get("pixel_size_nm_range")
        px = pixel_size_nm(stack.pixel_size, stack.unit)
        if not rng or px is None:
            return None
        lo, hi = float(rng[0]), float(rng[1])
        if lo / tolerance <= px <= hi * tolerance:
            return None
        trained = f"{lo:g} nm/px" if lo == hi else f"{lo:g}-{hi:g} nm/px"
        return (f"{stack.name}: pixel size {px:g} nm, but this model was trained at {trained}: atoms are "
                f"{'wider' if px < lo else 'narrower'} in pixels than it learned; check the result, or fine-tune "
                "on this series (noise2atom train --init) or train on it")

    def input_normalization(self, stack: Stack) -> Normalization:
        """:meth:`normalization_for` a whole series read from a file (its saturation level kept out),
        after logging :meth:`pixel_size_warning` when there is one: what every entry point that has a
        :class:`Stack` does before :meth:`denoise_iter`."""
        if (warning := self.pixel_size_warning(stack)) is not None:
            log.warning(warning)
        return self.normalization_for(stack.data, name=stack.name, saturation=stack.saturation)

    def compile(self) -> "Noise2Atom":
        """Denoise through ``torch.compile(Ms2c)`` from now on (training and saving are unaffected).

        On 2 CPU cores it gave 1.67x the frames/s of the default model at 128² and 1.33x at 512², 1.56x
        for its fast student at 128², the same output to 6e-6 (docs/performance.md, *torch.compile and
        channels-last*), after a one-time compile of 10–40 s: worth it for long series or large frames.
        The network is compiled here, on one batch of tiles, so a machine where it cannot be (no C
        compiler for the CPU backend) fails now, with a RuntimeError, not in the middle of a series.
        """
        dc, m = self.config.denoise, self.config.model
        compiled = torch.compile(self.s2c)
        probe = torch.zeros(self.default_batch(), m.context_frames + 1, dc.tile_px, dc.tile_px, device=self.device)
        try:
            with torch.inference_mode():
                compiled.eval()(probe)
        except Exception as exc:  # the backend's own errors (a missing compiler, an unsupported op) vary
            raise RuntimeError(f"torch.compile cannot compile the network here ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}); run without compiling") from exc
        self._compiled = (self.s2c, compiled)
        return self

    def _denoising_net(self) -> torch.nn.Module:
        """Ms2c, or its compiled form while it is the same network (:meth:`compile`)."""
        pair = getattr(self, "_compiled", None)
        return pair[1] if pair is not None and pair[0] is self.s2c else self.s2c

    def default_batch(self) -> int:
        """Tiles per forward pass when none is given: the configuration's, and at least
        :data:`GPU_MIN_BATCH` on a GPU (the same output, 1.7x the frames/s at 512²-2048² on an H200;
        docs/performance.md)."""
        b = self.config.denoise.batch_size
        return max(b, GPU_MIN_BATCH) if self.device.type == "cuda" else b

    def denoise_iter(self, frames, *, tile_px: int | None = -1, overlap_px: int | None = None,
                     batch_size: int | None = None, rescale: bool = False, name: str = "array",
                     tta: bool | None = None, background: str | None = None,
                     background_frames: int | None = None, atom_frames: int | None = None,
                     background_sigma_px: float | None = None, atom_power: float | None = None,
                     atom_brightness: str | None = None, on_frame: Callable[[int], None] | None = None,
                     normalization: Normalization | None = None, precision: str = "fp32",
                     atom_window: int | None = None):
        """Denoise frames lazily: yields (Y, X) float32 frames in [0, 1] (or input units if ``rescale``).

        ``frames`` is any iterable of (Y, X) arrays in the input's units. ``tile_px=-1`` uses the
        configured tile, ``None`` runs whole frames. ``tta`` and ``background`` (``"remove"``: atoms
        alone; ``"keep"``: atoms on the input's smooth background, averaged over
        ``background_frames`` registered frames and blurred with ``background_sigma_px``, with the
        atoms raised to ``atom_power`` and averaged over ``atom_frames``, their brightness fitted per
        frame or over local windows, ``atom_brightness`` ``"frame"`` or ``"local"``; each 0, and
        ``"auto"``, is chosen on the first 16 frames, :meth:`choose_support`, so the first output
        comes after them) default to the model's ``denoise`` configuration.
        ``normalization`` defaults to :meth:`normalization_for` (a :attr:`generic` model then needs
        ``frames`` as one array). ``precision`` ``"bf16"``/``"fp16"`` runs the network under
        autocast (GPU; :func:`noise2atom.denoise.inference.run_tiles`). ``atom_window``
        (``"remove"`` only): the atoms averaged over that many frames centred on each frame, registered
        for drift (:class:`noise2atom.denoise.window.AtomWindow`; odd; 1: each frame's own), 0: chosen
        on the first 16 frames (:meth:`choose_atom_window`); each frame's output then comes once the
        ``atom_window // 2`` frames after it have been read.
        """
        if normalization is None:
            if self.generic and not (isinstance(frames, (np.ndarray, LazyFrames)) and frames.ndim in (2, 3)):
                raise RuntimeError("a generic model normalises each input on its own: pass the frames as one "
                                   "(T, Y, X) array, or normalization=model.normalization_for(frames)")
            normalization = self.normalization_for(frames, name=name)
        dc = self.config.denoise
        tile = dc.tile_px if tile_px == -1 else tile_px
        overlap = dc.overlap_px if overlap_px is None else overlap_px
        tta = dc.tta if tta is None else bool(tta)
        background = dc.background if background is None else background
        wanted = self.support_options(background_frames, background_sigma_px, atom_frames, atom_power,
                                      atom_brightness)
        if background not in BACKGROUND_MODES:
            raise ConfigError(f"background={background!r} must be one of {', '.join(BACKGROUND_MODES)}")
        window = self.atom_window_option(atom_window, background)
        if tile is not None and (tile % self.config.model.size_multiple or tile < 32):
            raise ConfigError(f"tile_px={tile} must be a multiple of {self.config.model.size_multiple} and >= 32")
        if tile is not None and not 0 <= overlap <= tile // 2:
            raise ConfigError(f"overlap_px={overlap} must be in [0, tile_px/2] (tile_px={tile})")
        nz = normalization
        raw_frames: deque[np.ndarray] = deque()  # the raw frames whose output is still to come
        # checked() holds each raw frame while this is on: for the support, or for choosing the atoms'
        # window (switched off once the window is chosen)
        hold_raw = {"on": background == "keep" or window == 0}

        def checked():
            for i, f in enumerate(frames):
                f = np.asarray(f, dtype=np.float32)
                if f.ndim != 2:
                    raise InputError(f"{name}: frame {i} has shape {f.shape}, expected a 2-D image")
                if not np.isfinite(f).all():
                    raise InputError(f"{name}: frame {i} contains NaN or Inf pixels")
                if hold_raw["on"]:
                    raw_frames.append(f)
                yield nz.forward(f)

        k = self.config.model.context_frames
        inputs = causal_stacks(checked(), k) if k > 0 else checked()
        outputs = denoise_frames(self._denoising_net(), inputs, tile_px=tile, overlap_px=overlap,
                                 batch_size=batch_size or self.default_batch(),
                                 size_multiple=self.config.model.size_multiple, device=self.device,
                                 tta=tta, on_frame=on_frame, precision=precision)
        if background == "remove" and window == 1:
            for out in outputs:
                yield nz.inverse(out) if rescale else out
            return
        if background == "remove":
            if window == 0:  # the first frames' atoms choose, then go out like the rest
                head = list(itertools.islice(outputs, CHOOSE_FRAMES))
                raws = [raw_frames.popleft() for _ in head]
                hold_raw["on"] = False  # the raw frames are not needed after the choice
                raw_frames.clear()
                window = best_atom_window(raws, head)
                log.debug("%s: atoms averaged over %d frame(s)", name, window)
                outputs = itertools.chain(head, outputs)
            for out in AtomWindow(window).run(outputs):
                yield nz.inverse(out) if rescale else out
            return
        pairs = ((raw_frames.popleft(), out) for out in outputs)
        if wanted.unchosen:
            # the first frames' (raw, atoms) choose, then go out like the rest
            head = list(itertools.islice(pairs, CHOOSE_FRAMES))
            wanted = best_support([r for r, _ in head], [a for _, a in head], frames=wanted.frames,
                                  sigma_px=wanted.sigma_px, atom_frames=wanted.atom_frames,
                                  atom_power=wanted.atom_power, brightness=wanted.brightness)
            log.debug("%s: support kept as %s", name, wanted)
            pairs = itertools.chain(head, pairs)
        support = wanted.tracker()
        for raw, out in pairs:
            full = support.add(raw, out)  # input units
            yield full if rescale else (nz.forward(full) + 1.0) * 0.5

    def atom_window_option(self, atom_window: int | None, background: str | None = None) -> int:
        """The atoms' window given, or the model's (``denoise.atom_window``), checked: odd, or 0 (to be
        chosen per series); always 1 with ``background="keep"``, which averages its atoms over past
        frames only (``atom_frames``)."""
        background = self.config.denoise.background if background is None else background
        if background == "keep":
            if atom_window not in (None, 0, 1):
                raise ConfigError(f"atom_window={atom_window} is for background 'remove'; with 'keep' the atoms "
                                  "are averaged over past frames by atom_frames")
            return 1
        window = self.config.denoise.atom_window if atom_window is None else int(atom_window)
        if window != 0 and (window < 1 or window % 2 == 0):
            raise ConfigError(f"atom_window={window} must be odd (centred on each frame) or 0 (chosen per series)")
        return window

    def choose_atom_window(self, frames, *, atom_window: int = 0, normalization: Normalization | None = None,
                           name: str = "array", **options) -> int:
        """The atoms' window (``background="remove"``) for this series: ``atom_window`` 0 (the default
        here) chooses among :data:`~noise2atom.denoise.window.ATOM_WINDOW_CHOICES` by the predictive
        score of windows that leave the next frame out, on the series' first 16 frames
        (:func:`~noise2atom.denoise.window.best_atom_window`); any other value is returned checked;
        ``None``: the model's. ``frames`` and ``options`` as :meth:`choose_support`."""
        window = self.atom_window_option(atom_window, "remove")
        if window != 0:
            return window
        if normalization is None:
            stack = as_stack(frames)
            normalization, frames, name = self.input_normalization(stack), stack.data, stack.name
        head = [np.asarray(f, dtype=np.float32) for f in itertools.islice(iter(frames), CHOOSE_FRAMES)]
        atoms = list(self.denoise_iter(head, background="remove", atom_window=1, normalization=normalization,
                                       name=name, **options))
        return best_atom_window(head, atoms)

    def support_options(self, background_frames=None, background_sigma_px=None,
                         atom_frames=None, atom_power=None, atom_brightness=None) -> SupportSettings:
        """The ``"keep"`` options given, or the model's; checked; 0 (``"auto"``): to be chosen per series."""
        dc = self.config.denoise
        frames = dc.background_frames if background_frames is None else int(background_frames)
        sigma = dc.background_sigma_px if background_sigma_px is None else float(background_sigma_px)
        atoms = dc.atom_frames if atom_frames is None else int(atom_frames)
        power = dc.atom_power if atom_power is None else float(atom_power)
        brightness = dc.atom_brightness if atom_brightness is None else str(atom_brightness)
        if not 0 <= frames <= 32:
            raise ConfigError(f"background_frames={frames} must be in 0..32 (0: chosen per series)")
        if not (sigma == 0 or 0.5 <= sigma <= 64):
            raise ConfigError(f"background_sigma_px={sigma:g} must be 0 (chosen per series) or in [0.5, 64]")
        if not 0 <= atoms <= 32:
            raise ConfigError(f"atom_frames={atoms} must be in 0..32 (0: chosen per series)")
        if not (power == 0 or 0.25 <= power <= 4):
            raise ConfigError(f"atom_power={power:g} must be 0 (chosen per series) or in [0.25, 4]")
        if brightness not in ATOM_BRIGHTNESS_MODES:
            raise ConfigError(f"atom_brightness={brightness!r} must be one of {', '.join(ATOM_BRIGHTNESS_MODES)} "
                              "(auto: chosen per series)")
        return SupportSettings(frames, sigma, atoms, power, brightness)

    def choose_support(self, frames, *, normalization: Normalization | None = None,
                       background_frames: int | None = None, background_sigma_px: float | None = None,
                       atom_frames: int | None = None, atom_power: float | None = None,
                       atom_brightness: str | None = None, name: str = "array", **options) -> SupportSettings:
        """How ``--background keep`` builds this series' output: each of ``background_frames``,
        ``background_sigma_px``, ``atom_frames``, ``atom_power`` (default: the model's) left at 0, and
        ``atom_brightness`` left at ``"auto"``, is chosen as the
        one whose output best predicts the next raw frame (:func:`best_support`) over the series'
        first 16 frames. No truth is needed; :meth:`denoise_iter` does the same.

        ``frames``: the series as :meth:`denoise` takes it (a path, an array (T, Y, X) in input units
        or a Stack; its normalisation is then the one :meth:`denoise` uses), or any iterable of
        frames with ``normalization`` given; ``options``: as :meth:`denoise_iter` (tiles, ``tta``,
        ``precision``).
        """
        wanted = self.support_options(background_frames, background_sigma_px, atom_frames, atom_power,
                                      atom_brightness)
        if not wanted.unchosen:
            return wanted
        if normalization is None:
            stack = as_stack(frames)
            normalization, frames, name = self.input_normalization(stack), stack.data, stack.name
        head = [np.asarray(f, dtype=np.float32) for f in itertools.islice(iter(frames), CHOOSE_FRAMES)]
        atoms = list(self.denoise_iter(head, background="remove", atom_window=1, normalization=normalization, name=name,
                                       **options))
        return best_support(head, atoms, frames=wanted.frames, sigma_px=wanted.sigma_px,
                            atom_frames=wanted.atom_frames, atom_power=wanted.atom_power,
                            brightness=wanted.brightness)

    def denoise(self, data, *, tile_px: int | None = -1, overlap_px: int | None = None,
                batch_size: int | None = None, rescale: bool = False, tta: bool | None = None,
                background: str | None = None, background_frames: int | None = None,
                atom_frames: int | None = None, background_sigma_px: float | None = None,
                atom_power: float | None = None, atom_brightness: str | None = None,
                on_frame: Callable[[int], None] | None = None, atom_window: int | None = None) -> np.ndarray:
        """Denoise a series (path, array (T, Y, X) or (Y, X), or Stack); options as :meth:`denoise_iter`.

        Returns
        -------
        ndarray (T, Y, X) float32, in [0, 1] (``rescale=False``) or in the input's units.
        """
        stack = as_stack(data)
        nz = self.input_normalization(stack)
        out = list(self.denoise_iter(stack.data, tile_px=tile_px, overlap_px=overlap_px, batch_size=batch_size,
                                     rescale=rescale, name=stack.name, tta=tta, background=background,
                                     background_frames=background_frames, atom_frames=atom_frames,
                                     background_sigma_px=background_sigma_px, atom_power=atom_power,
                                     atom_brightness=atom_brightness, on_frame=on_frame,
                                     normalization=nz, atom_window=atom_window))
        return np.stack(out)

    # -- persistence ---------------------------------------------------------------------------
    def _nets(self, parts: str) -> tuple:
        """(prefix, network) pairs a model file holds: ``"all"``, or ``"s2c"`` (Ms2c alone)."""
        ms2c = (("s2c", self.s2c),)
        return ms2c if parts == "s2c" else ms2c + (("c2s", self.c2s), ("critic", self.critic))

    def _example(self) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.data.crop_px
        c = 1 + self.config.model.context_frames
        x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, size=(1, c, size, size)).astype(np.float32))
        s2c = self.s2c.to("cpu").eval()
        with torch.inference_mode():
            y = s2c(x)
        self.s2c.to(self.device)
        return x, y.clone()

    def save(self, path: str | Path, *, overwrite: bool = False, denoiser_only: bool = False,
             half: bool = False) -> Path:
        """Write the model as one safetensors file (weights + JSON header); reloads it to check.

        ``denoiser_only`` keeps Ms2c alone (what denoising and fine-tuning need; Mc2s and the critic
        are rebuilt fresh on load); ``half`` stores the weights as float16 (they are rounded in this
        model too, so the file reproduces it exactly). Both shrink the file: the shipped default.
        """
        from safetensors.torch import save_file

        if self.normalization is None:
            raise RuntimeError("nothing to save: the model is untrained (call fit first)")
        path = Path(path)
        if path.exists() and not overwrite:
            raise InputError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
        nets = self._nets("s2c" if denoiser_only else "all")
        tensors = {}
        for prefix, net in nets:
            if half:
                with torch.no_grad():
                    for v in net.state_dict().values():
                        if v.is_floating_point():
                            v.copy_(v.half().float())
            for k, v in net.state_dict().items():
                v = v.detach().to("cpu")
                tensors[f"{prefix}.{k}"] = (v.half() if half and v.is_floating_point() else v).contiguous()
        ex_in, ex_out = self._example()
        tensors["example.input"], tensors["example.output"] = ex_in, ex_out
        meta = {
            "format": MODEL_FORMAT, "format_version": str(MODEL_FORMAT_VERSION),
            "noise2atom_version": __version__, "torch_version": torch.__version__,
            "config": json.dumps(self.config.to_dict()),
            "normalization": json.dumps(self.normalization.to_dict()),
            "record": json.dumps(self.record, default=str),
            "parts": "s2c" if denoiser_only else "all",
            "s2c_members": str(ensemble_size(self.s2c)),
        }
        tmp = path.with_name(path.name + ".partial")
        save_file(tensors, str(tmp), metadata=meta)
        type(self).load(tmp, device="cpu")  # proves the file rebuilds the model
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path, *, device=None) -> "Noise2Atom":
        """Rebuild a model from its file alone; checks the stored example reproduces."""
        from safetensors import safe_open

        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such model file")
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:
            raise InputError(f"{path}: not a noise2atom model file ({exc})") from exc
        if meta.get("format") != MODEL_FORMAT:
            raise InputError(f"{path}: not a noise2atom model file (format {meta.get('format')!r})")
        if int(meta.get("format_version", "0")) > MODEL_FORMAT_VERSION:
            raise InputError(f"{path}: model format {meta['format_version']} is newer than this noise2atom "
                             f"({__version__}) reads; upgrade noise2atom")
        try:
            config = RunConfig.from_dict(json.loads(meta["config"]))
            normalization = Normalization.from_dict(json.loads(meta["normalization"]))
            record = json.loads(meta.get("record", "{}"))
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: model header is invalid ({exc})") from exc
        model = cls(config, device="cpu")
        parts = meta.get("parts", "all")
        if parts not in ("all", "s2c"):
            raise InputError(f"{path}: model header is invalid (parts {parts!r})")
        n = meta.get("s2c_members", "1")
        if not (n.isdigit() and 1 <= int(n) <= 16):
            raise InputError(f"{path}: model header is invalid (s2c_members {n!r})")
        if int(n) > 1:  # the fine-tuned and the starting network as one (train.keep_start)
            model.s2c = build_generator(config, noisy_side=True, members=int(n))
        nets = model._nets(parts)
        for prefix, net in nets:
            sd = {k[len(prefix) + 1:]: v.float() if v.is_floating_point() else v
                  for k, v in tensors.items() if k.startswith(prefix + ".")}
            try:
                net.load_state_dict(sd, strict=True)
            except RuntimeError as exc:
                raise InputError(f"{path}: weights do not match the stored configuration ({exc})") from exc
        model.normalization, model.record = normalization, record
        if "example.input" in tensors:
            with torch.inference_mode():
                got = model.s2c.eval()(tensors["example.input"])
            if not torch.allclose(got, tensors["example.output"], atol=1e-4):
                raise InputError(f"{path}: the model does not reproduce its stored example output "
                                 "(file damaged or made by an incompatible version)")
        model.device = torch.device(device) if device is not None else default_device()
        for net in (model.s2c, model.c2s, model.critic):
            net.to(model.device)
        return model

    def info(self) -> dict:
        """Configuration, normalisation and training record as plain data."""
        return {"config": self.config.to_dict(),
                "normalization": self.normalization.to_dict() if self.normalization else None,
                "record": self.record}
