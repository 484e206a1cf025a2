"""numpy's BLAS on one thread where the data code runs beside torch.

OpenBLAS's threads keep spinning for a while after a call; small matrix products split over them,
between a network's steps, fought torch's threads for the cores: on 2 CPU cores the fast model's
128² frames took ~11 ms more each with the atoms' window (``frame_shift``), and a ``small`` pair step
took ~1.2x as long with the simulator's products (``render_clean``) on two BLAS threads
(docs/performance.md). In training the products are small and one thread loses nothing; simulating
thousands of images in bulk it is ~0.87x as fast as two (``bench/bench_simulator.py``). The numbers
are the same on one thread and on two (``tests/test_data.py``, ``tests/test_window.py``)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread (threadpoolctl)."""
    return _controller().limit(limits=1, user_api="blas")
