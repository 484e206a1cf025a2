import pytest
import torch

from noise2atom.models import LowPass
from noise2atom.train import losses as L


class Linear(torch.nn.Module):
    """D(x) = <w, x>: its gradient is w everywhere, so the penalty is (1 - ||w||)²."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(dim=1, keepdim=True)


def test_gradient_penalty_known_gradient():
    w = torch.full((1, 1, 4, 4), 0.75)  # ||w|| = 0.75 * 4 = 3
    d = Linear(w)
    real, fake = torch.randn(5, 1, 4, 4), torch.randn(5, 1, 4, 4)
    gp = L.gradient_penalty(d, real, fake)
    assert gp.item() == pytest.approx((1 - 3.0) ** 2, rel=1e-5)
    d2 = Linear(torch.full((1, 1, 4, 4), 0.25))  # unit norm -> no penalty
    assert L.gradient_penalty(d2, real, fake).item() == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_uses_one_weight_per_sample():
    class Quadratic(torch.nn.Module):
        def forward(self, x):
            return (x**2).flatten(1).sum(1, keepdim=True)

    real, fake = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    u = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)
    # grad = 2y, y = u*1 -> norms 0 and 4 -> penalties 1 and 9 -> mean 5
    assert L.gradient_penalty(Quadratic(), real, fake, u).item() == pytest.approx(5.0, rel=1e-5)


def test_wasserstein_and_critic_signs():
    scores = torch.tensor([[1.0], [3.0]])
    assert L.wasserstein(-1.0, scores).item() == -2.0
    d = Linear(torch.full((1, 1, 4, 4), 0.25))
    clean, fake = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    loss, info = L.critic_loss(d, clean, fake, gp_lambda=10.0)
    assert info["w_distance"] == pytest.approx(4.0)  # D(clean) - D(fake) = 16 * 0.25
    assert loss.item() == pytest.approx(-4.0, abs=1e-5)


def test_cycle_lfc_and_correlation():
    lp = LowPass()
    x = torch.rand(3, 1, 48, 48)
    assert L.cycle_loss(x, x).item() == 0
    assert L.lfc_loss(lp, x, x + 0.5).item() == pytest.approx(0.5, rel=1e-5)
    corr = L.lowpass_correlation(lp, x, x)
    torch.testing.assert_close(corr, torch.ones(3), atol=1e-4, rtol=0)
    inv = L.lowpass_correlation(lp, x, -x)
    torch.testing.assert_close(inv, -torch.ones(3), atol=1e-4, rtol=0)
    assert L.brightness_loss(lp, x, -x).item() == pytest.approx(2.0, abs=1e-4)


def test_prediction_loss_rewards_the_detail_of_the_next_frame():
    from noise2atom.models import LowPass
    from noise2atom.train.losses import prediction_loss

    lp = LowPass(33, 15 ** 0.5, padding="reflect")
    g = torch.Generator().manual_seed(0)
    detail = torch.randn(4, 1, 48, 48, generator=g)
    smooth = torch.linspace(-1, 1, 48).view(1, 1, 1, 48).expand(4, 1, 48, 48)
    assert float(prediction_loss(lp, detail, detail + 3 * smooth)) < 0.05  # the background does not count
    assert float(prediction_loss(lp, -detail, detail)) > 1.9               # inverted detail is the worst
    other = torch.randn(4, 1, 48, 48, generator=g)
    assert 0.8 < float(prediction_loss(lp, other, detail)) < 1.2           # unrelated detail: no help
    x = other.clone().requires_grad_(True)
    prediction_loss(lp, x, detail).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
