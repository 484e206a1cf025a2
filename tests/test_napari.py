"""The napari plugin (the [napari] extra), headless (QT_QPA_PLATFORM=offscreen): the widget denoises
the selected layer into a new layer with the same scale, in a worker thread with progress; it trains
on a layer and then denoises with that model; the reader opens a microscope file with its
calibration. Skipped when napari is not installed.

The widget is tested on napari's ``ViewerModel`` (layers, events, ``add_image``: what it uses) with a
real Qt application and the real thread workers: a full ``Viewer`` also needs an OpenGL context,
which an offscreen CI machine without a display does not have."""

import os
import threading
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")
pytest.importorskip("PyQt5.QtWidgets", reason="no usable Qt (the [napari] extra, and the system's GL libraries)")

from noise2atom import pretrained  # noqa: E402
from noise2atom.napari._reader import get_reader  # noqa: E402
from noise2atom.napari._widget import Noise2AtomWidget  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
pytestmark = pytest.mark.skipif(not pretrained.DEFAULT_FILE.exists(), reason="needs the pretrained default model")


@pytest.fixture
def movie():
    from noise2atom.data.arena import SynthConfig, synthesize

    return synthesize(SynthConfig(frames=4, size=64, dose=2.0, seed=5)).noisy.astype(np.float32)


def test_manifest_is_valid_and_names_the_widget_and_reader():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("noise2atom")
    assert {w.display_name for w in manifest.contributions.widgets} == {"Denoise (noise2atom)"}
    assert "*.dm4" in manifest.contributions.readers[0].filename_patterns


@pytest.fixture
def viewer(qapp):
    from napari.components import ViewerModel

    return ViewerModel()


def test_widget_denoises_the_layer_into_a_new_layer_with_its_scale(viewer, qtbot, movie):
    layer = viewer.add_image(movie, name="movie", scale=(0.1, 0.05, 0.05), translate=(0, 1.0, 2.0))
    widget = Noise2AtomWidget(viewer)
    assert widget._layer.value is layer  # the only image layer, listed on its own
    widget._layer.value = layer
    seen = []
    widget._progress.changed.connect(lambda v: seen.append((v, threading.get_ident())))
    worker = widget.start_denoising()
    # it returned at once: the work runs in a worker thread while this (the GUI) thread goes on
    assert worker is not None and not widget._denoise.enabled and len(viewer.layers) == 1
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        pass
    # progress arrived frame by frame on the GUI thread's event loop
    assert [v for v, _ in seen] == list(range(1, len(movie) + 1))
    assert {t for _, t in seen} == {threading.get_ident()}
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=10_000)
    out = viewer.layers["movie (noise2atom)"]
    assert out.data.shape == movie.shape and 0 <= out.data.min() and out.data.max() <= 1
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    assert widget._denoise.enabled and widget._progress.value == widget._progress.max == len(movie)
    expected = pretrained.load_default().denoise(movie)
    np.testing.assert_allclose(out.data, expected, atol=1e-5)  # what the API gives


def test_widget_errors_are_shown_not_raised(viewer):
    widget = Noise2AtomWidget(viewer)
    assert widget.start_denoising() is None
    assert widget._status.value.startswith("error: choose an image layer")


def test_widget_trains_on_the_layer_then_denoises_with_that_model(viewer, qtbot, movie):
    big = np.concatenate([movie] * 2, axis=-1)[:, :, :128]
    big = np.concatenate([big] * 2, axis=-2)[:, :128]  # 128² frames: the default's crop
    layer = viewer.add_image(big, name="movie")
    widget = Noise2AtomWidget(viewer)
    widget._layer.value = layer
    widget._minutes.value = 0.05
    worker = widget.start_training()
    with qtbot.waitSignal(worker.finished, timeout=300_000):
        pass
    qtbot.waitUntil(lambda: widget.model is not None, timeout=10_000)
    assert widget.model.record.get("init") == "default"
    assert widget._status.value.startswith("trained on movie")


@pytest.mark.skipif(not (REAL / "sto-adf-1us.emd").exists(), reason="needs ../shared/data/real")
def test_reader_opens_a_microscope_file_with_its_calibration():
    reader = get_reader(str(REAL / "sto-adf-1us.emd"))
    assert reader is not None and get_reader("x.png") is None
    [(data, kwargs, kind)] = reader(str(REAL / "sto-adf-1us.emd"))
    assert kind == "image" and data.shape == (1024, 1024)
    assert kwargs["scale"] == pytest.approx((0.012246524915099144,) * 2)
    assert kwargs["metadata"]["noise2atom"]["unit"] == "nm"
