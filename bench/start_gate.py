"""Does the start hold up on this series? The check behind ``train.keep_start_margin``, against truth.

    python bench/start_gate.py --arena 128 [--seeds 0,1,2] [--movies 0.5e,1e,...] --out rows.json
    python bench/start_gate.py --demo-movies [--seeds 0,1,2] [--doses 1,2] --out rows.json
    python bench/start_gate.py --arena 512 --check-only ... --out rows.json
    python bench/start_gate.py --summary rows.json [--margin 0.005]

``train.keep_start`` keeps the pretrained start beside the network fine-tuned on a series (a hedge
where the fine-tune lost what the start knew); before keeping it, the fine-tune compares the held-out
predictive score (the score that chooses the kept weights) of the two networks' mean and of the
fine-tuned network alone, and drops the start when the mean scores more than ``keep_start_margin``
lower. For each movie this fine-tunes the default as ``noise2atom train --keep-start`` does (300 pair
steps, a 10-minute budget that they never reach; the check always keeps the mean here, margin 1, so
that both can be scored; no merge) and records the two scores, and the atom F1 (at the best detection
threshold, the atoms alone averaged over the window chosen per series, as the arena's
``noise2atom-tuned`` rows) and the predictive score of the whole movie (each frame's own atoms on the
input's support, as ``noise2atom demo`` scores it) of the fine-tuned network alone and of the mean.

Movies: ``--arena SIZE``, the arena's five per seed (the generator the pretrained default was
trained on, other seeds); ``--demo-movies``, the demo's simulator (:func:`noise2atom.simulate_movie`,
40 frames of 128², outside the default's training domain), at each dose and seed. ``--summary``
prints per movie the two scores, the check's choice at ``--margin``, and the F1 and predictive score
of the fine-tuned network, the mean and the choice.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time

import numpy as np


def _movies(a):
    if a.arena:
        from noise2atom.bench.run import arena_movies

        movies = set(a.movies.split(",")) if a.movies else None
        for name, seed, movie in arena_movies(a.arena, [int(s) for s in a.seeds.split(",")], movies):
            yield name, seed, movie
    else:
        from noise2atom.data.movie import simulate_movie

        for dose in (float(d) for d in a.doses.split(",")):
            for seed in (int(s) for s in a.seeds.split(",")):
                yield f"demo-128px-{dose:g}e", seed, simulate_movie(40, 128, dose_e_per_px=dose, seed=seed)


def _scores(model, noisy, positions) -> dict:
    from noise2atom.bench.run import best_f1
    from noise2atom.metrics.predictive import predictive_r2

    window = model.choose_atom_window(noisy, atom_window=None)
    f1 = best_f1(model.denoise(noisy, background="remove", atom_window=window), positions)[0]["f1"]
    return {"f1": f1, "window": window, "predictive": predictive_r2(model.denoise(noisy, atom_window=1), noisy)}


def run(a) -> list[dict]:
    from noise2atom.model import Noise2Atom
    from noise2atom.models.ensemble import first_member
    from noise2atom.pretrained import FINETUNE_STEPS, finetune_config, load_default

    rows = []
    for name, seed, movie in _movies(a):
        init = load_default()
        config = finetune_config(init, seed=seed, pair_steps=FINETUNE_STEPS).with_updates(
            train={"keep_start": True, "keep_start_margin": 1.0, "merge_steps": 0})
        model = Noise2Atom(config)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            result = model.fit(movie.noisy, minutes=10.0, workdir=tmp, init=init)
        row = {"dataset": name, "seed": seed, "check": result.start_check, "kept_step": result.kept_step}
        if not a.check_only:
            tuned = copy.copy(model)
            tuned.s2c = first_member(model.s2c)
            row["fine_tuned"] = _scores(tuned, movie.noisy, movie.positions)
            row["with_start"] = _scores(model, movie.noisy, movie.positions)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(name, seed, json.dumps({k: row[k] for k in ("check", "fine_tuned", "with_start", "seconds") if k in row}),
              flush=True)
        if a.out:
            with open(a.out, "w") as f:
                json.dump(rows, f, indent=1)
    return rows


def _keeps(check: dict, margin: float) -> bool:
    """The check's choice at ``margin`` (as :meth:`noise2atom.train.trainer.Trainer._keep_start` makes it)."""
    return check["with_start"] >= check["fine_tuned"] - margin


def summary(rows: list[dict], margin: float) -> str:
    n_mean = sum(_keeps(r["check"], margin) for r in rows)
    if not all("fine_tuned" in r for r in rows):  # --check-only rows: the check alone
        lines = [f"| movie | seed | held-out score: fine-tuned / mean | kept (margin {margin:g}) |", "|---|---|---|---|"]
        for r in rows:
            c = r["check"]
            kept = "mean" if _keeps(c, margin) else "fine-tuned"
            lines.append(f"| {r['dataset']} | {r['seed']} | {c['fine_tuned']:.4f} / {c['with_start']:.4f} "
                         f"({c['with_start'] - c['fine_tuned']:+.4f}) | {kept} |")
        return "\n".join(lines + ["", f"the check keeps the mean on {n_mean} of {len(rows)}"])
    lines = [f"| movie | seed | held-out score: fine-tuned / mean | kept (margin {margin:g}) "
             "| F1: fine-tuned / mean / kept | predictive: fine-tuned / mean / kept |", "|---|---|---|---|---|---|"]
    kept = {"fine_tuned": [], "with_start": [], "gate": []}
    pred = {"fine_tuned": [], "with_start": [], "gate": []}
    for r in rows:
        c = r["check"]
        choice = "with_start" if _keeps(c, margin) else "fine_tuned"
        for d, key in ((kept, "f1"), (pred, "predictive")):
            d["fine_tuned"].append(r["fine_tuned"][key])
            d["with_start"].append(r["with_start"][key])
            d["gate"].append(r[choice][key])
        lines.append(f"| {r['dataset']} | {r['seed']} | {c['fine_tuned']:.4f} / {c['with_start']:.4f} "
                     f"({c['with_start'] - c['fine_tuned']:+.4f}) | {'mean' if choice == 'with_start' else 'fine-tuned'} "
                     f"| {r['fine_tuned']['f1']:.3f} / {r['with_start']['f1']:.3f} / {r[choice]['f1']:.3f} "
                     f"| {r['fine_tuned']['predictive']:.4f} / {r['with_start']['predictive']:.4f} "
                     f"/ {r[choice]['predictive']:.4f} |")
    lines.append("")
    for label, d, dec in (("F1", kept, 3), ("predictive", pred, 4)):
        ft = np.array(d["fine_tuned"])
        parts = []
        for k in ("with_start", "gate"):
            diff = np.array(d[k]) - ft
            parts.append(f"{'mean' if k == 'with_start' else 'kept by the check'} {np.mean(d[k]):.{dec}f} "
                         f"({diff.mean():+.{dec}f}; {diff.min():+.{dec}f}..{diff.max():+.{dec}f}; higher on "
                         f"{(diff > 0).sum()}, lower on {(diff < 0).sum()})")
        lines.append(f"{label} over {len(rows)} movie-seeds: fine-tuned {ft.mean():.{dec}f}; " + "; ".join(parts))
    lines.append(f"the check keeps the mean on {n_mean} of {len(rows)}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--arena", type=int, metavar="SIZE", help="the arena's movies of this size (128 or 512)")
    src.add_argument("--demo-movies", action="store_true", help="the demo simulator's movies (40 x 128²)")
    src.add_argument("--summary", help="rows written by an earlier run: print the table only")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--movies", help="arena: only these movies, e.g. 0.5e,1e,0.5e-gradient (default: all five)")
    ap.add_argument("--doses", default="1,2", help="demo movies: doses in e⁻/px (default: %(default)s)")
    ap.add_argument("--check-only", action="store_true",
                    help="record the check's two scores only, not the F1 and predictive score (hours less at 512²)")
    ap.add_argument("--margin", type=float, default=0.005, help="summary: train.keep_start_margin (default: %(default)s)")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    rows = json.load(open(a.summary)) if a.summary else run(a)
    print(summary(rows, a.margin))


if __name__ == "__main__":
    main()
