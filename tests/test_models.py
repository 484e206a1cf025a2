import math

import numpy as np
import pytest
import torch

from noise2atom.config import preset_config
from noise2atom.models import Critic, Generator, LowPass, build_generator, count_parameters, gaussian_kernel


def test_generator_shapes_and_range():
    g = Generator(width=8, res_blocks=1)
    for shape in [(2, 1, 48, 48), (1, 1, 64, 40)]:
        y = g(torch.randn(*shape))
        assert y.shape == shape
        assert y.abs().max() < 1
    with pytest.raises(ValueError, match="multiples of 8"):
        g(torch.randn(1, 1, 44, 48))


def test_paper_preset_is_about_14m_parameters():
    n = count_parameters(build_generator(preset_config("paper", seed=0)))
    assert 13e6 < n < 15.5e6


def test_critic_shape():
    d = Critic(size=64, width=8)
    assert d(torch.randn(3, 1, 64, 64)).shape == (3, 1)
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.25 for m in d.modules()) == 4
    with pytest.raises(ValueError, match="64x64"):
        d(torch.randn(1, 1, 48, 48))


def test_lowpass_is_fixed_normalised_centred_gaussian():
    lp = LowPass()
    assert list(lp.parameters()) == []  # nothing an optimiser could train
    k = lp.kernel[0, 0].numpy().astype(np.float64)
    assert k.shape == (33, 33)
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.unravel_index(k.argmax(), k.shape) == (16, 16)
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])
    # variance of the kernel is 15 px² per axis
    t = np.arange(33) - 16
    assert (k.sum(axis=0) * t**2).sum() == pytest.approx(15.0, rel=1e-3)
    assert lp(torch.ones(1, 1, 64, 64)).shape == (1, 1, 32, 32)
    torch.testing.assert_close(lp(torch.ones(1, 1, 40, 40)), torch.ones(1, 1, 8, 8))
    assert gaussian_kernel(5, math.sqrt(2)).sum() == pytest.approx(1.0)
