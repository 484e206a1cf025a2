"""Training one network to give another's output on a series' own frames.

Two uses: :mod:`noise2atom.distill` (a lighter student of a trained model) and ``train.merge_steps``
(the mean of a fine-tuned and its starting network, ``train.keep_start``, taught back to one network
of the same shape). No truth and no pairs: random crops of the frames, each with its earlier frames
(the networks' context), go through the teacher, and the student learns its output on the whole
crop, edges included (a frame's edges are a tile's edges at inference).
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from ..data.patches import CausalCrops
from .amp import train_autocast


def match_teacher(student: torch.nn.Module, teacher: torch.nn.Module, crops: CausalCrops, *, steps: int,
                  batch_size: int, lr: float, cosine: bool = True, device=None, deadline: float | None = None,
                  progress: Callable[[int, int, float], None] | None = None,
                  precision: str = "fp32") -> tuple[int, list[float]]:
    """Adam on the mean squared difference between ``student``'s and ``teacher``'s outputs on
    ``crops``' batches, ``steps`` steps (the learning rate cosine-decayed to 0, or constant), or until
    ``time.monotonic()`` passes ``deadline``. Returns (steps done, the loss of each); ``student`` is
    left in eval mode. ``precision`` ``"bf16"``: both networks' passes under bfloat16 autocast
    (:func:`~noise2atom.train.amp.train_autocast`), the loss in float32."""
    device = torch.device(device) if device is not None else next(student.parameters()).device
    teacher.eval()
    student.train()
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if cosine else None
    losses, step = [], 0
    for step in range(1, steps + 1):
        x = torch.from_numpy(crops.batch(batch_size)).to(device)
        with train_autocast(device, precision):
            with torch.inference_mode():
                target = teacher(x).float()
            out = student(x).float()
        loss = torch.mean((out - target.clone()) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step, steps, losses[-1])
        if deadline is not None and time.monotonic() >= deadline:
            break
    student.eval()
    return step, losses
