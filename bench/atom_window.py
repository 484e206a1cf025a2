"""What averaging the atoms over frames around each (``denoise --atom-window``) does to atom F1 on the arena.

    python bench/atom_window.py [--size 128] [--seeds 0,1,2] [--start tuned|default] [--minutes 4]
                                [--movies 0.5e,1e,...] [--schedule constant|cosine] [--out rows.json]
    python bench/atom_window.py --summary rows.json [rows2.json ...]   (a later file's row replaces an
                                                                       earlier one of the same movie, seed and start)

For each arena movie (0.5, 1, 2, 5 e⁻/px and 0.5 e⁻/px with a 0.5 gradient; 20 frames), the model of
``--start`` (``default``: the pretrained default as it is; ``tuned``: fine-tuned on the movie for 300
pair steps, ``noise2atom train``'s default start, within ``--minutes`` (4): fewer where the machine is slower
or busy, as each row's ``steps`` says) denoises the movie with the atoms alone, three ways:
each frame's own atoms (``atom_window=1``, the package before 2026-12-06), the window chosen per
series (``atom_window=0``: :func:`noise2atom.denoise.window.best_atom_window` on the first 16 frames)
and a fixed 5-frame window. ``--schedule`` fine-tunes with that pair learning-rate schedule
(``train.pair_lr_schedule``) instead of the pretrained default's own; rows with it are keyed
``tuned-<schedule>``. Printed and written: the atom F1 of each (the arena's protocol: best of
the detection thresholds, matched within 1.5 px) and the window chosen. ``--summary`` prints the
means and standard deviations over seeds per movie from written rows.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def run(size: int, seeds, start: str, minutes: float = 4.0, movies=None, schedule: str | None = None) -> list[dict]:
    from noise2atom.bench.methods import _noise2atom_model
    from noise2atom.bench.run import arena_movies, best_f1

    rows = []
    for name, seed, movie in arena_movies(size, seeds, movies):
        t0 = time.perf_counter()
        changes = {"pair_lr_schedule": schedule} if schedule is not None and start == "tuned" else None
        model, params, _ = _noise2atom_model(movie.noisy, seed, minutes, "small", start, train=changes)
        k = model.choose_atom_window(movie.noisy, atom_window=0)
        label = f"tuned-{schedule}" if changes else start
        row = {"dataset": name, "seed": seed, "start": label, "window": k, "steps": params.get("steps"),
               "fit_s": round(time.perf_counter() - t0, 1)}
        for kk in sorted({1, k, 5}):
            score = best_f1(model.denoise(movie.noisy, background="remove", atom_window=kk), movie.positions)[0]
            row[f"f1_k{kk}"], row[f"prec_k{kk}"], row[f"rec_k{kk}"] = score["f1"], score["precision"], score["recall"]
        row["f1_chosen"] = row[f"f1_k{k}"]
        rows.append(row)
        print(f"{name} seed {seed} {label}: window {k}; F1 each frame's own {row['f1_k1']:.3f}, chosen "
              f"{row['f1_chosen']:.3f}, 5 frames {row['f1_k5']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return rows


def summary(rows: list[dict]) -> str:
    lines = ["| model | movie | F1 each frame's own | F1 window chosen | F1 5 frames | windows chosen | paired gain |",
             "|---|---|---|---|---|---|---|"]
    for start in dict.fromkeys(r["start"] for r in rows):
        for ds in dict.fromkeys(r["dataset"] for r in rows if r["start"] == start):
            sub = [r for r in rows if r["start"] == start and r["dataset"] == ds]
            one, chosen, five = (np.array([r[k] for r in sub]) for k in ("f1_k1", "f1_chosen", "f1_k5"))
            sd = lambda a: f" ± {a.std(ddof=1):.3f}" if len(a) > 1 else ""  # noqa: E731
            gain = chosen - one
            lines.append(f"| {start} | {ds.replace('arena-', '')} | {one.mean():.3f}{sd(one)} | {chosen.mean():.3f}{sd(chosen)} "
                         f"| {five.mean():.3f}{sd(five)} | {', '.join(str(r['window']) for r in sub)} "
                         f"| {gain.mean():+.3f} ({gain.min():+.3f}..{gain.max():+.3f}) |")
    starts = list(dict.fromkeys(r["start"] for r in rows))
    by = {(r["start"], r["dataset"], r["seed"]): r for r in rows}
    for other in starts[1:]:  # each later model against the first, per movie-seed both have
        pairs = [(by[(starts[0], ds, seed)], r) for (start, ds, seed), r in by.items()
                 if start == other and (starts[0], ds, seed) in by]
        for key in ("f1_chosen", "f1_k1"):
            d = np.array([b[key] - a[key] for a, b in pairs])
            if len(d):
                lines.append(f"{other} minus {starts[0]}, {key}, {len(d)} movie-seeds: mean {d.mean():+.4f} "
                             f"({d.min():+.4f}..{d.max():+.4f}), higher on {(d > 0).sum()}, lower on {(d < 0).sum()}")
    fits = [r["fit_s"] for r in rows if "fit_s" in r]
    if fits:
        lines.append(f"fit_s (fine-tune and window choice): {min(fits):.1f}..{max(fits):.1f} s")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--start", default="tuned", choices=("tuned", "default"))
    ap.add_argument("--minutes", type=float, default=4.0, help="the fine-tune's time limit per movie")
    ap.add_argument("--movies", help="only these movies, e.g. 0.5e,1e,0.5e-gradient (default: all five)")
    ap.add_argument("--schedule", choices=("constant", "cosine"),
                    help="fine-tune with this pair learning-rate schedule (default: the pretrained default's)")
    ap.add_argument("--out")
    ap.add_argument("--summary", nargs="+", help="rows written by earlier runs: print the table only")
    a = ap.parse_args(argv)
    if a.summary:
        latest = {(r["start"], r["dataset"], r["seed"]): r for path in a.summary for r in json.load(open(path))}
        rows = list(latest.values())
    else:
        movies = set(a.movies.split(",")) if a.movies else None
        rows = run(a.size, [int(s) for s in a.seeds.split(",")], a.start, a.minutes, movies, a.schedule)
        if a.out:
            with open(a.out, "w") as f:
                json.dump(rows, f, indent=1)
    print(summary(rows))


if __name__ == "__main__":
    main()
