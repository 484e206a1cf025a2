"""`noise2atom atoms`: positions (sub-pixel, calibrated) and intensities per frame, CSV and figure."""

import csv

import numpy as np
from typer.testing import CliRunner

from noise2atom.cli import app
from noise2atom.io import write_tiff
from noise2atom.metrics import locate_atoms, match_atoms

runner = CliRunner()


def _frames(n_frames=3, size=96, sigma=1.3, height=200.0, background=10.0, seed=0):
    """Poisson frames of separate atoms (>= 6 px apart) at known sub-pixel positions, high dose."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    frames, truth = [], []
    for _ in range(n_frames):
        grid = np.arange(8, size - 7, 10, dtype=float)
        pos = np.array([(y, x) for y in grid for x in grid if rng.random() < 0.5]) + rng.uniform(-2, 2, (1, 2))
        pos = pos + rng.uniform(-1.5, 1.5, pos.shape)
        img = np.full((size, size), background)
        for y, x in pos:
            img += height * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
        frames.append(rng.poisson(img).astype(np.float32))
        truth.append(pos)
    return np.stack(frames), truth


def test_locate_atoms_finds_known_atoms_with_their_height():
    frames, truth = _frames()
    table = locate_atoms(frames)
    assert table.shape[1] == 4 and set(np.unique(table[:, 0])) == {0, 1, 2}
    for t in range(3):
        score = match_atoms(table[table[:, 0] == t, 1:3], truth[t], radius_px=1.0)
        assert score.f1 >= 0.95
    assert 150 < np.median(table[:, 3]) < 230  # peak value in the frames' units (background 10 + 200)


def test_atoms_command_writes_calibrated_csv_and_figures(tmp_path):
    frames, truth = _frames()
    src = tmp_path / "frames.tif"
    write_tiff(src, frames, pixel_size=0.05, unit="nm")
    before = src.read_bytes()
    out = tmp_path / "atoms.csv"
    r = runner.invoke(app, ["atoms", str(src), "--out", str(out), "--figure-frame", "1"])
    assert r.exit_code == 0, r.output
    assert "per frame" in r.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["frame", "x_px", "y_px", "x_nm", "y_nm", "intensity"]
    for t in range(3):
        mine = np.array([(float(r["y_px"]), float(r["x_px"])) for r in rows if int(r["frame"]) == t])
        assert match_atoms(mine, truth[t], radius_px=1.0).f1 >= 0.95
    for r_ in rows:
        assert abs(float(r_["x_nm"]) - 0.05 * float(r_["x_px"])) < 1e-4
        assert abs(float(r_["y_nm"]) - 0.05 * float(r_["y_px"])) < 1e-4
    assert (tmp_path / "atoms.png").stat().st_size > 0 and (tmp_path / "atoms.pdf").stat().st_size > 0
    assert src.read_bytes() == before  # the input is never modified
    # outputs exist: refused, untouched
    stamp = out.read_bytes()
    r = runner.invoke(app, ["atoms", str(src), "--out", str(out)])
    assert r.exit_code == 2 and "exists" in r.output and out.read_bytes() == stamp


def test_atoms_command_without_calibration_and_bad_requests(tmp_path):
    frames, _ = _frames(n_frames=2)
    src = tmp_path / "frames.npy"
    np.save(src, frames)
    out = tmp_path / "a.csv"
    r = runner.invoke(app, ["atoms", str(src), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "px only" in r.output
    with open(out, newline="") as f:
        assert next(csv.reader(f)) == ["frame", "x_px", "y_px", "intensity"]
    r = runner.invoke(app, ["atoms", str(src), "--out", str(tmp_path / "b.txt")])
    assert r.exit_code == 2 and "CSV" in r.output
    r = runner.invoke(app, ["atoms", str(src), "--out", str(tmp_path / "c.csv"), "--figure-frame", "5"])
    assert r.exit_code == 2 and "2 frames" in r.output and not (tmp_path / "c.csv").exists()


def test_atoms_command_denoises_first_with_a_model(tmp_path, tiny_config, noisy_movie):
    from noise2atom.model import Noise2Atom

    cfg = tiny_config.with_updates(model={"context_frames": 1}, train={"epochs": 0, "pair_steps": 3})
    model = Noise2Atom(cfg)
    model.fit(noisy_movie.noisy)
    model.save(tmp_path / "m.n2a")
    src = tmp_path / "noisy.npy"
    np.save(src, noisy_movie.noisy)
    out = tmp_path / "atoms.csv"
    r = runner.invoke(app, ["atoms", str(src), "--model", str(tmp_path / "m.n2a"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {int(r_["frame"]) for r_ in rows} <= set(range(len(noisy_movie.noisy))) and rows
