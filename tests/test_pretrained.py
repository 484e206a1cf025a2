"""The pretrained default model: generic training, per-input normalisation, compact files, fine-tuning."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from noise2atom import pretrained
from noise2atom.config import ConfigError, SimulationConfig, preset_config
from noise2atom.data.arena import SynthConfig, synthesize
from noise2atom.data.normalize import Normalization
from noise2atom.data.pairs import MixedPairSampler, NoiseFit, PairSampler, movie_peak
from noise2atom.errors import InputError
from noise2atom.io import read_stack
from noise2atom.model import Noise2Atom
from noise2atom.train.trainer import Trainer

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
needs_default = pytest.mark.skipif(not pretrained.DEFAULT_FILE.exists(),
                                   reason="the pretrained default model file is not in this checkout")


def _tiny_generic_config(context=2):
    return preset_config("small", seed=3).with_updates(
        data={"crop_px": 48, "n_frames": 6},
        model={"width": 8, "res_blocks": 1, "critic_width": 8, "context_frames": context},
        train={"batch_size": 2, "epochs": 0, "pair_steps": 4, "checkpoint_every_steps": 2},
        denoise={"tile_px": 48, "overlap_px": 12, "batch_size": 4},
    )


def _sampler(height, seed, context=1):
    fit = NoiseFit(gain=1.0, offset=0.0, scan_correlation=0.0, atom_variance_px2=2.0, atom_height=height)
    bg = np.full((2, 64, 64), 3.0, dtype=np.float32)
    nz = Normalization.fit(np.stack([bg[0], bg[0] + height]))
    return PairSampler(fit, bg, nz, SimulationConfig(), 48, np.random.default_rng(seed), context=context)


def test_mixed_sampler_draws_from_every_sampler_in_its_own_units():
    dim, bright = _sampler(5.0, 0), _sampler(500.0, 1)
    mixed = MixedPairSampler([dim, bright], np.random.default_rng(7))
    noisy, clean = mixed.batch(64)
    assert noisy.shape == (64, 2, 48, 48) and clean.shape == (64, 1, 48, 48)
    # each sampler normalises its own series: both come out in [-1, 1]-ish units, but the dim one is
    # far noisier there; both kinds must be present in one batch
    resid = (noisy[:, -1] - clean[:, 0]).reshape(64, -1).std(axis=1)
    assert (resid > 0.3).sum() >= 10 and (resid < 0.2).sum() >= 10
    again = MixedPairSampler([_sampler(5.0, 0), _sampler(500.0, 1)], np.random.default_rng(7)).batch(64)
    np.testing.assert_array_equal(again[0], noisy)
    with pytest.raises(ValueError, match="context"):
        MixedPairSampler([_sampler(5.0, 0, context=1), _sampler(5.0, 0, context=2)], np.random.default_rng(0))


def test_movie_peak_ignores_a_current_frame_holding_only_far_tails():
    now = np.full((2, 4, 4), 1e-12)
    now[1, 0, 0] = 0.8
    before = np.zeros((2, 4, 4))
    before[:, 1, 1] = 1.0
    peak = movie_peak([now, before])[:, 0, 0]
    np.testing.assert_allclose(peak, [0.5, 0.8])  # at least half the brightest frame; else the current peak
    assert (before / peak[:, None, None]).max() <= 2.0
    np.testing.assert_array_equal(movie_peak([np.zeros((1, 3, 3))]), np.ones((1, 1, 1)))


@pytest.fixture(scope="module")
def tiny_generic(tmp_path_factory):
    series = [(f"s{d}", synthesize(SynthConfig(frames=6, size=64, dose=d, seed=40 + i)).noisy)
              for i, d in enumerate((1.0, 5.0))]
    model, result = pretrained.train_generic(series, config=_tiny_generic_config(), steps=4, device="cpu")
    assert result.steps == 4
    path = tmp_path_factory.mktemp("generic") / "g.n2a"
    model.save(path, denoiser_only=True, half=True)
    return model, path


def test_generic_model_normalises_each_input_on_its_own(tiny_generic):
    model, _ = tiny_generic
    assert model.generic and model.record["normalization"] == "per input"
    x = synthesize(SynthConfig(frames=3, size=64, dose=2.0, seed=9)).noisy
    a = model.denoise(x)
    b = model.denoise(40.0 * x + 1000.0)  # another detector gain and offset: the same image
    np.testing.assert_allclose(a, b, atol=2e-3)
    with pytest.raises(RuntimeError, match="generic"):
        next(model.denoise_iter(iter(list(x))))


def test_compact_file_keeps_the_denoiser_exactly(tiny_generic):
    model, path = tiny_generic
    full = path.with_name("full.n2a")
    model.save(full)
    assert path.stat().st_size < 0.3 * full.stat().st_size  # Ms2c alone, float16
    back = Noise2Atom.load(path, device="cpu")
    assert back.generic
    x = synthesize(SynthConfig(frames=3, size=64, dose=2.0, seed=9)).noisy
    np.testing.assert_allclose(back.denoise(x), model.denoise(x), atol=1e-5)


def test_trainer_starts_from_given_weights_and_fit_refuses_another_shape(tiny_generic, noisy_movie):
    model, _ = tiny_generic
    cfg = pretrained.finetune_config(model, seed=1, pair_steps=2)
    assert cfg.model == model.config.model and cfg.train.pair_steps == 2 and cfg.seed == 1
    init = {k: v.clone() for k, v in model.s2c.state_dict().items()}
    frames = np.zeros((4, 64, 64), np.float32)
    tr = Trainer(cfg, frames, device="cpu", init_s2c=init, pair_sampler=_sampler(5.0, 0, context=2))
    for k, v in tr.s2c.state_dict().items():
        assert torch.equal(v, init[k])
    tuned = Noise2Atom(cfg, device="cpu")
    tuned.fit(noisy_movie.noisy, init=model)
    assert tuned.record["init"] == "default" and not tuned.generic
    other = Noise2Atom(cfg.with_updates(model={"width": 12}), device="cpu")
    with pytest.raises(ConfigError, match="network shape"):
        other.fit(noisy_movie.noisy, init=model)


def test_init_blend_mixes_the_fine_tuned_weights_with_the_start_and_survives_a_resume(tiny_generic, noisy_movie,
                                                                                     tmp_path):
    model, _ = tiny_generic
    cfg = pretrained.finetune_config(model, seed=1, pair_steps=4)
    start = {k: v.clone() for k, v in model.s2c.state_dict().items()}
    plain = Noise2Atom(cfg, device="cpu")
    assert plain.fit(noisy_movie.noisy, init=model, workdir=tmp_path / "plain").init_blend is None
    tuned = plain.s2c.state_dict()
    moved = [k for k, v in tuned.items() if v.is_floating_point() and not torch.equal(v, start[k])]
    assert moved  # the fine-tune changed the weights, so a blend can be told from either end
    blend = cfg.with_updates(train={"init_blend": 0.25})
    half = Noise2Atom(blend, device="cpu")
    result = half.fit(noisy_movie.noisy, init=model, workdir=tmp_path / "half")
    assert result.init_blend == 0.25 and half.record["result"]["init_blend"] == 0.25
    for k, v in half.s2c.state_dict().items():
        torch.testing.assert_close(v, 0.75 * tuned[k] + 0.25 * start[k] if v.is_floating_point() else tuned[k])
    # interrupted after 2 steps and resumed without the start model: the checkpoint holds it
    Noise2Atom(blend, device="cpu").fit(noisy_movie.noisy, init=model, workdir=tmp_path / "cut", max_steps=2)
    again = Noise2Atom(blend, device="cpu")
    assert again.fit(noisy_movie.noisy, workdir=tmp_path / "cut", resume=True).init_blend == 0.25
    for k, v in again.s2c.state_dict().items():
        torch.testing.assert_close(v, half.s2c.state_dict()[k])


@pytest.mark.parametrize("field, bad, message, default", [
    ("init_blend", 1.5, r"train.init_blend=1.5 must be in \[0, 1\]", 0.0),
    ("pair_ema", 1.0, r"train.pair_ema=1.0 must be in \[0, 1\)", 0.0),
    ("keep_start", None, None, False),
    ("keep_start_margin", -0.1, r"train.keep_start_margin=-0.1 must be >= 0", 0.005),
    ("merge_steps", -1, r"train.merge_steps=-1 must be >= 0", 0),
    ("merge_lr", 0.0, r"train.merge_lr=0.0 must be > 0", 1e-4),
    ("merge_batch", 0, r"train.merge_batch=0 must be >= 1", 8),
    ("merge_crop_px", 8, r"train.merge_crop_px=8 must be in \[16, 4096\]", 96)])
def test_fine_tune_hedges_are_checked_and_old_configurations_leave_them_out(tiny_generic, field, bad, message,
                                                                             default):
    from noise2atom.config import RunConfig

    model, _ = tiny_generic
    if message is not None:
        with pytest.raises(ConfigError, match=message):
            model.config.with_updates(train={field: bad})
    old = model.config.to_dict()
    del old["train"][field]  # written before the option existed
    assert getattr(RunConfig.from_dict(old).train, field) == default


def test_pair_ema_keeps_the_moving_average_of_the_pair_stage_and_survives_a_resume(tiny_generic, noisy_movie,
                                                                                   tmp_path):
    model, _ = tiny_generic
    cfg = pretrained.finetune_config(model, seed=1, pair_steps=4)
    raw = [{k: v.clone() for k, v in model.s2c.state_dict().items()}]  # the stage's first weights
    plain = Noise2Atom(cfg, device="cpu")
    for i in range(4):  # one step at a time: no average, so the weights after each step
        plain.fit(noisy_movie.noisy, init=model, workdir=tmp_path / "plain", max_steps=1, resume=i > 0)
        raw.append({k: v.clone() for k, v in plain.s2c.state_dict().items()})
    ema = dict(raw[0])
    averages = [ema]
    for w in raw[1:]:
        ema = {k: 0.5 * ema[k] + 0.5 * v if v.is_floating_point() else v for k, v in w.items()}
        averages.append(ema)
    assert any(not torch.allclose(averages[4][k], raw[4][k]) for k in raw[4] if raw[4][k].is_floating_point())
    cfg_ema = cfg.with_updates(train={"pair_ema": 0.5})
    whole = Noise2Atom(cfg_ema, device="cpu")
    whole.fit(noisy_movie.noisy, init=model, workdir=tmp_path / "whole")
    for k, v in whole.s2c.state_dict().items():
        torch.testing.assert_close(v, averages[4][k])
    # stopped inside the stage: the average so far; resumed: the checkpoint held the raw weights and the average
    cut = Noise2Atom(cfg_ema, device="cpu")
    cut.fit(noisy_movie.noisy, init=model, workdir=tmp_path / "cut", max_steps=2)
    for k, v in cut.s2c.state_dict().items():
        torch.testing.assert_close(v, averages[2][k])
    again = Noise2Atom(cfg_ema, device="cpu")
    again.fit(noisy_movie.noisy, workdir=tmp_path / "cut", resume=True)
    for k, v in again.s2c.state_dict().items():
        torch.testing.assert_close(v, averages[4][k])


def test_keep_start_denoises_with_the_mean_of_the_fine_tuned_and_the_starting_network(tiny_generic, noisy_movie,
                                                                                      tmp_path):
    from noise2atom.models import MeanOf, ensemble_size

    model, _ = tiny_generic
    cfg = pretrained.finetune_config(model, seed=1, pair_steps=3)
    plain = Noise2Atom(cfg, device="cpu")
    assert plain.fit(noisy_movie.noisy, init=model).keep_start is False and ensemble_size(plain.s2c) == 1
    both = Noise2Atom(cfg.with_updates(train={"keep_start": True, "keep_start_margin": 1.0}), device="cpu")
    result = both.fit(noisy_movie.noisy, init=model)
    assert result.keep_start and both.record["result"]["keep_start"] and isinstance(both.s2c, MeanOf)
    x = torch.from_numpy(np.random.default_rng(3).uniform(-1, 1, (2, 1 + cfg.model.context_frames, 64, 64)).astype(np.float32))
    with torch.inference_mode():
        tuned, start, mean = plain.s2c.eval()(x), model.s2c.eval()(x), both.s2c.eval()(x)
    assert not torch.allclose(tuned, start, atol=1e-3)  # the two members differ, so the mean is neither
    torch.testing.assert_close(mean, 0.5 * (tuned + start))
    # the model file carries both networks, and denoising through it gives the same frames
    path = both.save(tmp_path / "both.n2a")
    again = Noise2Atom.load(path, device="cpu")
    assert ensemble_size(again.s2c) == 2
    np.testing.assert_allclose(again.denoise(noisy_movie.noisy), both.denoise(noisy_movie.noisy), atol=1e-5)
    # fine-tuning the ensemble starts from its own fine-tuned network (the first)
    more = Noise2Atom(pretrained.finetune_config(again, seed=2, pair_steps=1), device="cpu")
    more.fit(noisy_movie.noisy, init=again)
    assert ensemble_size(more.s2c) == 2
    with torch.inference_mode():
        torch.testing.assert_close(more.s2c.nets[1].eval()(x), tuned)


def test_keep_start_keeps_the_start_only_where_it_holds_up_on_the_series(tiny_generic, noisy_movie, caplog):
    from noise2atom.models import MeanOf, ensemble_size

    model, _ = tiny_generic
    cfg = pretrained.finetune_config(model, seed=1, pair_steps=3).with_updates(train={"keep_start": True})
    always = Noise2Atom(cfg.with_updates(train={"keep_start_margin": 1.0}), device="cpu")
    result = always.fit(noisy_movie.noisy, init=model)
    check = result.start_check
    # the fine-tuned network's score is the held-out score that chose its weights
    assert result.keep_start and isinstance(always.s2c, MeanOf) and check["fine_tuned"] == result.kept_score
    drop = check["fine_tuned"] - check["with_start"]
    assert drop > 0.005, check  # on this tiny series the untrained-for-it start pulls the mean down
    assert always.record["result"]["start_check"] == check
    # a margin below the drop: the start is left out, and with it the merge
    strict = Noise2Atom(cfg.with_updates(train={"keep_start_margin": drop / 2, "merge_steps": 10}), device="cpu")
    with caplog.at_level(logging.WARNING, logger="noise2atom"):
        result = strict.fit(noisy_movie.noisy, init=model)
    assert "the starting network does not hold up on this series" in caplog.text
    assert not result.keep_start and result.merged_steps is None and ensemble_size(strict.s2c) == 1
    assert result.start_check == {**check, "margin": drop / 2}
    x = torch.from_numpy(np.random.default_rng(3).uniform(-1, 1, (2, 1 + cfg.model.context_frames, 64, 64)).astype(np.float32))
    with torch.inference_mode():  # what is kept is the fine-tuned network alone
        torch.testing.assert_close(strict.s2c.eval()(x), always.s2c.eval().nets[0](x))
    # a margin above it: kept
    loose = Noise2Atom(cfg.with_updates(train={"keep_start_margin": drop * 2}), device="cpu")
    assert loose.fit(noisy_movie.noisy, init=model).keep_start and ensemble_size(loose.s2c) == 2
    # no check without the option
    assert Noise2Atom(cfg.with_updates(train={"keep_start": False}), device="cpu").fit(
        noisy_movie.noisy, init=model).start_check is None


def test_merge_steps_teach_the_two_networks_mean_to_one_network(tiny_generic, noisy_movie, tmp_path):
    from noise2atom.data import CausalCrops
    from noise2atom.models import ensemble_size

    model, _ = tiny_generic
    cfg = pretrained.finetune_config(model, seed=1, pair_steps=3).with_updates(
        train={"keep_start": True, "keep_start_margin": 1.0})
    both = Noise2Atom(cfg, device="cpu")
    both.fit(noisy_movie.noisy, init=model)
    merged = Noise2Atom(cfg.with_updates(train={"merge_steps": 40, "merge_lr": 1e-3, "merge_batch": 4}), device="cpu")
    rows = []
    result = merged.fit(noisy_movie.noisy, init=model, progress=lambda i, n, row: rows.append((i, n, row)))
    assert result.keep_start and result.merged_steps == 40 and merged.record["result"]["merged_steps"] == 40
    assert ensemble_size(merged.s2c) == 1 and ensemble_size(both.s2c) == 2
    # the progress goes on past the fine-tune's steps with the merge's loss
    assert rows[-1][0] == rows[-1][1] == 3 + 40 and "merge" in rows[-1][2]
    # on the series' crops the merged network is much nearer the two networks' mean than the fine-tuned one is
    nz = both.normalization_for(noisy_movie.noisy)
    x = torch.from_numpy(CausalCrops([nz.forward(noisy_movie.noisy)], cfg.model.context_frames, 64,
                                     np.random.default_rng(4)).batch(4))
    with torch.inference_mode():
        target, tuned, one = both.s2c.eval()(x), both.s2c.nets[0](x), merged.s2c(x)
    before, after = float(torch.mean((tuned - target) ** 2)), float(torch.mean((one - target) ** 2))
    assert after < before / 2, (before, after)
    # the file holds one network and denoises as the merged model does
    path = merged.save(tmp_path / "merged.n2a")
    again = Noise2Atom.load(path, device="cpu")
    assert ensemble_size(again.s2c) == 1
    np.testing.assert_allclose(again.denoise(noisy_movie.noisy), merged.denoise(noisy_movie.noisy), atol=1e-5)


def test_the_default_fine_tune_keeps_its_start_and_merges(tiny_generic):
    model, _ = tiny_generic
    cfg = pretrained.finetune_config(model, seed=1, pair_steps=3, merge_steps=pretrained.FINETUNE_MERGE_STEPS)
    assert cfg.train.keep_start and cfg.train.merge_steps == pretrained.FINETUNE_MERGE_STEPS == 100
    off = pretrained.finetune_config(model, seed=1, pair_steps=3, merge_steps=0)
    assert off.train.merge_steps == 0 and off.train.keep_start == model.config.train.keep_start
    same = pretrained.finetune_config(model, seed=1)  # None: the start's own settings
    assert (same.train.keep_start, same.train.merge_steps) == (model.config.train.keep_start,
                                                                model.config.train.merge_steps)


def test_a_merge_past_the_time_budget_keeps_the_two_networks(tiny_generic, noisy_movie, caplog, monkeypatch):
    import noise2atom.model as model_module
    from noise2atom.models import ensemble_size

    model, _ = tiny_generic
    cfg = pretrained.finetune_config(model, seed=1, pair_steps=3, merge_steps=50).with_updates(
        train={"keep_start_margin": 1.0})
    # the budget runs out before the merge begins: nothing merged, the two networks stay
    late = Noise2Atom(cfg, device="cpu")
    with caplog.at_level(logging.WARNING, logger="noise2atom"):
        result = late.fit(noisy_movie.noisy, init=model, minutes=1e-6)
    assert result.merged_steps == 0 and ensemble_size(late.s2c) == 2
    assert "time budget ran out before train.merge_steps" in caplog.text

    # ... or part of the way through it: a network taught part of the way is not kept
    def cut_short(student, teacher, crops, *, steps, deadline, **_):
        assert deadline is not None  # the fit's budget reaches the merge
        return 7, [0.1] * 7

    monkeypatch.setattr(model_module, "match_teacher", cut_short)
    caplog.clear()
    cut = Noise2Atom(cfg, device="cpu")
    with caplog.at_level(logging.WARNING, logger="noise2atom"):
        result = cut.fit(noisy_movie.noisy, init=model, minutes=60)
    assert result.merged_steps == 0 and ensemble_size(cut.s2c) == 2
    assert "after 7 of 50 merge steps" in caplog.text
    assert result.merge_seconds is not None and result.seconds >= result.merge_seconds


def test_the_merge_learns_on_frames_with_their_past_within_a_memory_bound(tiny_config, noisy_movie, monkeypatch):
    import noise2atom.model as model_module
    from noise2atom.io import stack_from_array

    model = Noise2Atom(tiny_config.with_updates(model={"context_frames": 2}, train={"epochs": 0, "pair_steps": 2}),
                       device="cpu")
    stack = stack_from_array(noisy_movie.noisy)
    model.prepare(stack)  # fits the normalisation
    frames = model.normalization.forward(noisy_movie.noisy.astype(np.float32))
    windows = model._merge_windows(stack, np.random.default_rng(0))
    assert len(windows) == len(noisy_movie.noisy)  # 6 frames, fewer than data.n_frames, all within the bound
    for w in windows:  # each ends on a frame and holds its two earlier ones (frame 0 repeated at the start)
        i = int(np.argmin([np.abs(f - w[-1]).max() for f in frames]))
        np.testing.assert_allclose(w, frames[[max(0, i - 2), max(0, i - 1), i]])
    monkeypatch.setattr(model_module, "MERGE_WINDOW_BYTES", 2 * 3 * 64 * 64 * 4)  # room for two windows
    assert len(model._merge_windows(stack, np.random.default_rng(0))) == 4  # but never fewer than 4


def test_start_hedges_without_a_start_model_are_announced_and_left_out(tiny_config, noisy_movie, caplog):
    from noise2atom.models import ensemble_size

    cfg = tiny_config.with_updates(train={"epochs": 1, "keep_start": True, "init_blend": 0.5})
    model = Noise2Atom(cfg, device="cpu")
    with caplog.at_level("WARNING", logger="noise2atom"):
        result = model.fit(noisy_movie.noisy, max_steps=1)
    assert "train.keep_start and train.init_blend keep(s) a start model, and there is none" in caplog.text
    assert result.keep_start is False and result.init_blend is None and ensemble_size(model.s2c) == 1
    model = Noise2Atom(tiny_config.with_updates(train={"epochs": 1, "merge_steps": 5}), device="cpu")
    with caplog.at_level("WARNING", logger="noise2atom"):
        result = model.fit(noisy_movie.noisy, max_steps=1)
    assert "train.merge_steps merges the networks that train.keep_start keeps, and it is off" in caplog.text
    assert result.merged_steps is None


def test_model_header_with_a_bad_member_count_is_refused(tiny_generic, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    _, path = tiny_generic
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    assert meta["s2c_members"] == "1"
    bad = tmp_path / "bad.n2a"
    save_file(tensors, str(bad), metadata={**meta, "s2c_members": "two"})
    with pytest.raises(InputError, match="s2c_members"):
        Noise2Atom.load(bad, device="cpu")
    save_file(tensors, str(bad), metadata={**meta, "s2c_members": "2"})  # one network's weights only
    with pytest.raises(InputError, match="do not match"):
        Noise2Atom.load(bad, device="cpu")


def test_model_header_with_unknown_parts_is_refused(tiny_generic, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    _, path = tiny_generic
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    bad = tmp_path / "bad.n2a"
    save_file(tensors, str(bad), metadata={**meta, "parts": "everything"})
    with pytest.raises(InputError, match="parts"):
        Noise2Atom.load(bad, device="cpu")


@needs_default
def test_shipped_default_is_small_generic_and_finds_atoms():
    model = pretrained.load_default(device="cpu")
    assert model.generic and model.config.preset == "small"
    assert pretrained.DEFAULT_FILE.stat().st_size < 8 * 2**20
    movie = synthesize(SynthConfig(frames=6, size=96, dose=2.0, seed=77))  # not a training seed
    den = model.denoise(movie.noisy, background="remove")

    def corr(a, b):
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    assert corr(den, movie.atoms) > corr(movie.noisy, movie.atoms) + 0.2


@needs_default
def test_cli_denoises_a_real_file_with_no_model_and_keeps_its_calibration(tmp_path):
    from typer.testing import CliRunner

    from noise2atom.cli import app

    src = REAL / "sto-adf-1us.emd"
    if not src.exists():
        pytest.skip(f"{src} not present (the shared real data lives beside the repo)")
    out = tmp_path / "den.tif"
    res = CliRunner().invoke(app, ["denoise", str(src), "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    back = read_stack(out)
    assert back.data.shape[-2:] == (1024, 1024) and np.isfinite(back.data).all() and back.data.std() > 0
    assert back.unit == "nm" and back.pixel_size == pytest.approx(0.0122, rel=0.01)


@needs_default
def test_cli_train_init_default_fine_tunes(tmp_path, noisy_movie):
    from typer.testing import CliRunner

    from noise2atom.cli import app

    src = tmp_path / "movie.npy"
    np.save(src, noisy_movie.noisy)
    out = tmp_path / "tuned.n2a"
    # without --init, train fine-tunes the default (what won in the arena), and says so in its log
    res = CliRunner().invoke(app, ["train", str(src), "--out", str(out), "--pair-steps", "3", "--device", "cpu",
                                   "--init-blend", "0.5", "--merge-steps", "0", "--keep-start-margin", "1"])
    assert res.exit_code == 0, res.output
    tuned = Noise2Atom.load(out, device="cpu")
    assert tuned.record["init"] == "default" and tuned.config.train.pair_steps == 3 and not tuned.generic
    assert tuned.config.train.init_blend == 0.5 and tuned.record["result"]["init_blend"] == 0.5
    # a fine-tune keeps its start by default; --merge-steps 0 leaves the two networks in the file
    assert tuned.config.train.keep_start and tuned.record["result"]["keep_start"] and len(tuned.s2c.nets) == 2
    assert tuned.config.train.keep_start_margin == 1.0 and tuned.record["result"]["start_check"]["margin"] == 1.0
    res = CliRunner().invoke(app, ["train", str(src), "--out", str(tmp_path / "merged.n2a"), "--pair-steps", "3",
                                   "--device", "cpu", "--keep-start-margin", "1", "--merge-steps", "2"])
    assert res.exit_code == 0, res.output
    merged = Noise2Atom.load(tmp_path / "merged.n2a", device="cpu")
    assert merged.config.train.keep_start and merged.config.train.merge_steps == 2
    assert merged.record["result"]["merged_steps"] == 2 and not hasattr(merged.s2c, "nets")
    # --no-keep-start: the plain fine-tune, one network, and no merge to warn about
    res = CliRunner().invoke(app, ["train", str(src), "--out", str(tmp_path / "plain.n2a"), "--pair-steps", "3",
                                   "--device", "cpu", "--no-keep-start"])
    assert res.exit_code == 0, res.output
    plain = Noise2Atom.load(tmp_path / "plain.n2a", device="cpu")
    assert not plain.config.train.keep_start and plain.config.train.merge_steps == 0
    assert not hasattr(plain.s2c, "nets") and "merge" not in (tmp_path / "plain.n2a.run" / "train.log").read_text()
    res = CliRunner().invoke(app, ["train", str(src), "--out", str(tmp_path / "w.n2a"), "--init-blend", "2",
                                   "--device", "cpu"])
    assert res.exit_code != 0 and "init_blend=2.0 must be in [0, 1]" in res.output
    assert not (tmp_path / "w.n2a").exists()
    assert "starting from default" in (tmp_path / "tuned.n2a.run" / "train.log").read_text()
    # --init none, or options that describe a fresh network, start from fresh weights
    for name, options in (("fresh.n2a", ["--init", "none"]), ("preset.n2a", ["--preset", "small"])):
        res = CliRunner().invoke(app, ["train", str(src), "--out", str(tmp_path / name), "--pair-steps", "1",
                                       "--crop", "48", "--frames", "4", "--device", "cpu", *options])
        assert res.exit_code == 0, res.output
        assert "init" not in Noise2Atom.load(tmp_path / name, device="cpu").record
        assert "from fresh weights" in (tmp_path / (name + ".run") / "train.log").read_text()
    res = CliRunner().invoke(app, ["train", str(src), "--out", str(tmp_path / "x.n2a"), "--init", "default",
                                   "--context-frames", "0", "--device", "cpu"])
    assert res.exit_code != 0 and "network shape" in res.output
    res = CliRunner().invoke(app, ["train", str(src), "--out", str(tmp_path / "z.n2a"), "--init", "default",
                                   "--epochs", "1", "--device", "cpu"])
    assert res.exit_code == 2 and "leave out --epochs" in res.output and not (tmp_path / "z.n2a").exists()
    res = CliRunner().invoke(app, ["train", str(src), "--out", str(tmp_path / "y.n2a"), "--init", "default",
                                   "--preset", "paper", "--device", "cpu"])
    assert res.exit_code == 2 and "leave out --preset" in res.output and not (tmp_path / "y.n2a").exists()


def test_a_model_warns_on_another_pixel_size(tiny_config, noisy_movie, caplog):
    from noise2atom.io import stack_from_array

    model = Noise2Atom(tiny_config.with_updates(train={"epochs": 1}), device="cpu")
    model.fit(stack_from_array(noisy_movie.noisy, pixel_size=0.5, unit="Å"), max_steps=1)
    assert model.record["pixel_size_nm_range"] == [pytest.approx(0.05), pytest.approx(0.05)]
    same = stack_from_array(noisy_movie.noisy, pixel_size=0.055, unit="nm")
    assert model.pixel_size_warning(same) is None
    assert model.pixel_size_warning(stack_from_array(noisy_movie.noisy)) is None  # uncalibrated: no claim
    other = stack_from_array(noisy_movie.noisy, pixel_size=0.02, unit="nm")
    msg = model.pixel_size_warning(other)
    assert "0.02 nm" in msg and "0.05 nm/px" in msg and "wider" in msg
    model.denoise(other)
    assert "trained at 0.05 nm/px" in caplog.text


@needs_default
def test_cli_warns_when_the_default_meets_another_pixel_size(tmp_path):
    from typer.testing import CliRunner

    from noise2atom.cli import app
    from noise2atom.io import write_tiff

    src = tmp_path / "coarse.tif"
    write_tiff(src, synthesize(SynthConfig(frames=2, size=48, dose=2.0, seed=5)).noisy, pixel_size=0.25, unit="nm")
    res = CliRunner().invoke(app, ["denoise", str(src), "--out", str(tmp_path / "d.tif"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "pixel size 0.25 nm" in res.output and "0.04-0.065 nm/px" in res.output
