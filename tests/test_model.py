import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from noise2atom import Noise2Atom
from noise2atom.errors import InputError


@pytest.fixture
def trained(tiny_config, noisy_movie):
    m = Noise2Atom(tiny_config, device="cpu")
    m.fit(noisy_movie.noisy, max_steps=2)
    return m


def test_save_load_reproduces(trained, noisy_movie, tmp_path):
    path = trained.save(tmp_path / "m.n2a")
    again = Noise2Atom.load(path, device="cpu")
    assert again.config == trained.config and again.normalization == trained.normalization
    a = trained.denoise(noisy_movie.noisy[:2])
    b = again.denoise(noisy_movie.noisy[:2])
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a.shape == (2, 64, 64) and a.min() >= 0 and a.max() <= 1
    assert again.record["result"]["steps"] == 2
    with pytest.raises(InputError, match="exists"):
        trained.save(path)


def test_rescale_maps_back_to_input_units(trained, noisy_movie):
    out = trained.denoise(noisy_movie.noisy[:1], rescale=True)
    n = trained.normalization
    assert out.min() >= n.low - 1e-3 and out.max() <= n.high + 1e-3


def test_any_frame_size(trained, rng):
    frames = rng.poisson(3.0, size=(2, 37, 91)).astype(np.float32)
    out = trained.denoise(frames)
    assert out.shape == (2, 37, 91)
    assert np.isfinite(out).all()


def test_load_refuses_foreign_and_damaged_files(trained, tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "something-else"})
    with pytest.raises(InputError, match="not a noise2atom model"):
        Noise2Atom.load(foreign)
    junk = tmp_path / "junk.n2a"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="not a noise2atom model"):
        Noise2Atom.load(junk)
    with pytest.raises(InputError, match="no such model"):
        Noise2Atom.load(tmp_path / "missing.n2a")


def test_untrained_model_cannot_denoise_or_save(tiny_config, tmp_path):
    m = Noise2Atom(tiny_config, device="cpu")
    with pytest.raises(RuntimeError, match="no normalisation"):
        m.denoise(np.ones((1, 48, 48)) * np.arange(48))
    with pytest.raises(RuntimeError, match="untrained"):
        m.save(tmp_path / "m.n2a")


def test_frames_smaller_than_crop_refused(tiny_config):
    m = Noise2Atom(tiny_config, device="cpu")
    with pytest.raises(InputError, match="smaller than the 48x48 training crop"):
        m.fit(np.random.default_rng(0).random((3, 40, 40)), max_steps=1)
