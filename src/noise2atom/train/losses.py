"""The Noise2Atom objective (paper eq. 1-9), one function per term.

Sign convention of eq. (1)-(2): ``W(label, D(x)) = mean(label * D(x))`` with label -1 for clean
(simulated, "True") images and +1 for denoised ("False") images, so the critic minimises
``mean(D(fake)) - mean(D(clean)) + λ G`` and the generator minimises ``-mean(D(Ms2c(s)))``.
The paper writes the first term of eq. (1) with ``s``; its training schedule ("mapping noisy images
to False and clean images to True") makes clear the critic compares clean images with Ms2c(s).
"""

from __future__ import annotations

import torch


def wasserstein(label: float, scores: torch.Tensor) -> torch.Tensor:
    """Eq. (2): W(label, scores) = E[label * scores]."""
    return (label * scores).mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (3)-(5): mean over the batch of (1 - ||∂D(y)/∂y||₂)², y = u·real + (1 - u)·fake.

    ``u`` is one uniform weight per sample, shape (B, 1, 1, 1) (drawn when not given).
    """
    if u is None:
        u = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    y = (u * real + (1.0 - u) * fake).requires_grad_(True)
    scores = critic(y)
    (grad,) = torch.autograd.grad(scores.sum(), y, create_graph=True)
    norm = grad.flatten(1).pow(2).sum(dim=1).add(1e-12).sqrt()
    return (1.0 - norm).pow(2).mean()


def critic_loss(critic, clean: torch.Tensor, fake: torch.Tensor, gp_lambda: float) -> tuple[torch.Tensor, dict]:
    """The critic's part of eq. (1): W(-1, D(c)) + W(1, D(Ms2c(s))) + λ G."""
    w = wasserstein(-1.0, critic(clean)) + wasserstein(1.0, critic(fake))
    gp = gradient_penalty(critic, clean, fake)
    loss = w + gp_lambda * gp
    return loss, {"critic": float(loss.detach()), "w_distance": float(-w.detach()), "gp": float(gp.detach())}


def adversarial_loss(critic, fake: torch.Tensor) -> torch.Tensor:
    """The generator's part of eq. (1): W(-1, D(Ms2c(s))) — denoised images should score as clean."""
    return wasserstein(-1.0, critic(fake))


def cycle_loss(clean: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """Eq. (6): E|c - Ms2c(Mc2s(c))| (mean absolute error)."""
    return (clean - reconstructed).abs().mean()


def lfc_loss(lowpass, noisy: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """Eq. (7): E|Ms2b(s) - Ms2b(Mc2s(Ms2c(s)))| (mean absolute error of the low-passed images)."""
    return (lowpass(noisy) - lowpass(reconstructed)).abs().mean()


def lowpass_correlation(lowpass, noisy: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """Pearson correlation, per sample, between Ms2b(s) and Ms2b(Ms2c(s)): shape (B,).

    Positive when bright areas of the input become atoms; negative for the paper's failure case 1
    (inverted mapping).
    """
    a = lowpass(noisy).flatten(1)
    b = lowpass(denoised).flatten(1)
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-8)


def brightness_loss(lowpass, noisy: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """Not in the paper: mean(1 - corr(Ms2b(s), Ms2b(Ms2c(s)))), the "bright areas are atoms" term."""
    return (1.0 - lowpass_correlation(lowpass, noisy, denoised)).mean()


def detail_correlation(lowpass, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample correlation of the detail of ``a`` and ``b`` above the low-pass ``lowpass`` (reflect-padded)."""
    da = a - lowpass(a)
    db = b - lowpass(b)
    da = da - da.mean(dim=(1, 2, 3), keepdim=True)
    db = db - db.mean(dim=(1, 2, 3), keepdim=True)
    num = (da * db).sum(dim=(1, 2, 3))
    den = torch.sqrt((da * da).sum(dim=(1, 2, 3)) * (db * db).sum(dim=(1, 2, 3)) + 1e-12)
    return num / den


def prediction_loss(lowpass, denoised: torch.Tensor, next_raw: torch.Tensor) -> torch.Tensor:
    """1 - correlation of the atom-scale detail of Ms2c(frame n) with raw frame n + 1 (mean over the batch)."""
    return (1.0 - detail_correlation(lowpass, denoised, next_raw)).mean()
