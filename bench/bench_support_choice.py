"""Seconds to choose ``--background keep``'s settings on a series (``noise2atom.model.best_support``).

    python bench/bench_support_choice.py [--sizes 128,512] [--repeats 3] [--dose 1]

The choice tries its settings on a series' first 16 frames (at most their central 256²). Before
2026-11-29's evening it tried 72 (the atoms' brightness per frame) and each setting's tracker
measured the drift again (phase correlation of the same frames, 72 times); the package registers
the frames once and gives the drift to every tracker, and tries 144 (the brightness per frame or
local). Timed here on one arena movie per size (the pretrained default's atoms, no training),
median of ``--repeats``, in one run: the choice before, the same 72 settings registered once (the
settings chosen checked to be the same as before), and the package's 144.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import platform
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="128,512")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dose", type=float, default=1.0)
    args = ap.parse_args()
    from noise2atom.data.arena import SynthConfig, synthesize
    from noise2atom.data.patches import central_crop
    from noise2atom.denoise.background import (ATOM_FRAME_CHOICES, ATOM_POWER_CHOICES, CHOOSE_FRAMES, CHOOSE_PX,
                                               SUPPORT_FRAME_CHOICES, SUPPORT_SIGMA_CHOICES, SupportSettings)
    from noise2atom.metrics import predictive_r2
    from noise2atom.model import best_support
    from noise2atom.pretrained import load_default

    def each_tracker_registers(raw, atoms):  # the choice before the drift was measured once
        raw, atoms = (central_crop(x, CHOOSE_PX, 1) for x in (raw, atoms))
        best, best_score = None, -np.inf
        for p, f, s, k in itertools.product(ATOM_POWER_CHOICES, SUPPORT_FRAME_CHOICES, SUPPORT_SIGMA_CHOICES,
                                            ATOM_FRAME_CHOICES):
            settings = SupportSettings(f, s, k, p)
            score = predictive_r2(settings.restore(raw, atoms), raw)
            if best is None or score > best_score + 1e-9:
                best, best_score = settings, score
        return best

    model = load_default()
    print(f"# {datetime.date.today()} {platform.node()} {platform.processor() or platform.machine()}, "
          f"dose {args.dose:g} e/px, median of {args.repeats}")
    print("| frames | before: 72 settings, each tracker registers (s) | 72 registered once (s) | same settings "
          "| the package: 144 registered once (s) | before / package |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        movie = synthesize(SynthConfig(frames=CHOOSE_FRAMES, size=size, dose=args.dose, seed=0))
        raw = movie.noisy.astype(np.float64)
        atoms = model.denoise(movie.noisy, background="remove").astype(np.float64)
        ways = {"before": each_tracker_registers,
                "once": lambda r, a: best_support(r, a, brightness="frame"), "package": best_support}
        times = {key: [] for key in ways}
        chosen = {}
        for _ in range(args.repeats):
            for key, fn in ways.items():
                t0 = time.perf_counter()
                chosen[key] = fn(raw, atoms)
                times[key].append(time.perf_counter() - t0)
        med = {key: statistics.median(t) for key, t in times.items()}
        print(f"| {CHOOSE_FRAMES} × {size}² | {med['before']:.1f} | {med['once']:.1f} | "
              f"{'yes' if chosen['before'] == chosen['once'] else 'NO'} | {med['package']:.1f} | "
              f"{med['before'] / med['package']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
