"""The fast student (issue 5 item 3): distillation learns the teacher's output, keeps its input and
normalisation, saves and loads; `noise2atom distill`, `denoise --fast`; ONNX export checked against
ONNX Runtime (the [onnx] extra)."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from noise2atom import pretrained
from noise2atom.cli import app
from noise2atom.distill import STUDENT_MODEL, distill, student_config
from noise2atom.data.patches import CausalCrops
from noise2atom.model import Noise2Atom

runner = CliRunner()


@pytest.fixture
def teacher(tiny_config, noisy_movie):
    model = Noise2Atom(tiny_config.with_updates(model={"context_frames": 2}, train={"pair_steps": 2, "epochs": 0}),
                       device="cpu")
    model.fit(noisy_movie.noisy, max_steps=2)
    return model


def test_student_has_the_teachers_input_and_a_lighter_network(teacher):
    cfg = student_config(teacher.config)
    assert cfg.model.context_frames == teacher.config.model.context_frames == 2
    assert (cfg.model.width, cfg.model.res_blocks, cfg.model.kernels) == tuple(STUDENT_MODEL.values())
    assert cfg.data == teacher.config.data and cfg.denoise == teacher.config.denoise


def test_distillation_learns_the_teachers_output(teacher, noisy_movie):
    frames = noisy_movie.noisy
    nz = teacher.normalization_for(frames)
    x = torch.from_numpy(CausalCrops([nz.forward(frames)], 2, 48, np.random.default_rng(9)).batch(4))
    with torch.no_grad():
        target = teacher.s2c(x)
    untrained = Noise2Atom(student_config(teacher.config), device="cpu")
    losses = []
    student, summary = distill(teacher, frames, steps=120, crop=48, batch_size=4,
                               progress=lambda i, n, loss: losses.append(loss))
    with torch.no_grad():
        before = float(torch.mean((untrained.s2c(x) - target) ** 2))
        after = float(torch.mean((student.s2c(x) - target) ** 2))
    assert after < before / 3 and np.mean(losses[-20:]) < losses[0] / 3
    assert summary["steps"] == 120 and student.normalization == teacher.normalization
    assert student.record["distillation"]["final_loss"] == pytest.approx(summary["final_loss"])
    out = student.denoise(frames)
    assert out.shape == frames.shape and np.isfinite(out).all()


def test_a_student_file_reproduces_and_says_what_it_was_distilled_from(teacher, noisy_movie, tmp_path):
    student, _ = distill(teacher, noisy_movie.noisy, steps=3, crop=48, batch_size=2)
    student.save(tmp_path / "s.n2a")
    back = Noise2Atom.load(tmp_path / "s.n2a", device="cpu")
    assert back.record["distillation"]["steps"] == 3 and back.config.model.kernels == (3,)
    np.testing.assert_allclose(back.denoise(noisy_movie.noisy), student.denoise(noisy_movie.noisy), atol=1e-6)


def test_cli_distill_and_fast_refused_with_another_model(teacher, noisy_movie, tmp_path):
    movie, model = tmp_path / "m.npy", tmp_path / "t.n2a"
    np.save(movie, noisy_movie.noisy)
    teacher.save(model)
    out = tmp_path / "s.n2a"
    r = runner.invoke(app, ["distill", str(movie), "--model", str(model), "--out", str(out), "--steps", "3",
                            "--crop", "48"])
    assert r.exit_code == 0, r.output
    assert Noise2Atom.load(out, device="cpu").record["source"] == str(movie)
    r = runner.invoke(app, ["distill", str(movie), "--model", str(model), "--out", str(out), "--steps", "3"])
    assert r.exit_code == 2 and "exists" in r.output
    r = runner.invoke(app, ["denoise", str(movie), "--model", str(model), "--fast", "--out", str(tmp_path / "x.tif")])
    assert r.exit_code == 2 and "noise2atom distill" in r.output and not (tmp_path / "x.tif").exists()


@pytest.mark.skipif(not pretrained.FAST_FILE.exists(), reason="needs the shipped fast model")
def test_the_shipped_fast_model_follows_the_default_on_an_unseen_movie(tmp_path):
    from noise2atom.data.arena import SynthConfig, synthesize

    movie = synthesize(SynthConfig(frames=8, size=128, dose=1.0, seed=77))
    fast, default = pretrained.load_fast(), pretrained.load_default()
    a, b = default.denoise(movie.noisy, atom_window=1), fast.denoise(movie.noisy, atom_window=1)
    assert 10 * np.log10(1.0 / np.mean((a - b) ** 2)) > 25  # dB, output range [0, 1]
    truth = movie.atoms.ravel()
    assert np.corrcoef(b.ravel(), truth)[0, 1] > np.corrcoef(a.ravel(), truth)[0, 1] - 0.05
    src = tmp_path / "m.tif"
    from noise2atom.io import read_stack, write_tiff

    write_tiff(src, movie.noisy, pixel_size=0.05, unit="nm")
    r = runner.invoke(app, ["denoise", str(src), "--fast", "--atom-window", "1", "--out", str(tmp_path / "f.tif")])
    assert r.exit_code == 0, r.output
    out = read_stack(tmp_path / "f.tif")
    np.testing.assert_allclose(out.data, b, atol=1e-5)
    assert out.pixel_size == pytest.approx(0.05) and out.unit == "nm"


def test_onnx_export_matches_onnx_runtime(teacher, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "t.onnx"
    model_file = tmp_path / "t.n2a"
    teacher.save(model_file)
    r = runner.invoke(app, ["export", str(model_file), "--out", str(path)])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["max_abs_difference"] < 1e-4 and result["input_channels"] == 3
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["noise2atom_config"])["model"]["context_frames"] == 2
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 48, 80)).astype(np.float32)  # another size, batch
    with torch.inference_mode():
        expected = teacher.s2c(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"x": x})[0], expected, atol=1e-4)
    r = runner.invoke(app, ["export", str(model_file), "--out", str(path)])
    assert r.exit_code == 2 and "exists" in r.output
