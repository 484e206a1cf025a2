"""The networks: generators Ms2c / Mc2s, critic D, low-pass Ms2b. Plain nn.Modules, no files."""

from __future__ import annotations

from ..config import RunConfig
from .critic import Critic
from .ensemble import MeanOf, ensemble_size, first_member
from .generator import Generator
from .lowpass import LowPass, gaussian_kernel


def build_generator(config: RunConfig, *, noisy_side: bool = False, members: int = 1):
    """A generator of the configured size; ``noisy_side``: Ms2c, which also takes
    ``model.context_frames`` earlier frames as input channels (Mc2s takes one clean image).
    ``members`` > 1: that many of them as one :class:`MeanOf` (a model file's ensemble)."""
    m = config.model
    if members > 1:
        return MeanOf([build_generator(config, noisy_side=noisy_side) for _ in range(members)])
    return Generator(width=m.width, res_blocks=m.res_blocks, depth=m.depth, kernels=m.kernels,
                     in_channels=1 + m.context_frames if noisy_side else 1)


def build_critic(config: RunConfig) -> Critic:
    m = config.model
    return Critic(size=config.data.crop_px, width=m.critic_width, dropout=m.critic_dropout)


def build_lowpass(config: RunConfig) -> LowPass:
    return LowPass(config.model.lowpass_px, config.model.lowpass_sigma_px, config.model.lowpass_padding)


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["Generator", "Critic", "MeanOf", "ensemble_size", "first_member", "LowPass", "gaussian_kernel",
           "build_generator", "build_critic", "build_lowpass", "count_parameters"]
