"""train.pair_sampler "torch": the pair stage's batches drawn with torch on the training device."""

import copy

import numpy as np
import pytest
import torch

from noise2atom import preset_config
from noise2atom.config import ConfigError, RunConfig
from noise2atom.data.clean import draw_clean_params, render_clean
from noise2atom.data.pairs import MISSING_PAST, MixedPairSampler, add_noise
from noise2atom.train.device_pairs import DevicePairSampler


def test_render_equals_the_numpy_simulator(pair_setup):
    """The device's clean images are render_clean's (normalize=False) for the same sites, also off
    the lattice points (a drifting scene) and with empty sites."""
    *_, sampler = pair_setup
    dev = DevicePairSampler(sampler, "cpu")
    params = draw_clean_params(5, config=sampler.simulation, rng=np.random.default_rng(4))
    y = params["y"] + np.random.default_rng(5).uniform(-3, 3, params["y"].shape)
    want = render_clean({**params, "y": y}, size=48, config=sampler.simulation, normalize=False)
    got = dev._render(*(torch.as_tensor(a, dtype=torch.float32) for a in (y, params["x"], params["atoms"],
                                                                          params["variance_px2"])))
    assert want.max() > 0.01
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-7)


def test_noise_has_the_numpy_noise_statistics(pair_setup):
    """Mean, variance and the scan direction's neighbour correlation of the counts equal add_noise's
    (the same measured noise model), on a large flat field."""
    *_, sampler = pair_setup
    dev = DevicePairSampler(sampler, "cpu", seed=1)
    level = float(np.median(sampler.backgrounds)) + 0.5 * sampler.fit.atom_height
    field = np.full((40, 64, 64), level, dtype=np.float32)
    a = add_noise(field, sampler.fit, np.random.default_rng(1)).astype(np.float64)
    b = dev._noise(torch.as_tensor(field)).numpy().astype(np.float64)

    def lag1(x):
        d = x - x.mean()
        return (d[..., 1:] * d[..., :-1]).mean() / (d * d).mean()

    assert b.mean() == pytest.approx(a.mean(), rel=0.01)
    assert b.var() == pytest.approx(a.var(), rel=0.03)
    assert lag1(b) == pytest.approx(lag1(a), abs=0.02)
    assert abs(lag1(a)) > 0.05 or sampler.fit.scan_correlation < 0.05  # the check has something to see


def test_batches_match_the_numpy_samplers_distributions(pair_setup):
    """Shapes, range, and the batches' statistics as the numpy sampler's: pixel means and spreads of
    the noisy and clean halves, the atoms' share of the clean images, the change between
    consecutive frames, and the share of samples whose oldest frame is a copy (series start)."""
    *_, sampler = pair_setup
    dev = DevicePairSampler(sampler, "cpu", seed=2)
    ref = copy.deepcopy(sampler)
    ref.rng = np.random.default_rng(2)
    got = [tuple(t.numpy() for t in dev.batch(16)) for _ in range(40)]
    want = [ref.batch(16) for _ in range(40)]
    assert got[0][0].shape == want[0][0].shape == (16, 3, 48, 48) and got[0][1].shape == (16, 1, 48, 48)
    assert got[0][0].dtype == got[0][1].dtype == np.float32

    def stats(batches):
        n = np.concatenate([x for x, _ in batches])
        c = np.concatenate([y for _, y in batches])
        return {"noisy_mean": n.mean(), "noisy_std": n.std(), "clean_mean": c.mean(), "clean_std": c.std(),
                "atoms": (c > -0.5).mean(), "frame_change": np.abs(n[:, -1] - n[:, -2]).mean(),
                "copied": (n[:, 0] == n[:, 1]).all(axis=(1, 2)).mean(), "low": n.min(), "high": n.max()}

    g, w = stats(got), stats(want)
    assert -1 <= g["low"] and g["high"] <= 1
    for key in ("noisy_mean", "noisy_std", "clean_mean", "clean_std", "frame_change"):
        assert g[key] == pytest.approx(w[key], rel=0.05), key
    assert g["atoms"] == pytest.approx(w["atoms"], rel=0.15)
    # 640 samples: 15 % of them start the series, 1 in 2 of those with the oldest frame copied (context 2)
    assert g["copied"] == pytest.approx(MISSING_PAST, abs=0.05)
    assert w["copied"] == pytest.approx(MISSING_PAST, abs=0.05)


def test_the_scene_drifts_by_the_measured_shifts_as_in_numpy(pair_setup):
    """With a steady measured drift and no sites changing, each earlier frame shows the scene moved by
    the shift, as the numpy sampler's do (frame_shift's convention: the earlier frame holds the
    current content at p + shift)."""
    from scipy.ndimage import gaussian_filter

    from noise2atom.data.pairs import frame_shift

    *_, sampler = pair_setup
    steady = copy.deepcopy(sampler)
    steady.shifts = np.tile([[3.0, -2.0]], (4, 1))
    steady.change_prob = 0.0
    steady.rng = np.random.default_rng(6)
    dev = DevicePairSampler(steady, "cpu", seed=6)

    def median_shift(noisy):
        sm = gaussian_filter(noisy, (0, 0, 1.5, 1.5))
        return np.median([frame_shift(s[-2], s[-1]) for s in sm], axis=0)

    want = median_shift(np.concatenate([steady.batch(8)[0] for _ in range(3)]))
    got = median_shift(np.concatenate([dev.batch(8)[0].numpy() for _ in range(3)]))
    np.testing.assert_allclose(want, [3.0, -2.0], atol=0.5)
    np.testing.assert_allclose(got, [3.0, -2.0], atol=0.5)


def test_same_seed_same_batches_and_the_state_continues_the_stream(pair_setup):
    *_, sampler = pair_setup
    a, b = DevicePairSampler(sampler, "cpu", seed=7), DevicePairSampler(sampler, "cpu", seed=7)
    a.rng = np.random.default_rng(3)  # a numpy generator seeds the device's
    first = a.batch(3)
    b.rng = np.random.default_rng(3)
    assert all(torch.equal(x, y) for x, y in zip(first, b.batch(3)))
    saved = a.state()
    nxt = a.batch(3)
    assert not torch.equal(nxt[0], first[0])
    c = DevicePairSampler(sampler, "cpu", seed=0)
    c.load_state(saved)
    assert all(torch.equal(x, y) for x, y in zip(nxt, c.batch(3)))


def test_single_frames_and_a_mixed_sampler(pair_setup):
    *_, sampler = pair_setup
    single = copy.deepcopy(sampler)
    single.context = 0
    noisy, clean = DevicePairSampler(single, "cpu").batch(4)
    assert noisy.shape == clean.shape == (4, 1, 48, 48)
    with pytest.raises(TypeError, match="one series' PairSampler, not MixedPairSampler"):
        DevicePairSampler(MixedPairSampler([sampler], np.random.default_rng(0)), "cpu")


def test_trainer_draws_on_the_device_and_resumes_like_an_unbroken_run(pair_trainer, tmp_path):
    """The trainer wraps the series' sampler; the same seed trains the same weights; a run stopped
    after 3 steps and resumed ends where the unbroken run ends (the generator's state is in the
    checkpoint); the numpy sampler trains other weights; another sampler is refused on resume."""
    weights = pair_trainer.weights
    full = pair_trainer(pair_sampler="torch")
    assert isinstance(full.pair_sampler, DevicePairSampler)
    full.run()
    again = pair_trainer(pair_sampler="torch")
    again.run()
    assert all(torch.equal(a, b) for a, b in zip(weights(full), weights(again)))
    numpy_run = pair_trainer(pair_sampler="numpy")
    numpy_run.run()
    assert not all(torch.equal(a, b) for a, b in zip(weights(full), weights(numpy_run)))

    broken = pair_trainer(tmp_path / "run", pair_sampler="torch")
    broken.run(max_steps=3)
    resumed = pair_trainer(tmp_path / "run", pair_sampler="torch")
    assert resumed.resume() and resumed.attempt_step == 3
    resumed.run()
    assert all(torch.equal(a, b) for a, b in zip(weights(full), weights(resumed)))
    with pytest.raises(ValueError, match="another configuration"):
        pair_trainer(tmp_path / "run", pair_sampler="numpy").resume()

def test_pair_sampler_field_is_checked_and_old_files_use_numpy():
    with pytest.raises(ConfigError, match="train.pair_sampler='cupy' must be one of numpy, torch"):
        preset_config("small").with_updates(train={"pair_sampler": "cupy"})
    with pytest.raises(ConfigError, match="with train.pair_sampler 'torch'"):
        preset_config("small").with_updates(train={"pair_sampler": "torch", "pair_workers": 2})
    d = preset_config("small").to_dict()
    del d["train"]["pair_sampler"]
    assert RunConfig.from_dict(d).train.pair_sampler == "numpy"


def test_cli_records_the_sampler_and_refuses_it_with_workers(tmp_path, cli_train):
    r, train = cli_train(tmp_path / "m.n2a", "--pair-sampler", "torch")
    assert r.exit_code == 0, r.output
    assert train["pair_sampler"] == "torch"
    other = tmp_path / "n.n2a"
    r, _ = cli_train(other, "--pair-sampler", "torch", "--pair-workers", 1)
    assert r.exit_code != 0 and "set it to 0" in r.output and not other.exists()
