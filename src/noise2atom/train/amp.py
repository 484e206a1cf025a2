"""The number format of the supervised training passes (``train.precision``)."""

from __future__ import annotations

from ..config import TRAIN_PRECISIONS
from ..models.amp import autocast


def train_autocast(device, precision: str):
    """The context the forward passes of a training step run in: ``torch.autocast`` in bfloat16 on
    ``device``'s type for ``"bf16"``, nothing for ``"fp32"``. Weights, gradients and optimiser state
    stay float32 (bfloat16 has float32's range, so no loss scaling is needed)."""
    return autocast(device, precision, TRAIN_PRECISIONS)
