"""train.pair_workers: the pair stage's batches drawn ahead in worker processes."""

import copy

import numpy as np
import pytest

from noise2atom import preset_config
from noise2atom.config import ConfigError
from noise2atom.data.prefetch import PrefetchedPairs, draw_batch


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_batch_k_is_the_same_drawn_anywhere_in_any_order(pair_setup):
    """Batch k depends on the seed words and k alone: 2 workers, out of order, after a close, equal
    the same draw in this process; another k or other words give another batch."""
    *_, sampler = pair_setup
    ref = copy.deepcopy(sampler)
    words = [7, 8, 9, 10]
    pre = PrefetchedPairs(copy.deepcopy(sampler), words, 4, 2, limit=6)
    try:
        got = {k: pre.batch(k) for k in (0, 4, 2)}
        pre.close()
        got[5] = pre.batch(5)  # the workers start again
    finally:
        pre.close()
    for k, batch in got.items():
        assert _same(batch, draw_batch(ref, words, k, 4)), k
        assert batch[0].shape == (4, 1 + sampler.context, 48, 48) and batch[1].shape == (4, 1, 48, 48)
    assert not _same(got[0], got[2])
    assert not _same(got[0], draw_batch(ref, [7, 8, 9, 11], 0, 4))


def test_trainer_with_workers_trains_and_resumes_like_an_unbroken_run(pair_trainer, tmp_path):
    """pair_workers 1 and 2 give the same weights (the batches do not depend on the number); a run
    stopped after 3 steps and resumed with another number ends where the unbroken run ends; with
    0 workers the batches (and weights) differ, and a resume across 0 and more is refused."""
    import torch

    def trainer(n, workdir=None):
        return pair_trainer(workdir, pair_workers=n)

    weights = pair_trainer.weights
    one = trainer(1)
    one.run()
    assert one.pair_batches is not None and one.pair_batches._pool is None  # the workers stopped
    two = trainer(2)
    two.run()
    assert all(torch.equal(a, b) for a, b in zip(weights(one), weights(two)))
    zero = trainer(0)
    zero.run()
    assert not all(torch.equal(a, b) for a, b in zip(weights(one), weights(zero)))

    broken = trainer(2, tmp_path / "run")
    broken.run(max_steps=3)
    resumed = trainer(1, tmp_path / "run")
    assert resumed.resume() and resumed.attempt_step == 3
    resumed.run()
    assert all(torch.equal(a, b) for a, b in zip(weights(one), weights(resumed)))
    # the resumed run (1 worker) wrote the last checkpoint
    with pytest.raises(ValueError, match="pair_workers 1, which draws other pair batches than 0; resume with --pair-workers 1 or more"):
        trainer(0, tmp_path / "run").resume()

def test_pair_workers_field_is_checked_and_old_files_have_none():
    from noise2atom.config import RunConfig

    with pytest.raises(ConfigError, match="pair_workers"):
        preset_config("small").with_updates(train={"pair_workers": -1})
    d = preset_config("small").to_dict()
    del d["train"]["pair_workers"]
    assert RunConfig.from_dict(d).train.pair_workers == 0


def test_cli_records_pair_workers_and_refuses_a_resume_across_zero(tmp_path, pair_run_files, cli_train):
    from typer.testing import CliRunner

    from noise2atom.cli import app

    movie, _ = pair_run_files
    model = tmp_path / "m.n2a"
    r, train = cli_train(model, "--pair-workers", 1)
    assert r.exit_code == 0, r.output
    assert train["pair_workers"] == 1
    before = model.read_bytes()
    r = CliRunner().invoke(app, ["train", str(movie), "--out", str(model), "--resume", "--pair-workers", "0"])
    assert r.exit_code != 0 and "resume with --pair-workers 1 or more" in r.output
    assert model.read_bytes() == before

def test_a_dead_worker_is_one_clear_error_and_the_pairs_can_go_on(pair_setup):
    """A worker killed (as by the out-of-memory killer) fails the batch with a WorkerError that says
    how to go on, not a broken-pool traceback; the next batch starts new workers."""
    import os
    import signal
    import time

    from noise2atom.errors import WorkerError

    *_, sampler = pair_setup
    pre = PrefetchedPairs(copy.deepcopy(sampler), [1, 2], 2, 1, limit=20)
    try:
        pre.batch(0)
        for pid in list(pre._pool._processes):
            os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # until the pool has noticed (then even queuing the batch fails)
            if pre._pool._broken:
                break
            time.sleep(0.1)
        with pytest.raises(WorkerError, match="pair worker process ended unexpectedly.*--pair-workers, 1 or more"):
            pre.batch(10)  # not drawn ahead: needs the dead worker
        assert pre._pool is None
        assert _same(pre.batch(10), draw_batch(copy.deepcopy(sampler), [1, 2], 10, 2))
    finally:
        pre.close()


def test_workers_end_when_the_training_process_is_killed(tmp_path):
    """A training process killed outright (SIGKILL: no cleanup runs) leaves no worker behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "train_like.py"
    script.write_text(
        "import numpy as np\n"
        "from noise2atom.data.prefetch import PrefetchedPairs\n"
        "class Sampler:\n"
        "    rng = None\n"
        "    def batch(self, b):\n"
        "        return np.zeros((b, 1, 4, 4)), np.zeros((b, 1, 4, 4))\n"
        "if __name__ == '__main__':\n"
        "    pre = PrefetchedPairs(Sampler(), [1], 2, 2)\n"
        "    pre.batch(0)\n"
        "    print(*pre._pool._processes, flush=True)\n"
        "    import time; time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def alive(pid):  # a zombie (ended, not yet reaped by its new parent) counts as ended
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
        except OSError:  # no /proc: ask the process itself
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            return True

    deadline = time.monotonic() + 20
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived the killed process"
