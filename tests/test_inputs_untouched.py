"""Inputs are never modified, not even their timestamps (issue 6 item 3): every input file is hashed
(sha256), with its size, mode and modification and change times, before and after every command that
reads it, and nothing new may appear beside it. Access times are left out: reading a file is allowed
to update them (``relatime``)."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from noise2atom import pretrained
from noise2atom.cli import app

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
runner = CliRunner()
pytestmark = pytest.mark.skipif(not pretrained.DEFAULT_FILE.exists(), reason="needs the pretrained default model")


def _snapshot(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.stat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
        out[str(p.relative_to(folder))] = (digest, st.st_size, st.st_mode, st.st_mtime_ns, st.st_ctime_ns)
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, noisy_movie_module):
    folder = tmp_path_factory.mktemp("inputs")
    movie = noisy_movie_module.noisy
    tifffile.imwrite(folder / "movie.tif", movie.astype(np.float32), imagej=True, resolution=(20, 20),
                     metadata={"axes": "TYX", "unit": "nm"})
    np.save(folder / "movie.npy", movie.astype(np.uint16))
    from noise2atom.data import simulate_movie

    np.save(folder / "movie128.npy", simulate_movie(4, 128, dose_e_per_px=3.0, seed=3).noisy)  # the default's crop
    frames = folder / "frames"
    frames.mkdir()
    for i, f in enumerate(movie[:3]):
        tifffile.imwrite(frames / f"f{i}.tif", f.astype(np.uint16))
    for name in REAL_NAMES:
        if (REAL / name).exists():
            shutil.copy2(REAL / name, folder / name)
    return folder


#: the shared real files each command is also run on, where they sit beside the repo
REAL_NAMES = ("mos2-se-haadf.dm3", "sto-adf-1us.emd", "sto-adf.emi", "sto-adf_1.ser",
              "sto-abf-movie-5frames.hspy", "pt-carbon-150fps-128.png")


@pytest.fixture(scope="module")
def noisy_movie_module():
    from noise2atom.data import simulate_movie

    return simulate_movie(6, 64, dose_e_per_px=3.0, seed=2)


def _commands(inputs: Path, out: Path, tiny_config) -> list[list[str]]:
    cfg = out / "cfg.json"
    cfg.write_text(json.dumps(tiny_config.with_updates(train={"epochs": 1}).to_dict()))
    shutil.copy2(cfg, inputs / "cfg.json")
    model = inputs / "model.n2a"
    if not model.exists():
        shutil.copy2(pretrained.DEFAULT_FILE, model)
    cmds = [["denoise", str(inputs / name), "--out", str(out / f"{name}.tif")]
            for name in sorted(p.name for p in inputs.iterdir() if p.name not in ("cfg.json", "model.n2a"))]
    cmds += [
        ["denoise", str(inputs / "movie.tif"), "--model", str(model), "--out", str(out / "m.hspy")],
        ["atoms", str(inputs / "movie.tif"), "--model", str(model), "--out", str(out / "atoms.csv")],
        ["atoms", str(inputs / "movie.tif"), "--out", str(out / "atoms-raw.csv")],
        ["css", str(inputs / "movie.tif")],
        ["info", str(model)],
        ["train", str(inputs / "movie.tif"), "--out", str(out / "t.n2a"), "--config", str(inputs / "cfg.json")],
        ["train", str(inputs / "movie128.npy"), "--out", str(out / "ft.n2a"), "--init", str(model),
         "--pair-steps", "2", "--merge-steps", "2"],
    ]
    return cmds


def test_no_command_modifies_its_inputs(inputs, tmp_path, tiny_config):
    out = tmp_path / "out"
    out.mkdir()
    cmds = _commands(inputs, out, tiny_config)
    # 11 on the simulated inputs, one more per shared real file present (a fresh clone elsewhere has none)
    assert len(cmds) >= 11 + sum((inputs / n).exists() for n in REAL_NAMES)
    for cmd in cmds:
        before = _snapshot(inputs)
        r = runner.invoke(app, cmd)
        assert r.exit_code == 0, (cmd, r.output)
        assert _snapshot(inputs) == before, f"{cmd[0]} changed its inputs"
