"""The training loop: both optimisers, the paper's schedule, logging, checkpoints, inversion guard.

Per batch (paper, "Training Details"):
0. (``train.pair_steps`` > 0) the first steps are supervised instead: Ms2c maps synthetic noisy
   images matched to the series to their clean images (``data.pairs``), mean squared error;
1. the critic D is trained ``n_critic`` (5) times: clean images -> True, Ms2c(s) -> False, with the
   gradient penalty;
2. Ms2c is trained once through the frozen critic (adversarial loss, weight α);
3. Mc2s∘Ms2c is trained once through the fixed low-pass Ms2b (low-frequency cycle loss; plus the
   optional brightness term);
4. Ms2c∘Mc2s is trained once on clean images (cycle loss, weight β).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..config import RunConfig
from ..data.patches import CleanImages, NoisyCrops, causal_stacks, central_crop
from ..data.prefetch import PrefetchedPairs
from ..models import LowPass, MeanOf, build_critic, build_generator, build_lowpass
from . import losses as L
from .amp import train_autocast
from .checkpoint import load_checkpoint, save_checkpoint
from .device_pairs import DevicePairSampler

log = logging.getLogger("noise2atom")

LOG_FIELDS = ["step", "attempt", "epoch", "time_s", "critic", "w_distance", "gp", "adversarial", "lfc",
              "cycle", "brightness", "corr", "predict", "pair", "val_score"]


@dataclass
class TrainResult:
    """What a training run did: steps, convergence (paper criteria), inversion events."""

    steps: int
    epochs: float
    seconds: float
    stopped_by: str  # "epochs" | "time"
    converged_step: int | None
    final: dict
    restarts: int
    events: list = field(default_factory=list)
    inverted_at_end: bool = False
    kept_step: int | None = None  # the step whose weights were kept (best predictive score)
    kept_score: float | None = None
    init_blend: float | None = None  # the starting model's share of the kept weights (train.init_blend)
    keep_start: bool = False  # Ms2c is the mean of the fine-tuned and the starting network (train.keep_start)
    # train.keep_start's check: the held-out predictive scores of the fine-tuned network and of the mean
    start_check: dict | None = None
    merged_steps: int | None = None  # that mean taught back to one network in this many steps (train.merge_steps)
    merge_seconds: float | None = None  # the merge's time, included in ``seconds``

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def blend_weights(net: torch.nn.Module, start: dict, share: float) -> None:
    """Move ``net``'s floating-point weights in place toward ``start`` (a state dict of the same
    network): ``(1 - share) * net + share * start`` (``train.init_blend``)."""
    with torch.no_grad():
        for name, v in net.state_dict().items():
            if v.is_floating_point():
                v.lerp_(start[name].to(v), share)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Trainer:
    """Trains Ms2c, Mc2s and D on normalised noisy frames.

    Parameters
    ----------
    config : RunConfig
    frames : ndarray (N, Y, X) float32 in [-1, 1]
        The sampled, normalised training frames.
    device : torch.device, optional
    workdir : Path, optional
        Where ``losses.csv`` and the checkpoints ``last.pt`` / ``prev.pt`` go; nothing is written
        when ``None``.
    name : str
        The data's name, for messages.
    val_frames : ndarray (V, Y, X) float32 in [-1, 1], optional
        Consecutive frames (sides multiples of 2**depth) on which the predictive score chooses the
        weights to keep (``train.select_best``); default: the centre of the first 8 of ``frames``.
    pair_sampler : optional
        Anything with ``batch(n) -> (noisy, clean)`` and a settable numpy ``rng``
        (:class:`noise2atom.data.pairs.PairSampler`, :class:`noise2atom.data.pairs.MixedPairSampler`).
    init_s2c : dict, optional
        A state dict Ms2c starts from (and restarts from) instead of fresh weights: fine-tuning.
    """

    def __init__(self, config: RunConfig, frames: np.ndarray, *, device=None, workdir: Path | None = None,
                 name: str = "array", val_frames: np.ndarray | None = None, pair_frames: np.ndarray | None = None,
                 pair_sampler=None, init_s2c: dict | None = None):
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.workdir = Path(workdir) if workdir is not None else None
        self.frames = frames
        self.name = name
        self.init_s2c = init_s2c  # starting weights of Ms2c (fine-tuning), else a fresh network
        # data-parallel over processes (torchrun + torch.distributed): gradients averaged each step
        dist = torch.distributed
        self.world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        self.rank = dist.get_rank() if self.world > 1 else 0
        t = config.train
        self.steps_per_epoch = max(1, math.ceil(len(frames) / t.batch_size))
        self.total_steps = t.epochs * self.steps_per_epoch
        # the adversarial game flips the mapping for a few steps now and then and recovers; only an
        # inversion that persists for `inversion_patience` checks, >= 10 steps apart, counts
        self.check_every = max(self.steps_per_epoch, 10)
        self.lowpass = build_lowpass(config).to(self.device)
        for p in self.lowpass.parameters():
            p.requires_grad_(False)
        self.brightness_weight = t.brightness_weight
        if t.brightness_sigma_px > 0:  # brightness consistency at the scale of an atom
            k = 2 * math.ceil(3 * t.brightness_sigma_px) + 1
            self.bright_blur = LowPass(k, t.brightness_sigma_px, padding="reflect").to(self.device)
        else:
            self.bright_blur = self.lowpass
        # temporal prediction (not in the paper): pair_frames[i] is the raw frame next to frames[i]
        self.pairs = pair_frames if t.predict_weight > 0 else None
        if self.pairs is not None and self.pairs.shape != frames.shape:
            raise ValueError(f"pair_frames has shape {self.pairs.shape}, frames {frames.shape}")
        if t.predict_weight > 0 and self.pairs is None:
            log.warning("%s: train.predict_weight > 0 needs a series of >= 2 frames; the term is left out", name)
        self.detail_lowpass = LowPass(config.model.lowpass_px, config.model.lowpass_sigma_px,
                                      padding="reflect").to(self.device)
        for p in self.detail_lowpass.parameters():
            p.requires_grad_(False)
        # synthetic pairs matched to the series (not in the paper): supervised steps before the game
        self.pair_sampler = pair_sampler if t.pair_steps > 0 else None
        if self.pair_sampler is not None and t.pair_sampler == "torch":  # drawn on the training device
            self.pair_sampler = DevicePairSampler(self.pair_sampler, self.device)
        if t.pair_steps > 0 and pair_sampler is None:
            log.warning("%s: train.pair_steps > 0 but no pair sampler was given; the stage is left out", name)
        hedges = [f for f, on in (("train.keep_start", t.keep_start), ("train.init_blend", t.init_blend > 0)) if on]
        if hedges and init_s2c is None:  # both keep something of a start model, and there is none
            log.warning("%s: %s keep(s) a start model, and there is none (train --init); left out", name,
                        " and ".join(hedges))
        if self.pair_sampler is not None:  # the paper's epochs come after the pair stage
            self.total_steps += t.pair_steps
        if self.total_steps == 0:
            raise ValueError(f"{name}: train.epochs is 0 and there is no pair stage: nothing to train")
        self.restarts = 0
        self.events: list[dict] = []
        self.global_step = 0
        self.attempt_step = 0
        self.converged_step: int | None = None
        self._bad_checks = 0
        self._recent: list[dict] = []
        self.pair_batches: PrefetchedPairs | None = None  # with train.pair_workers: set per attempt
        self._init_attempt(config.seed)
        # fixed held-out crops for the inversion check (own generator: does not disturb training)
        probe_rng = np.random.default_rng([config.seed, 99])
        probe = NoisyCrops(frames, config.data.crop_px, probe_rng, name=name).batch(min(12, 2 * len(frames) + 2))
        self.probe = torch.from_numpy(probe).to(self.device)
        if val_frames is None:
            val_frames = central_crop(frames[:8], 2 * config.data.crop_px, config.model.size_multiple)
        self.val = torch.from_numpy(np.ascontiguousarray(val_frames[:, None], dtype=np.float32)).to(self.device)
        # Ms2c's input for the validation frames: each with its earlier frames (model.context_frames)
        k = config.model.context_frames
        self.val_in = self.val if k == 0 else torch.from_numpy(
            np.stack(list(causal_stacks(np.asarray(val_frames, dtype=np.float32), k)))).to(self.device)
        # the best-scoring weights so far, kept across restarts (an inverted model scores < 0)
        self.best: dict | None = None  # {"step", "score", "s2c", "c2s", "critic"}

    # -- setup ---------------------------------------------------------------------------------
    def _init_attempt(self, seed: int) -> None:
        """Fresh networks, optimisers and samplers from ``seed`` (a restart uses a new seed)."""
        cfg, t = self.config, self.config.train
        self.seed = seed
        torch.manual_seed(seed)
        self.s2c = build_generator(cfg, noisy_side=True)
        if self.init_s2c is not None:
            self.s2c.load_state_dict(self.init_s2c)
        self.s2c.to(self.device)
        self.c2s = build_generator(cfg).to(self.device)
        self.critic = build_critic(cfg).to(self.device)

        def rms(params):
            return torch.optim.RMSprop(params, lr=t.lr, alpha=t.rms_rho, momentum=t.momentum, eps=1e-7)

        self.opt_d, self.opt_s2c, self.opt_c2s = rms(self.critic.parameters()), rms(self.s2c.parameters()), rms(self.c2s.parameters())
        self.opt_pair = torch.optim.Adam(self.s2c.parameters(), lr=t.pair_lr)
        # the pair stage's moving average of Ms2c's weights (train.pair_ema), from its first weights
        self.ema = None
        if t.pair_ema > 0 and self.pair_sampler is not None:
            self.ema = AveragedModel(self.s2c, multi_avg_fn=get_ema_multi_avg_fn(t.pair_ema))
            self.ema.update_parameters(self.s2c)
        # one process: the seed alone (as always); data-parallel: each process its own samples
        ss = np.random.SeedSequence(seed) if self.world == 1 else np.random.SeedSequence([seed, self.rank])
        noisy_seq, clean_seq, pair_seq = ss.spawn(3)  # children 0 and 1 are those of spawn(2)
        if self.world > 1:  # the same starting weights everywhere (they already are: same seed; made sure)
            for net in (self.s2c, self.c2s, self.critic):
                for t_ in list(net.parameters()) + list(net.buffers()):
                    torch.distributed.broadcast(t_.data, src=0)
        self.noisy = NoisyCrops(self.frames, cfg.data.crop_px, np.random.default_rng(noisy_seq), name=self.name)
        self.clean = CleanImages(cfg.simulation, cfg.data.crop_px, np.random.default_rng(clean_seq))
        if self.pair_sampler is not None:
            self.pair_sampler.rng = np.random.default_rng(pair_seq)
        self.stop_pair_workers()
        if self.pair_sampler is not None and t.pair_workers > 0:  # batch k drawn ahead, from (seed, k)
            self.pair_batches = PrefetchedPairs(self.pair_sampler, pair_seq.generate_state(4).tolist(),
                                                t.batch_size, t.pair_workers, limit=t.pair_steps)
        self.attempt_step = 0
        self._bad_checks = 0
        self._recent = []
        self.converged_step = None

    def _step(self, opt: torch.optim.Optimizer, net: torch.nn.Module) -> None:
        """``opt.step()``, after averaging ``net``'s gradients over the processes when data-parallel
        (what DistributedDataParallel does; done by hand because the cycle game calls each network
        several times per backward pass, which DDP's reducer does not allow)."""
        if self.world > 1:
            grads = [p.grad for p in net.parameters() if p.grad is not None]
            if grads:
                flat = torch.cat([g.reshape(-1) for g in grads])
                torch.distributed.all_reduce(flat)
                flat /= self.world
                i = 0
                for g in grads:
                    g.copy_(flat[i:i + g.numel()].view_as(g))
                    i += g.numel()
        opt.step()

    def stop_pair_workers(self) -> None:
        """Stop the pair stage's worker processes (``train.pair_workers``), if any; they start again
        when a pair step needs them."""
        if self.pair_batches is not None:
            self.pair_batches.close()

    def _agree(self, flag: bool) -> bool:
        """True when ``flag`` is true in any process (a stop every process takes at the same step)."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def _tensor(self, a) -> torch.Tensor:
        if isinstance(a, torch.Tensor):  # drawn on the device already (train.pair_sampler "torch")
            return a.to(self.device)
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    # -- one batch -----------------------------------------------------------------------------
    @property
    def in_pair_stage(self) -> bool:
        return self.pair_sampler is not None and self.attempt_step < self.config.train.pair_steps

    def pair_lr_at(self, step: int) -> float:
        """The pair stage's learning rate at its ``step`` (0-based): ``pair_lr``, or with the cosine
        schedule ``pair_lr`` (1 + cos(π step / pair_steps)) / 2, so the last steps barely move the weights."""
        t = self.config.train
        if t.pair_lr_schedule == "constant":
            return t.pair_lr
        return t.pair_lr * 0.5 * (1.0 + math.cos(math.pi * step / t.pair_steps))

    def pair_step(self) -> dict:
        """One supervised step of Ms2c on synthetic pairs matched to the series."""
        t = self.config.train
        self.s2c.train()
        batch = (self.pair_sampler.batch(t.batch_size) if self.pair_batches is None
                 else self.pair_batches.batch(self.attempt_step))
        noisy, clean = (self._tensor(a) for a in batch)
        lr = self.pair_lr_at(self.attempt_step)
        for group in self.opt_pair.param_groups:
            group["lr"] = lr
        self.opt_pair.zero_grad(set_to_none=True)
        with train_autocast(self.device, t.precision):
            out = self.s2c(noisy)
        loss = torch.nn.functional.mse_loss(out.float(), clean)
        loss.backward()
        self._step(self.opt_pair, self.s2c)
        if self.ema is not None:
            self.ema.update_parameters(self.s2c)
        return {"pair": float(loss.detach())}

    def _take_ema(self) -> bool:
        """Ms2c takes the pair stage's moving average of its weights (``train.pair_ema``); True if it did."""
        if self.ema is None:
            return False
        self.s2c.load_state_dict(self.ema.module.state_dict())
        log.info("Ms2c takes the moving average of its pair-stage weights (train.pair_ema=%g)",
                 self.config.train.pair_ema)
        return True

    def step(self) -> dict:
        """One batch of the paper's schedule (or of the pair stage first); returns the logged losses."""
        t = self.config.train
        if self.in_pair_stage:
            return self.pair_step()
        self.s2c.train(); self.c2s.train(); self.critic.train()
        if self.pairs is not None:
            s, nxt = (self._tensor(a) for a in self.noisy.batch_with_pairs(t.batch_size, self.pairs))
        else:
            s, nxt = self._tensor(self.noisy.batch(t.batch_size)), None
        out: dict = {}
        # 1. critic, n_critic times (fresh clean images each time; Ms2c is fixed meanwhile)
        with torch.no_grad():
            fake = self.s2c(s)
        for _ in range(t.n_critic):
            c = self._tensor(self.clean.batch(t.batch_size))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d, info = L.critic_loss(self.critic, c, fake, t.gp_lambda)
            loss_d.backward()
            self._step(self.opt_d, self.critic)
        out.update(info)
        # 2. Ms2c adversarially through the frozen critic
        self.critic.requires_grad_(False)
        self.opt_s2c.zero_grad(set_to_none=True)
        adv = L.adversarial_loss(self.critic, self.s2c(s))
        (t.alpha * adv).backward()
        self._step(self.opt_s2c, self.s2c)
        self.critic.requires_grad_(True)
        out["adversarial"] = float(adv.detach())
        # 3. Mc2s∘Ms2c through the fixed low-pass (+ brightness consistency)
        self.opt_s2c.zero_grad(set_to_none=True); self.opt_c2s.zero_grad(set_to_none=True)
        den = self.s2c(s)
        lfc = L.lfc_loss(self.lowpass, s, self.c2s(den))
        corr = L.lowpass_correlation(self.bright_blur, s, den)
        bright = (1.0 - corr).mean()
        loss = t.lfc_weight * lfc + (self.brightness_weight * bright if self.brightness_weight > 0 else 0.0)
        if nxt is not None:
            pred = L.prediction_loss(self.detail_lowpass, den, nxt)
            loss = loss + t.predict_weight * pred
            out["predict"] = float(pred.detach())
        loss.backward()
        self._step(self.opt_s2c, self.s2c); self._step(self.opt_c2s, self.c2s)
        out.update(lfc=float(lfc.detach()), brightness=float(bright.detach()), corr=float(corr.detach().mean()))
        # 4. Ms2c∘Mc2s on clean images
        c = self._tensor(self.clean.batch(t.batch_size))
        self.opt_s2c.zero_grad(set_to_none=True); self.opt_c2s.zero_grad(set_to_none=True)
        cyc = L.cycle_loss(c, self.s2c(self.c2s(c)))
        (t.beta * cyc).backward()
        self._step(self.opt_s2c, self.s2c); self._step(self.opt_c2s, self.c2s)
        out["cycle"] = float(cyc.detach())
        return out

    # -- inversion guard (paper failure case 1) ------------------------------------------------
    @torch.no_grad()
    def probe_correlation(self, blur: LowPass | None = None) -> float:
        """Median correlation of Ms2b(Ms2c(s)) with Ms2b(s) (or through ``blur``) over fixed held-out crops."""
        self.s2c.eval()
        k = self.config.model.context_frames  # single crops: as at a series' start, no earlier frame
        corr = L.lowpass_correlation(blur or self.lowpass, self.probe,
                                     self.s2c(self.probe.expand(-1, 1 + k, -1, -1) if k else self.probe))
        self.s2c.train()
        return float(corr.median())

    @torch.no_grad()
    def validation_score(self) -> float:
        """Predictive score of Ms2c's atoms put back on the input's smooth background
        (:func:`~noise2atom.denoise.background.restore_background`) on the held-out consecutive
        frames (higher is better). The background part comes from the raw frames and is the same for
        every checkpoint, so the score compares the atoms; scored on atoms alone, it would prefer
        weights that leak some of the background into their output. Atoms darker than their
        surroundings (an inverted mapping) are scored alone, negative, so they are never kept."""
        from ..denoise.background import DEFAULT_SIGMA_PX, atom_brightness, restore_background
        from ..metrics.predictive import predictive_r2

        self.s2c.eval()
        out = torch.cat([self.s2c(self.val_in[i:i + 4]) for i in range(0, len(self.val_in), 4)])
        self.s2c.train()
        raw = self.val[:, 0].float().cpu().numpy()
        atoms = (out[:, 0].float().cpu().numpy() + 1.0) * 0.5
        sigma = self.config.denoise.background_sigma_px or DEFAULT_SIGMA_PX  # 0: chosen per series, later
        slopes = [atom_brightness(r, a, sigma) for r, a in zip(raw, atoms)]
        if np.mean(slopes) <= 0:
            return min(predictive_r2(atoms, raw), 0.0)
        full = np.stack([restore_background(r, a, sigma, k) for r, a, k in zip(raw, atoms, slopes)])
        return predictive_r2(full, raw)

    def _select(self) -> float | None:
        """Every ``select_every_steps``: score the current weights and keep them if they are the best."""
        t = self.config.train
        # the pair stage is plain supervised learning: its last weights are its best (the predictive
        # score prefers the blurrier early ones), so they enter the race once, when the stage ends
        pair_end = self.pair_sampler is not None and self.attempt_step == t.pair_steps
        if not t.select_best or self.in_pair_stage or (self.attempt_step % t.select_every_steps and not pair_end):
            return None
        score = self.validation_score()
        if self.best is None or score > self.best["score"]:
            self.best = {"step": self.global_step, "score": score,
                         **{k: {n: v.detach().clone().cpu() for n, v in getattr(self, k).state_dict().items()}
                            for k in ("s2c", "c2s", "critic")}}
        return score

    def _check_inversion(self) -> bool:
        """True when a restart was triggered."""
        t = self.config.train
        warmup = max(t.inversion_warmup_epochs * self.steps_per_epoch, t.inversion_warmup_steps)
        if (not t.inversion_check or self.in_pair_stage  # supervised on bright-atom pairs: cannot invert
                or self.attempt_step < warmup or self.attempt_step % self.check_every):
            return False
        corr = self.probe_correlation()
        self._bad_checks = self._bad_checks + 1 if corr < t.inversion_threshold else 0
        if self._bad_checks < t.inversion_patience:
            return False
        event = {"step": self.global_step, "event": "inverted_mapping", "correlation": round(corr, 4)}
        if self.restarts >= t.max_restarts:
            event["action"] = "none (max_restarts reached)"
            self.events.append(event)
            log.warning("inverted mapping detected at step %d (low-pass correlation %.3f with the input); "
                        "max_restarts=%d reached, continuing", self.global_step, corr, t.max_restarts)
            self._bad_checks = 0
            return False
        self.restarts += 1
        new_seed = (self.config.seed + 7919 * self.restarts) % (2**31 - 1)
        self.brightness_weight = max(self.brightness_weight, 1.0)
        event["action"] = f"restart {self.restarts} with seed {new_seed}, brightness_weight={self.brightness_weight}"
        self.events.append(event)
        log.warning("inverted mapping detected at step %d: bright input areas became background "
                    "(low-pass correlation %.3f < %.2f for %d checks). Restarting from seed %d with the "
                    "brightness-consistency term (weight %.2f).", self.global_step, corr,
                    t.inversion_threshold, t.inversion_patience, new_seed, self.brightness_weight)
        self._init_attempt(new_seed)
        return True

    # -- loop ----------------------------------------------------------------------------------
    def run(self, *, max_steps: int | None = None, deadline: float | None = None,
            progress: Callable[[int, int, dict], None] | None = None) -> TrainResult:
        """Train until ``epochs`` are done (or ``max_steps`` more steps, or the wall-clock ``deadline``)."""
        t = self.config.train
        start = time.monotonic()
        steps_done = 0
        stopped_by = "epochs"
        csv_file = None
        writer = None
        if self.workdir is not None and self.rank == 0:  # data-parallel: process 0 alone writes
            self.workdir.mkdir(parents=True, exist_ok=True)
            path = self.workdir / "losses.csv"
            new = not path.exists()
            csv_file = open(path, "a", newline="")
            writer = csv.DictWriter(csv_file, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
        row: dict = {}
        try:
            while self.attempt_step < self.total_steps:
                if max_steps is not None and steps_done >= max_steps:
                    stopped_by = "max_steps"
                    break
                if deadline is not None and self._agree(time.monotonic() >= deadline):
                    stopped_by = "time"
                    break
                losses = self.step()
                self.global_step += 1
                self.attempt_step += 1
                steps_done += 1
                if self.pair_sampler is not None and self.attempt_step == t.pair_steps:
                    self._take_ema()  # the stage's end: before its weights are scored and saved
                    self.stop_pair_workers()
                row = {"step": self.global_step, "attempt": self.restarts,
                       "epoch": round(self.attempt_step / self.steps_per_epoch, 4),
                       "time_s": round(time.monotonic() - start, 3), **{k: round(v, 6) for k, v in losses.items()}}
                score = self._select()
                if score is not None:
                    row["val_score"] = round(score, 6)
                if writer is not None:
                    writer.writerow({k: row.get(k) for k in LOG_FIELDS})
                if "cycle" in row:  # the paper's criteria concern the cycle game only
                    self._track_convergence(row)
                if progress is not None:
                    progress(self.attempt_step, self.total_steps, row)
                restarted = self._check_inversion()
                if self.workdir is not None and (restarted or self.global_step % t.checkpoint_every_steps == 0):
                    if csv_file is not None:
                        csv_file.flush()
                    self.save_checkpoint()
        finally:
            if csv_file is not None:
                csv_file.close()
            self.stop_pair_workers()
        if self.workdir is not None:
            self.save_checkpoint()
        if self.in_pair_stage:  # stopped inside the stage: its checkpoint keeps the raw weights and the average
            self._take_ema()
        best_step = best_score = None
        if self.best is not None:
            last_score = self.validation_score()
            if last_score >= self.best["score"]:
                best_step, best_score = self.global_step, last_score
            else:
                best_step, best_score = self.best["step"], self.best["score"]
                for k in ("s2c", "c2s", "critic"):
                    getattr(self, k).load_state_dict(self.best[k])
                log.info("keeping the weights of step %d (predictive score %.4f; last step %.4f)",
                         best_step, best_score, last_score)
        blended = self._blend_with_start()
        # the kept weights' score, unless the blend moved them since
        kept_start, start_check = self._keep_start(best_score if blended is None else None)
        final_corr = self.probe_correlation()
        # a model that keeps the atoms and flattens a varying support can anti-correlate with the
        # input at Ms2b's scale (seen once in the pair-stage ablation, atom F1 0.98); an inverted
        # mapping is dark where the input is bright at the atoms' scale too
        atom_corr = self.probe_correlation(self.bright_blur) if final_corr < t.inversion_threshold else final_corr
        inverted = final_corr < t.inversion_threshold and atom_corr < t.inversion_threshold
        if inverted:
            log.warning("the final mapping looks inverted (low-pass correlation %.3f): bright input areas "
                        "map to background; do not trust this model", final_corr)
        final = self.recent_means()
        final["probe_corr"] = round(final_corr, 4)
        final["probe_corr_atom_scale"] = round(atom_corr, 4)
        return TrainResult(steps=self.global_step, epochs=round(self.attempt_step / self.steps_per_epoch, 3),
                           seconds=round(time.monotonic() - start, 2), stopped_by=stopped_by,
                           converged_step=self.converged_step, final=final, restarts=self.restarts,
                           events=list(self.events), inverted_at_end=inverted, kept_step=best_step,
                           kept_score=None if best_score is None else round(best_score, 5),
                           init_blend=blended, keep_start=kept_start, start_check=start_check)

    def _blend_with_start(self) -> float | None:
        """Move Ms2c's kept weights toward the starting model's by ``train.init_blend`` (a fine-tune
        only): the share of the start's weights used, or None when nothing was blended. The
        checkpoints keep the unblended weights, so a resumed run goes on from where it left off."""
        share = self.config.train.init_blend
        if self.init_s2c is None or share <= 0:
            return None
        blend_weights(self.s2c, self.init_s2c, share)
        log.info("Ms2c's weights: %.2f of the fine-tuned and %.2f of the starting model's (train.init_blend)",
                 1 - share, share)
        return share

    def _keep_start(self, tuned_score: float | None = None) -> tuple[bool, dict | None]:
        """Make Ms2c the mean of the fine-tuned network and the starting one (``train.keep_start``, a
        fine-tune only) if the start holds up on the series: the mean's predictive score on the
        held-out frames (:meth:`validation_score`) is at most ``train.keep_start_margin`` below the
        fine-tuned network's (``tuned_score``, scored here when not given). Returns whether it did, and
        the two scores (None without the option). The checkpoints keep the fine-tuned network alone."""
        t = self.config.train
        if self.init_s2c is None or not t.keep_start:
            return False, None
        if tuned_score is None:
            tuned_score = self.validation_score()
        start = build_generator(self.config, noisy_side=True)
        start.load_state_dict(self.init_s2c)
        tuned, self.s2c = self.s2c, MeanOf([self.s2c, start.to(self.device)])
        mean_score = self.validation_score()
        check = {"fine_tuned": round(tuned_score, 5), "with_start": round(mean_score, 5),
                 "margin": t.keep_start_margin}
        if mean_score < tuned_score - t.keep_start_margin:
            self.s2c = tuned
            log.warning("the starting network does not hold up on this series: the mean of the fine-tuned and "
                        "the starting network predicts the held-out frames worse (%.4f) than the fine-tuned "
                        "network alone (%.4f), by more than train.keep_start_margin %.3g; the fine-tuned "
                        "network is kept alone", mean_score, tuned_score, t.keep_start_margin)
            return False, check
        log.info("Ms2c: the mean of the fine-tuned and the starting network's outputs (train.keep_start; "
                 "held-out predictive score %.4f, fine-tuned alone %.4f)", mean_score, tuned_score)
        return True, check

    def recent_means(self) -> dict:
        if not self._recent:
            return {}
        keys = ("cycle", "lfc", "adversarial", "w_distance", "brightness", "corr")
        return {k: round(float(np.mean([r[k] for r in self._recent])), 5) for k in keys}

    def _track_convergence(self, row: dict) -> None:
        """The paper's criteria (cycle < 0.05, lfc < 0.1) on a running mean over one epoch (>= 10 steps)."""
        window = max(10, self.steps_per_epoch)
        self._recent.append(row)
        del self._recent[:-window]
        if self.converged_step is None and len(self._recent) == window:
            m = self.recent_means()
            t = self.config.train
            if m["cycle"] < t.convergence_cycle and m["lfc"] < t.convergence_lfc:
                self.converged_step = self.global_step
                self.events.append({"step": self.global_step, "event": "converged", **m})
                log.info("paper convergence criteria met at step %d (cycle %.4f < %.2f, lfc %.4f < %.2f)",
                         self.global_step, m["cycle"], t.convergence_cycle, m["lfc"], t.convergence_lfc)

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything needed to continue exactly where this step left off (tensors, numbers, JSON)."""
        meta = {
            "config": self.config.to_dict(), "seed": self.seed, "global_step": self.global_step,
            "attempt_step": self.attempt_step, "restarts": self.restarts, "events": self.events,
            "converged_step": self.converged_step, "bad_checks": self._bad_checks, "recent": self._recent,
            "brightness_weight": self.brightness_weight,
            **self._random_state(),
        }
        return {
            "meta_json": json.dumps(meta),
            "s2c": self.s2c.state_dict(), "c2s": self.c2s.state_dict(), "critic": self.critic.state_dict(),
            "opt_d": self.opt_d.state_dict(), "opt_s2c": self.opt_s2c.state_dict(),
            "opt_c2s": self.opt_c2s.state_dict(), "opt_pair": self.opt_pair.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "best": {} if self.best is None else self.best,
            **({} if self.init_s2c is None else {"init_s2c": self.init_s2c}),  # for init_blend after a resume
            **({} if self.ema is None else {"ema": self.ema.state_dict()}),
        }

    def _random_state(self) -> dict:
        """This process's samplers' random state (JSON-able; each data-parallel process has its own)."""
        return {"noisy_rng": self.noisy.rng.bit_generator.state, "noisy_sampler": self.noisy.state(),
                "clean_rng": self.clean.rng.bit_generator.state,
                "pair_rng": None if self.pair_sampler is None else (
                    self.pair_sampler.state() if isinstance(self.pair_sampler, DevicePairSampler)
                    else self.pair_sampler.rng.bit_generator.state)}

    def _load_random_state(self, meta: dict) -> None:
        self.noisy.rng.bit_generator.state = meta["noisy_rng"]
        self.noisy.load_state(meta["noisy_sampler"])
        self.clean.rng.bit_generator.state = meta["clean_rng"]
        if self.pair_sampler is not None and meta.get("pair_rng") is not None:
            if isinstance(self.pair_sampler, DevicePairSampler):
                self.pair_sampler.load_state(meta["pair_rng"])
            else:
                self.pair_sampler.rng.bit_generator.state = meta["pair_rng"]

    def load_state(self, state: dict) -> None:
        meta = json.loads(state["meta_json"])
        processes = meta.get("processes", 1)
        if processes != self.world:
            raise ValueError(f"{self.workdir}: the checkpoint was written by {processes} data-parallel "
                             f"process(es); resume with the same number (now {self.world}"
                             + (", under torchrun --nproc_per_node " + str(processes) if processes > 1 else "")
                             + ")")
        if meta["seed"] != self.seed:
            self._init_attempt(meta["seed"])
        self.s2c.load_state_dict(state["s2c"]); self.c2s.load_state_dict(state["c2s"])
        self.critic.load_state_dict(state["critic"])
        self.opt_d.load_state_dict(state["opt_d"]); self.opt_s2c.load_state_dict(state["opt_s2c"])
        self.opt_c2s.load_state_dict(state["opt_c2s"])
        if "opt_pair" in state:
            self.opt_pair.load_state_dict(state["opt_pair"])
        torch.set_rng_state(state["torch_rngs"][self.rank] if "torch_rngs" in state else state["torch_rng"])
        self.best = state.get("best") or None
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        if self.init_s2c is None and state.get("init_s2c"):  # a fine-tune resumed without its start model
            self.init_s2c = state["init_s2c"]
        self.global_step, self.attempt_step = meta["global_step"], meta["attempt_step"]
        self.restarts, self.events = meta["restarts"], meta["events"]
        self.converged_step, self._bad_checks = meta["converged_step"], meta["bad_checks"]
        self._recent, self.brightness_weight = meta["recent"], meta["brightness_weight"]
        self._load_random_state(meta["ranks"][self.rank] if "ranks" in meta else meta)

    def save_checkpoint(self) -> Path | None:
        """Write ``last.pt`` (process 0 writes; data-parallel processes all call this at the same step,
        and each one's random state goes into the file, so a resumed run continues every process)."""
        assert self.workdir is not None
        state = self.state()
        if self.world > 1:
            ranks: list = [None] * self.world
            torch.distributed.all_gather_object(ranks, (self._random_state(), torch.get_rng_state()))
            meta = json.loads(state["meta_json"])
            meta.update(processes=self.world, ranks=[r for r, _ in ranks])
            state.update(meta_json=json.dumps(meta), torch_rngs=[t for _, t in ranks])
        return save_checkpoint(self.workdir, state) if self.rank == 0 else None

    def resume(self) -> bool:
        """Load the newest checkpoint in ``workdir`` and drop log rows written after it. False if none."""
        assert self.workdir is not None
        state = load_checkpoint(self.workdir)
        if state is None:
            return False
        meta = json.loads(state["meta_json"])
        saved = RunConfig.from_dict(meta["config"])
        if _without_epochs(saved) != _without_epochs(self.config):
            was, now = saved.train.pair_workers, self.config.train.pair_workers
            if _without_epochs(saved) == _without_epochs(self.config.with_updates(train={"pair_workers": was})):
                raise ValueError(f"{self.workdir}: the checkpoint was written with pair_workers {was}, which "
                                 f"draws other pair batches than {now}; resume with "
                                 + ("--pair-workers 0" if was == 0 else "--pair-workers 1 or more"))
            raise ValueError(f"{self.workdir}: the checkpoint was written with another configuration "
                             f"(seed {saved.seed}, preset {saved.preset}); resume with the same options "
                             "or start a new run without --resume")
        self.load_state(state)
        path = self.workdir / "losses.csv"
        if path.exists() and self.rank == 0:
            with open(path, newline="") as f:
                # a run killed mid-write may end in a cut row (fields missing: None); rows after the
                # checkpoint are redone
                rows = [r for r in csv.DictReader(f)
                        if None not in r.values() and r["step"].isdigit() and int(r["step"]) <= self.global_step]
            with open(path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
                w.writeheader()
                w.writerows(rows)
        log.info("resumed from step %d (%s)", self.global_step, self.workdir)
        return True


def _without_epochs(config: RunConfig) -> dict:
    """The configuration as a dict, minus the epoch count (a resumed run may extend it)."""
    d = config.to_dict()
    d["train"] = {k: v for k, v in d["train"].items() if k != "epochs"}
    d["train"]["pair_workers"] = min(d["train"].get("pair_workers", 0), 1)  # any number >= 1 draws the same batches
    return d
