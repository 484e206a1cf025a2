"""Train briefly on a simulated noisy movie with known truth and check the result against it."""

import numpy as np
import pytest

from noise2atom import Noise2Atom, preset_config, simulate_movie
from noise2atom.metrics import psnr, ssim

STEPS = 500  # ~3-9 min on 2 CPU cores; measured 2026-11-28: SSIM 0.352 -> 0.529, correlation with the atoms 0.83
PAIR_STEPS = 300  # ~40 s; measured 2026-11-28 (4 context frames): SSIM 0.352 -> 0.806, PSNR 25.88 -> 30.60 dB, corr 0.945


def _train_and_compare(tmp_path, pair_steps: int, steps: int | None, epochs: int = 10_000):
    """A width-8 model trained on a 12-frame 64² movie at 2 e/px; returns the result and truth scores."""
    movie = simulate_movie(12, 64, dose_e_per_px=2.0, seed=3)
    config = preset_config("small", seed=0).with_updates(
        data={"crop_px": 48},
        # the game maps single frames; the pair recipe keeps the presets' context frames
        model={"width": 8, "res_blocks": 2, "critic_width": 8, **({"context_frames": 0} if epochs else {})},
        denoise={"tile_px": 64, "overlap_px": 16}, train={"epochs": epochs, "pair_steps": pair_steps})
    model = Noise2Atom(config, device="cpu")
    result = model.fit(movie.noisy, max_steps=steps, workdir=tmp_path / "run")
    denoised = model.denoise(movie.noisy)
    assert denoised.shape == movie.noisy.shape
    s_noisy, s_den = ssim(movie.noisy, movie.atoms), ssim(denoised, movie.atoms)
    corr = np.corrcoef(denoised.ravel(), movie.atoms.ravel())[0, 1]
    print(f"SSIM vs truth: noisy {s_noisy:.3f} -> denoised {s_den:.3f}; "
          f"PSNR noisy {psnr(movie.noisy, movie.atoms):.2f} -> {psnr(denoised, movie.atoms):.2f} dB; "
          f"correlation with the atoms {corr:.3f}; kept step {result.kept_step}; {result.seconds:.0f} s")
    return result, s_noisy, s_den, corr


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_training_improves_on_the_noisy_input(tmp_path):
    """The paper's game alone (no pair stage)."""
    result, s_noisy, s_den, corr = _train_and_compare(tmp_path, 0, STEPS)
    assert result.steps == STEPS and result.kept_step is not None and result.kept_score > 0
    # closer to the truth than the noisy input (SSIM), by a clear margin. The game is chaotic: on a
    # fresh machine on 2026-11-29 (numpy 2.4.6, scipy 1.17.1) the same seed gave 0.352 -> 0.425 (kept
    # step 450, correlation 0.742) where 2026-11-28's machine gave 0.529, at a725f5d as at today's head
    assert s_den > s_noisy + 0.05
    # the atoms are where the truth has them: not the inverted mapping
    assert corr > 0.5


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_default_recipe_pairs_alone_improves_on_the_noisy_input(tmp_path):
    """The presets' recipe: supervised steps on synthetic pairs matched to the movie, no game."""
    result, s_noisy, s_den, corr = _train_and_compare(tmp_path, PAIR_STEPS, None, epochs=0)
    assert result.steps == PAIR_STEPS and result.kept_step == PAIR_STEPS and result.kept_score > 0
    assert s_den > s_noisy + 0.1
    assert corr > 0.5
