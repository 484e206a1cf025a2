"""Models and checkpoints are data, never code: files crafted to run code on load are refused."""

import json
import os
import pickle

import pytest
import torch

from noise2atom.errors import InputError
from noise2atom.model import Noise2Atom
from noise2atom.train.checkpoint import load_checkpoint


class _Payload:
    """Unpickling this creates the file named by ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_posing_as_a_model_file_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for name, write in (("raw.n2a", lambda p: p.write_bytes(pickle.dumps(_Payload(marker)))),
                        ("torch.n2a", lambda p: torch.save({"s2c": _Payload(marker)}, p))):
        bad = tmp_path / name
        write(bad)
        with pytest.raises(InputError, match="not a noise2atom model file"):
            Noise2Atom.load(bad, device="cpu")
        assert not marker.exists()


def test_a_checkpoint_carrying_code_is_not_executed(tmp_path, caplog):
    """Raw, and wrapped with a valid header and checksum (so only weights_only stands in the way)."""
    import hashlib
    import io

    from noise2atom.train.checkpoint import MAGIC

    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"meta_json": json.dumps({}), "evil": _Payload(marker)}, buf)
    payload = buf.getvalue()
    for data in (payload, MAGIC + hashlib.sha256(payload).digest() + payload):
        (tmp_path / "last.pt").write_bytes(data)
        assert load_checkpoint(tmp_path) is None  # refused, with a warning, no code run
        assert not marker.exists()
        assert "cannot be used" in caplog.text


def test_a_model_header_with_code_in_its_json_is_only_data(tmp_path, tiny_config, noisy_movie):
    from safetensors import safe_open
    from safetensors.torch import save_file

    model = Noise2Atom(tiny_config, device="cpu")
    model.fit(noisy_movie.noisy, max_steps=1)
    path = tmp_path / "m.n2a"
    model.save(path)
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta["config"])
    cfg["model"]["width"] = "__import__('os').system('touch pwned')"
    save_file(tensors, str(tmp_path / "evil.n2a"), metadata={**meta, "config": json.dumps(cfg)})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(InputError, match="width must be an integer"):
            Noise2Atom.load(tmp_path / "evil.n2a", device="cpu")
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "pwned").exists()
