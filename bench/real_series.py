"""CSS and the predictive score of the arena's methods on a real series (no truth needed).

    python bench/real_series.py SERIES [--invert] [--methods gaussian,registered-mean,noise2atom-default-support]
                                [--minutes 4] [--crop Y0,X0,SIZE] [--out results.json]

The methods run exactly as in ``noise2atom benchmark --input`` (``noise2atom.bench.run.run_method``:
grid-tuned methods choose their parameter by the predictive score, learned ones train for
``--minutes`` on the series itself). ``--invert`` turns dark atoms bright (max − x), for bright-field
and ABF series; ``--crop`` takes a square region of every frame. Prints one Markdown table: CSS
(consecutive denoised frames alike) beside the predictive score (frame n's output against raw frame
n + 1: blur or invention both lose), the pair that says whether CSS rose honestly; and the predictive
score with frame n + 1 moved onto frame n by the measured drift first (``registered``), which a
drifting series needs for blur to lose (``noise2atom.metrics.predictive_r2``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import numpy as np


def _fmt4(v) -> str:
    return "–" if v is None else f"{v:.4f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series")
    ap.add_argument("--invert", action="store_true", help="dark atoms (ABF, BF): use max - x")
    ap.add_argument("--methods", default="noisy,gaussian,svt,noise2atom,noise2atom-support")
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--crop", help="Y0,X0,SIZE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the rows as JSON here")
    a = ap.parse_args(argv)
    from noise2atom.bench.run import BenchSpec, run_method
    from noise2atom.io import read_stack

    stack = read_stack(a.series)
    data = stack.data
    if a.crop:
        y0, x0, n = (int(v) for v in a.crop.split(","))
        data = data[:, y0:y0 + n, x0:x0 + n]
    if a.invert:
        data = data.max() - data
    data = np.ascontiguousarray(data, dtype=np.float32)
    spec = BenchSpec(minutes=a.minutes, seed=a.seed)
    rows = []
    print(f"{a.series}: {data.shape[0]} frames of {data.shape[1]}x{data.shape[2]}"
          f"{', inverted' if a.invert else ''}; {platform.machine()}, {datetime.date.today().isoformat()}\n")
    print("| method | CSS | predictive score | registered | parameters |")
    print("|---|---|---|---|---|")
    for name in a.methods.split(","):
        row, _ = run_method(name, data, spec=spec, seed=a.seed)
        rows.append(row)
        params = {k: v for k, v in (row.get("params") or {}).items() if k not in ("preset",)}
        print(f"| {name} | {row['css']:.3f} | {row['predictive']:.4f} | {_fmt4(row.get('predictive_registered'))} "
              f"| {params} |", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
