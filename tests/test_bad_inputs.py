"""Every bad input to `noise2atom denoise` is answered in one line naming the problem, and nothing is
written (issue 6; the fault table in docs/reliability.md points here)."""

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from noise2atom import pretrained
from noise2atom.cli import app

runner = CliRunner()
pytestmark = pytest.mark.skipif(not pretrained.DEFAULT_FILE.exists(), reason="needs the pretrained default model")


def _npy(path, arr):
    np.save(path, arr)
    return path


def _movie(dtype="float32", shape=(3, 24, 24), seed=0):
    return (np.random.default_rng(seed).random(shape) * 100).astype(dtype)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _truncated_tiff(path):
    tifffile.imwrite(path, _movie("uint16"), photometric="minisblack")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _nan(path):
    a = _movie()
    a[1, 3, 4] = np.nan
    return _npy(path, a)


BAD = {
    # name: (make input in tmp folder -> path, words the one-line answer must hold)
    "missing file": (lambda d: d / "nope.tif", "no such file"),
    "folder without frames": (lambda d: (d / "empty").mkdir() or d / "empty", "holds no frames"),
    "unknown extension": (lambda d: _write(d / "x.xyz", b"123"), "unknown image format"),
    "zero-size TIFF": (lambda d: _write(d / "z.tif", b""), "not a readable TIF"),
    "truncated TIFF": (lambda d: _truncated_tiff(d / "t.tif"), "t.tif"),
    "corrupt DM4": (lambda d: _write(d / "c.dm4", os.urandom(300)), "c.dm4"),
    "corrupt EMD": (lambda d: _write(d / "c.emd", os.urandom(300)), "c.emd"),
    "corrupt .npy": (lambda d: _write(d / "c.npy", b"\x93NUMPY garbage"), "c.npy"),
    "complex dtype": (lambda d: _npy(d / "cx.npy", _movie().astype(np.complex64)), "not numeric"),
    "NaN pixel": (lambda d: _nan(d / "nan.npy"), "NaN or Inf"),
    "RGB image": (lambda d: _npy(d / "rgb.npy", _movie(shape=(32, 32, 3))), "RGB"),
    "4-D array": (lambda d: _npy(d / "4d.npy", _movie(shape=(2, 2, 8, 8))), "4-D"),
    "a single pixel": (lambda d: _npy(d / "px.npy", _movie(shape=(1, 1))), "not images"),
    "constant frame": (lambda d: _npy(d / "const.npy", np.full((3, 16, 16), 7.0, np.float32)), "constant"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_one_line_and_nothing_is_written(tmp_path, case):
    make, words = BAD[case]
    src = make(tmp_path)
    out = tmp_path / "out" / "den.tif"
    out.parent.mkdir()
    r = runner.invoke(app, ["denoise", str(src), "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert words in lines[0] and src.name in lines[0], lines[0]
    assert list(out.parent.iterdir()) == []  # nothing written, not even a partial file


@pytest.mark.parametrize("dtype", ["bool", "int8", "float16", "uint16", "float64"])
def test_odd_but_valid_dtypes_and_values_are_denoised(tmp_path, dtype):
    a = _movie(dtype) if dtype != "bool" else np.random.default_rng(1).random((3, 24, 24)) > 0.5
    if dtype == "float64":
        a = a - 50.0  # negative values
    src = _npy(tmp_path / f"{dtype}.npy", a)
    out = tmp_path / "den.tif"
    r = runner.invoke(app, ["denoise", str(src), "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    den = tifffile.imread(out)
    assert den.shape == (3, 24, 24) and np.isfinite(den).all()


def test_saturated_frames_and_frames_smaller_than_a_tile_are_denoised(tmp_path):
    a = _movie("uint16", shape=(2, 12, 20))
    a[:, :4] = 65535  # saturated rows
    src = _npy(tmp_path / "sat.npy", a)
    out = tmp_path / "den.tif"
    r = runner.invoke(app, ["denoise", str(src), "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert tifffile.imread(out).shape == (2, 12, 20)


def test_output_in_a_missing_folder_or_under_a_file_is_refused(tmp_path):
    src = _npy(tmp_path / "m.npy", _movie())
    r = runner.invoke(app, ["denoise", str(src), "--out", str(tmp_path / "no" / "d.tif"), "--device", "cpu"])
    assert r.exit_code == 2 and "does not exist" in r.output and not (tmp_path / "no").exists()
    (tmp_path / "afile").write_text("x")
    r = runner.invoke(app, ["denoise", str(src), "--out", str(tmp_path / "afile" / "d.tif"), "--device", "cpu"])
    assert r.exit_code == 2 and "not a folder" in r.output and (tmp_path / "afile").read_text() == "x"


def test_existing_output_is_kept_and_unwritable_folder_refused(tmp_path):
    src = _npy(tmp_path / "m.npy", _movie())
    out = tmp_path / "den.tif"
    out.write_bytes(b"precious")
    r = runner.invoke(app, ["denoise", str(src), "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 2 and "--overwrite" in r.output and out.read_bytes() == b"precious"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): the permission check cannot fail")
        r = runner.invoke(app, ["denoise", str(src), "--out", str(locked / "d.tif"), "--device", "cpu"])
        assert r.exit_code == 2 and "locked" in r.output
    finally:
        locked.chmod(0o700)
