"""Can a blind score choose how long to fine-tune on a series? Atom F1 and blind scores along the fine-tune.

    python bench/finetune_length.py [--size 128] [--seeds 0,1,2] [--movies 0.5e,1e,...] [--stages 0,300] --out rows.json
    python bench/finetune_length.py --summary rows.json [--export PREFIX]

For each arena movie (0.5, 1, 2, 5 e⁻/px and 0.5 e⁻/px with a 0.5 gradient; 20 frames), the pretrained
default is fine-tuned on it as ``noise2atom train`` does (300 pair steps, by steps: no time limit),
stopped and resumed from its checkpoint at 50, 100, 150, 200 and 300 steps (the same run as one
uninterrupted fine-tune). At each stage and for the untrained start (0) the atoms-alone output is
scored: the atom F1 at the window chosen per series (truth) and three blind scores, on the first 16
frames as the window choice sees them: ``blind_raw`` (:func:`noise2atom.denoise.window.blind_window_score`
at the chosen window, against the raw frames), ``blind_hp`` (the same against the raw frames less
their Gaussian blur of 4 px, so a background leaking into the atoms cannot score) and
``blind_hp_k1`` (that of each frame's own atoms). Also scored (``mean_0_300``): the mean of the
untrained start's and the 300-step atoms, averaged over its own chosen window — the two models as
one ensemble, a hedge where fine-tuning hurts), and (``soup_0_300``) the atoms of one network whose
weights are the mean of the untrained and the 300-step weights (weight-space ensembling, as WiSE-FT
does for fine-tuned classifiers: the same hedge at one network's cost; the fine-tune starts from the
untrained weights and Ms2c has instance norms only, so the two average without running statistics).
``--stages 0,300`` skips the intermediate stages (the blind scores then choose between the two), and
``--no-blind`` leaves the blind scores out (atom F1 only); ``--train KEY=VALUE`` (repeatable) changes
the fine-tune's training configuration, e.g. ``--train pair_ema=0.99`` (recorded in each row's ``train``).
``--summary`` prints, per movie, the F1 of each stage, of the stage each blind score would keep and of
the two ensembles, and the means against always keeping 300 steps; ``--export PREFIX`` also writes
``PREFIX-seedS.json`` per seed, rows as ``noise2atom benchmark`` writes them (atom F1 only; methods
``noise2atom-default``, ``noise2atom-tuned``, ``noise2atom-tuned-mean0``, ``noise2atom-tuned-soup0``) so
that ``bench/arena_seeds.py`` can set them beside the arena's other methods.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

STAGES = (0, 50, 100, 150, 200, 300)
SCORES = ("blind_raw", "blind_hp", "blind_hp_k1")


def _scores(atoms, noisy, positions, blind: bool = True) -> dict:
    """Atom F1 at the chosen window and (``blind``) the blind scores of one model's atoms (each frame's own)."""
    from scipy.ndimage import gaussian_filter

    from noise2atom.bench.run import best_f1
    from noise2atom.data.pairs import measure_drift
    from noise2atom.denoise.window import REGISTER_SIGMA_PX, AtomWindow, best_atom_window, blind_window_score

    raw, head = noisy[:16].astype(np.float64), atoms[:16].astype(np.float64)
    k = best_atom_window(raw, head)
    f1 = best_f1(np.stack(list(AtomWindow(k).run(atoms))), positions)[0]["f1"]
    if not blind:
        return {"window": k, "f1": f1}
    steps = measure_drift(head, REGISTER_SIGMA_PX)
    detail = raw - gaussian_filter(raw, (0, 4, 4))
    return {"window": k, "f1": f1, "blind_raw": blind_window_score(raw, head, k, steps),
            "blind_hp": blind_window_score(detail, head, k, steps),
            "blind_hp_k1": blind_window_score(detail, head, 1, steps)}


def weight_soup(init, tuned, alpha: float = 0.5):
    """A copy of ``tuned`` (its normalisation and configuration) whose Ms2c weights are
    ``(1 - alpha) * init + alpha * tuned`` (:func:`noise2atom.train.trainer.blend_weights`, what
    ``train.init_blend`` = 1 - alpha does at the end of a fine-tune)."""
    import copy

    from noise2atom.train.trainer import blend_weights

    soup = copy.deepcopy(tuned)
    blend_weights(soup.s2c, init.s2c.state_dict(), 1 - alpha)
    return soup


def run(size: int, seeds, movies=None, out=None, stages=STAGES, blind: bool = True,
        train: dict | None = None) -> list[dict]:
    from noise2atom.bench.run import arena_movies
    from noise2atom.model import Noise2Atom
    from noise2atom.pretrained import FINETUNE_STEPS, finetune_config, load_default

    rows = []
    for name, seed, movie in arena_movies(size, seeds, movies):
        init = load_default()
        atoms = {0: init.denoise(movie.noisy, background="remove", atom_window=1)}
        row = {"dataset": name, "seed": seed, "stages": {0: _scores(atoms[0], movie.noisy, movie.positions, blind)}}
        model = Noise2Atom(finetune_config(init, seed=seed, pair_steps=FINETUNE_STEPS).with_updates(train=train or {}))
        if train:
            row["train"] = train
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            done = 0
            for stage in stages[1:]:
                model.fit(movie.noisy, max_steps=stage - done, workdir=tmp, init=init, resume=done > 0)
                done = stage
                atoms[stage] = model.denoise(movie.noisy, background="remove", atom_window=1)
                row["stages"][stage] = _scores(atoms[stage], movie.noisy, movie.positions, blind)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        row["mean_0_300"] = _scores(0.5 * (atoms[0] + atoms[300]), movie.noisy, movie.positions, blind)
        soup = weight_soup(init, model).denoise(movie.noisy, background="remove", atom_window=1)
        row["soup_0_300"] = _scores(soup, movie.noisy, movie.positions, blind)
        rows.append(row)
        print(name, seed, " ".join(f"{s}: {v['f1']:.3f}" for s, v in row["stages"].items()), flush=True)
        if out:
            with open(out, "w") as f:
                json.dump(rows, f, indent=1)
    return rows


ENSEMBLES = ("mean_0_300", "soup_0_300")
LABELS = {"mean_0_300": "mean of 0 and 300", "soup_0_300": "weights' mean of 0 and 300"}


def summary(rows: list[dict]) -> str:
    stages = sorted({int(k) for r in rows for k in r["stages"]})
    ens = [e for e in ENSEMBLES if any(e in r for r in rows)]
    scores = tuple(s for s in SCORES if all(s in v for r in rows for v in r["stages"].values()))
    lines = ["| movie | seed | F1 at " + " / ".join(map(str, stages)) + " steps"
             + "".join(f" | kept by {s}" for s in scores) + "".join(f" | {LABELS[e]}" for e in ens) + " |",
             "|---|---|---|" + "---|" * (len(scores) + len(ens))]
    kept = {s: [] for s in SCORES + ("300", "0", "best") + ENSEMBLES}
    for r in rows:
        st = {int(k): v for k, v in r["stages"].items()}
        f1 = {k: v["f1"] for k, v in st.items()}
        cells = []
        for s in scores:
            best = max(st, key=lambda k: st[k][s])
            kept[s].append(f1[best])
            cells.append(f"{best}: {f1[best]:.3f}")
        kept["300"].append(f1[300]); kept["0"].append(f1[0]); kept["best"].append(max(f1.values()))
        for e in ens:
            if e in r:
                kept[e].append(r[e]["f1"])
            cells.append(f"{r[e]['f1']:.3f}" if e in r else "–")
        lines.append(f"| {r['dataset'].replace('arena-', '')} | {r['seed']} | "
                     + " / ".join(f"{f1[k]:.3f}" for k in sorted(f1)) + "".join(f" | {c}" for c in cells) + " |")
    always = np.array(kept["300"])
    lines.append("")
    lines.append(f"mean F1 over {len(rows)} movie-seeds: always 300 steps {always.mean():.3f}, the untrained "
                 f"start {np.mean(kept['0']):.3f}, the best stage (truth) {np.mean(kept['best']):.3f}")
    for s in scores + ENSEMBLES:
        if len(kept[s]) != len(always):
            continue
        d = np.array(kept[s]) - always
        lines.append(f"{'kept by ' if s in scores else ''}{s}: {np.mean(kept[s]):.3f} ({d.mean():+.3f} against 300 steps, "
                     f"{d.min():+.3f}..{d.max():+.3f}; higher on {(d > 0).sum()}, lower on {(d < 0).sum()})")
    movies = list(dict.fromkeys(r["dataset"] for r in rows))
    for s in ("300", "0") + ENSEMBLES:
        if len(kept[s]) == len(rows):
            means = [np.mean([v for r, v in zip(rows, kept[s]) if r["dataset"] == m]) for m in movies]
            lines.append(f"{s} by movie ({', '.join(m.replace('arena-', '') for m in movies)}): "
                         + " / ".join(f"{v:.3f}" for v in means))
    if all("seconds" in r for r in rows):
        lines.append(f"seconds per movie (fine-tune and scoring): {min(r['seconds'] for r in rows):.0f}.."
                     f"{max(r['seconds'] for r in rows):.0f}")
    return "\n".join(lines)


EXPORTED = {"0": "noise2atom-default", "300": "noise2atom-tuned", "mean_0_300": "noise2atom-tuned-mean0",
            "soup_0_300": "noise2atom-tuned-soup0"}


def export(rows: list[dict], prefix: str) -> list[str]:
    """Write the rows' atom F1 as benchmark rows, one file per seed (see the module's docstring)."""
    paths = []
    for seed in sorted({r["seed"] for r in rows}):
        out = []
        for r in (r for r in rows if r["seed"] == seed):
            scored = {"0": r["stages"]["0"], "300": r["stages"]["300"], **{e: r[e] for e in ENSEMBLES if e in r}}
            out += [{"method": EXPORTED[k], "dataset": r["dataset"], "f1": v["f1"], "atom_window": v["window"]}
                    for k, v in scored.items()]
        paths.append(f"{prefix}-seed{seed}.json")
        with open(paths[-1], "w") as f:
            json.dump(out, f, indent=1)
    return paths


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--movies", help="only these movies, e.g. 0.5e,1e,0.5e-gradient (default: all five)")
    ap.add_argument("--stages", default=",".join(map(str, STAGES)),
                    help="fine-tune steps at which to score, 0 and 300 among them (default: %(default)s)")
    ap.add_argument("--no-blind", action="store_true",
                    help="score atom F1 only, not the three blind scores")
    ap.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                    help="change the fine-tune's train configuration, e.g. pair_ema=0.99 (repeatable)")
    ap.add_argument("--out")
    ap.add_argument("--summary", help="rows written by an earlier run: print the table only")
    ap.add_argument("--export", metavar="PREFIX", help="also write the F1 rows per seed for bench/arena_seeds.py")
    a = ap.parse_args(argv)
    if a.summary:
        rows = json.load(open(a.summary))
    else:
        movies = set(a.movies.split(",")) if a.movies else None
        stages = tuple(sorted({int(s) for s in a.stages.split(",")}))
        if stages[0] != 0 or stages[-1] != 300:
            ap.error(f"--stages {a.stages}: needs 0 and 300 (the untrained start and the package's fine-tune), "
                     "and nothing past 300")
        from ablation import parse_fields  # bench/, beside this script: ablation.py's --lever parsing

        for item in a.train:
            if "=" not in item:
                ap.error(f"--train {item}: expected KEY=VALUE")
        train = parse_fields(f"train.{item}" for item in a.train).get("train", {})
        rows = run(a.size, [int(s) for s in a.seeds.split(",")], movies, a.out, stages, not a.no_blind, train)
    print(summary(rows))
    if a.export:
        print("written:", ", ".join(export(rows, a.export)))


if __name__ == "__main__":
    main()
