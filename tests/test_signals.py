"""The HyperSpy adapter (optional extra): Signal2D in, Signal2D out, axes and metadata kept."""

from pathlib import Path

import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api", reason="the [hyperspy] extra is not installed")

from noise2atom import denoise_signal  # noqa: E402
from noise2atom.errors import InputError  # noqa: E402
from noise2atom.signals import signal_to_stack  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model():
    from noise2atom.config import preset_config
    from noise2atom.data import simulate_movie
    from noise2atom.model import Noise2Atom

    movie = simulate_movie(6, 64, dose_e_per_px=3.0, seed=2)
    cfg = preset_config("small", seed=5).with_updates(
        data={"crop_px": 48, "n_frames": 6}, model={"width": 8, "res_blocks": 1, "critic_width": 8},
        train={"batch_size": 2, "pair_steps": 4, "epochs": 0}, denoise={"tile_px": 48, "overlap_px": 12})
    model = Noise2Atom(cfg, device="cpu")
    model.fit(movie.noisy)
    return model, movie


def _series(data):
    s = hs.signals.Signal2D(np.asarray(data, dtype=np.float32))
    s.axes_manager[0].name, s.axes_manager[0].scale, s.axes_manager[0].units = "time", 0.05, "s"
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = 0.021, "nm"
    s.metadata.set_item("General.title", "Pt on C")
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 300.0)
    return s


def test_a_series_comes_back_with_its_axes_metadata_and_a_record(tiny_model, tmp_path):
    model, movie = tiny_model
    sig = _series(movie.noisy)
    before = sig.data.copy()
    stack = signal_to_stack(sig)
    assert stack.pixel_size == pytest.approx(0.021) and stack.unit == "nm" and stack.frame_time_s == pytest.approx(0.05)
    out = denoise_signal(sig, model, background="keep")
    assert isinstance(out, hs.signals.Signal2D) and out.data.shape == sig.data.shape and out.data.dtype == np.float32
    for a, b in zip(out.axes_manager._axes, sig.axes_manager._axes):
        assert (a.name, a.scale, a.units, a.navigate) == (b.name, b.scale, b.units, b.navigate)
    assert out.metadata.Acquisition_instrument.TEM.beam_energy == 300.0
    assert out.metadata.General.title == "Pt on C (noise2atom)"
    rec = out.metadata.Processing.noise2atom
    assert rec.background == "keep" and rec.trained_here is False and rec.config.model.context_frames == 4
    np.testing.assert_array_equal(sig.data, before)  # the input signal is untouched
    assert abs(out.data.mean() - sig.data.mean()) < 0.1 * sig.data.mean()  # input units, support kept
    np.testing.assert_allclose(out.data, model.denoise(movie.noisy, background="keep", rescale=True), rtol=1e-5)
    # a model file works the same way, and the result saves as .hspy with its calibration
    model.save(tmp_path / "m.n2a")
    again = denoise_signal(sig, tmp_path / "m.n2a", background="keep")
    np.testing.assert_allclose(again.data, out.data, rtol=1e-5)
    again.save(tmp_path / "out.hspy")
    back = hs.load(tmp_path / "out.hspy")
    assert back.axes_manager.signal_axes[0].scale == pytest.approx(0.021) and back.axes_manager.signal_axes[0].units == "nm"


def test_a_single_image_and_bad_signals(tiny_model):
    model, movie = tiny_model
    one = hs.signals.Signal2D(movie.noisy[0].astype(np.float32))
    out = denoise_signal(one, model)
    assert out.data.shape == one.data.shape and out.axes_manager.navigation_dimension == 0
    with pytest.raises(InputError, match="2-D scan"):
        denoise_signal(hs.signals.Signal2D(np.zeros((2, 2, 16, 16), np.float32)), model)
    with pytest.raises(InputError, match="Signal2D"):
        denoise_signal(hs.signals.Signal1D(np.zeros((4, 16), np.float32)), model)
    with pytest.raises(InputError, match="model must be"):
        denoise_signal(one, model=3)


def test_a_real_hspy_file_keeps_its_calibration():
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "sto-abf-movie-5frames.hspy"
    if not path.exists():
        pytest.skip(f"{path} not present")
    stack = signal_to_stack(hs.load(path))
    assert stack.data.shape == (5, 512, 512) and stack.unit == "nm"
    assert stack.pixel_size == pytest.approx(0.0092, abs=5e-5)


@pytest.mark.skipif(not __import__("noise2atom.pretrained", fromlist=["x"]).DEFAULT_FILE.exists(),
                    reason="the pretrained default model file is not in this checkout")
def test_the_pretrained_default_needs_no_training(tiny_model):
    _, movie = tiny_model
    sig = _series(movie.noisy[:3])
    out = denoise_signal(sig, "default")
    assert out.data.shape == sig.data.shape and np.isfinite(out.data).all()
    rec = out.metadata.Processing.noise2atom
    assert rec.model == "default" and rec.trained_here is False
