"""Train the pretrained default model shipped as src/noise2atom/pretrained/default-small.n2a.

    python bench/train_default.py --out src/noise2atom/pretrained/default-small.n2a --overwrite

The small preset (4 context frames) on pairs matched to the arena's movies at every combination of
doses, pixel sizes and background gradients in noise2atom.pretrained (TRAIN_*), seeds from 2000 (the
arena scores seed 0). Stored as Ms2c alone in float16 (a few MB).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from noise2atom import pretrained
from noise2atom.config import preset_config


def parse_args(doc: str, out: Path, steps: int, extra=None) -> argparse.Namespace:
    """The options of the shipped models' training scripts (this one and train_default_fast.py): --out,
    --steps, --seed, --frames, --threads, --overwrite, plus what ``extra(ap)`` adds; sets the threads
    and refuses an existing --out."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=out)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--overwrite", action="store_true")
    if extra is not None:
        extra(ap)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.out.exists() and not a.overwrite:
        raise SystemExit(f"{a.out}: exists; pass --overwrite")
    return a


def _arena_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--doses", default=",".join(f"{d:g}" for d in pretrained.TRAIN_DOSES))
    ap.add_argument("--pixel-sizes", default=",".join(f"{p:g}" for p in pretrained.TRAIN_PIXEL_SIZES_NM))
    ap.add_argument("--gradients", default=",".join(f"{g:g}" for g in pretrained.TRAIN_GRADIENTS))
    ap.add_argument("--device", default=None)


def main() -> None:
    a = parse_args(__doc__, pretrained.DEFAULT_FILE, 4000, _arena_options)
    floats = lambda s: tuple(float(v) for v in s.split(","))  # noqa: E731
    t0 = time.perf_counter()
    series = pretrained.training_movies(doses=floats(a.doses), pixel_sizes_nm=floats(a.pixel_sizes),
                                        gradients=floats(a.gradients), frames=a.frames)
    print(f"{len(series)} training movies simulated in {time.perf_counter() - t0:.0f} s", flush=True)

    def progress(step, total, row):
        if step % 250 == 0 or step == total:
            print(f"step {step}/{total} pair loss {row.get('pair', float('nan')):.4f} "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)

    model, result = pretrained.train_generic(series, config=preset_config("small", seed=a.seed), steps=a.steps,
                                             device=a.device, progress=progress,
                                             pixel_sizes_nm=floats(a.pixel_sizes))
    model.record["trained_by"] = "python bench/train_default.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items() if k not in ("out", "overwrite", "device", "threads"))
    model.record["train_seconds"] = round(time.perf_counter() - t0, 1)
    model.save(a.out, overwrite=a.overwrite, denoiser_only=True, half=True)
    print(json.dumps({"out": str(a.out), "bytes": a.out.stat().st_size, "steps": result.steps,
                      "seconds": round(time.perf_counter() - t0, 1), "final": result.final}))


if __name__ == "__main__":
    main()
