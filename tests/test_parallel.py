"""Data-parallel training launched by torchrun (issue 5 item 5): 2 CPU processes with the gloo
backend train in step (gradients averaged, so every process ends with the same weights, which the
command checks), process 0 alone writes the log and the model; a run killed with SIGKILL resumes
under torchrun to the losses and weights of an uninterrupted one."""

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
    # its checkpoint holds 2 processes' random state: resuming it in one process is refused, in one line
    r = subprocess.run([sys.executable, "-m", "noise2atom.cli", "train", str(movie), "--out", str(out), "--resume",
                        "--device", "cpu"], capture_output=True, text=True, timeout=300)
    said = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 2 and "written by 2 data-parallel process(es)" in said and "nproc_per_node 2" in said


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _descendants(pid: int) -> list:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _rows(path):
    """The loss log's numbers, step by step (the wall-clock column left out)."""
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None) and k != "time_s"} for r in csv.DictReader(f)]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_torchrun_training_killed_at_a_random_moment_resumes_to_the_same_losses(tmp_path, tiny_config, noisy_movie):
    import random
    import signal
    import time

    import numpy as np
    import torch

    cfg = tmp_path / "cfg.json"  # 4 pair steps, then 12 epochs of the game: 40 steps, a checkpoint every 2
    cfg.write_text(json.dumps(tiny_config.with_updates(train={"epochs": 12, "pair_steps": 4,
                                                              "select_every_steps": 4}).to_dict()))
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, noisy_movie.noisy)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def train(name, *extra):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "noise2atom.cli", "train", str(movie), "--out", str(tmp_path / name), "--config", str(cfg),
               "--device", "cpu", *extra]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)

    straight = train("a.n2a")
    assert straight.wait(timeout=600) == 0, straight.stderr.read()[-3000:]
    killed = train("b.n2a")
    run = tmp_path / "b.n2a.run"
    t0 = time.monotonic()
    while not (run / "last.pt").exists():
        assert killed.poll() is None and time.monotonic() - t0 < 300
        time.sleep(0.01)
    delay = random.Random().uniform(0.0, 2.0)
    time.sleep(delay)
    assert killed.poll() is None, "training ended before the kill"
    # what a crash does: torchrun and its workers (which it starts in sessions of their own) all die
    workers = _descendants(killed.pid)
    for pid in [killed.pid, *workers]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed.wait()
    t0 = time.monotonic()
    while any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in workers):
        assert time.monotonic() - t0 < 30
        time.sleep(0.05)
    assert not (tmp_path / "b.n2a").exists()
    resumed = train("b.n2a", "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-3000:]
    a, b = _rows(tmp_path / "a.n2a.run" / "losses.csv"), _rows(run / "losses.csv")
    assert [r["step"] for r in b] == [float(i) for i in range(1, 41)], f"killed after {delay:.2f} s"
    assert [sorted(r) for r in b] == [sorted(r) for r in a]
    for ra, rb in zip(a, b):
        np.testing.assert_allclose([rb[k] for k in sorted(rb)], [ra[k] for k in sorted(ra)], rtol=1e-4, atol=1e-5)
    ma, mb = (Noise2Atom.load(tmp_path / n, device="cpu") for n in ("a.n2a", "b.n2a"))
    for k, v in ma.s2c.state_dict().items():
        torch.testing.assert_close(mb.s2c.state_dict()[k], v, rtol=1e-4, atol=1e-5)


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
