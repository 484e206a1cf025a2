"""D: the Wasserstein critic that scores how much an image looks like Gaussian atomic peaks."""

from __future__ import annotations

import torch
from torch import nn


class CriticDown(nn.Module):
    """3x3 transposed convolution, 3x3 convolution of stride 2 (no padding), 25 % dropout."""

    def __init__(self, cin: int, cout: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(nn.ConvTranspose2d(cin, cin, 3), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Conv2d(cin, cout, 3, stride=2), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Critic(nn.Module):
    """Four down-sampling modules and a fully connected output (one unbounded score per image).

    Shape rule: input (B, 1, size, size) with ``size`` the training crop (a multiple of 16); output
    (B, 1). No normalisation layers: the gradient penalty needs per-sample gradients.
    """

    def __init__(self, size: int, width: int = 16, dropout: float = 0.25, n_down: int = 4):
        super().__init__()
        if size % 2**n_down:
            raise ValueError(f"critic input size {size} must be a multiple of {2**n_down}")
        chans = [1] + [width * 2**i for i in range(n_down)]
        self.size = size
        self.features = nn.Sequential(*[CriticDown(chans[i], chans[i + 1], dropout) for i in range(n_down)])
        self.fc = nn.Linear(chans[-1] * (size // 2**n_down) ** 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"critic expects {self.size}x{self.size} images, got {tuple(x.shape[-2:])}")
        return self.fc(self.features(x).flatten(1))
