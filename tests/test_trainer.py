import csv

import numpy as np
import pytest
import torch

from noise2atom.data import Normalization
from noise2atom.train import Trainer


def _frames(movie):
    return Normalization.fit(movie.noisy).forward(movie.noisy)


def test_training_changes_generators_and_critic(tiny_config, noisy_movie):
    tr = Trainer(tiny_config, _frames(noisy_movie), device="cpu")
    before = {n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in
              (("s2c", tr.s2c), ("c2s", tr.c2s), ("critic", tr.critic))}
    res = tr.run(max_steps=3)
    assert res.steps == 3 and res.stopped_by == "max_steps"
    for name, net in (("s2c", tr.s2c), ("c2s", tr.c2s), ("critic", tr.critic)):
        changed = any(not torch.equal(before[name][k], v) for k, v in net.state_dict().items())
        assert changed, name
    # the fixed low-pass did not move
    from noise2atom.models import LowPass

    torch.testing.assert_close(tr.lowpass.kernel, LowPass().kernel)


def test_cycle_loss_falls_over_training(tiny_config, noisy_movie):
    cfg = tiny_config.with_updates(train={"lr": 5e-4, "epochs": 40})
    tr = Trainer(cfg, _frames(noisy_movie), device="cpu")
    first = np.mean([tr.step()["cycle"] for _ in range(3)])
    for _ in range(20):
        tr.step()
    last = np.mean([tr.step()["cycle"] for _ in range(3)])
    assert last < first


def _losses(path):
    with open(path, newline="") as f:
        return [(int(r["step"]), float(r["critic"]), float(r["cycle"]), float(r["lfc"])) for r in csv.DictReader(f)]


def test_resume_continues_to_the_same_losses(tiny_config, noisy_movie, tmp_path):
    frames = _frames(noisy_movie)
    cfg = tiny_config.with_updates(train={"epochs": 3, "select_every_steps": 2})  # 3 epochs x 3 steps
    straight = Trainer(cfg, frames, device="cpu", workdir=tmp_path / "a")
    straight.run()
    first = Trainer(cfg, frames, device="cpu", workdir=tmp_path / "b")
    first.run(max_steps=4)  # stops at step 4; checkpoint written at the end
    second = Trainer(cfg, frames, device="cpu", workdir=tmp_path / "b")
    assert second.resume()
    assert second.global_step == 4
    second.run()
    a, b = _losses(tmp_path / "a" / "losses.csv"), _losses(tmp_path / "b" / "losses.csv")
    assert [r[0] for r in b] == list(range(1, 10))
    np.testing.assert_allclose(np.array(a)[:, 1:], np.array(b)[:, 1:], rtol=1e-4, atol=1e-5)
    for k, v in straight.s2c.state_dict().items():  # the kept (best-scoring) weights agree too
        torch.testing.assert_close(v, second.s2c.state_dict()[k], rtol=1e-4, atol=1e-5)
    assert straight.best["step"] == second.best["step"] and straight.best["score"] == pytest.approx(
        second.best["score"], abs=1e-5)


def test_resume_refuses_another_configuration(tiny_config, noisy_movie, tmp_path):
    frames = _frames(noisy_movie)
    Trainer(tiny_config, frames, device="cpu", workdir=tmp_path).run(max_steps=1)
    other = Trainer(tiny_config.with_updates(seed=99), frames, device="cpu", workdir=tmp_path)
    with pytest.raises(ValueError, match="another configuration"):
        other.resume()


def test_inverted_mapping_is_detected_and_restarted(tiny_config, noisy_movie, caplog):
    """A threshold of 1.0 makes every mapping count as inverted: the guard must restart with a new
    seed, switch the brightness term on and say so in the log."""
    cfg = tiny_config.with_updates(train={"epochs": 4, "inversion_warmup_epochs": 0, "inversion_warmup_steps": 0,
                                          "inversion_threshold": 1.0,
                                          "inversion_patience": 1, "max_restarts": 1, "brightness_weight": 0.0})
    tr = Trainer(cfg, _frames(noisy_movie), device="cpu")
    steps_per_epoch = tr.steps_per_epoch
    with caplog.at_level("WARNING", logger="noise2atom"):
        res = tr.run(max_steps=30)
    assert res.restarts == 1
    assert res.events[0]["event"] == "inverted_mapping" and "restart 1" in res.events[0]["action"]
    assert tr.brightness_weight == 1.0 and tr.seed != cfg.seed
    assert "inverted mapping detected" in caplog.text
    assert res.inverted_at_end  # threshold 1.0: still flagged at the end, with a warning
    assert steps_per_epoch == 3


def test_probe_correlation_sign(tiny_config, noisy_movie):
    tr = Trainer(tiny_config, _frames(noisy_movie), device="cpu")

    class Neg(torch.nn.Module):
        def forward(self, x):
            return -x

    tr.s2c = Neg()
    assert tr.probe_correlation() < -0.99


def test_keeps_the_weights_with_the_best_predictive_score(tiny_config, noisy_movie, tmp_path):
    cfg = tiny_config.with_updates(train={"epochs": 3, "select_every_steps": 1, "lr": 1e-3})
    tr = Trainer(cfg, _frames(noisy_movie), device="cpu", workdir=tmp_path)
    res = tr.run()
    with open(tmp_path / "losses.csv", newline="") as f:
        scores = {int(r["step"]): float(r["val_score"]) for r in csv.DictReader(f)}
    assert len(scores) == 9
    best_step = max(scores, key=scores.get)
    final_score = tr.validation_score()
    if res.kept_step != 9:  # the last step was not the best: its weights were swapped for the best
        assert res.kept_step == best_step
    assert final_score == pytest.approx(max(scores[best_step], scores[9]), abs=1e-5)


def test_predictive_score_prefers_truth_over_noise_and_blur():
    from scipy.ndimage import gaussian_filter

    from noise2atom.data import simulate_movie
    from noise2atom.metrics import predictive_r2

    m = simulate_movie(6, 64, dose_e_per_px=2.0, seed=1, drift_px=0.0, hop_prob=0.0)
    truth = predictive_r2(m.clean, m.noisy)
    assert truth > predictive_r2(m.noisy, m.noisy)
    assert truth > predictive_r2(gaussian_filter(m.clean, (0, 4, 4)), m.noisy)
    assert predictive_r2(-m.clean, m.noisy) == pytest.approx(-truth)


def test_temporal_prediction_term_is_active_and_uses_the_neighbouring_frame(tiny_config, noisy_movie):
    from noise2atom.model import Noise2Atom

    cfg = tiny_config.with_updates(train={"predict_weight": 5.0})
    model = Noise2Atom(cfg)
    stack, frames, _, pairs, _ = model.prepare(noisy_movie.noisy)
    norm = model.normalization.forward(noisy_movie.noisy)
    np.testing.assert_array_equal(pairs[:-1], norm[1:len(frames)])  # frame i pairs with frame i + 1 ...
    np.testing.assert_array_equal(pairs[-1], norm[len(frames) - 2])  # ... and the last with the one before
    on = Trainer(cfg, frames, device="cpu", pair_frames=pairs)
    off = Trainer(tiny_config, frames, device="cpu", pair_frames=pairs)
    row = on.step()
    off.step()
    assert 0 <= row["predict"] <= 2
    assert "predict" not in off.step()
    differs = any(not torch.equal(a, b) for a, b in zip(on.s2c.state_dict().values(), off.s2c.state_dict().values()))
    assert differs  # same seed, same batches: only the term differs


def test_temporal_prediction_without_a_series_is_left_out_with_a_warning(tiny_config, noisy_movie, caplog):
    cfg = tiny_config.with_updates(train={"predict_weight": 5.0})
    with caplog.at_level("WARNING", logger="noise2atom"):
        tr = Trainer(cfg, _frames(noisy_movie)[:1], device="cpu")
    assert "predict_weight" in caplog.text
    assert "predict" not in tr.step()


def test_validation_score_scores_atoms_on_the_support_and_never_prefers_an_inverted_mapping(tiny_config, noisy_movie):
    class Sign(torch.nn.Module):
        def __init__(self, s):
            super().__init__()
            self.s = s

        def forward(self, x):
            return self.s * x

    frames = _frames(noisy_movie)
    tr = Trainer(tiny_config, frames, device="cpu", val_frames=frames[:4, :48, :48])
    tr.s2c = Sign(1.0)
    upright = tr.validation_score()
    tr.s2c = Sign(-1.0)
    inverted = tr.validation_score()
    assert upright > 0 > inverted


def test_config_allows_pairs_alone_but_not_nothing(tiny_config):
    from noise2atom.config import ConfigError

    tiny_config.with_updates(train={"epochs": 0, "pair_steps": 5}).validate()
    with pytest.raises(ConfigError, match="nothing to train"):
        tiny_config.with_updates(train={"epochs": 0, "pair_steps": 0}).validate()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_last_checkpoint_is_detected_and_the_previous_one_used(tiny_config, noisy_movie, tmp_path,
                                                                       caplog, damage):
    frames = _frames(noisy_movie)
    cfg = tiny_config.with_updates(train={"epochs": 3})
    run = Trainer(cfg, frames, device="cpu", workdir=tmp_path)
    run.run(max_steps=3)  # checkpoints at step 2 (every 2 steps) and step 3 (the end)
    last = tmp_path / "last.pt"
    data = bytearray(last.read_bytes())
    if damage == "truncate":
        del data[len(data) // 2:]
    else:
        data[len(data) // 2] ^= 0xFF
    last.write_bytes(bytes(data))
    again = Trainer(cfg, frames, device="cpu", workdir=tmp_path)
    assert again.resume()
    assert "checksum mismatch" in caplog.text and "trying the previous one" in caplog.text
    assert again.global_step == 2  # prev.pt
