"""Ms2b: the fixed Gaussian low-pass network (one 33x33 filter, no padding, no bias, never trained)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def gaussian_kernel(size: int = 33, sigma_px: float = math.sqrt(15.0)) -> np.ndarray:
    """A centred, normalised 2-D Gaussian: (size, size) float64 summing to 1."""
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    t = np.arange(size) - size // 2
    g = np.exp(-(t**2) / (2.0 * sigma_px**2))
    k = np.outer(g, g)
    return k / k.sum()


class LowPass(nn.Module):
    """2-D convolution with a fixed normalised Gaussian.

    ``padding="valid"`` (the paper's "without padding"): (B, 1, H, W) -> (B, 1, H-32, W-32), so only
    the centre of a crop is compared. ``padding="reflect"``: mirror-padded, same size, every pixel
    compared. The kernel is a buffer, not a parameter: no optimiser can change it.
    """

    def __init__(self, size: int = 33, sigma_px: float = math.sqrt(15.0), padding: str = "valid"):
        super().__init__()
        if padding not in ("valid", "reflect"):
            raise ValueError(f"padding must be 'valid' or 'reflect', got {padding!r}")
        self.size, self.sigma_px, self.padding = size, sigma_px, padding
        self.register_buffer("kernel", torch.tensor(gaussian_kernel(size, sigma_px), dtype=torch.float32)[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "reflect":
            h = self.size // 2
            x = F.pad(x, (h, h, h, h), mode="reflect")
        return F.conv2d(x, self.kernel)
