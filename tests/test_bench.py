"""The arena's baselines, the benchmark protocol and the metrics on hand-made cases."""

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from noise2atom.bench.methods import METHODS, _svt_sure, anscombe, inverse_anscombe, noise_sigma
from noise2atom.bench.n2v import blind_spot_batch, train_n2v
from noise2atom.bench.run import BenchSpec, arena_movies, best_f1, run_benchmark, tune
from noise2atom.data.arena import SynthConfig, synthesize
from noise2atom.metrics import atom_score, predictive_r2, psnr


@pytest.fixture(scope="module")
def movie():
    return synthesize(frames=6, size=96, dose=3.0, seed=11)


CLASSICAL = ["gaussian", "median", "nl-means", "tv", "wavelet", "bm3d", "temporal", "registered-mean", "svt"]


@pytest.mark.parametrize("name", CLASSICAL)
def test_each_baseline_denoises_a_tiny_movie(name, movie):
    out = METHODS[name](movie.noisy)
    assert out.denoised.shape == movie.noisy.shape and out.denoised.dtype == np.float32
    assert np.isfinite(out.denoised).all()
    assert psnr(out.denoised, movie.clean) > psnr(movie.noisy, movie.clean) + 0.2, out.params
    assert out.params  # the chosen parameter is reported


def test_causal_temporal_window_uses_no_future_frame(movie):
    a = METHODS["temporal"](movie.noisy, causal=True, param=3).denoised
    changed = movie.noisy.copy()
    changed[-1] += 50.0  # only the last frame changes
    b = METHODS["temporal"](changed, causal=True, param=3).denoised
    assert np.array_equal(a[:-1], b[:-1]) and not np.array_equal(a[-1], b[-1])
    centred = METHODS["temporal"](changed, param=3).denoised
    assert not np.array_equal(centred[-2], a[-2])  # the centred window does look ahead


def _drifting(step=(3, -2), frames=6, size=96, peak=20.0, seed=0):
    """Clean and Poisson-noisy frames of one field of Gaussian peaks moving by ``step`` px a frame: frame
    n + 1's content at p sits at p + step in frame n (``measure_drift``'s convention)."""
    rng = np.random.default_rng(seed)
    pad = 40
    canvas = np.zeros((size + 2 * pad, size + 2 * pad))
    canvas[tuple(rng.integers(0, size + 2 * pad, size=(2, 120)))] = 1.0
    canvas = gaussian_filter(canvas, 1.5) * peak * 2 * np.pi * 1.5**2 + 1.0
    clean = np.stack([canvas[pad + n * step[0]:pad + n * step[0] + size, pad + n * step[1]:pad + n * step[1] + size]
                      for n in range(frames)])
    return clean, rng.poisson(clean).astype(np.float64)


def test_causal_registered_mean_uses_no_future_frame(movie):
    a = METHODS["registered-mean"](movie.noisy, causal=True, param=(3, 1.0)).denoised
    changed = movie.noisy.copy()
    changed[-1] += 50.0
    b = METHODS["registered-mean"](changed, causal=True, param=(3, 1.0)).denoised
    assert np.array_equal(a[:-1], b[:-1]) and not np.array_equal(a[-1], b[-1])


def test_registered_mean_follows_the_drift_that_a_plain_window_smears():
    clean, noisy = _drifting()
    registered = METHODS["registered-mean"](noisy, param=(4, 0.5))
    plain = gaussian_filter(METHODS["temporal"](noisy, param=4).denoised, (0, 0.5, 0.5))
    inner = (slice(1, -1), slice(12, -12), slice(12, -12))  # the edge frames and pixels drift brings in
    assert registered.params["frames"] == 5
    assert psnr(registered.denoised[inner], clean[inner]) > psnr(plain[inner], clean[inner]) + 3
    assert psnr(registered.denoised[inner], clean[inner]) > psnr(noisy[inner], clean[inner]) + 3


def test_registered_prediction_lets_blur_lose_on_a_drifting_series():
    clean, noisy = _drifting()
    blurred = gaussian_filter(clean, (0, 2.5, 2.5))
    # unregistered, frame n's atoms sit 3.6 px from frame n + 1's: blur that spans the move wins
    assert predictive_r2(blurred, noisy) > predictive_r2(clean, noisy)
    # registered for the measured drift, the truth wins again, and by the true drift the same
    assert predictive_r2(clean, noisy, drift="measure") > predictive_r2(blurred, noisy, drift="measure") + 0.05
    steps = np.tile([3.0, -2.0], (len(noisy) - 1, 1))
    assert predictive_r2(clean, noisy, drift=steps) == pytest.approx(predictive_r2(clean, noisy, drift="measure"))
    # with no drift, registering changes nothing but the 1 px border it leaves out
    still_clean, still = _drifting(step=(0, 0))
    assert predictive_r2(still_clean, still, drift=np.zeros((len(still) - 1, 2))) == pytest.approx(
        predictive_r2(still_clean[:, 1:-1, 1:-1], still[:, 1:-1, 1:-1]))
    with pytest.raises(ValueError, match="need"):
        predictive_r2(clean, noisy, drift=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="leaves nothing"):
        predictive_r2(clean, noisy, drift=np.full((len(noisy) - 1, 2), 60.0))


def test_variance_stabilising_transform_round_trip():
    rng = np.random.default_rng(0)
    for lam in (0.5, 2.0, 10.0, 50.0):  # the unbiased inverse maps the mean of A(Poisson(lam)) back to lam
        assert inverse_anscombe(anscombe(rng.poisson(lam, 200_000)).mean()) == pytest.approx(lam, rel=0.03)
    counts = np.random.default_rng(0).poisson(20.0, size=(4, 256, 256)).astype(float)
    assert noise_sigma(anscombe(counts)) == pytest.approx(1.0, rel=0.1)


def test_svt_sure_tracks_the_true_risk():
    rng = np.random.default_rng(0)
    m, n, sigma, lam = 64, 7, 1.0, 8.0
    low = rng.normal(size=(500, m, 1)) @ rng.normal(size=(500, 1, n)) * 3
    noisy = low + sigma * rng.normal(size=low.shape)
    u, s, vt = np.linalg.svd(noisy, full_matrices=False)
    est = np.einsum("bik,bk,bkj->bij", u, np.maximum(s - lam, 0), vt)
    true_risk = ((est - low) ** 2).sum()
    sure = _svt_sure(s, lam, m, n, sigma).sum()
    assert sure == pytest.approx(true_risk, rel=0.05)


def test_blind_spots_hide_the_pixel_and_its_scan_neighbours():
    rng = np.random.default_rng(0)
    crops = rng.normal(size=(2, 32, 32)).astype(np.float32)
    inp, mask = blind_spot_batch(crops, rng, fraction=0.02, struct_x=1)
    ys, xs = np.nonzero(mask[0])
    assert len(ys) > 5
    assert not np.any(inp[0][ys, xs] == crops[0][ys, xs])  # every blind spot replaced
    inner = (xs > 0) & (xs < 31)
    assert np.mean(inp[0][ys[inner], xs[inner] + 1] != crops[0][ys[inner], xs[inner] + 1]) > 0.9


def test_noise2void_trains_and_denoises(movie):
    out = train_n2v(movie.noisy, max_steps=3, batch=2, crop=32)
    assert out.denoised.shape == movie.noisy.shape and np.isfinite(out.denoised).all()
    assert out.params["steps"] == 3


def test_perfect_detection_scores_one_and_blur_loses_prediction(movie):
    score, thr = best_f1(movie.atoms, movie.positions)
    assert score["f1"] == pytest.approx(1.0, abs=0.02)
    assert atom_score(movie.atoms, movie.positions, radius_px=1.5, border_px=2, threshold=thr).f1 == score["f1"]
    truth = predictive_r2(movie.clean, movie.noisy)
    blurred = predictive_r2(gaussian_filter(movie.clean, (0, 4, 4)), movie.noisy)
    assert blurred < truth
    assert predictive_r2(np.full_like(movie.noisy, 3.0), movie.noisy) == 0.0  # a constant predicts nothing


def test_tuning_picks_a_gaussian_that_finds_atoms():
    sigma = tune("gaussian", SynthConfig(frames=4, size=64, dose=2.0, seed=3))
    assert 0.5 <= sigma <= 2.0  # atoms 5.5 px apart: a wider blur merges them
    assert tune("nl-means", SynthConfig(frames=4, size=64)) is None


def test_benchmark_rows_and_files(tmp_path):
    spec = BenchSpec.quick(methods=("noisy", "gaussian", "temporal"), fig4_sizes=())
    rows = run_benchmark(spec, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert [r["method"] for r in data] == ["noisy", "gaussian", "temporal"]
    for r in data:
        for key in ("dataset", "f1", "precision", "recall", "predictive", "psnr_db", "ssim", "css",
                    "seconds_per_frame"):
            assert key in r, key
    by = {r["method"]: r for r in rows}
    assert by["gaussian"]["f1"] > by["noisy"]["f1"]
    assert "| gaussian |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "fig3-arena-64px-2e.png").stat().st_size > 10_000


def test_benchmark_on_a_real_series_has_no_truth_columns(tmp_path):
    from noise2atom.io import write_tiff

    write_tiff(tmp_path / "movie.tif", synthesize(frames=4, size=64, dose=2.0, seed=1).noisy)
    spec = BenchSpec.quick(methods=("noisy", "gaussian"), doses=(), fig4_sizes=(), inputs=(str(tmp_path / "movie.tif"),))
    rows = run_benchmark(spec, tmp_path / "out")
    assert {r["method"] for r in rows} == {"noisy", "gaussian"}
    assert all("f1" not in r and "predictive" in r and "css" in r for r in rows)


def test_tk_r_em_without_its_environment_is_skipped_with_a_reason(tmp_path, monkeypatch):
    from noise2atom.bench.methods import TKREM_ENV, MethodUnavailable

    monkeypatch.setenv(TKREM_ENV, str(tmp_path / "no-such-python"))
    with pytest.raises(MethodUnavailable, match=TKREM_ENV):
        METHODS["tk-r-em"](np.zeros((2, 16, 16), np.float32))
    rows = run_benchmark(BenchSpec.quick(methods=("noisy", "tk-r-em"), fig4_sizes=()), tmp_path / "b")
    assert [r["method"] for r in rows] == ["noisy"]
    assert "Not run: **tk-r-em**" in (tmp_path / "b" / "results.md").read_text()


@pytest.mark.skipif(not __import__("noise2atom.bench.methods", fromlist=["x"]).tkrem_python(),
                    reason="no isolated tk-r-em environment (NOISE2ATOM_TKREM_PYTHON)")
def test_tk_r_em_restores_a_tiny_movie(movie):
    out = METHODS["tk-r-em"](movie.noisy[:2])
    assert out.denoised.shape == movie.noisy[:2].shape and np.isfinite(out.denoised).all()


def test_noise2atom_outputs_share_one_training(movie):
    a = METHODS["noise2atom"](movie.noisy, seed=1, minutes=0.05)
    b = METHODS["noise2atom-support"](movie.noisy, seed=1, minutes=0.05)
    assert a.fit_seconds > 0 and b.fit_seconds == 0.0 and b.params["reused_training"]
    assert a.params["steps"] == b.params["steps"] and b.params["background"] == "keep"
    assert a.denoised.shape == b.denoised.shape == movie.noisy.shape
    # the support is back: the output follows the raw frames' level, which the atoms alone do not
    assert np.corrcoef(b.denoised.ravel(), movie.clean.ravel())[0, 1] > np.corrcoef(
        a.denoised.ravel(), movie.clean.ravel())[0, 1]


def test_arena_seeds_pairs_runs_within_a_seed_and_counts_inversions(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    def row(method, f1, pred, restarts=0):
        return {"method": method, "dataset": "arena-128px-1e", "f1": f1, "predictive": pred,
                "params": {"restarts": restarts}}

    runs = []
    for seed, (a, b) in enumerate([((0.5, 0.02), (0.6, 0.03)), ((0.7, 0.01), (0.75, -0.01))]):
        f = tmp_path / f"s{seed}.json"
        other = {**row("other", 0.1, 0.1), "dataset": "fig4-train-1-frames"}  # a movie base and new did not see
        f.write_text(json.dumps([row("base", *a), row("new", *b, restarts=seed), other]))
        runs.append(f"{seed}={f}")
    script = Path(__file__).parents[1] / "bench" / "arena_seeds.py"
    r = subprocess.run([sys.executable, str(script), *runs, "--against", "base", "--metrics", "f1", "--inverted",
                        "--methods", "base,new"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "| method | arena-128px-1e |" in r.stdout and "fig4" not in r.stdout  # only the movies they saw
    assert "| new | 0.675 ± 0.106 (2) |" in r.stdout  # mean ± sd over the seeds
    assert "| new | +0.100 / +0.050 (mean +0.075) |" in r.stdout  # paired, within each seed
    assert "| new | 1 / 2 (1) |" in r.stdout and "| base | 0 / 2 (0) |" in r.stdout
    # a tagged file's methods are named apart: the same method of two runs, paired
    tagged = [f"{run},{run.split('=')[1]}:before" for run in runs]
    r = subprocess.run([sys.executable, str(script), *tagged, "--against", "new:before", "--metrics", "f1",
                        "--methods", "new,new:before"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "| new:before | 0.675 ± 0.106 (2) |" in r.stdout and "| new | +0.000 / +0.000 (mean +0.000) |" in r.stdout


def test_support_scripts_print_their_tables_and_a_choice_never_lowers_the_score():
    """bench/support_ceiling.py and bench/support_choices.py on one tiny movie: on 4 frames the choices
    are made on the whole movie, so each choice scores at least what it chose against."""
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).parents[1] / "bench"
    tiny = ["--doses", "2", "--gradient", "0", "--size", "64", "--frames", "4"]
    r = subprocess.run([sys.executable, str(bench / "support_ceiling.py"), *tiny], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("| 2 e/px | ")
    r = subprocess.run([sys.executable, str(bench / "support_choices.py"), *tiny], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    row = r.stdout.splitlines()[-1]
    assert row.startswith("| 2 e/px | ")
    one, chosen, three, joint = (float(c.split()[0]) for c in row.strip("|").split("|")[1:])
    assert one <= chosen <= three <= joint
    r = subprocess.run([sys.executable, str(bench / "support_choices.py"), "--screen", *tiny], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cells = [float(c) for c in r.stdout.splitlines()[-1].strip("|").split("|")[1:]]
    assert len(cells) == 8 and max(cells[:5]) == max(cells[5:])  # both are the best over the whole screen
    assert max(cells) >= three - 1e-4  # the screen holds every choice at power 1 (σ 4, 2.5, 1.5; no atom blur)
    r = subprocess.run([sys.executable, str(bench / "support_choices.py"), "--wiener", *tiny], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    package, with_wiener = (float(c.split()[0]) for c in r.stdout.splitlines()[-1].strip("|").split("|")[1:])
    assert package == joint and with_wiener >= package  # chosen on the whole 4-frame movie: never lower
    r = subprocess.run([sys.executable, str(bench / "support_choices.py"), "--brightness", *tiny], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    four, five = (float(c.split()[0]) for c in r.stdout.splitlines()[-1].strip("|").split("|")[1:3])
    assert four == joint and five >= four  # the brightness per frame is one of the five's choices


def test_arena_movies_are_the_benchmarks_five_and_filter_by_name():
    names = [(n, s) for n, s, _ in arena_movies(32, [0, 1], frames=2)]
    assert names == [(f"arena-32px-{m}", s) for s in (0, 1) for m in ("0.5e", "1e", "2e", "5e", "0.5e-gradient")]
    picked = list(arena_movies(32, [3], {"5e", "0.5e-gradient"}, frames=2))
    assert [n for n, _, _ in picked] == ["arena-32px-5e", "arena-32px-0.5e-gradient"]
    again = synthesize(SynthConfig(frames=2, size=32, dose=5, seed=3))
    np.testing.assert_array_equal(picked[0][2].noisy, again.noisy)  # the arena's own movie
