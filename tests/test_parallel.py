"""Data-parallel training launched by torchrun (issue 5 item 5): 2 CPU processes with the gloo
backend train in step (gradients averaged, so every process ends with the same weights, which the
command checks), process 0 alone writes the log and the model."""

import csv
import json
import os
import subprocess
import sys

import pytest
import tifffile

from noise2atom.model import Noise2Atom


@pytest.mark.timeout(600)
def test_torchrun_two_cpu_processes_train_one_model(tmp_path, tiny_config, noisy_movie):
    cfg = tmp_path / "cfg.json"
    # the pair stage and the paper's game both run (3 pair steps, then 1 epoch of 3 game steps)
    cfg.write_text(json.dumps(tiny_config.with_updates(train={"epochs": 1, "pair_steps": 3}).to_dict()))
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, noisy_movie.noisy)
    out = tmp_path / "m.n2a"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "noise2atom.cli", "train", str(movie), "--out", str(out), "--config", str(cfg), "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=500, env={**os.environ, "OMP_NUM_THREADS": "1"})
    text = r.stdout + r.stderr
    assert r.returncode == 0, text[-3000:]
    logged = (tmp_path / "m.n2a.run" / "train.log").read_text()  # unwrapped, unlike the console
    assert "data-parallel over 2 processes (gloo)" in logged and "ended with identical weights" in logged
    with open(tmp_path / "m.n2a.run" / "losses.csv", newline="") as f:
        assert [int(row["step"]) for row in csv.DictReader(f)] == list(range(1, 7))  # one log, not two
    assert Noise2Atom.load(out, device="cpu").config.train.pair_steps == 3
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=500)
    assert r.returncode != 0 and "not supported under torchrun" in " ".join((r.stdout + r.stderr).split())


@pytest.mark.parametrize("ending, code", [("None", 0), ("SystemExit(3)", 3), ("typer.Exit(2)", 2),
                                          ("RuntimeError('boom')", 1)])
def test_a_parallel_process_ends_with_the_commands_status_and_flushed_output(ending, code):
    # ParallelRun.end leaves with os._exit (skipping the interpreter's C++ destructors, where gloo
    # processes sometimes aborted): the status must still be the command's, the output not lost
    script = ("import logging, sys, typer\n"
              "from noise2atom.train.parallel import ParallelRun\n"
              "logging.basicConfig(stream=sys.stderr)\n"
              "print('printed before the end', end='')\n"
              "logging.getLogger('x').warning('logged before the end')\n"
              f"ParallelRun(world=2).end({ending})\n"
              "print('after the end')\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == code
    assert r.stdout == "printed before the end" and "logged before the end" in r.stderr
    assert ("boom" in r.stderr) == (code == 1)
