"""Seconds per training step (the paper's full schedule: 5 critic updates + 3 generator updates).

    python bench/bench_train_step.py [--preset small] [--steps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from noise2atom import preset_config, simulate_movie
    from noise2atom.data import Normalization
    from noise2atom.train import Trainer

    cfg = preset_config(args.preset, seed=0)
    size = max(128, cfg.data.crop_px)
    movie = simulate_movie(12, size, seed=0)
    tr = Trainer(cfg, Normalization.fit(movie.noisy).forward(movie.noisy))
    tr.step()  # warm-up
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        tr.step()
        times.append(time.perf_counter() - t)
    print(f"train step, preset {args.preset} (crop {cfg.data.crop_px}, batch {cfg.train.batch_size}) on {tr.device}: "
          f"median {statistics.median(times):.2f} s/step over {args.steps} steps, {args.threads} threads")
    print(f"machine: {platform.machine()} {platform.system()} python {platform.python_version()} "
          f"torch {torch.__version__}; date {datetime.date.today().isoformat()}")


if __name__ == "__main__":
    main()
