"""How far can `--background keep` go on the predictive score? The true atoms on the restored support.

    python bench/support_ceiling.py [--doses 0.5,1,2,5] [--gradient 0.5] [--seed 0] [--size 128] [--frames 20]

For each arena movie, the predictive score (``metrics.predictive_r2``) of: the clean movie (the
ceiling of any estimate); the true atoms alone; the true atoms put on the support exactly as
``denoise --background keep`` does (``denoise.background.restore_background``, σ 4 px) — the best
that output can reach with perfect atoms; and the same with the support averaged over the current
and the 3 frames before it, registered for drift (``--background-frames 4``,
``denoise.background.SupportTracker``). Compare with the rivals' rows in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse

import numpy as np

from noise2atom.data.arena import SynthConfig, synthesize
from noise2atom.denoise.background import SupportSettings, restore_background
from noise2atom.metrics import predictive_r2


def movie_arguments(description: str) -> argparse.ArgumentParser:
    """The arena movies' options, shared with bench/support_choices.py."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--doses", default="0.5,1,2,5")
    ap.add_argument("--gradient", type=float, default=0.5, help="also the first dose with this gradient (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=20)
    return ap


def movies(a):
    """(label, SynthMovie) for each dose, and the first dose with the gradient."""
    doses = [float(d) for d in a.doses.split(",")]
    for dose, grad in [(d, 0.0) for d in doses] + ([(doses[0], a.gradient)] if a.gradient > 0 else []):
        label = f"{dose:g} e/px" + (f" + gradient {grad:g}" if grad else "")
        yield label, synthesize(SynthConfig(frames=a.frames, size=a.size, dose=dose, seed=a.seed, gradient=grad))


def main(argv=None):
    ap = movie_arguments(__doc__.splitlines()[0])
    ap.add_argument("--sigma", type=float, default=4.0)
    a = ap.parse_args(argv)
    print("| movie | clean | true atoms alone | true atoms + support (keep) | + support over 4 registered frames |")
    print("|---|---|---|---|---|")
    for label, m in movies(a):
        atoms = m.atoms / m.atoms.max()
        keep = np.stack([restore_background(r, t, a.sigma) for r, t in zip(m.noisy, atoms)])
        print(f"| {label} | "
              f"{predictive_r2(m.clean, m.noisy):.3f} | {predictive_r2(m.atoms, m.noisy):.3f} | "
              f"{predictive_r2(keep, m.noisy):.3f} | {_tracked(m.noisy, atoms, a.sigma):.3f} |")


def _tracked(noisy: np.ndarray, atoms: np.ndarray, sigma: float, frames: int = 4) -> float:
    """The keep output with its support averaged over frames n - frames + 1 .. n, registered."""
    return predictive_r2(SupportSettings(frames, sigma, 1).restore(noisy, atoms), noisy)


if __name__ == "__main__":
    main()
