"""Building blocks of the Noise2Atom U-Net (paper, "Network Architectures")."""

from __future__ import annotations

import torch
from torch import nn


def norm_act(channels: int) -> nn.Sequential:
    """Instance normalisation followed by leaky ReLU (slope 0.2)."""
    return nn.Sequential(nn.InstanceNorm2d(channels, affine=True), nn.LeakyReLU(0.2, inplace=True))


class MultiKernel(nn.Module):
    """Parallel convolutions with kernel sizes ``kernels`` (paper: 1, 3, 5, 7), concatenated, then a
    1x1 convolution back to ``cout`` channels, instance norm and leaky ReLU. Size-preserving
    (reflection padding)."""

    def __init__(self, cin: int, cout: int, kernels=(1, 3, 5, 7)):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode="reflect" if k > 1 else "zeros")
            for k in kernels)
        self.merge = nn.Conv2d(cout * len(kernels), cout, 1)
        self.post = norm_act(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.merge(torch.cat([b(x) for b in self.branches], dim=1)))


class Down(nn.Module):
    """Paper's down-sampling: 3x3 transposed convolution (stride 1, no padding: +2 px), then a 3x3
    convolution of stride 2 without padding: an even side n becomes n / 2."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.ConvTranspose2d(cin, cin, 3), norm_act(cin),
                                  nn.Conv2d(cin, cout, 3, stride=2), norm_act(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Up(nn.Module):
    """Paper's up-sampling: 4x4 transposed convolution of stride 2 without padding (n -> 2n + 2),
    then a 3x3 convolution without padding (-> 2n)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2), norm_act(cout),
                                  nn.Conv2d(cout, cout, 3), norm_act(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ResBlock(nn.Module):
    """x + IN(conv3(LReLU(IN(conv3(x)))))."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, padding_mode="reflect"), norm_act(c),
                                  nn.Conv2d(c, c, 3, padding=1, padding_mode="reflect"),
                                  nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
