"""A fast student: a smaller Ms2c trained to give what a trained model (the teacher) gives.

The student has the teacher's input (the same context frames, the same normalisation: a generic
teacher's student is generic too) and a lighter network (:data:`STUDENT_MODEL`: 3×3 kernels only
and 2 residual blocks instead of multi-kernel modules and 4: 3.7× the frames/s at 128² and 512² on
2 CPU cores, docs/performance.md). It is trained on the user's own frames: random crops (with their past
frames) go through the teacher, and the student learns its output on the whole crop, edges included
(a frame's edges are a tile's edges at inference; a first version left a 16 px margin out of the loss
and the student's edges were wrong). No truth and no pairs are needed, so any trained model can be
distilled on the series it is used on.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import torch

from .config import RunConfig
from .data.patches import CausalCrops
from .train.match import match_teacher

log = logging.getLogger("noise2atom")

#: the student's ``model`` section (the rest of the configuration is the teacher's)
STUDENT_MODEL = {"width": 16, "res_blocks": 2, "kernels": (3,)}


def student_config(teacher_config: RunConfig) -> RunConfig:
    """The teacher's configuration with the student's network (context frames and depth kept)."""
    return teacher_config.with_updates(model=STUDENT_MODEL)


def distill(teacher, series, *, steps: int = 1500, minutes: float | None = None, batch_size: int = 8,
            crop: int = 96, lr: float = 2e-3, seed: int = 0, device=None,
            progress: Callable[[int, int, float], None] | None = None):
    """Train a fast student of ``teacher`` on ``series``.

    Parameters
    ----------
    teacher : Noise2Atom
        A trained model (a file from ``noise2atom train``, or the pretrained default).
    series : array (T, Y, X), or list of them
        Raw frames (the input's units), each series normalised as the teacher normalises it.
    steps : int
        Optimiser steps (Adam, cosine-decayed learning rate); ``minutes`` stops earlier.
    crop : int
        Crop side (a multiple of the network's size multiple, at least 4 times it).

    Returns
    -------
    (Noise2Atom, dict)
        The student (same normalisation rule, context frames and denoise settings as the teacher;
        ``record["distilled_from"]`` says from what) and a summary (steps, seconds, final loss).
    """
    from .model import Noise2Atom

    series = [series] if isinstance(series, np.ndarray) and series.ndim in (2, 3) else list(series)
    series = [np.asarray(s, dtype=np.float32)[None] if np.ndim(s) == 2 else np.asarray(s, dtype=np.float32)
              for s in series]
    m = teacher.config.model.size_multiple
    if crop % m or crop < 4 * m:
        raise ValueError(f"crop={crop} must be a multiple of {m} and at least {4 * m}")
    device = torch.device(device) if device is not None else teacher.device
    student = Noise2Atom(config=student_config(teacher.config), device=device)
    student.normalization = teacher.normalization
    normed = [teacher.normalization_for(s).forward(s) for s in series]
    crops = CausalCrops(normed, teacher.config.model.context_frames, crop, np.random.default_rng([seed, 5]))
    torch.manual_seed(seed)
    start = time.monotonic()
    deadline = start + 60.0 * minutes if minutes is not None else None
    step, losses = match_teacher(student.s2c, teacher.s2c.to(device), crops, steps=steps, batch_size=batch_size,
                                 lr=lr, device=device, deadline=deadline, progress=progress)
    summary = {"steps": step, "seconds": round(time.monotonic() - start, 1),
               "final_loss": float(np.mean(losses[-50:])), "crop": crop, "batch_size": batch_size,
               "student_model": {k: list(v) if isinstance(v, tuple) else v for k, v in STUDENT_MODEL.items()}}
    student.record = {**{k: v for k, v in teacher.record.items() if k in ("normalization", "pixel_size_nm_range")},
                      "distilled_from": teacher.record.get("name") or teacher.record.get("source") or "a model",
                      "teacher_record": teacher.record, "distillation": summary}
    log.info("distilled %d steps in %.0f s, loss %.2e (teacher output MSE, [-1, 1] units)", step,
             summary["seconds"], summary["final_loss"])
    return student, summary
