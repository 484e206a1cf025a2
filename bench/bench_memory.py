"""Peak memory of `noise2atom denoise` as the series grows: it must not grow with the frame count.

    python bench/bench_memory.py [--frames 1000 3000 10000] [--size 128] [--model default]
                                 [--json docs/perf/memory.json]

For each frame count, a movie of that many ``size``² uint16 frames is generated into a ``.npy``
file (written block by block: arena movies of 50 frames, each block with its own seed), and
``noise2atom denoise movie.npy --out out.tif`` runs in a child process; its peak resident memory
(``ru_maxrss`` from ``os.wait4``: that child alone), wall time and frames/s are reported, with the
input and output sizes. Input and outputs live in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_movie(path: Path, frames: int, size: int, block: int = 50) -> None:
    from noise2atom.data.arena import SynthConfig, synthesize

    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(frames, size, size))
    for i, start in enumerate(range(0, frames, block)):
        n = min(block, frames - start)
        out[start:start + n] = np.clip(synthesize(SynthConfig(frames=n, size=size, dose=2.0, seed=10_000 + i)).noisy,
                                       0, 65535).astype(np.uint16)
    out.flush()
    del out


def run(cmd: list[str]) -> tuple[int, float, float, str]:
    """(exit code, peak RSS in MiB, seconds, stderr tail) of one child process."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, time.monotonic() - t0, err[-400:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=[1000, 3000, 10000])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--model", default="default")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    for n in args.frames:
        with tempfile.TemporaryDirectory(prefix="n2a-mem-") as tmp:
            movie, out = Path(tmp) / "movie.npy", Path(tmp) / "out.tif"
            make_movie(movie, n, args.size)
            cmd = [sys.executable, "-m", "noise2atom.cli", "denoise", str(movie), "--out", str(out),
                   "--model", args.model]
            rc, rss, secs, err = run(cmd)
            if rc != 0:
                raise SystemExit(f"denoise of {n} frames failed ({rc}): {err}")
            row = {"frames": n, "size": args.size, "peak_rss_mib": round(rss, 1), "seconds": round(secs, 1),
                   "frames_per_s": round(n / secs, 2), "input_mib": round(movie.stat().st_size / 2**20, 1),
                   "output_mib": round(out.stat().st_size / 2**20, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"command": "python " + " ".join(sys.argv), "date": datetime.date.today().isoformat(),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"Python {platform.python_version()}", "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
