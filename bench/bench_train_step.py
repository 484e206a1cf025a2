"""Seconds per training step: the paper's game (5 critic updates + 3 generator updates) or a pair step.

    python bench/bench_train_step.py [--preset small] [--recipe pairs|game] [--context-frames N ...]
                                     [--precisions fp32,bf16] [--pair-workers 0,2]
                                     [--pair-samplers numpy,torch] [--steps 20] [--threads 2]

``pairs`` (the presets' recipe) times one supervised step of Ms2c on synthetic pairs matched to a
simulated movie, once per ``--context-frames`` value given (default: the preset's), so the cost of
the earlier frames is measured in one run, and once per ``--precisions`` value (``train.precision``;
the runs of one context take turns, step by step, so that a slower minute of the machine falls on
all of them), and once per ``--pair-workers`` value (``train.pair_workers``: processes drawing the
synthetic batches ahead; their start-up is in the warm-up step, not timed; then the runs take turns
in blocks of 10 steps, the first 3 of each not timed, so that one run's workers drawing ahead do
not slow another run's timed steps), and once per ``--pair-samplers`` value (``train.pair_sampler``:
numpy on the CPU or torch on the training device; torch only with 0 workers); ``game`` times one step of the paper's schedule (with
``context_frames`` 0, as the game requires).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

#: with several --pair-workers values: steps per turn, and how many of them (the first) are not timed
BLOCK, SETTLE = 10, 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--recipe", choices=("pairs", "game"), default="pairs")
    ap.add_argument("--context-frames", type=int, nargs="*", help="pairs: one timing per value")
    ap.add_argument("--precisions", default="fp32", help="pairs: comma-separated train.precision values")
    ap.add_argument("--pair-workers", default="0", help="pairs: comma-separated train.pair_workers values")
    ap.add_argument("--pair-samplers", default="numpy", help="pairs: comma-separated train.pair_sampler values")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from noise2atom import Noise2Atom, preset_config, simulate_movie
    from noise2atom.train import Trainer

    base = preset_config(args.preset, seed=0)
    size = max(128, base.data.crop_px)
    movie = simulate_movie(12, size, seed=0)
    if args.recipe == "game":
        configs = [base.with_updates(model={"context_frames": 0}, train={"epochs": 1, "pair_steps": 0})]
    else:
        ks = args.context_frames if args.context_frames else [base.model.context_frames]
        configs = [base.with_updates(model={"context_frames": k}) for k in ks]
    precisions = args.precisions.split(",") if args.recipe == "pairs" else ["fp32"]
    workers = [int(w) for w in args.pair_workers.split(",")] if args.recipe == "pairs" else [0]
    samplers = args.pair_samplers.split(",") if args.recipe == "pairs" else ["numpy"]
    runs = [(p, w, s) for p in precisions for w in workers for s in samplers if s == "numpy" or w == 0]

    def label(run):
        p, w, s = run
        return ", ".join([p] + ([f"pair_workers {w}"] if len(workers) > 1 else [])
                         + ([f"pair_sampler {s}"] if len(samplers) > 1 else []))

    for cfg in configs:
        trainers = {}
        for run in runs:
            c = cfg.with_updates(train={"precision": run[0], "pair_workers": run[1], "pair_sampler": run[2]})
            model = Noise2Atom(c, device="cpu" if not torch.cuda.is_available() else None)
            _, frames, val, pairs, sampler = model.prepare(movie.noisy)
            trainers[run] = Trainer(c, frames, device=model.device, val_frames=val, pair_frames=pairs,
                                    pair_sampler=sampler)
            trainers[run].step()  # warm-up (and the workers' start)
        times = {run: [] for run in runs}
        # runs take turns step by step; with workers, in blocks of BLOCK steps whose first SETTLE are not
        # timed, so that one run's workers drawing ahead do not fall on another run's timed steps
        block, settle = (1, 0) if len(workers) == 1 else (BLOCK, SETTLE)
        while min(len(ts) for ts in times.values()) < args.steps:
            for run, tr in trainers.items():
                for i in range(block):
                    t = time.perf_counter()
                    tr.step()
                    if tr.device.type == "cuda":
                        torch.cuda.synchronize()
                    if i >= settle:
                        times[run].append(time.perf_counter() - t)
        for run, ts in times.items():
            what = ("game step" if args.recipe == "game"
                    else f"pair step, context_frames {cfg.model.context_frames}, {label(run)}")
            ratio = (f"; {statistics.median(times[runs[0]]) / statistics.median(ts):.2f}x the {label(runs[0])} "
                     "steps/s" if run != runs[0] else "")
            print(f"{what}, preset {args.preset} (crop {cfg.data.crop_px}, batch {cfg.train.batch_size}) on "
                  f"{trainers[run].device}: median {statistics.median(ts):.3f} s/step (min {min(ts):.3f}, "
                  f"max {max(ts):.3f}) over {args.steps} steps, {args.threads} threads{ratio}")
        for tr in trainers.values():
            tr.stop_pair_workers()
    print(f"machine: {platform.machine()} {platform.system()} python {platform.python_version()} "
          f"torch {torch.__version__}; date {datetime.date.today().isoformat()}")


if __name__ == "__main__":
    main()
