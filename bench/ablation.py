"""Ablation of noise2atom's levers on the arena: training recipes x doses x seeds, each output variant scored.

    python bench/ablation.py --recipe paper:train.pair_steps=0,train.epochs=100,model.context_frames=0 \\
        --recipe pairs:train.pair_steps=1000 \\
        --doses 0.5,1,2,5 --gradient 0.5 --seeds 0,1,2 --steps 1000 [--minutes M] \\
        [--base train.lr=0.0005 ...] [--size 128] [--frames 20] [--workers 4] [--device cuda] \\
        [--out ablation.jsonl]
    python bench/ablation.py --lever train.predict_weight=0,5 ...   # one recipe per value

Each run: an arena movie (``synthesize(frames, size, dose, seed[, gradient])``), noise2atom (``small``
preset, training seed = the movie's seed) trained for ``--steps`` steps (or ``--minutes``) with the
recipe's fields set, then denoised five ways from the same weights: atoms alone or atoms on the
restored background (``denoise.background``), each with and without test-time mirroring
(``denoise.tta``), and atoms on the background averaged over 4 registered frames
(``denoise.background_frames``; rows written before that variant existed lack it). Every variant is scored like the benchmark (``noise2atom.bench.run.score_truth``:
atom F1 at its best threshold, PSNR/SSIM) plus the predictive score and CSS. Runs go to ``--workers``
processes; each finished run is appended to ``--out`` (JSON lines) at once, so a cut-off command
keeps what it finished. Prints a Markdown table per variant: mean and spread (min-max) over seeds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import time
from datetime import date

import numpy as np

#: the kept-support variants are fixed as they were when their rows were written (σ 4 px, one frame's
#: atoms), not chosen per series as ``denoise`` now does (bench/support_choices.py measures that)
_FIXED = dict(background="keep", background_sigma_px=4.0, atom_frames=1)
VARIANTS = {"atoms": dict(background="remove", tta=False), "atoms+tta": dict(background="remove", tta=True),
            "keep": dict(_FIXED, tta=False, background_frames=1),
            "keep+tta": dict(_FIXED, tta=True, background_frames=1),
            "keep+past4": dict(_FIXED, tta=False, background_frames=4)}


def parse_value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def parse_fields(items) -> dict:
    """["train.lr=0.001", ...] -> {"train": {"lr": 0.001}, ...}"""
    out: dict = {}
    for item in items:
        if not item:
            continue
        k, v = item.split("=")
        sec, fld = k.split(".")
        out.setdefault(sec, {})[fld] = parse_value(v)
    return out


def run_one(job: dict) -> dict:
    import torch

    from noise2atom.bench.run import score_truth
    from noise2atom.config import preset_config
    from noise2atom.data.arena import SynthConfig, synthesize
    from noise2atom.metrics import css, predictive_r2
    from noise2atom.model import Noise2Atom

    torch.set_num_threads(job["threads"])
    movie = synthesize(SynthConfig(frames=job["frames"], size=job["size"], dose=job["dose"], seed=job["seed"],
                                   gradient=job["gradient"]))
    changes = {sec: dict(f) for sec, f in job["base"].items()}
    for sec, f in job["fields"].items():
        changes.setdefault(sec, {}).update(f)
    cfg = preset_config("small", seed=job["seed"]).with_updates(**changes)
    model = Noise2Atom(cfg, device=job["device"])
    t0 = time.perf_counter()
    result = model.fit(movie.noisy, max_steps=job["steps"], minutes=job["minutes"])
    fit_min = (time.perf_counter() - t0) / 60
    row = {"recipe": job["recipe"], "fields": job["fields"], "dose": job["dose"], "gradient": job["gradient"],
           "seed": job["seed"], "steps": result.steps, "kept_step": result.kept_step, "restarts": result.restarts,
           "inverted_at_end": result.inverted_at_end, "minutes": round(fit_min, 3), "device": job["device"],
           "variants": {}}
    for name, kw in VARIANTS.items():
        den = model.denoise(movie.noisy, **kw)
        v = {"predictive": predictive_r2(den, movie.noisy), "css": css(den).mean}
        v.update(score_truth(den, movie))
        row["variants"][name] = {k: (round(x, 4) if isinstance(x, float) else x) for k, x in v.items()}
    return row


def table(rows: list[dict], variant: str) -> str:
    def cell(xs, d=3):
        xs = np.asarray(xs, dtype=float)
        return f"{xs.mean():.{d}f}" + (f" ({xs.min():.{d}f}–{xs.max():.{d}f})" if len(xs) > 1 else "")

    lines = [f"### output: {variant}", "", "| recipe | dose | atom F1 | predictive | PSNR dB | CSS | steps | minutes | inverted |",
             "|---|---|---|---|---|---|---|---|---|"]
    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    sets = sorted({(r["dose"], r["gradient"]) for r in rows})
    for rec in recipes:
        for dose, grad in sets:
            sub = [r for r in rows if r["recipe"] == rec and r["dose"] == dose and r["gradient"] == grad
                   and variant in r["variants"]]  # rows from before a variant existed lack it
            if not sub:
                continue
            vs = [r["variants"][variant] for r in sub]
            inv = sum(1 for r in sub if r["inverted_at_end"] or r["variants"]["atoms"]["predictive"] < 0)
            label = f"{dose:g}" + (f" + gradient {grad:g}" if grad else "")
            lines.append(f"| {rec} | {label} | {cell([v['f1'] for v in vs])} | {cell([v['predictive'] for v in vs])} | "
                         f"{cell([v['psnr_db'] for v in vs], 2)} | {cell([v['css'] for v in vs])} | "
                         f"{cell([r['steps'] for r in sub], 0)} | {cell([r['minutes'] for r in sub], 1)} | {inv}/{len(sub)} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", action="append", default=[],
                    help="name:section.field=v[,section.field=v...] (repeatable; run.steps=N or run.minutes=M "
                         "sets that recipe's budget)")
    ap.add_argument("--lever", help="section.field=v1,v2,...: one recipe per value")
    ap.add_argument("--base", action="append", default=[], help="section.field=value held fixed in every run")
    ap.add_argument("--doses", default="1,2")
    ap.add_argument("--gradient", type=float, default=0.0, help="also run the first dose with this gradient")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--steps", type=int, help="training steps per run (pair steps included)")
    ap.add_argument("--minutes", type=float, help="training minutes per run")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: cores / workers)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", help="append each run as a JSON line")
    ap.add_argument("--summarize", nargs="*", help="only print the tables of these JSON-lines files")
    a = ap.parse_args(argv)
    if a.summarize:
        rows = [json.loads(line) for p in a.summarize for line in open(p) if line.strip()]
        for v in VARIANTS:
            print(table(rows, v), "\n")
        return
    recipes = []
    for r in a.recipe:
        name, _, spec = r.partition(":")
        recipes.append((name, parse_fields(spec.split(","))))
    if a.lever:
        key, values = a.lever.split("=")
        recipes += [(f"{key}={v}", parse_fields([f"{key}={v}"])) for v in values.split(",")]
    if not recipes:
        ap.error("give --recipe or --lever")
    if a.steps is None and a.minutes is None and not all("run" in f for _, f in recipes):
        ap.error("give --steps or --minutes (or run.steps in every recipe)")
    base = parse_fields(a.base)
    doses = [float(d) for d in a.doses.split(",")]
    sets = [(d, 0.0) for d in doses] + ([(doses[0], a.gradient)] if a.gradient > 0 else [])
    seeds = [int(s) for s in a.seeds.split(",")]
    threads = a.threads or max(1, (mp.cpu_count() or 2) // a.workers)
    # a recipe's "run.steps" / "run.minutes" override the budget for that recipe alone
    jobs = [dict(recipe=name, fields={k: v for k, v in fields.items() if k != "run"}, base=base, dose=d, gradient=g,
                 seed=s, steps=fields.get("run", {}).get("steps", a.steps),
                 minutes=fields.get("run", {}).get("minutes", a.minutes), size=a.size, frames=a.frames,
                 device=a.device, threads=threads)
            for s in seeds for d, g in sets for name, fields in recipes]
    rows = []
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(a.workers) as pool:
        for row in pool.imap_unordered(run_one, jobs):
            rows.append(row)
            line = json.dumps(row)
            print(line, flush=True)
            if a.out:
                with open(a.out, "a") as fh:
                    fh.write(line + "\n")
    print(f"\n# {len(rows)} runs in {(time.perf_counter() - t0) / 60:.1f} min; fixed: {a.base or 'preset defaults'}; "
          f"{a.size}² x {a.frames} frames, seeds {seeds}; {date.today()}, {platform.node()}, "
          f"device {a.device or 'default'}\n")
    for v in VARIANTS:
        print(table(rows, v), "\n")


if __name__ == "__main__":
    main()
