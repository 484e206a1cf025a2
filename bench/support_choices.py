"""What `--background keep` gains from its per-series choices: the atoms' window alone (the package
before 2026-11-28's second change), and the support's frames and blur chosen with it (the package).

    python bench/support_choices.py [--doses 0.5,1,2,5] [--gradient 0.5] [--seed 0] [--size 128] [--frames 20]

For each arena movie, the pretrained default's atoms (no training) are put on the support
(``denoise.background.SupportTracker``) three ways: one frame's atoms on the support over 4
registered frames blurred with σ 4 px; the same with the atoms' window (1, 2, 4 or 8 frames) chosen;
and all three settings chosen (the support's frames 4 or 8, its blur 4, 2.5 or 1.5 px, the atoms'
window), as ``denoise`` does (``noise2atom.model.best_support``, on the first 16 frames, at most
their central 256²). Printed: each output's predictive score (``metrics.predictive_r2``) on the
whole movie, and what was chosen. Runs in about 15 s per seed on 2 CPU cores at 128².

``--screen`` instead prints, per movie, the best whole-movie score over the support's frames and the
atoms' window for each blur of the support (σ 1, 1.5, 2, 2.5, 4 px) and of the atoms (0, 0.5, 0.8 px):
the wider set the package's choices were picked from (about a minute per seed at 128²).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from support_ceiling import movie_arguments, movies  # bench/, beside this script

from noise2atom.denoise.background import CHOOSE_FRAMES, SupportSettings
from noise2atom.metrics import predictive_r2
from noise2atom.model import best_support
from noise2atom.pretrained import load_default


SCREEN_SIGMAS = (1.0, 1.5, 2.0, 2.5, 4.0)
SCREEN_ATOM_BLURS = (0.0, 0.5, 0.8)


def main(argv=None):
    ap = movie_arguments(__doc__.splitlines()[0])
    ap.add_argument("--screen", action="store_true", help="the wider set of blurs the choices were picked from")
    a = ap.parse_args(argv)
    model = load_default()
    if a.screen:
        return screen(a, model)
    print("| movie | one frame's atoms (σ 4, 4 frames) | atoms' window chosen | all three chosen |")
    print("|---|---|---|---|")
    for label, m in movies(a):
        raw = m.noisy.astype(np.float64)
        atoms = model.denoise(m.noisy, background="remove").astype(np.float64)
        head = slice(0, CHOOSE_FRAMES)

        def score(s: SupportSettings) -> float:
            return predictive_r2(s.restore(raw, atoms), raw)

        window = best_support(raw[head], atoms[head], frames=4, sigma_px=4.0)
        every = best_support(raw[head], atoms[head])
        print(f"| {label} | {score(SupportSettings(4, 4.0, 1)):.4f} | "
              f"{score(window):.4f} ({window.atom_frames} frames) | "
              f"{score(every):.4f} ({every.frames} frames, σ {every.sigma_px:g}, atoms over {every.atom_frames}) |",
              flush=True)


def screen(a, model) -> None:
    print("| movie | " + " | ".join(f"σ {g:g}" for g in SCREEN_SIGMAS) + " | "
          + " | ".join(f"atom blur {b:g}" for b in SCREEN_ATOM_BLURS) + " |")
    print("|---" * (1 + len(SCREEN_SIGMAS) + len(SCREEN_ATOM_BLURS)) + "|")
    for label, m in movies(a):
        raw = m.noisy.astype(np.float64)
        atoms = model.denoise(m.noisy, background="remove").astype(np.float64)
        scores = {}
        for blur in SCREEN_ATOM_BLURS:
            blurred = np.stack([gaussian_filter(t, blur) for t in atoms]) if blur else atoms
            for sigma in SCREEN_SIGMAS:
                for frames in (4, 8):
                    for k in (1, 2, 4, 8):
                        out = SupportSettings(frames, sigma, k).restore(raw, blurred)
                        scores[(blur, sigma, frames, k)] = predictive_r2(out, raw)

        def best(i, v):  # the best score with setting i at v, over all the others
            return max(x for c, x in scores.items() if c[i] == v)

        print(f"| {label} | " + " | ".join(f"{best(1, g):.4f}" for g in SCREEN_SIGMAS) + " | "
              + " | ".join(f"{best(0, b):.4f}" for b in SCREEN_ATOM_BLURS) + " |", flush=True)


if __name__ == "__main__":
    main()
