"""The number format of the supervised training passes (``train.precision``)."""

from __future__ import annotations

import torch

#: ``train.precision`` names -> autocast dtypes (None: float32 throughout)
TRAIN_DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def train_autocast(device, precision: str):
    """The context the forward passes of a training step run in: ``torch.autocast`` in bfloat16 on
    ``device``'s type for ``"bf16"``, nothing for ``"fp32"``. Weights, gradients and optimiser state
    stay float32 (bfloat16 has float32's range, so no loss scaling is needed)."""
    if precision not in TRAIN_DTYPES:
        raise ValueError(f"precision={precision!r} must be one of {', '.join(TRAIN_DTYPES)}")
    dtype = TRAIN_DTYPES[precision]
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype or torch.float32,
                          enabled=dtype is not None)
