"""``train.precision``: the supervised training passes (pair stage, merge, distillation's matcher) in bfloat16."""

import numpy as np
import pytest
import torch

from noise2atom.config import ConfigError, RunConfig
from noise2atom.train import Trainer
from noise2atom.train.amp import train_autocast
from noise2atom.train.match import match_teacher


def test_the_training_autocast_runs_convolutions_in_bfloat16_only_when_asked():
    conv, x = torch.nn.Conv2d(1, 2, 3), torch.zeros(1, 1, 8, 8)
    with train_autocast("cpu", "fp32"):
        assert conv(x).dtype == torch.float32
    with train_autocast(torch.device("cpu"), "bf16"):
        assert conv(x).dtype == torch.bfloat16
    assert conv(x).dtype == torch.float32  # nothing left behind
    with pytest.raises(ValueError, match="precision='fp16' must be one of fp32, bf16"):
        train_autocast("cpu", "fp16")


def test_precision_is_checked_and_old_configurations_train_in_float32(tiny_config):
    with pytest.raises(ConfigError, match=r"train.precision='fp16' must be one of fp32, bf16"):
        tiny_config.with_updates(train={"precision": "fp16"})
    old = tiny_config.to_dict()
    del old["train"]["precision"]  # written before the option existed
    assert RunConfig.from_dict(old).train.precision == "fp32"


def _pair_trainer(cfg, noisy):
    from noise2atom.model import Noise2Atom

    _, frames, val, _, sampler = Noise2Atom(cfg).prepare(noisy)
    return Trainer(cfg, frames, device="cpu", val_frames=val, pair_sampler=sampler)


def test_bf16_pair_steps_keep_float32_weights_and_follow_float32s_gradients(tiny_config, noisy_movie):
    cfg = tiny_config.with_updates(train={"pair_steps": 3, "epochs": 0})
    runs = {}
    for precision in ("fp32", "bf16"):
        tr = _pair_trainer(cfg.with_updates(train={"precision": precision}), noisy_movie.noisy)
        start = torch.cat([p.detach().reshape(-1).clone() for p in tr.s2c.parameters()])
        losses = [tr.pair_step()["pair"] for _ in range(3)]
        assert all(np.isfinite(losses))
        assert all(p.dtype == torch.float32 for p in tr.s2c.parameters())
        runs[precision] = (start, torch.cat([p.detach().reshape(-1) for p in tr.s2c.parameters()]), losses)
    (s32, w32, l32), (s16, w16, l16) = runs["fp32"], runs["bf16"]
    torch.testing.assert_close(s32, s16)  # the same start and batches (same seed) ...
    assert not torch.equal(w32, w16)  # ... but the passes did run in another format
    assert l16[0] == pytest.approx(l32[0], rel=0.05)
    # on one batch the bf16 gradient points where the float32 one does (Adam's steps, which divide
    # by each weight's gradient size, magnify the small differences over a few steps)
    noisy, clean = (tr._tensor(a) for a in tr.pair_sampler.batch(4))
    grads = {}
    for precision in ("fp32", "bf16"):
        tr.s2c.zero_grad(set_to_none=True)
        with train_autocast("cpu", precision):
            out = tr.s2c(noisy)
        torch.nn.functional.mse_loss(out.float(), clean).backward()
        grads[precision] = torch.cat([p.grad.reshape(-1) for p in tr.s2c.parameters()])
    g32, g16 = grads["fp32"], grads["bf16"]
    assert not torch.equal(g32, g16)
    assert float(torch.dot(g32, g16) / (g32.norm() * g16.norm())) > 0.98


def test_the_matcher_teaches_in_bf16_with_a_float32_student():
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(4, 1, 3, padding=1))
    student = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(4, 1, 3, padding=1))

    class Crops:
        rng = np.random.default_rng(1)

        def batch(self, b):
            return self.rng.uniform(-1, 1, (b, 1, 16, 16)).astype(np.float32)

    steps, losses = match_teacher(student, teacher, Crops(), steps=60, batch_size=4, lr=1e-2, cosine=False,
                                  precision="bf16")
    assert steps == 60 and all(p.dtype == torch.float32 for p in student.parameters())
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:5]), (losses[:5], losses[-10:])


def test_cli_train_precision_is_recorded_and_a_wrong_one_refused(tmp_path, cli_train):
    model = tmp_path / "m.n2a"
    r, _ = cli_train(model, "--precision", "fp16")
    assert r.exit_code == 2 and "train.precision='fp16' must be one of fp32, bf16" in r.output
    assert not model.exists()
    r, train = cli_train(model, "--precision", "bf16")
    assert r.exit_code == 0, r.output
    assert train["precision"] == "bf16"
