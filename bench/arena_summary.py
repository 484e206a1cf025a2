"""Merge benchmark result files and print one summary (atom F1 / predictive per method and dataset) plus the full tables.

    python bench/arena_summary.py RESULTS.json [MORE.json ...] [--out merged.json]
    python bench/arena_summary.py results.json:noise2atom=noise2atom-paper-game new.json

A ``:old=new[,old2=new2]`` suffix renames methods of that file (runs of noise2atom with different
defaults over the same movies).

Used for docs/benchmarks.md: the main run and a run of the methods that need their own environment
(tk-r-em) write separate results.json files over the same seeded datasets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from noise2atom.bench.run import BenchSpec, markdown


def summary(rows: list[dict]) -> str:
    ds = [d for d in dict.fromkeys(r["dataset"] for r in rows) if d.startswith("arena")]
    methods = list(dict.fromkeys(r["method"] for r in rows if r["dataset"] in ds))
    lines = ["| method | " + " | ".join(ds) + " |", "|---|" + "---|" * len(ds)]
    best = {d: max(r["f1"] for r in rows if r["dataset"] == d) for d in ds}
    for m in methods:
        cells = []
        for d in ds:
            r = next((x for x in rows if x["dataset"] == d and x["method"] == m), None)
            if r is None:
                cells.append("–")
                continue
            f1 = f"**{r['f1']:.2f}**" if r["f1"] == best[d] else f"{r['f1']:.2f}"
            cells.append(f"{f1} / {r.get('predictive', float('nan')):.3f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--out", help="write the merged rows here")
    a = ap.parse_args(argv)
    rows = []
    for arg in a.results:
        path, _, renames = arg.partition(":") if not Path(arg).exists() else (arg, "", "")
        names = dict(pair.split("=", 1) for pair in renames.split(",") if pair)
        rows += [{**r, "method": names.get(r["method"], r["method"])} for r in json.loads(Path(path).read_text())]
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1))
    print("atom F1 / predictive score (best F1 of each dataset in bold)\n")
    print(summary(rows))
    print()
    print(markdown(rows, BenchSpec()).replace("# noise2atom benchmark\n", ""))


if __name__ == "__main__":
    main()
