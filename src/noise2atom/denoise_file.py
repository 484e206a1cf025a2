"""Denoising a series into a file: in chunks, in bounded memory, resumable, never half-written.

:func:`denoise_to_file` is what ``noise2atom denoise`` runs. The input may be lazy
(``read_stack(path, lazy=True)``), so a movie larger than memory streams through: frames are read a
block at a time, denoised, and stored as chunks of ``chunk_frames`` frames in ``<output>.parts/``
(:class:`noise2atom.io.chunks.ChunkStore`); the final TIFF or ``.hspy`` is then streamed from the
chunks under a temporary name and renamed. A run stopped at any point (Ctrl-C, SIGKILL, a full disk)
keeps its finished chunks, and the same command with ``resume=True`` (``--resume``) denoises only
the missing ones. Each resumed chunk restarts a few frames early (the network's context frames, plus the
support's past frames with ``background="keep"``), so its output is that of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

from ._version import __version__
from .errors import InputError
from .io import Stack, check_output, write_hspy, write_tiff_stream
from .io.chunks import ChunkStore, disk_full_error, is_disk_full

#: frames per stored chunk: ~16 MB at 128², 256 MB at 512²
CHUNK_FRAMES = 256


def model_fingerprint(model) -> str:
    """sha256 of Ms2c's weights and the configuration: the same model, however it was loaded."""
    h = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for name, t in sorted(model.s2c.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()


def _input_identity(stack: Stack) -> dict:
    """What says the input has not changed between a stopped run and its resumption (path, size and
    modification time; hashing a movie of many GB on every resume would cost a full read)."""
    if stack.source is None:
        return {"path": None}
    p = Path(stack.source).resolve()
    st = p.stat()
    return {"path": str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "files": len(list(p.iterdir())) if p.is_dir() else 1}


def _frames(data, start: int, stop: int, block: int = 64):
    """Frames ``start`` .. ``stop`` - 1 of an array or a lazy series, read ``block`` frames at a time."""
    for s in range(start, stop, block):
        yield from np.asarray(data[s:min(stop, s + block)], dtype=np.float32)


def denoise_to_file(model, stack: Stack, out: str | Path, *, chunk_frames: int = CHUNK_FRAMES, resume: bool = False,
                    overwrite: bool = False, on_frame: Callable[[int], None] | None = None,
                    record: dict | None = None, **options) -> Path:
    """Denoise ``stack`` with ``model`` into ``out`` (``.tif``/``.tiff``: ImageJ TIFF; ``.hspy``)
    with the stack's calibration.

    Parameters
    ----------
    model : Noise2Atom
    stack : Stack
        In memory or lazy; checked by :func:`noise2atom.io.check_frames` before.
    out : path
    chunk_frames : int
        Frames per stored chunk (what a resumed run may lose at most).
    resume : bool
        Continue a stopped run of the same command from its finished chunks.
    overwrite : bool
        Replace an existing ``out`` (and discard a stopped run's chunks).
    on_frame : callable(i)
        Called once per frame done (chunks found done on resume count too).
    record : dict
        Written into the ``.hspy`` file's ``metadata.Processing.noise2atom``.
    **options
        ``tile_px``, ``overlap_px``, ``batch_size``, ``rescale``, ``background``,
        ``background_frames``, ``tta``, ``precision``, as :meth:`Noise2Atom.denoise_iter`.

    Returns
    -------
    Path of the written file.
    """
    out = check_output(out, overwrite=overwrite)
    if out.suffix.lower() not in (".tif", ".tiff", ".hspy"):
        raise InputError(f"{out}: denoised series are written as ImageJ TIFF or HyperSpy files; use a .tif, "
                         ".tiff or .hspy name")
    if chunk_frames < 1:
        raise InputError(f"chunk_frames={chunk_frames} must be >= 1")
    nz = model.input_normalization(stack)
    n = len(stack)
    dc = model.config.denoise
    background = options.get("background") or dc.background
    support_frames = options.get("background_frames") or dc.background_frames
    # the first output of a resumed chunk needs its context frames, and (with "keep") the support's past
    # frames, whose own outputs need their context frames too
    warm = model.config.model.context_frames + (support_frames - 1 if background == "keep" else 0)
    manifest = {"noise2atom_version": __version__, "input": _input_identity(stack), "frames": n,
                "frame_shape": list(stack.data.shape[1:]), "model": model_fingerprint(model),
                "normalization": nz.to_dict(), "chunk_frames": chunk_frames, "format": out.suffix.lower(),
                "options": {k: v for k, v in sorted(options.items())}}
    n_chunks = -(-n // chunk_frames)
    with ChunkStore(out, manifest, resume=resume, overwrite=overwrite) as store:
        todo = [i for i in range(n_chunks) if not store.done(i)]
        if on_frame:
            for i in range(n_chunks):
                if i not in todo:
                    for _ in range(min(chunk_frames, n - i * chunk_frames)):
                        on_frame(0)
        for first, last in _runs(todo):  # consecutive missing chunks are denoised in one pass
            start, stop = first * chunk_frames, min(n, (last + 1) * chunk_frames)
            lead = min(warm, start)
            outputs = model.denoise_iter(_frames(stack.data, start - lead, stop), name=stack.name,
                                         normalization=nz, **options)
            chunk, index = [], first
            for j, frame in enumerate(outputs):
                if j < lead:
                    continue
                chunk.append(frame)
                if on_frame:
                    on_frame(0)
                if len(chunk) == min(chunk_frames, n - index * chunk_frames):
                    store.write(index, np.stack(chunk))
                    chunk, index = [], index + 1
        try:
            _assemble(store, out, n, n_chunks, stack, record, overwrite)
        except InputError as exc:
            cause = exc.__cause__
            if is_disk_full(cause):
                raise disk_full_error(out, cause, kept=store.folder) from cause
            raise
        store.remove()
    return out


def _assemble(store: ChunkStore, out: Path, n: int, n_chunks: int, stack: Stack, record, overwrite: bool) -> None:
    """Stream the chunks into the final file (temporary name, then renamed)."""
    if out.suffix.lower() == ".hspy":  # a dask array that reads one chunk at a time: written block by block
        import dask
        import dask.array as da

        h, w = stack.data.shape[1:]
        step = store.manifest["chunk_frames"]
        sizes = [min(step, n - i * step) for i in range(n_chunks)]
        data = da.concatenate([da.from_delayed(dask.delayed(store.read)(i), shape=(k, h, w), dtype=np.float32)
                               for i, k in enumerate(sizes)])
        write_hspy(out, data, pixel_size=stack.pixel_size, unit=stack.unit, frame_time_s=stack.frame_time_s,
                   title=f"{Path(stack.name).name} (noise2atom)", processing=record, overwrite=overwrite)
    else:
        frames = (f for i in range(n_chunks) for f in store.read(i))
        write_tiff_stream(out, frames, n_frames=n, frame_shape=stack.data.shape[1:], pixel_size=stack.pixel_size,
                          unit=stack.unit, frame_time_s=stack.frame_time_s, overwrite=overwrite)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """[0, 1, 2, 5, 6] -> [(0, 2), (5, 6)]."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs
