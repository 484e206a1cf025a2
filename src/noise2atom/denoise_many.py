"""Denoising many files on a Dask cluster: a local one by default, or a facility's (Slurm, PBS...).

Each file is one task: the worker loads the model (once per worker process), reads the file lazily
and runs :func:`noise2atom.denoise_file.denoise_to_file` (chunked, bounded memory, resumable), so a
file's result is the same as ``noise2atom denoise`` gives it. A file that fails is reported with its
one-line reason and does not stop the others. Needs the ``[dask]`` extra (``distributed``).
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Callable


@lru_cache(maxsize=2)
def _model(spec: str, device: str | None, compiled: bool = False):
    from .pretrained import resolve_model

    net = resolve_model(spec, device=device)
    return net.compile() if compiled else net  # compiled once per worker process, reused for its files


def denoise_one(input: str, output: str, model: str, options: dict, *, resume: bool = False,
                overwrite: bool = False, threads: int | None = None, device: str | None = None,
                compile_net: bool = False) -> dict:
    """One file on one worker: ``{"input", "output", "frames", "seconds"}``, ``{"input", "error"}``, or
    (with ``resume``, when the output is already complete) ``{"input", "output", "skipped"}``.
    ``compile_net``: denoise through ``torch.compile`` (:meth:`noise2atom.Noise2Atom.compile`; a
    worker that cannot compile reports it for each of its files)."""
    import torch

    from .denoise_file import denoise_to_file
    from .io import check_frames, read_stack

    if threads:
        torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    out = Path(output)
    if resume and out.exists() and not out.with_name(out.name + ".parts").exists():
        return {"input": input, "output": output, "skipped": "already complete"}
    try:
        net = _model(model, device, bool(compile_net))
        stack = read_stack(input, lazy=True)
        check_frames(stack)
        denoise_to_file(net, stack, output, resume=resume, overwrite=overwrite, **options)
    except Exception as exc:  # reported for this file; the other files go on
        return {"input": input, "error": str(exc) if isinstance(exc, (ValueError, OSError)) else
                f"{input}: {type(exc).__name__}: {exc}"}
    return {"input": input, "output": output, "frames": len(stack), "seconds": round(time.perf_counter() - t0, 2)}


def output_name(input: Path, out_dir: Path, suffix: str) -> Path:
    """``out_dir/<input name without its extension>-denoised<suffix>``."""
    name = input.name[: -len(input.suffix)] if input.suffix else input.name
    return out_dir / f"{name}-denoised{suffix}"


def denoise_many(inputs: list[str | Path], out_dir: str | Path, *, model: str = "default", suffix: str = ".tif",
                 scheduler: str | None = None, workers: int = 2, threads_per_worker: int = 1,
                 resume: bool = False, overwrite: bool = False, device: str | None = None,
                 compile_net: bool = False, on_done: Callable[[dict], None] | None = None,
                 **options) -> list[dict]:
    """Denoise every file of ``inputs`` into ``out_dir`` on a Dask cluster.

    Parameters
    ----------
    inputs : paths
        Any files (or frame folders) ``noise2atom denoise`` reads; two inputs may not map to one output.
    out_dir : path
        An existing folder; outputs are named by :func:`output_name`.
    model : str
        A model file path, ``"default"`` or ``"default-fast"`` (loaded by each worker; a path must be
        readable from the workers).
    scheduler : str, optional
        Address of a running Dask scheduler (e.g. one started by dask-jobqueue on Slurm); None starts
        a ``LocalCluster`` of ``workers`` processes with ``threads_per_worker`` torch threads each.
    compile_net : bool
        Each worker compiles the network once (``torch.compile``, :meth:`noise2atom.Noise2Atom.compile`)
        and uses it for all its files: worth it for many or long files (a 10–40 s compile per worker).
    on_done : callable(dict)
        Called as each file finishes (the result of :func:`denoise_one`).
    **options
        As :func:`noise2atom.denoise_file.denoise_to_file` (tile, background, chunk frames...).

    Returns
    -------
    list of dict, in the order of ``inputs``.
    """
    from .errors import InputError

    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise InputError(f"denoise-many needs the [dask] extra ({exc}); install it with: "
                         "pip install 'noise2atom[dask]'") from exc
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: output folder does not exist")
    inputs = [Path(p) for p in inputs]
    outputs = [output_name(p, out_dir, suffix) for p in inputs]
    seen: dict[Path, Path] = {}
    for i, o in zip(inputs, outputs):
        if o in seen:
            raise InputError(f"{i}: its output {o} is also {seen[o]}'s; rename one of them")
        seen[o] = i
    # the model name or path travels to the workers, not the weights
    spec = model if model in ("default", "default-fast") else str(Path(model).resolve())
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = {client.submit(denoise_one, str(i.resolve()), str(o.resolve()), spec, options, resume=resume,
                                 overwrite=overwrite, threads=threads_per_worker, device=device, compile_net=compile_net,
                                 pure=False): n
                   for n, (i, o) in enumerate(zip(inputs, outputs))}
        results: list[dict | None] = [None] * len(inputs)
        for fut in as_completed(futures):
            res = fut.result()
            results[futures[fut]] = res
            if on_done is not None:
                on_done(res)
        return results  # type: ignore[return-value]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
