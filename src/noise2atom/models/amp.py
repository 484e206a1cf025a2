"""The number format a network runs in: float32 throughout, or under ``torch.autocast`` in bfloat16 or
float16 (denoising's ``precision``; training's ``train.precision`` allows float32 and bfloat16)."""

from __future__ import annotations

import torch

#: ``precision`` names -> autocast dtypes (None: float32 throughout)
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device, precision: str, allowed=tuple(AUTOCAST_DTYPES)):
    """The context a network's passes run in on ``device``: ``torch.autocast`` in ``precision``'s
    dtype, or nothing for ``"fp32"``; a name outside ``allowed`` is refused (ValueError)."""
    if precision not in allowed:
        raise ValueError(f"precision={precision!r} must be one of {', '.join(allowed)}")
    dtype = AUTOCAST_DTYPES[precision]
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype or torch.float32,
                          enabled=dtype is not None)
