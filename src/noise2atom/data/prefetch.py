"""Synthetic pairs drawn ahead in worker processes (``train.pair_workers``).

The pair sampler (:mod:`noise2atom.data.pairs`) runs on the CPU in numpy, most of its time in the
Poisson noise, and holds Python's lock while it does (two threads draw no faster than one). On a GPU
it was half of a ``paper`` pair step (docs/performance.md). :class:`PrefetchedPairs` draws the
batches in ``workers`` processes, a few steps ahead of the one the network trains on, so that the
sampling overlaps the training where there are spare CPU cores.

Batch ``k`` of the pair stage is drawn with its own generator, seeded by the stage's seed words and
``k`` (:func:`batch_rng`): the batches do not depend on the number of workers or on when they were
drawn, and a resumed run draws the same batch ``k`` again. They are not the batches of
``pair_workers=0``, which draws all of them from one generator in turn: a different random stream
of the same distribution, as another seed would give.

The workers are started with ``spawn`` (each imports the package: a few seconds, once per run):
a script that trains with workers needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from ..errors import WorkerError

#: batches drawn ahead per worker
AHEAD_PER_WORKER = 2

_SAMPLER = None  # the sampler of this worker process


def batch_rng(words, k: int) -> np.random.Generator:
    """The generator of batch ``k``: seeded by the stage's seed words (a list of ints) and ``k``."""
    return np.random.default_rng([*(int(w) for w in words), int(k)])


def draw_batch(sampler, words, k: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Batch ``k`` of ``sampler`` (what a worker returns; the same in this process)."""
    sampler.rng = batch_rng(words, k)
    return sampler.batch(batch_size)


def _init_worker(sampler) -> None:
    global _SAMPLER
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the training process's to handle
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    threadpool_limits(1)  # one core each: the workers are the parallelism
    _SAMPLER = sampler


def _exit_with_parent() -> None:
    """End this worker when the training process ends, however it ends (a killed process, e.g. by a
    batch system's time limit, leaves its workers waiting for batch requests forever otherwise)."""
    multiprocessing.parent_process().join()
    os._exit(0)


def _draw(words, k: int, batch_size: int):
    return draw_batch(_SAMPLER, words, k, batch_size)


def _shutdown(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)


class PrefetchedPairs:
    """Batch ``k`` of a pair sampler, drawn ahead in worker processes.

    Parameters
    ----------
    sampler : PairSampler or MixedPairSampler
        Sent to each worker once (its background maps included).
    words : list of int
        The stage's seed words (e.g. ``SeedSequence.generate_state(4)``).
    batch_size : int
    workers : int
        Worker processes (>= 1), started at the first :meth:`batch`.
    limit : int, optional
        Batches the stage has (none is drawn at or past it).
    """

    def __init__(self, sampler, words, batch_size: int, workers: int, *, limit: int | None = None):
        if workers < 1:
            raise ValueError(f"workers={workers} must be >= 1")
        self.sampler, self.words = sampler, [int(w) for w in words]
        self.batch_size, self.workers, self.limit = int(batch_size), int(workers), limit
        self._pool: ProcessPoolExecutor | None = None
        self._finalizer = None
        self._pending: dict[int, Future] = {}

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.sampler,))
            self._finalizer = weakref.finalize(self, _shutdown, self._pool)
        return self._pool

    def batch(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(noisy, clean) of batch ``k``; the next ones are queued behind it."""
        pool = self._start()
        for j in [j for j in self._pending if j < k or j > k + self.workers * AHEAD_PER_WORKER]:
            self._pending.pop(j).cancel()  # a jump (a resume, a restart): drawn for nothing
        end = k + 1 + self.workers * AHEAD_PER_WORKER
        if self.limit is not None:
            end = min(end, max(self.limit, k + 1))
        try:
            for j in range(k, end):
                if j not in self._pending:
                    self._pending[j] = pool.submit(_draw, self.words, j, self.batch_size)
            return self._pending.pop(k).result()
        except BrokenProcessPool as exc:  # at submit or at result: whenever the pool noticed
            self.close()
            raise WorkerError(f"a pair worker process ended unexpectedly ({exc}; out of memory?): resume "
                              "the run (--resume) with fewer --pair-workers, 1 or more") from exc

    def close(self) -> None:
        """Stop the workers (a later :meth:`batch` starts them again)."""
        self._pending.clear()
        if self._finalizer is not None:
            self._finalizer()
        self._pool = self._finalizer = None
