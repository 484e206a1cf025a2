"""Distil the pretrained default into the fast student shipped as src/noise2atom/pretrained/default-fast.n2a.

    python bench/train_default_fast.py --out src/noise2atom/pretrained/default-fast.n2a --overwrite

The default model (the teacher) on the movies it was trained on (noise2atom.pretrained.training_movies:
every dose, pixel size and gradient in TRAIN_*, seeds from 2000; the arena scores seed 0), distilled
into noise2atom.distill.STUDENT_MODEL by noise2atom.distill.distill. Stored as Ms2c alone in float16.
"""

from __future__ import annotations

import json
import time
from noise2atom import pretrained
from noise2atom.distill import distill
from train_default import parse_args  # bench/ is on the path when a script in it runs


def main() -> None:
    a = parse_args(__doc__, pretrained.FAST_FILE, 2000)
    t0 = time.perf_counter()
    teacher = pretrained.load_default(device="cpu")
    series = [movie for _, movie in pretrained.training_movies(frames=a.frames)]
    print(f"{len(series)} training movies simulated in {time.perf_counter() - t0:.0f} s", flush=True)

    def progress(step, total, loss):
        if step % 250 == 0 or step == total:
            print(f"step {step}/{total} loss {loss:.2e} {time.perf_counter() - t0:.0f} s", flush=True)

    student, summary = distill(teacher, series, steps=a.steps, seed=a.seed, progress=progress)
    student.record["name"] = pretrained.FAST_NAME
    student.record["trained_by"] = "python bench/train_default_fast.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items() if k not in ("out", "overwrite", "threads"))
    student.record["train_seconds"] = round(time.perf_counter() - t0, 1)
    student.save(a.out, overwrite=a.overwrite, denoiser_only=True, half=True)
    print(json.dumps({"out": str(a.out), "bytes": a.out.stat().st_size, **summary,
                      "seconds_total": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
