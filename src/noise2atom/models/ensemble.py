"""Several networks of the same shape as one: the mean of their outputs."""

from __future__ import annotations

import torch
from torch import nn


class MeanOf(nn.Module):
    """The mean of ``nets``' outputs for the same input (an ensemble, e.g. a fine-tuned Ms2c and the
    one it started from: ``train.keep_start``). Each input is run through every network, so it costs
    their time together; the output has the shape and range of one network's."""

    def __init__(self, nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        if len(self.nets) < 2:
            raise ValueError(f"MeanOf needs at least 2 networks, got {len(self.nets)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.nets[0](x)
        for net in self.nets[1:]:
            out = out + net(x)
        return out / len(self.nets)


def ensemble_size(net: nn.Module) -> int:
    """How many networks ``net`` averages (1 for a plain network)."""
    return len(net.nets) if isinstance(net, MeanOf) else 1


def first_member(net: nn.Module) -> nn.Module:
    """The first network of an ensemble (a fine-tune's own; the start comes second), else ``net``."""
    return net.nets[0] if isinstance(net, MeanOf) else net
