"""`noise2atom denoise-many` on a local Dask cluster of 2 worker processes (issue 5 item 5): every file
gets what `noise2atom denoise` gives it; a bad file is reported in one line and the others finish."""

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from noise2atom.cli import app
from noise2atom.model import Noise2Atom

pytest.importorskip("distributed")
runner = CliRunner()


@pytest.mark.timeout(300)
def test_many_files_on_two_local_workers_match_single_denoise(tmp_path, tiny_config, noisy_movie):
    model = Noise2Atom(tiny_config, device="cpu")
    model.fit(noisy_movie.noisy, max_steps=1)
    model_file = tmp_path / "m.n2a"
    model.save(model_file)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        np.save(src / f"movie{i}.npy", noisy_movie.noisy[:, :, ::-1] * (1 + i))
    (src / "broken.npy").write_bytes(b"not an array")
    out = tmp_path / "out"
    out.mkdir()
    files = sorted(str(p) for p in src.iterdir())
    r = runner.invoke(app, ["denoise-many", *files, "--out-dir", str(out), "--model", str(model_file),
                            "--workers", "2"])
    assert r.exit_code == 2, r.output  # one file failed ...
    assert sum(line.startswith("error:") for line in r.output.splitlines()) == 1 and "broken.npy" in r.output
    for i in range(3):  # ... and the others are complete and equal to `noise2atom denoise`
        single = tmp_path / f"single{i}.tif"
        assert runner.invoke(app, ["denoise", str(src / f"movie{i}.npy"), "--model", str(model_file),
                                   "--out", str(single)]).exit_code == 0
        np.testing.assert_allclose(tifffile.imread(out / f"movie{i}-denoised.tif"), tifffile.imread(single),
                                   atol=1e-5)  # 1 torch thread per worker vs 2 here: float rounding
    assert sorted(p.name for p in out.iterdir()) == [f"movie{i}-denoised.tif" for i in range(3)]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = runner.invoke(app, ["denoise-many", *files[1:], "--out-dir", str(out), "--model", str(model_file),
                            "--workers", "1", "--resume"])  # finished files are skipped, not redone
    assert r.exit_code == 0 and r.output.count("already") == 3, r.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
