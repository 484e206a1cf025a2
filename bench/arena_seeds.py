"""Compare methods over arena runs of several seeds: mean ± sd per movie, and paired differences.

    python bench/arena_seeds.py SEED=RESULTS.json[:TAG][,MORE.json] ... [--methods a,b,c] [--against b]
                                [--metrics f1,predictive,psnr_db] [--inverted] [--decimals 3]

Each argument names a seed and the results.json files of ``noise2atom benchmark --seed SEED`` runs
(several files of one seed are merged; a method found twice keeps the later file's row; a file given
as ``RESULTS.json:TAG`` has its methods named ``method:TAG``, so an earlier run of one method can be
compared with a later one, e.g. ``--against noise2atom-tuned-support:before``). Movies are
matched by dataset name; a paired difference (a method minus ``--against``) is taken within a seed,
where both methods saw the same movie, so the spread between movies of different seeds does not hide
it. ``--inverted`` counts, per method and movie, the runs whose output has a negative predictive
score (an inverted mapping: frame n anti-predicts raw frame n + 1) and the trainings' restarts after
an inversion was seen. ``--decimals`` sets the figures' decimals (3; 4 shows the predictive
score's per-movie margins, often under 0.001).
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="SEED=results.json[,more.json]")
    ap.add_argument("--methods", default=None)
    ap.add_argument("--against", default=None)
    ap.add_argument("--metrics", default="f1,predictive,psnr_db")
    ap.add_argument("--inverted", action="store_true", help="count runs with a negative predictive score")
    ap.add_argument("--decimals", type=int, default=3, help="decimals of the figures (default: %(default)s)")
    a = ap.parse_args()
    n = a.decimals
    rows: dict = {}
    for run in a.runs:
        seed, files = run.split("=", 1)
        for f in files.split(","):
            f, _, tag = f.partition(":")
            data = json.load(open(f))
            for r in data["results"] if isinstance(data, dict) else data:
                method = f"{r['method']}:{tag}" if tag else r["method"]
                rows.setdefault((method, r["dataset"]), {})[seed] = r
    methods = a.methods.split(",") if a.methods else list(dict.fromkeys(m for m, _ in rows))
    sets = list(dict.fromkeys(d for m, d in rows if m in methods))  # the movies the chosen methods saw
    for key in a.metrics.split(","):
        print(f"\n### {key}: mean ± sd over seeds (n)\n")
        print("| method | " + " | ".join(sets) + " |\n|---|" + "---|" * len(sets))
        for m in methods:
            cells = []
            for s in sets:
                v = [r[key] for r in rows.get((m, s), {}).values()]
                sd = np.std(v, ddof=1) if len(v) > 1 else 0.0
                cells.append(f"{np.mean(v):.{n}f} ± {sd:.{n}f} ({len(v)})" if v else "—")
            print(f"| {m} | " + " | ".join(cells) + " |")
    if a.against:
        for key in a.metrics.split(","):
            print(f"\n### paired {key} differences against {a.against} (per seed, then mean)\n")
            print("| method | " + " | ".join(sets) + " |\n|---|" + "---|" * len(sets))
            for m in methods:
                if m == a.against:
                    continue
                cells = []
                for s in sets:
                    mine, base = rows.get((m, s), {}), rows.get((a.against, s), {})
                    d = [mine[k][key] - base[k][key] for k in sorted(mine) if k in base]
                    cells.append(" / ".join(f"{x:+.{n}f}" for x in d) + f" (mean {np.mean(d):+.{n}f})" if d else "—")
                print(f"| {m} | " + " | ".join(cells) + " |")
    if a.inverted:
        print("\n### inverted: runs with a negative predictive score / runs (restarts after an inversion)\n")
        print("| method | " + " | ".join(sets) + " |\n|---|" + "---|" * len(sets))
        for m in methods:
            cells = []
            for s in sets:
                runs = list(rows.get((m, s), {}).values())
                bad = sum(r["predictive"] < 0 for r in runs)
                restarts = sum((r.get("params") or {}).get("restarts") or 0 for r in runs)
                cells.append(f"{bad} / {len(runs)} ({restarts})" if runs else "—")
            print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
