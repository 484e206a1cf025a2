"""What `--background keep` gains from its per-series choices: the atoms' window, and (not in the
package yet) the support's blur and a blur of the atoms.

    python bench/support_choices.py [--doses 0.5,1,2,5] [--gradient 0.5] [--seed 0] [--size 128] [--frames 20]

For each arena movie, the pretrained default's atoms (no training) are put on the support
(``denoise.background.SupportTracker``, the support over 4 registered frames) with every combination
of: the atoms averaged over 1, 2, 4 or 8 registered frames; the support blurred with σ 4 px (the
package's) or 2.5 px; the atoms blurred with σ 0 (the package's) or 0.8 px. Each combination's
predictive score (``metrics.predictive_r2``) is taken on the first 16 frames (what the package
chooses on) and on the whole movie. Printed: the whole-movie score of one frame's atoms (the package
before the choice), of the package's choice (the window alone, by the first 16 frames) and of the
choice over all three (by the first 16 frames too). Runs in about a minute on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from support_ceiling import movie_arguments, movies  # bench/, beside this script

from noise2atom.denoise.background import ATOM_FRAME_CHOICES, CHOOSE_FRAMES, SupportTracker
from noise2atom.metrics import predictive_r2
from noise2atom.pretrained import load_default


def main(argv=None):
    a = movie_arguments(__doc__.splitlines()[0]).parse_args(argv)
    model = load_default()
    print("| movie | one frame's atoms | window chosen (package) | window, support σ, atom blur chosen |")
    print("|---|---|---|---|")
    for label, m in movies(a):
        raw = m.noisy.astype(np.float64)
        atoms = model.denoise(m.noisy, background="remove").astype(np.float64)
        scores = {}
        for sigma in (4.0, 2.5):
            for blur in (0.0, 0.8):
                blurred = np.stack([gaussian_filter(t, blur) for t in atoms]) if blur else atoms
                for k in ATOM_FRAME_CHOICES:
                    tracker = SupportTracker(4, sigma, atom_frames=k)
                    out = np.stack([tracker.add(r, t) for r, t in zip(raw, blurred)])
                    scores[(k, sigma, blur)] = (predictive_r2(out[:CHOOSE_FRAMES], raw[:CHOOSE_FRAMES]),
                                                predictive_r2(out, raw))
        package = max((c for c in scores if c[1:] == (4.0, 0.0)), key=lambda c: scores[c][0])
        joint = max(scores, key=lambda c: scores[c][0])
        print(f"| {label} | {scores[(1, 4.0, 0.0)][1]:.4f} | {scores[package][1]:.4f} ({package[0]} frames) | "
              f"{scores[joint][1]:.4f} ({joint[0]} frames, σ {joint[1]:g}, blur {joint[2]:g}) |", flush=True)


if __name__ == "__main__":
    main()
