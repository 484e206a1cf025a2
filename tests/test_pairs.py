"""Synthetic pairs matched to a series (data.pairs) and the supervised pair stage of the trainer."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from noise2atom.config import SimulationConfig
from noise2atom.data.normalize import Normalization
from noise2atom.data.pairs import NoiseFit, PairSampler, _tap_weight, add_noise, fit_pair_model
from noise2atom.errors import InputError
from noise2atom.train.trainer import Trainer


def _static_scene(size=96, variance=2.0, height=6.0, background=2.0, seed=0):
    """A smooth background with separate Gaussian peaks of the given variance (px²) and height above it."""
    rng = np.random.default_rng(seed)
    pts = np.zeros((size, size))
    grid = np.arange(8, size - 7, 12)
    ys, xs = np.meshgrid(grid, grid)
    keep = rng.random(ys.shape) < 0.6
    pts[ys[keep], xs[keep]] = 1.0
    peaks = gaussian_filter(pts, np.sqrt(variance)) * 2 * np.pi * variance  # unit height per atom
    yy = np.linspace(0, 1, size)[:, None]
    return background * (1 + 0.3 * yy) + height * peaks


@pytest.mark.parametrize("rho", [0.0, 0.2, 0.45])
def test_tap_weight_gives_the_requested_scan_correlation(rho):
    w = _tap_weight(rho)
    x = np.random.default_rng(0).normal(size=(200, 400))
    y = (1 - w) * x[:, 1:] + w * x[:, :-1]
    got = (y[:, 1:] * y[:, :-1]).mean() / (y * y).mean()
    assert got == pytest.approx(rho, abs=0.01)


def test_fit_recovers_the_noise_width_and_height_of_a_known_series():
    truth = NoiseFit(gain=1.5, offset=0.04, scan_correlation=0.4, atom_variance_px2=2.0, atom_height=6.0)
    scene = _static_scene(variance=2.0, height=6.0)
    rng = np.random.default_rng(1)
    series = add_noise(np.repeat(scene[None], 12, axis=0), truth, rng)
    assert series.mean() == pytest.approx(scene.mean(), rel=0.03)  # the noise is unbiased
    fit, bg = fit_pair_model(series)
    assert fit.gain == pytest.approx(1.5, rel=0.15)
    assert fit.scan_correlation == pytest.approx(0.4, abs=0.05)
    assert fit.atom_variance_px2 == pytest.approx(2.0, rel=0.3)
    # the brightest peaks (single atoms here); noise lifts the estimate, the sampler draws 0.5-1.5 times it
    assert 6.0 <= fit.atom_height <= 1.5 * 6.0
    assert bg.shape == series.shape
    # the background follows the gradient, not the atoms
    assert np.median(bg[:, -10:]) > np.median(bg[:, :10])
    assert np.abs(np.median(bg) - np.median(scene)) < 0.5


def test_fit_refuses_tiny_frames_and_flat_series():
    with pytest.raises(InputError, match="16x16"):
        fit_pair_model(np.ones((3, 8, 8)), name="tiny.tif")
    with pytest.raises(InputError, match="no peaks"):
        fit_pair_model(np.full((3, 32, 32), 5.0), name="flat.tif")


def test_sampler_makes_pairs_whose_noisy_half_follows_the_clean_half():
    scene = _static_scene()
    fit = NoiseFit(gain=1.0, offset=0.0, scan_correlation=0.3, atom_variance_px2=2.0, atom_height=8.0)
    bg = np.full((4, 96, 96), 2.0, dtype=np.float32)
    nz = Normalization.fit(add_noise(np.repeat(scene[None], 4, 0), fit, np.random.default_rng(0)))
    s = PairSampler(fit, bg, nz, SimulationConfig(), 48, np.random.default_rng(3))
    assert s.simulation.variance_px2 == pytest.approx((1.2, 3.2))  # the measured width, not the paper's 1-10
    noisy, clean = s.batch(6)
    assert noisy.shape == clean.shape == (6, 1, 48, 48)
    assert noisy.dtype == clean.dtype == np.float32
    assert -1 <= noisy.min() and noisy.max() <= 1 and -1 <= clean.min() and clean.max() <= 1
    smooth = gaussian_filter(noisy[:, 0], (0, 2, 2))
    assert np.corrcoef(smooth.ravel(), clean.ravel())[0, 1] > 0.5
    again = PairSampler(fit, bg, nz, SimulationConfig(), 48, np.random.default_rng(3)).batch(6)
    np.testing.assert_array_equal(again[0], noisy)  # seeded


def test_pair_stage_trains_only_ms2c_on_pairs_then_hands_over_to_the_game(tiny_config, noisy_movie):
    from noise2atom.model import Noise2Atom

    cfg = tiny_config.with_updates(train={"pair_steps": 3, "select_every_steps": 1})
    model = Noise2Atom(cfg)
    _, frames, val, _, sampler = model.prepare(noisy_movie.noisy)
    assert sampler is not None and sampler.fit.atom_height > 0
    tr = Trainer(cfg, frames, device="cpu", val_frames=val, pair_sampler=sampler)
    assert tr.total_steps == Trainer(tiny_config, frames, device="cpu").total_steps + 3
    s2c0 = {k: v.clone() for k, v in tr.s2c.state_dict().items()}
    c2s0 = {k: v.clone() for k, v in tr.c2s.state_dict().items()}
    critic0 = {k: v.clone() for k, v in tr.critic.state_dict().items()}
    rows = []
    tr.run(max_steps=4, progress=lambda i, n, row: rows.append(row))
    assert [("pair" in r, "cycle" in r) for r in rows] == [(True, False)] * 3 + [(False, True)]
    # no choice among pair-stage weights: the stage's last weights enter the race once, at its end
    assert [("val_score" in r) for r in rows] == [False, False, True, True]


def test_pair_stage_changes_only_ms2c(tiny_config, noisy_movie):
    from noise2atom.model import Noise2Atom

    cfg = tiny_config.with_updates(train={"pair_steps": 2})
    model = Noise2Atom(cfg)
    _, frames, val, _, sampler = model.prepare(noisy_movie.noisy)
    tr = Trainer(cfg, frames, device="cpu", val_frames=val, pair_sampler=sampler)
    before = {k: {n: v.clone() for n, v in getattr(tr, k).state_dict().items()} for k in ("s2c", "c2s", "critic")}
    row = tr.step()
    assert set(row) == {"pair"} and row["pair"] > 0
    changed = {k: any(not torch.equal(v, getattr(tr, k).state_dict()[n]) for n, v in before[k].items())
               for k in before}
    assert changed == {"s2c": True, "c2s": False, "critic": False}


def test_pair_stage_learns_the_pairs(tiny_config, noisy_movie):
    from noise2atom.model import Noise2Atom

    cfg = tiny_config.with_updates(train={"pair_steps": 40, "batch_size": 4})
    model = Noise2Atom(cfg)
    _, frames, val, _, sampler = model.prepare(noisy_movie.noisy)
    tr = Trainer(cfg, frames, device="cpu", val_frames=val, pair_sampler=sampler)
    losses = [tr.step()["pair"] for _ in range(40)]  # attempt_step stays 0: every call is a pair step
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])


def test_fit_records_the_pair_model(tiny_config, noisy_movie):
    from noise2atom.model import Noise2Atom

    model = Noise2Atom(tiny_config.with_updates(train={"pair_steps": 2}))
    model.fit(noisy_movie.noisy, max_steps=2)
    assert set(model.record["pair_model"]) == {"gain", "offset", "scan_correlation", "atom_variance_px2",
                                               "atom_height"}
    plain = Noise2Atom(tiny_config)
    plain.fit(noisy_movie.noisy, max_steps=1)
    assert "pair_model" not in plain.record


def test_inversion_guard_waits_for_the_game(tiny_config, noisy_movie):
    """The guard never restarts a run in the pair stage (a threshold of 1 would flag every check)."""
    from noise2atom.model import Noise2Atom

    guard = {"inversion_warmup_steps": 0, "inversion_warmup_epochs": 0, "inversion_patience": 1,
             "inversion_threshold": 1.0}
    cfg = tiny_config.with_updates(train={"pair_steps": 40, **guard})
    model = Noise2Atom(cfg)
    _, frames, val, _, sampler = model.prepare(noisy_movie.noisy)
    tr = Trainer(cfg, frames, device="cpu", val_frames=val, pair_sampler=sampler)
    tr.check_every = 1
    tr.run(max_steps=3)
    assert tr.restarts == 0 and not tr.events
    plain = Trainer(tiny_config.with_updates(train=guard), frames, device="cpu", val_frames=val)
    plain.check_every = 1
    plain.run(max_steps=1)
    assert plain.restarts == 1  # the same guard fires in the game


def test_a_wide_opening_keeps_a_large_cluster_out_of_the_background():
    from noise2atom.data.pairs import background_maps, opening_px

    n = 96
    yy, xx = np.mgrid[:n, :n]
    frame = np.full((n, n), 10.0)
    for y in range(38, 58, 3):  # a 20 x 20 px cluster of atoms 3 px apart: a bright plateau
        for x in range(38, 58, 3):
            frame += 20.0 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.2**2))
    raw = frame[None]
    assert opening_px(1.44) == 9 and opening_px(1.44, 30) == 31
    auto = background_maps(raw, 1.44)[0]
    wide = background_maps(raw, 1.44, 31)[0]
    centre = (slice(44, 52), slice(44, 52))
    assert auto[centre].mean() > 20.0      # the narrow opening takes the cluster's plateau for support
    assert wide[centre].mean() < 13.0      # the wide one sees through it to the carbon


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_pair_learning_rate_follows_its_schedule(tiny_config, noisy_movie, schedule):
    from noise2atom.model import Noise2Atom

    cfg = tiny_config.with_updates(train={"pair_steps": 4, "pair_lr": 2e-3, "pair_lr_schedule": schedule})
    _, frames, val, _, sampler = Noise2Atom(cfg).prepare(noisy_movie.noisy)
    tr = Trainer(cfg, frames, device="cpu", val_frames=val, pair_sampler=sampler)
    seen = []  # the rate each pair step used
    tr.run(max_steps=4, progress=lambda i, n, row: seen.append(tr.opt_pair.param_groups[0]["lr"]))
    want = [2e-3] * 4 if schedule == "constant" else [2e-3 * 0.5 * (1 + np.cos(np.pi * i / 4)) for i in range(4)]
    np.testing.assert_allclose(seen, want, rtol=1e-12)
    if schedule == "cosine":
        assert seen[0] == 2e-3 and seen[-1] < 0.15 * seen[0]


def test_pair_learning_rate_schedule_is_checked_and_old_configurations_hold_the_rate(tiny_config):
    from noise2atom.config import ConfigError, RunConfig

    with pytest.raises(ConfigError, match="pair_lr_schedule='linear' must be one of constant, cosine"):
        tiny_config.with_updates(train={"pair_lr_schedule": "linear"})
    old = tiny_config.to_dict()
    del old["train"]["pair_lr_schedule"]  # written before the option existed
    assert RunConfig.from_dict(old).train.pair_lr_schedule == "constant"
