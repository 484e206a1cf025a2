"""ONNX export of a model's denoiser (Ms2c), checked against ONNX Runtime (the ``[onnx]`` extra).

The exported graph takes ``x``: (N, 1 + context_frames, H, W) float32 frames normalised to [-1, 1]
(the past frames first, the current one last; H and W multiples of ``2**depth``; N, H and W free)
and gives ``y``: (N, 1, H, W) in (-1, 1) (tanh; ``(y + 1) / 2`` is what ``noise2atom denoise``
writes before ``--rescale``). The model's configuration, normalisation and record are stored in the
ONNX file's metadata (``noise2atom_config``, ``noise2atom_normalization``, ``noise2atom_record``), so
the file alone says how to feed it. Tiling, normalisation and the support under the atoms stay in
noise2atom; the graph is the network.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from ._version import __version__
from .errors import InputError
from .io.writers import _atomic, check_output


def export_onnx(model, path: str | Path, *, overwrite: bool = False, opset: int = 17,
                check_shape: tuple[int, int, int] = (2, 64, 96), tolerance: float = 1e-4) -> dict:
    """Write ``model``'s Ms2c as ONNX and check ONNX Runtime against PyTorch on random input.

    Returns
    -------
    dict
        ``path``, ``bytes``, ``max_abs_difference`` (on a (n, c, h, w) input of ``check_shape``),
        ``input_channels``. Raises InputError (nothing written) when the difference exceeds
        ``tolerance`` or a package is missing.
    """
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise InputError(f"{path}: ONNX export needs the [onnx] extra ({exc}); install it with: "
                         "pip install 'noise2atom[onnx]'") from exc
    path = check_output(path, overwrite=overwrite)
    net = model.s2c.to("cpu").eval()
    c = 1 + model.config.model.context_frames
    m = model.config.model.size_multiple
    n, h, w = check_shape
    h, w = max(m * 4, h // m * m), max(m * 4, w // m * m)
    example = torch.zeros(1, c, 4 * m, 4 * m)
    try:
        with _atomic(path, overwrite=overwrite) as tmp:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
                torch.onnx.export(net, (example,), str(tmp), dynamo=False, input_names=["x"], output_names=["y"],
                                  dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "y": {0: "n", 2: "h", 3: "w"}},
                                  opset_version=opset)
            proto = onnx.load(str(tmp))
            meta = {"noise2atom_version": __version__, "noise2atom_config": json.dumps(model.config.to_dict()),
                    "noise2atom_normalization": json.dumps(model.normalization.to_dict() if model.normalization
                                                           else None),
                    "noise2atom_record": json.dumps(model.record, default=str),
                    "noise2atom_input": f"(N, {c}, H, W) float32 in [-1, 1], past frames first; H, W multiples of {m}"}
            for k, v in meta.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = k, v
            onnx.checker.check_model(proto)
            onnx.save(proto, str(tmp))
            x = np.random.default_rng(0).uniform(-1, 1, size=(n, c, h, w)).astype(np.float32)
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            y_onnx = session.run(None, {"x": x})[0]
            with torch.inference_mode():
                y_torch = net(torch.from_numpy(x)).numpy()
            diff = float(np.abs(y_onnx - y_torch).max())
            if not diff <= tolerance:
                raise InputError(f"{path}: ONNX Runtime differs from PyTorch by {diff:.2e} (> {tolerance:g}); "
                                 "not written")
    finally:
        net.to(model.device)
    return {"path": str(path), "bytes": path.stat().st_size, "max_abs_difference": diff, "input_channels": c,
            "check_shape": [n, c, h, w]}
