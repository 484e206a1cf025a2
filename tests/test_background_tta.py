"""Putting the support back under the atoms (denoise.background) and test-time mirroring (denoise.tta)."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from noise2atom.config import ConfigError, preset_config
from noise2atom.denoise import denoise_frames, restore_background
from noise2atom.denoise.background import SupportSettings, SupportTracker, atom_brightness
from noise2atom.metrics import predictive_r2


def _atoms(n=64, seed=0):
    """A frame of Gaussian peaks in [0, 1] and its positions."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    a = np.zeros((n, n))
    for y, x in rng.uniform(8, n - 8, size=(12, 2)):
        a += np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.2**2))
    return a / a.max()


def test_restore_background_recovers_atoms_on_a_sloped_support():
    atoms = _atoms()
    n = atoms.shape[0]
    support = 50.0 + 30.0 * np.linspace(0, 1, n)[None, :] + 5 * np.sin(np.linspace(0, 3, n))[:, None]
    truth = support + 40.0 * atoms
    rng = np.random.default_rng(1)
    raw = rng.poisson(truth).astype(np.float64)
    assert atom_brightness(raw, atoms) == pytest.approx(40.0, rel=0.15)  # brightness from the atoms alone
    out = restore_background(raw, atoms)
    assert out.dtype == np.float32 and out.shape == raw.shape
    err_out = np.sqrt(np.mean((out - truth) ** 2))
    assert err_out < 0.35 * np.sqrt(np.mean((raw - truth) ** 2))  # far closer to the truth than the raw frame
    assert abs(np.mean(out - truth)) < 1.0  # the support's level is kept: input units


def test_restore_background_gives_inverted_atoms_no_weight():
    atoms = _atoms()
    raw = 100.0 + 40.0 * atoms
    assert atom_brightness(raw, 1.0 - atoms) < 0
    out = restore_background(raw, 1.0 - atoms)
    # a = 0: only the blurred raw frame remains; the inverted atoms are not painted in
    from scipy.ndimage import gaussian_filter

    np.testing.assert_allclose(out, gaussian_filter(raw, 4.0, mode="reflect"), rtol=1e-5)


def _drifting_support_movie(frames=6, n=64, seed=3):
    """Poisson frames of a textured support drifting 1.5 px/frame along x under fixed atoms."""
    from scipy.ndimage import gaussian_filter, shift as nd_shift

    rng = np.random.default_rng(seed)
    texture = 20.0 + 40.0 * gaussian_filter(rng.random((n, n)), 2.5, mode="wrap")
    supports = np.stack([nd_shift(texture, (0.0, 1.5 * t), order=1, mode="wrap") for t in range(frames)])
    atoms = np.stack([_atoms(n, seed)] * frames)
    truth = supports + 30.0 * atoms
    return rng.poisson(truth).astype(np.float64), atoms, supports


def test_support_tracker_of_one_frame_is_restore_background():
    raw, atoms, _ = _drifting_support_movie(frames=3)
    tracker = SupportTracker(1, 4.0)
    for r, a in zip(raw, atoms):
        np.testing.assert_array_equal(tracker.add(r, a), restore_background(r, a, 4.0))


def test_support_tracker_averages_the_registered_past():
    raw, atoms, supports = _drifting_support_movie()
    one, four = SupportTracker(1, 2.0), SupportTracker(4, 2.0)
    err1, err4 = [], []
    for t, (r, a) in enumerate(zip(raw, atoms)):
        o1, o4 = one.add(r, a), four.add(r, a)
        truth = supports[t] + 30.0 * a
        inner = (slice(8, -8), slice(8, -8))  # away from the edges the drift brings in
        err1.append(np.sqrt(np.mean((o1 - truth)[inner] ** 2)))
        err4.append(np.sqrt(np.mean((o4 - truth)[inner] ** 2)))
    assert err4[0] == pytest.approx(err1[0])  # nothing before the first frame
    assert np.mean(err4[3:]) < 0.85 * np.mean(err1[3:])  # three registered past frames help


def test_support_tracker_takes_the_drift_measured_once_and_gives_the_same_series():
    from noise2atom.data.pairs import measure_drift

    raw, atoms, _ = _drifting_support_movie()
    settings = SupportSettings(4, 2.0, 2, 1.5)
    steps = measure_drift(raw)
    np.testing.assert_array_equal(settings.restore(raw, atoms, steps), settings.restore(raw, atoms))
    # a wrong drift changes the output: the steps are used, not recomputed
    assert not np.array_equal(settings.restore(raw, atoms, steps + 3.0), settings.restore(raw, atoms))
    with pytest.raises(ValueError, match="drift steps"):
        settings.restore(raw, atoms, steps[:-1])
    tracker = settings.tracker()
    tracker.add(raw[0], atoms[0])
    tracker.add(raw[1], atoms[1], steps[0])
    with pytest.raises(ValueError, match="every frame after the first, or for none"):
        tracker.add(raw[2], atoms[2])


def test_background_config_is_validated():
    with pytest.raises(ConfigError, match="denoise.background"):
        preset_config("small").with_updates(denoise={"background": "subtract"}).validate()
    with pytest.raises(ConfigError, match="background_sigma_px"):
        preset_config("small").with_updates(denoise={"background_sigma_px": 0.3}).validate()
    with pytest.raises(ConfigError, match="background_frames"):
        preset_config("small").with_updates(denoise={"background_frames": 33}).validate()
    # 0: chosen per series (the presets' default)
    dc = preset_config("small").denoise
    assert (dc.background_frames, dc.background_sigma_px, dc.atom_frames) == (0, 0.0, 0)


class _LeftShift(torch.nn.Module):
    """Not mirror-symmetric: output pixel x copies input pixel x + 1 (so TTA must change the result)."""

    def forward(self, x):
        return torch.roll(x, -1, dims=3)


def test_tta_averages_the_four_mirror_images():
    rng = np.random.default_rng(0)
    frame = rng.uniform(-1, 1, size=(32, 40)).astype(np.float32)
    kw = dict(tile_px=None, overlap_px=0, batch_size=2, size_multiple=8, device=torch.device("cpu"))
    plain = next(denoise_frames(_LeftShift(), [frame], **kw))
    tta = next(denoise_frames(_LeftShift(), [frame], tta=True, **kw))
    # shift left (no flip, y flip) and right (x flip, both flips): the mean of the two neighbours,
    # away from the wrapped-around columns and the symmetric padding
    expect = (0.5 * (np.roll(frame, -1, 1) + np.roll(frame, 1, 1)) + 1) / 2
    np.testing.assert_allclose(tta[:, 2:-2], expect[:, 2:-2], atol=1e-6)
    assert not np.allclose(plain, tta)
    ident = torch.nn.Identity()  # a mirror-symmetric network: TTA changes nothing
    np.testing.assert_allclose(next(denoise_frames(ident, [frame], tta=True, **kw)),
                               next(denoise_frames(ident, [frame], **kw)), atol=1e-6)


@pytest.fixture(scope="module")
def pair_model():
    """A tiny model trained briefly on pairs alone (the presets' recipe)."""
    from noise2atom.data import simulate_movie
    from noise2atom.model import Noise2Atom

    movie = simulate_movie(6, 64, dose_e_per_px=3.0, seed=2)
    cfg = preset_config("small", seed=5).with_updates(
        data={"crop_px": 48, "n_frames": 6}, model={"width": 8, "res_blocks": 1, "critic_width": 8},
        train={"batch_size": 2, "pair_steps": 6, "epochs": 0},
        denoise={"tile_px": 48, "overlap_px": 12, "batch_size": 4})
    model = Noise2Atom(cfg, device="cpu")
    result = model.fit(movie.noisy)
    return model, movie, result


def test_pairs_only_recipe_runs_the_pair_stage_and_nothing_else(pair_model):
    model, _, result = pair_model
    assert result.steps == 6 and result.kept_step == 6
    assert "pair_model" in model.record


def test_keep_background_returns_atoms_on_the_support_in_input_units(pair_model):
    model, movie, _ = pair_model
    atoms = model.denoise(movie.noisy, atom_window=1)  # each frame's own, as keep uses them
    kept = model.denoise(movie.noisy, background="keep", rescale=True)
    assert kept.shape == movie.noisy.shape
    # in input units: the level of the raw frames, which the atoms-only output (rescaled) is not
    assert abs(kept.mean() - movie.noisy.mean()) < 0.05 * movie.noisy.mean()
    kept = model.denoise(movie.noisy, background="keep", rescale=True, background_frames=1, atom_frames=1,
                         background_sigma_px=3.0, atom_power=1.0, atom_brightness="frame")
    per_frame = [restore_background(r, a, 3.0) for r, a in zip(movie.noisy, atoms)]
    np.testing.assert_allclose(kept, np.stack(per_frame), rtol=1e-4, atol=1e-3)
    local = model.denoise(movie.noisy, background="keep", rescale=True, background_frames=1, atom_frames=1,
                          background_sigma_px=3.0, atom_power=1.0, atom_brightness="local")
    per_frame = [restore_background(r, a, 3.0, "local") for r, a in zip(movie.noisy, atoms)]
    np.testing.assert_allclose(local, np.stack(per_frame), rtol=1e-4, atol=1e-3)
    with pytest.raises(ConfigError, match="atom_brightness"):
        model.denoise(movie.noisy, background="keep", atom_brightness="global")
    with pytest.raises(ConfigError, match="background"):
        model.denoise(movie.noisy, background="subtract")


def test_tta_option_changes_the_output_of_a_trained_model(pair_model):
    model, movie, _ = pair_model
    a, b = model.denoise(movie.noisy[:2]), model.denoise(movie.noisy[:2], tta=True)
    assert a.shape == b.shape and not np.allclose(a, b)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.8


def test_loss_figure_of_a_pair_stage_run_shows_the_pair_loss_alone(tmp_path):
    import csv

    from PIL import Image

    from noise2atom.report import plot_losses
    from noise2atom.train.trainer import LOG_FIELDS

    path = tmp_path / "losses.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        for i in range(1, 31):
            w.writerow({"step": i, "pair": 1.0 / i, "val_score": 0.5 if i == 30 else None})
    out = plot_losses(path, tmp_path / "losses.png")
    assert Image.open(out).size == (720, 432)  # one panel (6 x 3.6 in at 120 dpi), not the game's two
    assert (tmp_path / "losses.pdf").read_bytes()[:4] == b"%PDF"  # and the PDF for papers


def test_keep_background_over_past_frames_never_uses_a_later_frame(pair_model):
    model, movie, _ = pair_model
    raw = movie.noisy.astype(np.float32)
    # every setting fixed (one left at 0 or "auto" is chosen on the first 16 frames, later ones included)
    for atom_frames, brightness in ((1, "frame"), (3, "local")):
        fixed = dict(background="keep", atom_frames=atom_frames, background_sigma_px=4.0, atom_power=1.5,
                     atom_brightness=brightness)
        ref = model.denoise(raw, background_frames=3, **fixed)
        changed = raw.copy()
        changed[4] = changed[4][:, ::-1]
        out = model.denoise(changed, background_frames=3, **fixed)
        np.testing.assert_array_equal(out[:4], ref[:4])
        assert not np.allclose(out[5], ref[5])  # frame 5's support (and atoms) average frame 4 in
        one = model.denoise(raw, background_frames=1, **fixed)
        assert not np.allclose(ref[3], one[3])


def test_support_tracker_averages_the_atoms_over_past_frames():
    n = 64
    yy, xx = np.mgrid[:n, :n]
    peaks = [np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.2**2))
             for y, x in np.random.default_rng(0).uniform(8, n - 8, size=(12, 2))]
    every, half = sum(peaks), sum(peaks[:6])
    raws = [10.0 + 4.0 * every, 10.0 + 8.0 * every]  # the same atoms, twice as bright in frame 1
    missed = np.unravel_index(np.argmax(sum(peaks[6:]) - 5 * half), every.shape)  # a peak frame 1's estimate lacks
    found = np.unravel_index(np.argmax(half - 5 * sum(peaks[6:])), every.shape)
    one, two = SupportTracker(1, 4.0, atom_frames=1), SupportTracker(1, 4.0, atom_frames=2)
    out_one = [one.add(raws[0], every), one.add(raws[1], half)]
    out_two = [two.add(raws[0], every), two.add(raws[1], half)]
    np.testing.assert_allclose(out_one[0], out_two[0], rtol=1e-5)  # nothing before the first frame
    assert out_one[1][found] - out_one[1][missed] > 4.0  # frame 1's own atoms: the missed one is not there
    assert out_two[1][missed] - out_one[1][missed] > 2.0  # with frame 0's atoms averaged in, it is
    assert out_two[1][found] > out_two[1][missed]  # at about half the weight of one both frames found
    with pytest.raises(ValueError, match="atom_frames"):
        SupportTracker(1, 4.0, atom_frames=0)


def test_support_tracker_filter_hook_and_last_atoms():
    """smooth_support is the support's Gaussian; a subclass swaps it (bench/support_choices.py --wiener),
    and last_atoms is what the frame's output added on top of the filtered support."""
    raw, atoms, _ = _drifting_support_movie()

    class Unfiltered(SupportTracker):
        def smooth_support(self, support):
            return support

    plain, unfiltered = SupportTracker(4, 2.0), Unfiltered(4, 2.0)
    first = unfiltered.add(raw[0], atoms[0])
    np.testing.assert_allclose(first, raw[0], rtol=1e-5, atol=1e-4)  # one frame, no filter: the raw frame
    np.testing.assert_allclose(plain.add(raw[0], atoms[0]),
                               gaussian_filter(raw[0] - plain.last_atoms, 2.0, mode="reflect") + plain.last_atoms,
                               rtol=1e-5, atol=1e-4)
    assert plain.last_atoms.max() > 0 and np.allclose(plain.last_atoms, unfiltered.last_atoms)


def test_support_tracker_keeps_each_frames_own_level():
    raw, atoms, _ = _drifting_support_movie()
    raw = raw * np.linspace(1.0, 1.5, len(raw))[:, None, None]  # the beam current rises by half
    tracker = SupportTracker(4, 4.0, atom_frames=4)
    out = np.stack([tracker.add(r, a) for r, a in zip(raw, atoms)])
    np.testing.assert_allclose(out.mean(axis=(1, 2)), raw.mean(axis=(1, 2)), rtol=1e-5)


def _static_or_moving(moving: bool, frames=12, n=64):
    """Poisson frames of atoms (fixed, or each on its own random walk of ~1 px per frame) on a flat
    support, and an estimate of each frame's atoms: noisy for the fixed ones (an uncertain network at
    low dose), exact for the moving ones."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:n, :n]
    pos = rng.uniform(10, n - 10, size=(12, 2))
    atoms = []
    for _ in range(frames):
        a = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.2**2)) for y, x in pos)
        atoms.append(a / a.max())
        if moving:
            pos = pos + rng.normal(0, 1.0, size=pos.shape)
    atoms = np.stack(atoms)
    raw = rng.poisson(5.0 + 10.0 * atoms).astype(np.float64)
    estimate = atoms if moving else np.clip(atoms + 0.4 * rng.standard_normal(atoms.shape), 0, None)
    return raw, estimate


def test_best_support_averages_fixed_atoms_and_not_moving_ones():
    from noise2atom.model import best_support

    def window(raw, estimate):  # the atoms' window alone chosen, the support fixed
        return best_support(raw, estimate, frames=1, sigma_px=4.0).atom_frames

    raw, estimate = _static_or_moving(False)
    assert window(raw, estimate) > 1  # fixed atoms: the average of noisy estimates predicts better
    raw, estimate = _static_or_moving(True)
    assert window(raw, estimate) == 1  # moving atoms: older frames' atoms are farther off
    assert window(raw[:2], estimate[:2]) == 1  # too few frames to choose
    with pytest.raises(ValueError, match="shape"):
        best_support(raw, estimate[:, :10])


def _static_support(dose: float, textured: bool, frames=12, n=64):
    """Poisson frames of fixed atoms on a static support with fine texture (σ 1 px) or none, at
    ``dose`` (counts on the bare support), and the exact atoms."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(11)
    texture = gaussian_filter(rng.standard_normal((n, n)), 1.0)
    support = dose * np.clip(1.0 + (0.8 * texture / texture.std() if textured else 0.0), 0.2, None)
    atoms = _atoms(n, 5)
    raw = rng.poisson(np.stack([support + 2 * dose * atoms] * frames)).astype(np.float64)
    return raw, np.stack([atoms] * frames)


def test_shift_linear_is_scipys_bilinear_shift_with_replicated_edges():
    from scipy.ndimage import shift as nd_shift

    from noise2atom.denoise.background import shift_linear

    x = np.random.default_rng(2).normal(size=(37, 52))
    for offset in [(0.6, -3.1), (-2.5, 1.25), (3.0, 0.0), (0.0, 0.0), (-0.0001, 51.5), (40.2, -60.0), (-12.3, 7.7)]:
        np.testing.assert_allclose(shift_linear(x, offset), nd_shift(x, offset, order=1, mode="nearest"),
                                   rtol=0, atol=1e-12, err_msg=str(offset))
    before = x.copy()
    shift_linear(x, (1.5, -0.5))
    np.testing.assert_array_equal(x, before)  # the input is left as it was


def test_one_pass_gives_every_support_length_as_its_own_tracker_would():
    from noise2atom.data.pairs import measure_drift

    raw, atoms, _ = _drifting_support_movie()
    steps = measure_drift(raw)
    for k, brightness in ((1, "frame"), (3, "local")):
        each = SupportTracker(6, 2.0, atom_frames=k, atom_power=1.5, brightness=brightness).restore_each(
            raw, atoms, steps, (1, 4, 6))
        for f, out in zip((1, 4, 6), each):
            one = SupportTracker(f, 2.0, atom_frames=k, atom_power=1.5, brightness=brightness).restore(raw, atoms, steps)
            np.testing.assert_array_equal(out, one, err_msg=f"frames {f}, atom frames {k}")
        assert not np.array_equal(each[1], each[2])  # the lengths do differ
    with pytest.raises(ValueError, match="each must be in"):
        SupportTracker(4, 2.0).restore_each(raw, atoms, steps, (4, 8))
    twice = SupportTracker(1, 2.0).restore_each(raw, atoms, steps, (1, 1))  # one output per length asked
    assert len(twice) == 2 and np.array_equal(twice[0], twice[1])


def test_best_support_blurs_less_where_the_support_has_fine_texture():
    from noise2atom.denoise.background import SUPPORT_SIGMA_CHOICES
    from noise2atom.model import best_support

    raw, atoms = _static_support(200.0, textured=True)
    fine = best_support(raw, atoms, atom_frames=1)
    raw, atoms = _static_support(2.0, textured=False)
    flat = best_support(raw, atoms, atom_frames=1)
    # carbon's fine texture at a good dose is real and predicts the next frame: kept (little blur, and
    # averaged over more frames); a flat support at low dose has only noise to lose: the widest blur
    assert fine.sigma_px == min(SUPPORT_SIGMA_CHOICES) and flat.sigma_px == max(SUPPORT_SIGMA_CHOICES)
    assert flat.frames == 8
    # what is given stays as given
    assert best_support(raw, atoms, frames=5, sigma_px=2.0, atom_frames=3, atom_power=1.5,
                        brightness="local").to_options() == {
        "background_frames": 5, "background_sigma_px": 2.0, "atom_frames": 3, "atom_power": 1.5,
        "atom_brightness": "local"}


def _graded_atoms(frames=12, n=128, graded=True, seed=4):
    """Poisson frames of fixed atoms (in [0, 1]) on a flat support, the atoms' true height rising
    from 10 to 70 counts across x (or 40 everywhere), and those atoms."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    atoms = np.zeros((n, n))
    for y, x in rng.uniform(6, n - 6, size=(60, 2)):
        atoms += np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.2**2))
    atoms /= atoms.max()
    height = 10.0 + 60.0 * xx / (n - 1) if graded else np.full((n, n), 40.0)
    raw = rng.poisson(np.stack([20.0 + height * atoms] * frames)).astype(np.float64)
    return raw, np.stack([atoms] * frames), height


def test_local_brightness_follows_the_atoms_height_across_the_field():
    from noise2atom.denoise.background import local_brightness

    raw, atoms, height = _graded_atoms()
    n = raw.shape[-1]
    frame = atom_brightness(raw[0], atoms[0])
    local = local_brightness(raw[0], atoms[0], window_px=16.0)
    assert 30 < frame < 50  # one slope: the field's average height
    left, right = local[:, : n // 4].mean(), local[:, -n // 4:].mean()
    # the map rises with the true height (pulled towards the frame's slope where a window holds few atoms)
    assert left < 0.9 * frame < 1.1 * frame < right
    truth = 20.0 + height * atoms[0]
    err = {b: np.sqrt(np.mean((restore_background(raw[0], atoms[0], 4.0, b) - truth) ** 2))
           for b in ("frame", "local")}
    assert err["local"] < 0.8 * err["frame"]
    # the wide blur as matrix products is scipy's Gaussian
    from noise2atom.denoise.background import wide_blur

    x = np.random.default_rng(0).random((40, 90))
    np.testing.assert_allclose(wide_blur(x, 16.0), gaussian_filter(x, 16.0, mode="reflect"), rtol=0, atol=1e-12)
    # a window much wider than the frame is the frame's slope everywhere
    np.testing.assert_allclose(local_brightness(raw[0], atoms[0], window_px=1e4), frame, rtol=1e-3)
    with pytest.raises(ValueError, match="brightness"):
        SupportTracker(4, 4.0, brightness="global")


def test_best_support_fits_the_brightness_locally_only_where_it_changes_across_the_field():
    from noise2atom.model import best_support

    def chosen(graded):
        raw, atoms, _ = _graded_atoms(graded=graded)
        return best_support(raw, atoms, frames=4, sigma_px=4.0, atom_frames=1, atom_power=1.0).brightness

    assert chosen(True) == "local"
    assert chosen(False) == "frame"  # one height: a local fit only adds noise


def test_atom_power_raises_the_atoms_before_they_go_on_the_support():
    raw, atoms, _ = _drifting_support_movie()
    squared, plain = SupportTracker(4, 2.5, atom_frames=2, atom_power=2.0), SupportTracker(4, 2.5, atom_frames=2)
    for r, a in zip(raw, atoms):
        np.testing.assert_allclose(squared.add(r, a), plain.add(r, np.clip(a, 0, 1) ** 2), rtol=1e-6)
    one = SupportTracker(1, 2.5, atom_power=1.5)  # the one-frame path too
    np.testing.assert_allclose(one.add(raw[0], atoms[0]), restore_background(raw[0], atoms[0] ** 1.5, 2.5), rtol=1e-6)
    with pytest.raises(ValueError, match="atom_power"):
        SupportTracker(4, 2.5, atom_power=0.1)


def test_best_support_raises_flattened_atoms_to_a_power_and_leaves_exact_ones():
    from noise2atom.model import best_support

    raw, atoms = _static_support(20.0, textured=False)  # fixed atoms on a flat support, and the exact atoms
    estimate = np.sqrt(atoms)  # peaks too wide, faint tails too bright: an unsure network's
    chosen = best_support(raw, estimate, frames=4, sigma_px=2.5, atom_frames=1)
    assert chosen.atom_power == 2.0  # the square root undone
    score = {p: predictive_r2(SupportSettings(4, 2.5, 1, p).restore(raw, estimate), raw) for p in (1.0, 2.0)}
    assert score[2.0] > score[1.0]
    estimate = atoms
    assert best_support(raw, estimate, frames=4, sigma_px=2.5, atom_frames=1).atom_power == 1.0  # exact: as they are
    assert best_support(raw[:2], estimate[:2]).atom_power == 1.0  # too few frames to choose


def test_support_left_at_zero_is_the_one_chosen_on_the_series(pair_model):
    model, movie, _ = pair_model
    chosen = model.choose_support(movie.noisy)
    assert chosen.atom_frames in (1, 2, 4)  # 6 frames: 8 is not tried
    assert chosen.frames in (4, 8) and chosen.sigma_px in (1.5, 2.5, 4.0) and chosen.atom_power in (1.0, 1.5, 2.0)
    auto = model.denoise(movie.noisy, background="keep")  # the model's default: all 0, chosen
    np.testing.assert_array_equal(auto, model.denoise(movie.noisy, background="keep", **chosen.to_options()))
    other = 4 if chosen.atom_frames != 4 else 1
    assert not np.allclose(auto[-1], model.denoise(movie.noisy, background="keep", atom_frames=other)[-1])
    blur = 4.0 if chosen.sigma_px != 4.0 else 1.5
    assert not np.allclose(auto[-1], model.denoise(movie.noisy, background="keep", background_sigma_px=blur)[-1])
    # fixing one setting chooses the others again, with it fixed
    fixed = model.choose_support(movie.noisy, atom_frames=other)
    assert fixed.atom_frames == other
    np.testing.assert_array_equal(model.denoise(movie.noisy, atom_frames=4), model.denoise(movie.noisy))  # atoms alone
    with pytest.raises(ConfigError, match="atom_frames"):
        model.denoise(movie.noisy, background="keep", atom_frames=33)
    with pytest.raises(ConfigError, match="background_sigma_px"):
        model.denoise(movie.noisy, background="keep", background_sigma_px=0.2)
    with pytest.raises(ConfigError, match="atom_frames"):
        preset_config("small").with_updates(denoise={"atom_frames": -1}).validate()
    power = 2.0 if chosen.atom_power != 2.0 else 1.0
    assert not np.allclose(auto[-1], model.denoise(movie.noisy, background="keep", atom_power=power)[-1])
    with pytest.raises(ConfigError, match="atom_power"):
        model.denoise(movie.noisy, background="keep", atom_power=5)
    with pytest.raises(ConfigError, match="atom_power"):
        preset_config("small").with_updates(denoise={"atom_power": 0.1}).validate()
