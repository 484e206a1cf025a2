"""One typed, versioned run configuration, saved with every model.

Each stage has its own section (simulation, data, model, training, denoising); :class:`RunConfig`
holds them, validates them against each other when it is built, and round-trips through plain
JSON-compatible dicts (never pickle). A missing seed is drawn and stored, so a saved model always
says how it was trained.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

#: Version of the configuration schema written into every model and checkpoint.
#: Bump it when a field changes meaning; :meth:`RunConfig.from_dict` refuses newer versions.
CONFIG_VERSION = 1
#: denoise.background: the network's atoms alone, or atoms on the input's smooth background
BACKGROUND_MODES = ("remove", "keep")
#: how ``--background keep`` fits the atoms' brightness: chosen per series, once per frame, or over local windows
ATOM_BRIGHTNESS_MODES = ("auto", "frame", "local")

PRESETS = ("small", "paper")
#: train.pair_lr_schedule: the pair stage's learning rate held at ``pair_lr``, or brought to 0 by a half cosine
PAIR_LR_SCHEDULES = ("constant", "cosine")
#: number formats of the supervised training passes (``train.precision``)
TRAIN_PRECISIONS = ("fp32", "bf16")
#: what draws the pair stage's batches (TrainConfig.pair_sampler)
PAIR_SAMPLERS = ("numpy", "torch")


class ConfigError(ValueError):
    """A configuration value breaks a rule (the message names the value, the rule and a fix)."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


@dataclass(frozen=True)
class SimulationConfig:
    """Clean-domain simulator (paper, "Datasets" 1).

    Sites are drawn on a ``lattice_px`` square lattice, each holds ``atoms_per_site`` atoms, the
    lattice is convolved with one normalised ``kernel_px`` Gaussian whose *variance* (px²) is drawn
    from ``variance_px2`` per image, and the centre crop is kept.
    """

    lattice_px: int = 256
    sites: tuple[int, int] = (75, 150)
    atoms_per_site: tuple[int, int] = (1, 4)
    kernel_px: int = 33
    variance_px2: tuple[float, float] = (1.0, 10.0)

    def validate(self) -> None:
        _check(self.lattice_px >= 64, f"simulation.lattice_px={self.lattice_px} must be >= 64")
        lo, hi = self.sites
        _check(1 <= lo <= hi, f"simulation.sites={self.sites} must satisfy 1 <= min <= max")
        lo, hi = self.atoms_per_site
        _check(1 <= lo <= hi, f"simulation.atoms_per_site={self.atoms_per_site} must satisfy 1 <= min <= max")
        _check(self.kernel_px % 2 == 1 and self.kernel_px >= 3,
               f"simulation.kernel_px={self.kernel_px} must be an odd number >= 3")
        lo, hi = self.variance_px2
        _check(0 < lo <= hi, f"simulation.variance_px2={self.variance_px2} must satisfy 0 < min <= max")


@dataclass(frozen=True)
class DataConfig:
    """Noisy-domain sampling and normalisation.

    ``n_frames`` frames are sampled from the series (the paper uses 120); training uses random
    ``crop_px`` squares of them. Intensities map to [-1, 1] by robust percentiles
    (``low_percentile``, ``high_percentile``) computed over the sampled frames with saturated
    pixels excluded; see :mod:`noise2atom.data.normalize`.
    """

    n_frames: int = 120
    crop_px: int = 128
    low_percentile: float = 0.1
    high_percentile: float = 99.9

    def validate(self) -> None:
        _check(self.n_frames >= 1, f"data.n_frames={self.n_frames} must be >= 1")
        _check(self.crop_px >= 32 and self.crop_px % 8 == 0,
               f"data.crop_px={self.crop_px} must be a multiple of 8 and >= 32 (the U-Net halves it 3 times)")
        _check(0 <= self.low_percentile < self.high_percentile <= 100,
               f"data percentiles ({self.low_percentile}, {self.high_percentile}) must satisfy 0 <= low < high <= 100")


@dataclass(frozen=True)
class ModelConfig:
    """Generators (Ms2c, Mc2s), critic D and the fixed low-pass Ms2b.

    ``lowpass_sigma_px`` is the standard deviation of Ms2b's Gaussian; the default sqrt(15) reads the
    paper's "variance σ = 15.0" as a variance of 15 px² (see README, "Choices").

    ``context_frames`` (not in the paper): Ms2c also sees this many frames *before* the one it
    denoises, as extra input channels (oldest first, the current frame last); never a later frame,
    so the predictive score stays blind to the next frame. At the start of a series the missing
    frames are copies of the first one. Only with the pair stage (the game's cycle maps single
    frames), so ``train.epochs`` must then be 0.
    """

    width: int = 16
    res_blocks: int = 4
    depth: int = 3
    kernels: tuple[int, ...] = (1, 3, 5, 7)
    critic_width: int = 16
    critic_dropout: float = 0.25
    lowpass_px: int = 33
    lowpass_sigma_px: float = math.sqrt(15.0)
    lowpass_padding: str = "valid"
    context_frames: int = 0

    def validate(self) -> None:
        _check(self.width >= 4, f"model.width={self.width} must be >= 4")
        _check(0 <= self.context_frames <= 8, f"model.context_frames={self.context_frames} must be in 0..8")
        _check(self.res_blocks >= 0, f"model.res_blocks={self.res_blocks} must be >= 0")
        _check(1 <= self.depth <= 5, f"model.depth={self.depth} must be in 1..5")
        _check(len(self.kernels) >= 1 and all(k % 2 == 1 and k >= 1 for k in self.kernels),
               f"model.kernels={self.kernels} must be odd sizes >= 1")
        _check(self.critic_width >= 4, f"model.critic_width={self.critic_width} must be >= 4")
        _check(0 <= self.critic_dropout < 1, f"model.critic_dropout={self.critic_dropout} must be in [0, 1)")
        _check(self.lowpass_px % 2 == 1, f"model.lowpass_px={self.lowpass_px} must be odd")
        _check(self.lowpass_sigma_px > 0, f"model.lowpass_sigma_px={self.lowpass_sigma_px} must be > 0")
        _check(self.lowpass_padding in ("valid", "reflect"),
               f"model.lowpass_padding={self.lowpass_padding!r} must be 'valid' (paper) or 'reflect'")

    @property
    def size_multiple(self) -> int:
        """Image sides fed to a generator must be multiples of this (2**depth)."""
        return 2 ** self.depth


@dataclass(frozen=True)
class TrainConfig:
    """Loss weights, schedule and optimiser (paper eq. 1-9 and "Training Details").

    ``brightness_weight`` weights a term that is *not* in the paper: 1 minus the correlation between
    the output and the input, both blurred by a Gaussian of ``brightness_sigma_px`` (0: by Ms2b) —
    "bright areas are atoms", which the paper states but leaves unenforced. 0 gives the paper's
    exact objective. ``predict_weight`` weights a second term that is not in the paper: 1 minus the
    correlation between the atom-scale detail (the part above Ms2b's pass band) of the output for
    frame n and of the raw frame n + 1 at the same place. Frame n + 1's noise is independent of frame
    n, so the only way to win is to show frame n's real structure: it is the predictive score made a
    loss, at the atoms' scale only (the smooth background stays free). 0 leaves it out; it needs a
    series of at least 2 frames. ``pair_steps`` supervised steps (Adam, ``pair_lr``, mean squared
    error; ``pair_lr_schedule`` ``"cosine"`` lowers the rate along a half cosine to 0 at the last
    pair step, ``"constant"`` holds it) come first, on synthetic pairs matched to the series
    (:mod:`noise2atom.data.pairs`: the paper's clean images with the measured atom width and height on the measured background, with
    the measured noise; the background is the grey opening of each frame ``pair_background_px``
    wide, 0 = just wider than an atom). With ``model.context_frames`` the pairs are short movies: the
    scene drifts by the frame-to-frame shifts measured on the series, and between two frames each
    site moves (half of ``pair_change_prob``), vanishes or appears (a quarter each), so the network
    learns not to trust the past blindly. The adversarial game (``epochs``, 0 = none) then starts
    from there. 0 leaves the stage out (the paper). Both presets train on pairs alone
    (``pair_steps`` 1000, ``epochs`` 0): on the arena the game after the pairs lost most of what
    they had found (docs/benchmarks.md). ``select_best`` keeps the weights with the best predictive
    score (see :mod:`noise2atom.metrics.predictive`) on held-out consecutive frames, checked every
    ``select_every_steps``; otherwise the last weights are kept. ``init_blend``: when training starts
    from another model's weights (a fine-tune, ``fit(init=...)``), Ms2c's kept weights become
    ``(1 - init_blend) * trained + init_blend * start`` at the end (weight-space ensembling, as WiSE-FT
    does for fine-tuned classifiers): 0 keeps the fine-tuned weights, 0.5 their mean with the start's,
    a hedge where the fine-tune lost what the start knew, at one network's cost. Ignored without a start.
    ``pair_ema``: the decay of an exponential moving average of Ms2c's weights over the pair stage
    (``ema ← pair_ema · ema + (1 − pair_ema) · weights`` after each pair step, starting from the
    stage's first weights); the average replaces the weights when the stage ends, or when a run stops
    inside it (its checkpoint keeps both, so a resumed run goes on averaging). 0 leaves it out.
    ``keep_start``: a fine-tune keeps its starting Ms2c beside the fine-tuned one, and the model
    denoises with the mean of the two networks' outputs (:class:`~noise2atom.models.MeanOf`; twice
    the time per frame): a hedge where the fine-tune lost what the start knew. Ignored without a start.
    ``keep_start_margin``: the check that the start holds up on the series: the mean is kept only if
    its predictive score on the held-out consecutive frames (the score ``select_best`` uses) is at
    most this much below the fine-tuned network's alone; otherwise the fine-tuned network is kept
    alone (and nothing is merged). 1 or more keeps the mean always.
    ``merge_steps``: with ``keep_start``, the two networks' mean is taught back to one network of
    the same shape (starting from the fine-tuned weights) in this many Adam steps (``merge_lr``,
    constant; batches of ``merge_batch`` crops of ``merge_crop_px``) on the series' own frames, each
    with its earlier ones (up to ``data.n_frames`` of them, at most 256 MB;
    :func:`~noise2atom.train.match.match_teacher`): the hedge at one network's cost per frame. 0 keeps
    both networks in the model. Both are off in a fresh configuration (it has no start);
    :func:`noise2atom.pretrained.finetune_config` turns them on for the default fine-tune (100 steps),
    where ``keep_start_margin`` leaves the start out of series it does not hold up on.
    ``precision``: the number format of the pair stage's and the merge's forward and backward passes
    (the networks' weights, the optimisers and the losses stay float32): ``"fp32"``, or ``"bf16"``
    (``torch.autocast`` in bfloat16 on the training device: faster where the hardware computes
    bfloat16, a GPU of the last years or a CPU with AVX-512 BF16 or AMX, and expected to be slower
    where it does not (emulated; not measured here)). The adversarial game always runs in float32 (its gradient penalty differentiates
    twice); the held-out score that chooses the kept weights, and denoising, too.
    ``pair_workers``: worker processes that draw the pair stage's batches ahead of the step that
    trains on them (:class:`~noise2atom.data.prefetch.PrefetchedPairs`; for machines with CPU cores to
    spare beside a GPU). 0 draws them in the training process, from one random stream; with 1 or more,
    batch k has its own stream (the stage's seed and k): the same batches for any number of workers,
    not those of 0. A resumed run may change the number, but not between 0 and more.
    ``pair_sampler``: what draws the pair stage's batches: ``"numpy"`` (:class:`~noise2atom.data.pairs.
    PairSampler` on the CPU) or ``"torch"`` (:class:`~noise2atom.train.device_pairs.DevicePairSampler`:
    the same pairs' distributions drawn with torch on the training device, so on a GPU the batch never
    leaves it; other random draws, so other weights than ``"numpy"``'s). Not with ``pair_workers``.
    """

    batch_size: int = 6
    lr: float = 5e-5
    momentum: float = 0.9
    rms_rho: float = 0.9
    n_critic: int = 5
    gp_lambda: float = 10.0
    alpha: float = 5.0
    beta: float = 1.0
    lfc_weight: float = 1.0
    brightness_weight: float = 1.0
    brightness_sigma_px: float = 1.5
    predict_weight: float = 0.0
    pair_steps: int = 0
    pair_lr: float = 1e-3
    pair_lr_schedule: str = "constant"
    pair_background_px: int = 0
    pair_change_prob: float = 0.1
    epochs: int = 100
    # inversion (paper failure case 1) detection
    inversion_check: bool = True
    inversion_warmup_epochs: int = 5
    inversion_warmup_steps: int = 200
    inversion_threshold: float = 0.0
    inversion_patience: int = 5
    max_restarts: int = 2
    checkpoint_every_steps: int = 50
    select_best: bool = True
    select_every_steps: int = 25
    convergence_cycle: float = 0.05
    convergence_lfc: float = 0.1
    init_blend: float = 0.0
    pair_ema: float = 0.0
    keep_start: bool = False
    keep_start_margin: float = 0.005
    merge_steps: int = 0
    merge_lr: float = 1e-4
    merge_batch: int = 8
    merge_crop_px: int = 96
    precision: str = "fp32"
    pair_workers: int = 0
    pair_sampler: str = "numpy"

    def validate(self) -> None:
        _check(self.batch_size >= 1, f"train.batch_size={self.batch_size} must be >= 1")
        _check(self.lr > 0, f"train.lr={self.lr} must be > 0")
        _check(0 <= self.momentum < 1, f"train.momentum={self.momentum} must be in [0, 1)")
        _check(0 < self.rms_rho < 1, f"train.rms_rho={self.rms_rho} must be in (0, 1)")
        _check(self.n_critic >= 1, f"train.n_critic={self.n_critic} must be >= 1")
        for name in ("gp_lambda", "alpha", "beta", "lfc_weight", "brightness_weight", "predict_weight"):
            _check(getattr(self, name) >= 0, f"train.{name}={getattr(self, name)} must be >= 0")
        _check(self.epochs >= 0, f"train.epochs={self.epochs} must be >= 0")
        _check(self.epochs + self.pair_steps >= 1,
               "train.epochs and train.pair_steps are both 0: nothing to train (set either)")
        _check(self.pair_steps >= 0, f"train.pair_steps={self.pair_steps} must be >= 0")
        _check(self.pair_lr > 0, f"train.pair_lr={self.pair_lr} must be > 0")
        _check(self.pair_lr_schedule in PAIR_LR_SCHEDULES,
               f"train.pair_lr_schedule={self.pair_lr_schedule!r} must be one of {', '.join(PAIR_LR_SCHEDULES)}")
        _check(0 <= self.pair_background_px <= 1024,
               f"train.pair_background_px={self.pair_background_px} must be in [0, 1024] (0: from the atom width)")
        _check(0 <= self.pair_change_prob <= 1, f"train.pair_change_prob={self.pair_change_prob} must be in [0, 1]")
        _check(0 <= self.brightness_sigma_px <= 16,
               f"train.brightness_sigma_px={self.brightness_sigma_px} must be in [0, 16] (0: use Ms2b)")
        _check(0 <= self.init_blend <= 1, f"train.init_blend={self.init_blend} must be in [0, 1]")
        _check(0 <= self.pair_ema < 1, f"train.pair_ema={self.pair_ema} must be in [0, 1) (0: no average)")
        _check(self.keep_start_margin >= 0,
               f"train.keep_start_margin={self.keep_start_margin} must be >= 0 (1 or more: always keep the start)")
        _check(self.merge_steps >= 0, f"train.merge_steps={self.merge_steps} must be >= 0 (0: keep both networks)")
        _check(self.merge_lr > 0, f"train.merge_lr={self.merge_lr} must be > 0")
        _check(self.merge_batch >= 1, f"train.merge_batch={self.merge_batch} must be >= 1")
        _check(16 <= self.merge_crop_px <= 4096, f"train.merge_crop_px={self.merge_crop_px} must be in [16, 4096]")
        _check(self.precision in TRAIN_PRECISIONS,
               f"train.precision={self.precision!r} must be one of {', '.join(TRAIN_PRECISIONS)}")
        _check(0 <= self.pair_workers <= 64, f"train.pair_workers={self.pair_workers} must be in [0, 64] (0: none)")
        _check(self.pair_sampler in PAIR_SAMPLERS,
               f"train.pair_sampler={self.pair_sampler!r} must be one of {', '.join(PAIR_SAMPLERS)}")
        _check(not (self.pair_sampler == "torch" and self.pair_workers > 0),
               f"train.pair_workers={self.pair_workers} draws numpy batches in worker processes; with "
               "train.pair_sampler 'torch' (drawn on the training device) set it to 0")
        _check(self.inversion_warmup_epochs >= 0, "train.inversion_warmup_epochs must be >= 0")
        _check(self.inversion_warmup_steps >= 0, "train.inversion_warmup_steps must be >= 0")
        _check(-1 <= self.inversion_threshold <= 1, "train.inversion_threshold must be in [-1, 1]")
        _check(self.inversion_patience >= 1, "train.inversion_patience must be >= 1")
        _check(self.max_restarts >= 0, "train.max_restarts must be >= 0")
        _check(self.checkpoint_every_steps >= 1, "train.checkpoint_every_steps must be >= 1")
        _check(self.select_every_steps >= 1, "train.select_every_steps must be >= 1")


@dataclass(frozen=True)
class DenoiseConfig:
    """Tiled inference: square tiles of ``tile_px`` overlapping by ``overlap_px``, blended smoothly.

    ``tta`` averages the network over the 4 mirror images of each tile (4× the compute).
    ``background`` ``"remove"`` gives the network's atoms alone (the paper); ``"keep"`` adds back the
    input's smooth background (:func:`noise2atom.denoise.background.restore_background`, blur of
    ``background_sigma_px``), so the output is atoms on their support; ``background_frames`` > 1
    averages that support over the current frame and the ones before it, registered for drift
    (:class:`noise2atom.denoise.background.SupportTracker`; never a later frame). ``atom_frames``
    (``"keep"`` only) averages the atoms the same way over that many frames, after raising them (in
    [0, 1]) to ``atom_power``; ``atom_brightness`` fits the atoms' brightness once per frame
    (``"frame"``) or over Gaussian windows of σ 32 px (``"local"``), so it can follow a brightness
    that changes across the field. Each of the four numbers left at 0 (the default), and
    ``atom_brightness`` left at ``"auto"``, is chosen per series by the predictive score on its first
    16 frames (:meth:`noise2atom.Noise2Atom.choose_support`): the support's frames from 4 or 8, its
    blur from 4, 2.5 or 1.5 px, the atoms' window from 1, 2, 4 or 8, their power from 1, 1.5 or 2,
    their brightness per frame or local. Model files written before these could be chosen hold the
    settings they were saved with (σ 4 px; 4 frames in the presets); those written before
    ``atom_power`` or ``atom_brightness`` existed choose them. ``atom_window`` (``"remove"`` only)
    averages the atoms over that many frames centred on each frame, registered for drift (odd; 1:
    each frame's own atoms; 0: chosen per series, :mod:`noise2atom.denoise.window`).
    """

    tile_px: int = 128
    overlap_px: int = 32
    batch_size: int = 8
    tta: bool = False
    background: str = "remove"
    background_sigma_px: float = 0.0
    background_frames: int = 0
    atom_frames: int = 0
    atom_power: float = 0.0
    atom_brightness: str = "auto"
    atom_window: int = 0

    def validate(self) -> None:
        _check(self.tile_px >= 32, f"denoise.tile_px={self.tile_px} must be >= 32")
        _check(self.atom_window == 0 or (self.atom_window >= 1 and self.atom_window % 2 == 1),
               f"denoise.atom_window={self.atom_window} must be odd (centred on each frame) or 0 (chosen per series)")
        _check(0 <= self.overlap_px < self.tile_px // 2 + 1,
               f"denoise.overlap_px={self.overlap_px} must be in [0, tile_px/2] (tile_px={self.tile_px})")
        _check(self.batch_size >= 1, f"denoise.batch_size={self.batch_size} must be >= 1")
        _check(self.background in BACKGROUND_MODES,
               f"denoise.background={self.background!r} must be one of {', '.join(BACKGROUND_MODES)}")
        _check(self.background_sigma_px == 0 or 0.5 <= self.background_sigma_px <= 64,
               f"denoise.background_sigma_px={self.background_sigma_px} must be 0 (chosen per series) or in "
               "[0.5, 64]")
        _check(0 <= self.background_frames <= 32,
               f"denoise.background_frames={self.background_frames} must be in 0..32 (0: chosen per series)")
        _check(0 <= self.atom_frames <= 32,
               f"denoise.atom_frames={self.atom_frames} must be in 0..32 (0: chosen per series)")
        _check(self.atom_power == 0 or 0.25 <= self.atom_power <= 4,
               f"denoise.atom_power={self.atom_power} must be 0 (chosen per series) or in [0.25, 4]")
        _check(self.atom_brightness in ATOM_BRIGHTNESS_MODES,
               f"denoise.atom_brightness={self.atom_brightness!r} must be one of {', '.join(ATOM_BRIGHTNESS_MODES)} "
               "(auto: chosen per series)")


_SECTIONS = {
    "simulation": SimulationConfig,
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "denoise": DenoiseConfig,
}


@dataclass(frozen=True)
class RunConfig:
    """The whole configuration of one training run (and of the model it produces)."""

    preset: str = "small"
    seed: int | None = None
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        if self.seed is None:
            object.__setattr__(self, "seed", secrets.randbelow(2**31 - 1))
        self.validate()

    def validate(self) -> None:
        _check(self.version == CONFIG_VERSION,
               f"configuration version {self.version} is not supported (this noise2atom reads version "
               f"{CONFIG_VERSION}); upgrade noise2atom to load it")
        _check(isinstance(self.seed, int) and self.seed >= 0, f"seed={self.seed} must be an integer >= 0")
        for name in _SECTIONS:
            getattr(self, name).validate()
        _check(self.model.context_frames == 0 or self.train.epochs == 0,
               f"model.context_frames={self.model.context_frames} needs train.epochs=0: the adversarial game's "
               "cycle maps single frames (set context_frames 0 to play it)")
        m = self.model.size_multiple
        _check(self.data.crop_px % m == 0,
               f"data.crop_px={self.data.crop_px} must be a multiple of 2**model.depth={m}")
        _check(self.denoise.tile_px % m == 0,
               f"denoise.tile_px={self.denoise.tile_px} must be a multiple of 2**model.depth={m}")
        _check(self.data.crop_px % 16 == 0,
               f"data.crop_px={self.data.crop_px} must be a multiple of 16 (the critic halves it 4 times)")
        _check(self.data.crop_px > self.model.lowpass_px,
               f"data.crop_px={self.data.crop_px} must be larger than the low-pass kernel "
               f"(model.lowpass_px={self.model.lowpass_px})")
        _check(self.data.crop_px // m >= 4,
               f"data.crop_px={self.data.crop_px} is too small for model.depth={self.model.depth}: "
               f"the bottom of the U-Net would be smaller than 4 px")
        _check(self.denoise.tile_px // m >= 4,
               f"denoise.tile_px={self.denoise.tile_px} is too small for model.depth={self.model.depth}")

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        """Rebuild from :meth:`to_dict` output, refusing unknown keys and newer versions."""
        if not isinstance(d, dict):
            raise ConfigError(f"configuration must be a mapping, got {type(d).__name__}")
        version = d.get("version")
        if not isinstance(version, int):
            raise ConfigError(f"configuration has no integer 'version' (got {version!r})")
        if version > CONFIG_VERSION:
            raise ConfigError(f"configuration version {version} is newer than this noise2atom supports "
                              f"({CONFIG_VERSION}); upgrade noise2atom")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        _check(not unknown, f"unknown configuration keys: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key in _SECTIONS:
                kwargs[key] = _section_from_dict(_SECTIONS[key], key, value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    def with_updates(self, **sections: dict[str, Any]) -> "RunConfig":
        """Copy with some fields of some sections changed, e.g. ``with_updates(train={"epochs": 5})``."""
        kwargs: dict[str, Any] = {}
        for name, changes in sections.items():
            if name in _SECTIONS:
                current = getattr(self, name)
                bad = set(changes) - {f.name for f in fields(current)}
                _check(not bad, f"unknown {name} fields: {sorted(bad)}")
                kwargs[name] = replace(current, **changes)
            else:
                kwargs[name] = changes
        return replace(self, **kwargs)


def _section_from_dict(section_cls: type, name: str, d: Any) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"configuration section '{name}' must be a mapping")
    types = {f.name: f for f in fields(section_cls)}
    unknown = set(d) - set(types)
    _check(not unknown, f"unknown keys in configuration section '{name}': {sorted(unknown)}")
    clean: dict[str, Any] = {}
    for key, value in d.items():
        default = getattr(section_cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{name}.{key} must be a list, got {value!r}")
            value = tuple(value)
        elif isinstance(default, bool):
            _check(isinstance(value, bool), f"{name}.{key} must be true/false, got {value!r}")
        elif isinstance(default, int):
            _check(isinstance(value, int) and not isinstance(value, bool), f"{name}.{key} must be an integer, got {value!r}")
        elif isinstance(default, float):
            _check(isinstance(value, (int, float)) and not isinstance(value, bool), f"{name}.{key} must be a number, got {value!r}")
            value = float(value)
        clean[key] = value
    return section_cls(**clean)


def preset_config(preset: str = "small", *, seed: int | None = None) -> RunConfig:
    """The named preset.

    Both train Ms2c with 1000 supervised steps on synthetic pairs matched to the series
    (``train.pair_steps``) and no adversarial game (``train.epochs`` 0), with the 4 frames before
    each frame as extra input (``model.context_frames``), and, when asked to keep the support,
    choose how per series (``denoise.background_frames``, ``background_sigma_px``, ``atom_frames``
    0): the arena ablation in docs/benchmarks.md chose them.
    ``with_updates(model={"context_frames": 0}, train={"pair_steps": 0, "epochs": 100})`` is the
    paper's method (``noise2atom train --pair-steps 0 --epochs 100``).

    ``small``: width 16, 4 residual blocks, 64² crops, batch 6 — trains on 2 CPU cores in minutes.
    ``paper``: ≈ 14 M parameters per generator (width 24, 16 residual blocks), 128² crops, batch 6,
    the paper's size; meant for a GPU.
    """
    if preset == "small":
        return RunConfig(
            preset="small", seed=seed,
            data=DataConfig(crop_px=64),
            model=ModelConfig(width=16, res_blocks=4, critic_width=16, context_frames=4),
            train=TrainConfig(epochs=0, pair_steps=1000),
            denoise=DenoiseConfig(tile_px=128, overlap_px=32, batch_size=8),
        )
    if preset == "paper":
        return RunConfig(
            preset="paper", seed=seed,
            data=DataConfig(crop_px=128),
            model=ModelConfig(width=24, res_blocks=16, critic_width=32, context_frames=4),
            train=TrainConfig(epochs=0, pair_steps=1000),
            denoise=DenoiseConfig(tile_px=256, overlap_px=64, batch_size=4),
        )
    raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
