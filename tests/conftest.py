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



@pytest.fixture
def pair_run_files(tmp_path, tiny_config, noisy_movie):
    """(movie TIFF, JSON configuration of 2 pair steps and no game) for `noise2atom train` CLI tests."""
    import json

    import tifffile

    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, noisy_movie.noisy)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(tiny_config.with_updates(train={"epochs": 0, "pair_steps": 2}).to_dict()))
    return movie, cfg


@pytest.fixture
def cli_train(pair_run_files):
    """``cli_train(out, *options)``: `noise2atom train` of ``pair_run_files`` into ``out`` with ``options``;
    returns the CLI result and the written model's training configuration (None when none was written)."""
    import json

    from typer.testing import CliRunner

    from noise2atom.cli import app

    movie, cfg = pair_run_files
    runner = CliRunner()

    def train(out, *options):
        r = runner.invoke(app, ["train", str(movie), "--out", str(out), "--config", str(cfg), *map(str, options)])
        info = json.loads(runner.invoke(app, ["info", str(out)]).stdout) if out.exists() else None
        return r, None if info is None else info["config"]["train"]

    return train


@pytest.fixture(scope="module")
def pair_setup():
    """(config, frames, validation frames, next frames, pair sampler) of a tiny pair-stage run: 6 steps
    of a width-8 network with 2 context frames on 48² crops, checkpoints every 3 steps."""
    from noise2atom import Noise2Atom, simulate_movie

    cfg = preset_config("small", seed=3).with_updates(
        data={"crop_px": 48, "n_frames": 8},
        model={"width": 8, "res_blocks": 1, "critic_width": 8, "context_frames": 2},
        train={"batch_size": 2, "epochs": 0, "pair_steps": 6, "select_every_steps": 3,
               "checkpoint_every_steps": 3})
    movie = simulate_movie(10, 96, dose_e_per_px=3.0, seed=2)
    _, frames, val, pairs, sampler = Noise2Atom(cfg, device="cpu").prepare(movie.noisy)
    return cfg, frames, val, pairs, sampler


@pytest.fixture
def pair_trainer(pair_setup):
    """``pair_trainer(workdir=None, **train)``: a CPU Trainer of ``pair_setup`` with these ``train``
    changes and its own copy of the sampler; ``pair_trainer.weights(tr)``: a copy of its Ms2c weights."""
    import copy

    from noise2atom.train import Trainer

    cfg, frames, val, pairs, sampler = pair_setup

    def make(workdir=None, **train):
        return Trainer(cfg.with_updates(train=train), frames, device="cpu", val_frames=val, pair_frames=pairs,
                       pair_sampler=copy.deepcopy(sampler), workdir=workdir)

    make.weights = lambda tr: [v.clone() for v in tr.s2c.state_dict().values()]
    return make
