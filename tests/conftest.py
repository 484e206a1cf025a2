import numpy as np
import pytest
import torch

from noise2atom.config import preset_config

torch.set_num_threads(2)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def tiny_config():
    """A width-8 network on 48² crops: seconds per dozen steps on 2 CPU cores."""
    return preset_config("small", seed=5).with_updates(
        data={"crop_px": 48, "n_frames": 6},
        model={"width": 8, "res_blocks": 1, "critic_width": 8, "context_frames": 0},
        train={"batch_size": 2, "n_critic": 2, "epochs": 2, "checkpoint_every_steps": 2, "pair_steps": 0},
        denoise={"tile_px": 48, "overlap_px": 12, "batch_size": 4},
    )


@pytest.fixture
def noisy_movie():
    from noise2atom.data import simulate_movie

    return simulate_movie(6, 64, dose_e_per_px=3.0, seed=2)


@pytest.fixture(params=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def device(request):
    return torch.device(request.param)
