"""numpy's BLAS on one thread where the data code runs beside torch.

OpenBLAS's threads keep spinning for a while after a call; small matrix products split over them,
between a network's steps, fought torch's threads for the cores: on 2 CPU cores the fast model's
128² frames took ~11 ms more each with the atoms' window (``frame_shift``), and a ``small`` pair step
took ~1.2x as long with the simulator's products (``render_clean``) on two BLAS threads
(docs/performance.md). The products are small: one thread computes them as fast, and gives the same
numbers (the split over threads is over output blocks, each summed the same way)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread (threadpoolctl)."""
    return _controller().limit(limits=1, user_api="blas")
