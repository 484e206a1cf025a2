"""Ablation of noise2atom's levers on the arena: one configuration field, several values, doses and seeds.

    python bench/ablation.py --lever train.predict_weight=0,5 --doses 1,2 --seeds 0,1,2 --minutes 4 \
        [--base train.lr=0.0005 ...] [--size 128] [--frames 20] [--out ablation.json]

Each run: an arena movie (``synthesize(frames, size, dose, seed)``), noise2atom (``small`` preset,
training seed = the movie's seed) trained for ``--minutes`` with the lever set, scored like the
benchmark (``noise2atom.bench.run.score_truth``: atom F1 at its best threshold, PSNR/SSIM) plus the
predictive score and CSS. Prints a Markdown table of mean and spread (min-max) over seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np

from noise2atom.bench.run import score_truth
from noise2atom.config import preset_config
from noise2atom.data.arena import SynthConfig, synthesize
from noise2atom.metrics import css, predictive_r2
from noise2atom.model import Noise2Atom


def parse_value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lever", required=True, help="section.field=v1,v2,...")
    ap.add_argument("--base", action="append", default=[],
                    help="section.field=value held fixed in every run (repeatable), e.g. train.lr=0.0005")
    ap.add_argument("--doses", default="1,2")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    key, values = a.lever.split("=")
    section, field = key.split(".")
    values = [parse_value(v) for v in values.split(",")]
    doses = [float(d) for d in a.doses.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    base: dict = {}
    for item in a.base:
        k, v = item.split("=")
        sec, fld = k.split(".")
        base.setdefault(sec, {})[fld] = parse_value(v)
    rows = []
    for dose in doses:
        for seed in seeds:
            movie = synthesize(SynthConfig(frames=a.frames, size=a.size, dose=dose, seed=seed))
            for v in values:
                changes = {sec: dict(f) for sec, f in base.items()}
                changes.setdefault(section, {})[field] = v
                cfg = preset_config("small", seed=seed).with_updates(**changes)
                model = Noise2Atom(cfg)
                t0 = time.perf_counter()
                result = model.fit(movie.noisy, minutes=a.minutes)
                den = model.denoise(movie.noisy)
                row = {"lever": key, "value": v, "dose": dose, "seed": seed, "steps": result.steps,
                       "kept_step": result.kept_step, "restarts": result.restarts,
                       "inverted_at_end": result.inverted_at_end, "minutes": (time.perf_counter() - t0) / 60,
                       "predictive": predictive_r2(den, movie.noisy), "css": css(den).mean}
                row.update(score_truth(den, movie))
                rows.append(row)
                print(json.dumps({k: (round(x, 4) if isinstance(x, float) else x) for k, x in row.items()}), flush=True)
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(rows, fh, indent=1)
    print(f"\n# {key} (fixed: {a.base or 'preset defaults'}): {a.minutes:g} min each, {a.size}² x {a.frames} frames, seeds {seeds}; "
          f"{date.today()}, {platform.node()}\n")
    print("| value | dose | atom F1 | predictive | PSNR dB | CSS | inverted |")
    print("|---|---|---|---|---|---|---|")

    def cell(xs, d=3):
        xs = np.asarray(xs, dtype=float)
        return f"{xs.mean():.{d}f}" + (f" ({xs.min():.{d}f}–{xs.max():.{d}f})" if len(xs) > 1 else "")

    for v in values:
        for dose in doses:
            sub = [r for r in rows if r["value"] == v and r["dose"] == dose]
            inv = sum(1 for r in sub if r["inverted_at_end"] or r["predictive"] < 0)
            print(f"| {v} | {dose:g} | {cell([r['f1'] for r in sub])} | {cell([r['predictive'] for r in sub])} | "
                  f"{cell([r['psnr_db'] for r in sub], 2)} | {cell([r['css'] for r in sub])} | {inv}/{len(sub)} |")


if __name__ == "__main__":
    main()
