"""Ms2c / Mc2s: the U-Net generator (two identical copies are trained)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import Down, MultiKernel, ResBlock, Up


class Generator(nn.Module):
    """U-Net of ``depth`` levels with multi-kernel modules, ``res_blocks`` residual blocks at the
    bottom, instance norm + leaky ReLU, and a tanh output.

    ``in_channels`` > 1: the current frame and the ones before it, oldest first (the current frame
    is the last channel).

    Shape rule: input (B, in_channels, H, W) with H and W multiples of ``2**depth`` and H, W / 2**depth >= 4;
    output has the same shape, values in (-1, 1).
    """

    def __init__(self, width: int = 16, res_blocks: int = 4, depth: int = 3, kernels=(1, 3, 5, 7),
                 in_channels: int = 1):
        super().__init__()
        self.depth = depth
        chans = [width * 2**i for i in range(depth + 1)]
        self.in_channels = in_channels
        self.stem = MultiKernel(in_channels, chans[0], kernels)
        self.enc = nn.ModuleList(MultiKernel(chans[i], chans[i], kernels) for i in range(depth))
        self.down = nn.ModuleList(Down(chans[i], chans[i + 1]) for i in range(depth))
        self.bottom = nn.Sequential(*[ResBlock(chans[depth]) for _ in range(res_blocks)])
        self.up = nn.ModuleList(Up(chans[i + 1], chans[i]) for i in range(depth))
        self.dec = nn.ModuleList(MultiKernel(2 * chans[i], chans[i], kernels) for i in range(depth))
        self.head = nn.Conv2d(chans[0], 1, 1)

    @property
    def size_multiple(self) -> int:
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.size_multiple
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"generator input sides must be multiples of {m}, got {tuple(x.shape[-2:])}")
        h = self.stem(x)
        skips = []
        for enc, down in zip(self.enc, self.down):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.bottom(h)
        for i in reversed(range(self.depth)):
            h = self.dec[i](torch.cat([self.up[i](h), skips[i]], dim=1))
        return torch.tanh(self.head(h))
