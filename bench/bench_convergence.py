"""Time to the paper's convergence criteria: the paper's adversarial game on a CPU (issue 5, item 4).

    python bench/bench_convergence.py [--minutes 15] [--frames 60] [--size 128] [--dose 1] [--seed 0]
                                      [--preset small] [--json out.json]

Trains Ms2c with the paper's method alone (``train.pair_steps`` 0, ``train.epochs`` 100,
single-frame input) on an arena movie for at most ``--minutes``, and reports when the paper's
criteria (running means over one epoch: cycle < 0.05 and lfc < 0.1) were first met — step and
seconds since the start of training, read from the run's ``losses.csv`` — the steps per second, and,
because meeting the criteria proves nothing about the atoms (DEVELOPERS.md), the atom F1 and
predictive score of the result against the movie's truth.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import platform
import tempfile
from pathlib import Path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--dose", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    import torch

    from noise2atom import Noise2Atom, preset_config
    from noise2atom.bench.run import best_f1
    from noise2atom.data.arena import SynthConfig, synthesize
    from noise2atom.metrics import predictive_r2

    movie = synthesize(SynthConfig(frames=a.frames, size=a.size, dose=a.dose, seed=a.seed))
    cfg = preset_config(a.preset, seed=a.seed).with_updates(
        model={"context_frames": 0}, train={"pair_steps": 0, "epochs": 100})
    model = Noise2Atom(cfg, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        result = model.fit(movie.noisy, minutes=a.minutes, workdir=tmp)
        with open(Path(tmp) / "losses.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    seconds = {int(r["step"]): float(r["time_s"]) for r in rows}
    met = result.converged_step
    denoised = model.denoise(movie.noisy)
    atoms, threshold = best_f1(denoised, movie.positions)
    out = {"machine": {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
                       "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                       "platform": platform.platform()},
           "args": vars(a), "steps": result.steps, "seconds": round(result.seconds, 1),
           "steps_per_s": round(result.steps / max(result.seconds, 1e-9), 3),
           "stopped_by": result.stopped_by, "criteria_met_at_step": met,
           "criteria_met_at_s": round(seconds[met], 1) if met in seconds else None,
           "final": result.final, "restarts": result.restarts, "inverted_at_end": result.inverted_at_end,
           "atom_f1": round(atoms["f1"], 4), "detect_threshold": threshold, "predictive": round(predictive_r2(denoised, movie.noisy), 4)}
    print(json.dumps(out, indent=1, default=str))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
