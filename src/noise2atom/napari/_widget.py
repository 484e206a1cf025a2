"""The dock widget: train on the selected image layer, denoise it into a new layer with its scale.

Work runs in a napari ``thread_worker`` (the viewer stays responsive); progress goes to a progress
bar through the worker's ``yielded`` signal, on the main thread; the buttons are disabled while a
job runs. Training fine-tunes the pretrained default on the layer (what the arena found best; the
README's *The pretrained default model*), or trains a fresh model of the ``small`` preset.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSpinBox, Label, ProgressBar, PushButton

BACKGROUNDS = ("remove", "keep")


class Noise2AtomWidget(Container):
    """noise2atom in napari.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    """

    def __init__(self, viewer):
        super().__init__(labels=True)
        self._viewer = viewer
        self.model = None          #: the model trained here (None: use the file, or the default)
        self.worker = None         #: the running (or last) thread worker
        self._layer = ComboBox(label="image", choices=self._image_layers)
        self._model_file = FileEdit(label="model file", mode="r", filter="*.n2a", value="",
                                    tooltip="empty: the pretrained default (or the model trained here)")
        self._minutes = FloatSpinBox(label="training minutes", value=2.0, min=0.05, max=600.0, step=0.5)
        self._fresh = CheckBox(label="fresh model (not fine-tuned)", value=False)
        self._background = ComboBox(label="background", choices=BACKGROUNDS, value="remove")
        self._train = PushButton(text="Train on this layer")
        self._denoise = PushButton(text="Denoise into a new layer")
        self._progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self._status = Label(label="", value="")
        self.extend([self._layer, self._model_file, self._background, self._denoise, self._minutes, self._fresh,
                     self._train, self._progress, self._status])
        self._train.changed.connect(self.start_training)
        self._denoise.changed.connect(self.start_denoising)
        viewer.layers.events.inserted.connect(self._layer.reset_choices)
        viewer.layers.events.removed.connect(self._layer.reset_choices)

    # -- helpers -------------------------------------------------------------------------------
    def _image_layers(self, *_):
        """The viewer's image layers, as (name, layer) choices (docked or not)."""
        from napari.layers import Image

        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, Image)]

    def _frames(self):
        layer = self._layer.value
        if layer is None:
            raise ValueError("choose an image layer first")
        data = np.asarray(layer.data, dtype=np.float32)
        if data.ndim not in (2, 3):
            raise ValueError(f"layer {layer.name!r} has {data.ndim} dimensions; noise2atom needs an image or a "
                             "series of frames (T, Y, X)")
        return layer, data

    def _resolve(self):
        from ..pretrained import resolve_model

        path = str(self._model_file.value or "")
        if path and path not in (".", ""):
            return resolve_model(path, device="cpu")
        return self.model if self.model is not None else resolve_model("default", device="cpu")

    def _busy(self, busy: bool, text: str = "") -> None:
        self._train.enabled = self._denoise.enabled = not busy
        self._status.value = text

    def _on_progress(self, value) -> None:
        done, total = value
        self._progress.max = max(1, int(total))
        self._progress.value = min(int(done), self._progress.max)

    def _on_error(self, exc) -> None:
        self._busy(False, f"error: {exc}")

    def _start(self, work, on_done, text):
        from napari.qt.threading import thread_worker

        self._busy(True, text)
        self.worker = thread_worker(work)()
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(on_done)
        self.worker.errored.connect(self._on_error)
        self.worker.start()
        return self.worker

    # -- actions -------------------------------------------------------------------------------
    def start_denoising(self, *_):
        """Denoise the selected layer (all frames) in a worker; add the result as a new layer."""
        try:
            layer, data = self._frames()
            model = self._resolve()
        except Exception as exc:  # shown in the widget, never raised into Qt
            self._on_error(exc)
            return None
        background = self._background.value
        frames = data if data.ndim == 3 else data[None]

        def work():
            nz = model.normalization_for(frames, name=layer.name)
            out = []
            for f in model.denoise_iter(frames, name=layer.name, normalization=nz, background=background):
                out.append(f)
                yield len(out), len(frames)
            return np.stack(out) if data.ndim == 3 else out[0]

        def done(result):
            self._busy(False, f"denoised {layer.name}")
            kwargs = {"name": f"{layer.name} (noise2atom)", "scale": layer.scale, "translate": layer.translate,
                      "metadata": {**dict(layer.metadata), "noise2atom": {"background": background}},
                      "colormap": "gray"}
            if getattr(layer, "units", None) is not None:
                kwargs["units"] = layer.units
            self._viewer.add_image(result, **kwargs)

        return self._start(work, done, f"denoising {layer.name} …")

    def start_training(self, *_):
        """Train on the selected layer in a worker (fine-tuning the default unless "fresh"); the model
        is kept in the widget and used by the next denoising."""
        from ..model import Noise2Atom
        from ..pretrained import FINETUNE_MERGE_STEPS, FINETUNE_STEPS, finetune_config, load_default

        try:
            layer, data = self._frames()
            if data.ndim != 3 or len(data) < 2:
                raise ValueError(f"layer {layer.name!r}: training needs a series of at least 2 frames")
        except Exception as exc:
            self._on_error(exc)
            return None
        minutes, fresh = float(self._minutes.value), bool(self._fresh.value)

        def work():
            import threading

            init = None if fresh else load_default(device="cpu")
            net = Noise2Atom(preset="small") if fresh else Noise2Atom(
                config=finetune_config(init, pair_steps=FINETUNE_STEPS,
                                       merge_steps=FINETUNE_MERGE_STEPS))
            state: dict = {"step": None, "error": None}

            def progress(step, total, row):
                state["step"] = (step, total)

            def run():  # fit reports through a callback; the generator relays it as it polls
                try:
                    net.fit(data, minutes=minutes, init=init, progress=progress)
                except BaseException as exc:  # handed to the worker's errored signal below
                    state["error"] = exc

            t = threading.Thread(target=run, daemon=True)
            t.start()
            while t.is_alive():
                t.join(0.2)
                if state["step"] is not None:
                    yield state["step"]
            if state["error"] is not None:
                raise state["error"]
            return net

        def done(net):
            self.model = net
            self._busy(False, f"trained on {layer.name}: denoising now uses this model")

        return self._start(work, done, f"training on {layer.name} ({minutes:g} min) …")
