"""Training killed with SIGKILL at a random moment resumes from its last checkpoint and ends with the
same losses and weights as an uninterrupted seeded run (issue 6 item 2): a real subprocess, a real
signal."""

import csv
import json
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
import torch

from noise2atom.model import Noise2Atom

CLI = [sys.executable, "-m", "noise2atom.cli", "train"]


def _losses(path):
    with open(path, newline="") as f:
        return [(int(r["step"]), float(r["critic"]), float(r["cycle"]), float(r["lfc"])) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_training_killed_at_a_random_moment_resumes_to_the_same_losses(tmp_path, tiny_config, noisy_movie):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(tiny_config.with_updates(train={"epochs": 20, "select_every_steps": 4}).to_dict()))
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, noisy_movie.noisy)

    def train(name, *extra, **popen):
        cmd = CLI + [str(movie), "--out", str(tmp_path / name), "--config", str(cfg), *extra]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)

    straight = train("a.n2a")
    assert straight.wait() == 0, straight.stderr.read()

    killed = train("b.n2a")
    run = tmp_path / "b.n2a.run"
    t0 = time.monotonic()
    while not (run / "last.pt").exists():
        assert killed.poll() is None and time.monotonic() - t0 < 120
        time.sleep(0.01)
    delay = random.Random().uniform(0.0, 2.5)  # a random moment: mid-step, mid-checkpoint, mid-log row
    time.sleep(delay)
    assert killed.poll() is None, "training ended before the kill"
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    assert not (tmp_path / "b.n2a").exists()
    cut = _losses(run / "losses.csv") if (run / "losses.csv").exists() else []
    assert len(cut) < 60, f"killed after {delay:.2f} s, yet all steps logged"

    resumed = train("b.n2a", "--resume")
    assert resumed.wait() == 0, resumed.stderr.read()
    a, b = _losses(tmp_path / "a.n2a.run" / "losses.csv"), _losses(run / "losses.csv")
    assert [r[0] for r in b] == list(range(1, 61)), f"killed after {delay:.2f} s"
    np.testing.assert_allclose(np.array(b)[:, 1:], np.array(a)[:, 1:], rtol=1e-4, atol=1e-5)
    ma, mb = (Noise2Atom.load(tmp_path / n, device="cpu") for n in ("a.n2a", "b.n2a"))
    for k, v in ma.s2c.state_dict().items():
        torch.testing.assert_close(mb.s2c.state_dict()[k], v, rtol=1e-4, atol=1e-5)
