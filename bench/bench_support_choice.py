"""Seconds to choose ``--background keep``'s settings on a series (``noise2atom.model.best_support``).

    python bench/bench_support_choice.py [--sizes 128,512] [--repeats 3] [--dose 1]

The choice tries its settings on a series' first 16 frames (at most their central 256²). Timed here on
one arena movie per size (the pretrained default's atoms, no training), median of ``--repeats``, in one
run, three ways:

* **72, each registers**: the choice before 2026-11-29's evening: 72 settings (the atoms' brightness
  per frame), each setting's tracker measuring the drift again (phase correlation of the same frames);
* **144, a tracker each**: the package from then until 2026-11-29's afternoon (016e528): the frames
  registered once, 144 settings (the brightness per frame or local), one tracker per setting, frames
  moved by scipy's ``ndimage.shift``;
* **the package**: the same 144 settings, one tracker pass giving both support lengths (4 and 8
  frames) of a setting, frames moved by ``shift_linear`` (the same bilinear shift).

The first two are run with scipy's shift put back in the tracker for their duration. The last two
are checked to choose the same settings.
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
    from scipy.ndimage import shift as nd_shift

    from noise2atom.data.arena import SynthConfig, synthesize
    from noise2atom.data.pairs import measure_drift
    from noise2atom.data.patches import central_crop
    from noise2atom.denoise import background
    from noise2atom.denoise.background import (ATOM_BRIGHTNESS_CHOICES, ATOM_FRAME_CHOICES, ATOM_POWER_CHOICES,
                                               CHOOSE_FRAMES, CHOOSE_PX, SUPPORT_FRAME_CHOICES,
                                               SUPPORT_SIGMA_CHOICES, SupportSettings)
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

    def a_tracker_each(raw, atoms):  # 016e528's best_support: registered once, one tracker per setting
        raw, atoms = (central_crop(x, CHOOSE_PX, 1) for x in (raw, atoms))
        steps = measure_drift(raw)
        best, best_score = None, -np.inf
        for b, p, f, s, k in itertools.product(ATOM_BRIGHTNESS_CHOICES, ATOM_POWER_CHOICES, SUPPORT_FRAME_CHOICES,
                                               SUPPORT_SIGMA_CHOICES, ATOM_FRAME_CHOICES):
            settings = SupportSettings(f, s, k, p, b)
            score = predictive_r2(settings.restore(raw, atoms, steps), raw)
            if best is None or score > best_score + 1e-9:
                best, best_score = settings, score
        return best

    def with_scipy_shift(fn):
        def run(raw, atoms):
            kept = background.shift_linear
            background.shift_linear = lambda x, offset: nd_shift(x, offset, order=1, mode="nearest")
            try:
                return fn(raw, atoms)
            finally:
                background.shift_linear = kept
        return run

    model = load_default()
    print(f"# {datetime.date.today()} {platform.node()} {platform.processor() or platform.machine()}, "
          f"dose {args.dose:g} e/px, median of {args.repeats}")
    print("| frames | 72, each registers (s) | 144, a tracker each (s) | the package: 144, one pass per setting (s) "
          "| same settings | 144 a tracker each / package |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        movie = synthesize(SynthConfig(frames=CHOOSE_FRAMES, size=size, dose=args.dose, seed=0))
        raw = movie.noisy.astype(np.float64)
        atoms = model.denoise(movie.noisy, background="remove").astype(np.float64)
        ways = {"72": with_scipy_shift(each_tracker_registers), "each": with_scipy_shift(a_tracker_each),
                "package": best_support}
        times = {key: [] for key in ways}
        chosen = {}
        for _ in range(args.repeats):
            for key, fn in ways.items():
                t0 = time.perf_counter()
                chosen[key] = fn(raw, atoms)
                times[key].append(time.perf_counter() - t0)
        med = {key: statistics.median(t) for key, t in times.items()}
        print(f"| {CHOOSE_FRAMES} × {size}² | {med['72']:.1f} | {med['each']:.1f} | {med['package']:.1f} | "
              f"{'yes' if chosen['each'] == chosen['package'] else 'NO'} | {med['each'] / med['package']:.2f} |",
              flush=True)

if __name__ == "__main__":
    main()
