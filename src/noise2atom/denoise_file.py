"""Denoising a series into a file: in chunks, in bounded memory, resumable, never half-written.

:func:`denoise_to_file` is what ``noise2atom denoise`` runs. The input may be lazy
(``read_stack(path, lazy=True)``), so a movie larger than memory streams through: frames are read a
block at a time, denoised, and stored as chunks of ``chunk_frames`` frames in ``<output>.parts/``
(:class:`noise2atom.io.chunks.ChunkStore`); the final TIFF or ``.hspy`` is then streamed from the
chunks under a temporary name and renamed. A run stopped at any point (Ctrl-C, SIGKILL, a full disk)
keeps its finished chunks, and the same command with ``resume=True`` (``--resume``) denoises only
the missing ones. Each resumed chunk restarts a few frames early (the network's context frames, plus the
support's and the atoms' past frames with ``background="keep"``), so its output is that of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from ._version import __version__
from .denoise.background import CHOOSE_FRAMES
from .errors import InputError
from .io import Stack, check_output, write_hspy, write_ome_zarr, write_tiff_stream
from .io.chunks import ChunkStore, disk_full_error, is_disk_full

log = logging.getLogger("noise2atom")

#: frames per stored chunk: ~16 MB at 128², 256 MB at 512²
CHUNK_FRAMES = 256
#: what denoise_to_file writes: ImageJ TIFF, HyperSpy, OME-Zarr (a folder; the [zarr] extra)
OUTPUT_SUFFIXES = (".tif", ".tiff", ".hspy", ".zarr")


def check_denoised_output(out: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output that exists (unless ``overwrite``), cannot be written, or
    has a format :func:`denoise_to_file` does not write."""
    out = check_output(out, overwrite=overwrite)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"{out}: denoised series are written as ImageJ TIFF, HyperSpy or OME-Zarr; use a .tif, "
                         ".tiff, .hspy or .ome.zarr name")
    return out


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
    """Frames ``start`` .. ``stop`` - 1 of an array or a lazy series, read ``block`` frames at a time
    by a background thread (:func:`prefetch`), so reading the next block overlaps denoising this one."""
    blocks = (np.asarray(data[s:min(stop, s + block)], dtype=np.float32) for s in range(start, stop, block))
    for b in prefetch(blocks, depth=2):
        yield from b


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetch(items, depth: int = 2):
    """Yield ``items`` in order while a background thread produces up to ``depth`` ahead (file reads
    release the GIL, so they overlap the network's work). An exception in the producer is raised here;
    when the consumer stops early, the producer stops at its next item."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for x in items:
                if not put(x):
                    return
        except BaseException as exc:  # handed to the consumer
            put(_Raised(exc))
            return
        put(done)

    t = threading.Thread(target=work, name="noise2atom-prefetch", daemon=True)
    t.start()
    try:
        while True:
            x = q.get()
            if x is done:
                return
            if isinstance(x, _Raised):
                raise x.exc
            yield x
    finally:
        stop.set()


def denoise_to_file(model, stack: Stack, out: str | Path, *, chunk_frames: int = CHUNK_FRAMES, resume: bool = False,
                    overwrite: bool = False, on_frame: Callable[[int], None] | None = None,
                    record: dict | None = None, **options) -> Path:
    """Denoise ``stack`` with ``model`` into ``out`` (ImageJ TIFF, ``.hspy`` or OME-Zarr) with the
    stack's calibration, in chunks (bounded memory), resumable.

    Parameters
    ----------
    model : Noise2Atom
    stack : Stack
        In memory or lazy; checked by :func:`noise2atom.io.check_frames` before.
    out : path
        ``.tif``/``.tiff`` (ImageJ TIFF), ``.hspy`` or ``.ome.zarr`` (OME-Zarr; the ``[zarr]`` extra).
    chunk_frames : int
        Frames per stored chunk (what a resumed run may lose at most).
    resume : bool
        Continue a stopped run of the same command from its finished chunks.
    overwrite : bool
        Replace an existing ``out`` (and discard a stopped run's chunks).
    on_frame : callable(i)
        Called with each frame's index when it is done (frames of chunks found done on resume too).
    record : dict
        The processing record: in the ``.hspy`` file's ``metadata.Processing.noise2atom``, or the
        OME-Zarr group's ``noise2atom`` attribute.
    **options
        ``tile_px``, ``overlap_px``, ``batch_size``, ``rescale``, ``background``,
        ``background_frames``, ``background_sigma_px``, ``atom_frames``, ``atom_power``, ``atom_brightness``,
        ``tta``, ``precision``, as :meth:`Noise2Atom.denoise_iter` (those of the support left at 0 or
        ``"auto"`` are chosen once, on the
        series' first frames, :meth:`Noise2Atom.choose_support`).

    Returns
    -------
    Path of the written file.
    """
    out = check_denoised_output(out, overwrite=overwrite)
    if chunk_frames < 1:
        raise InputError(f"chunk_frames={chunk_frames} must be >= 1")
    nz = model.input_normalization(stack)
    n = len(stack)
    background = options.get("background") or model.config.denoise.background
    keep = {k: options.get(k) for k in ("background_frames", "background_sigma_px", "atom_frames", "atom_power",
                                        "atom_brightness")}
    wanted = model.support_options(**keep)
    if background == "keep":
        # chosen once on the series' first frames, so every chunk (and a resumed run) uses the same
        pick = {k: options[k] for k in ("tile_px", "overlap_px", "batch_size", "tta", "precision") if k in options}
        head = np.asarray(stack.data[:CHOOSE_FRAMES], dtype=np.float32)
        if wanted.unchosen:  # the atoms of the first frames, then up to 144 settings tried on them
            log.info("%s: choosing how the support is kept, on the first %d frames", stack.name, len(head))
        wanted = model.choose_support(head, normalization=nz, name=stack.name, **keep, **pick)
        log.info("%s: the support kept over %d frames, blurred with σ %g px; the atoms averaged over %d frame(s), "
                 "raised to the power %g, their brightness fitted %s", stack.name, wanted.frames, wanted.sigma_px,
                 wanted.atom_frames, wanted.atom_power,
                 "per frame" if wanted.brightness == "frame" else "over local windows")
        options = {**options, **wanted.to_options()}
        if record is not None:  # what the output used, in its processing record
            record = {**record, **wanted.to_options()}
    window = model.atom_window_option(options.get("atom_window"), background)
    if window == 0:  # chosen once on the series' first frames too, for every chunk alike
        pick = {k: options[k] for k in ("tile_px", "overlap_px", "batch_size", "tta", "precision") if k in options}
        head = np.asarray(stack.data[:CHOOSE_FRAMES], dtype=np.float32)
        log.info("%s: choosing over how many frames the atoms are averaged, on the first %d frames",
                 stack.name, len(head))
        window = model.choose_atom_window(head, atom_window=0, normalization=nz, name=stack.name, **pick)
        log.info("%s: the atoms averaged over %d frame(s) centred on each, registered for drift", stack.name, window)
    if background == "remove":
        options = {**options, "atom_window": window}
        if record is not None:
            record = {**record, "atom_window": window}
    half = window // 2
    # the first output of a resumed chunk needs its context frames, and (with "keep") the support's past
    # frames, each of whose residuals holds atoms averaged over the atoms' past frames, whose own
    # outputs need their context frames too
    warm = model.config.model.context_frames + (wanted.frames - 1 + wanted.atom_frames - 1 if background == "keep"
                                                else half)
    manifest = {"noise2atom_version": __version__, "input": _input_identity(stack), "frames": n,
                "frame_shape": list(stack.data.shape[1:]), "model": model_fingerprint(model),
                "normalization": nz.to_dict(), "chunk_frames": chunk_frames, "format": out.suffix.lower(),
                "options": {k: v for k, v in sorted(options.items())}}
    n_chunks = -(-n // chunk_frames)
    with ChunkStore(out, manifest, resume=resume, overwrite=overwrite) as store:
        todo = [i for i in range(n_chunks) if not store.done(i)]
        if on_frame:
            for i in sorted(set(range(n_chunks)) - set(todo)):
                for t in range(i * chunk_frames, min(n, (i + 1) * chunk_frames)):
                    on_frame(t)
        for first, last in _runs(todo):  # consecutive missing chunks are denoised in one pass
            start, stop = first * chunk_frames, min(n, (last + 1) * chunk_frames)
            lead = min(warm, start)
            # the atoms' window needs the frames after the run's last one too (read, not written)
            outputs = model.denoise_iter(_frames(stack.data, start - lead, min(n, stop + half)), name=stack.name,
                                         normalization=nz, **options)
            chunk, index = [], first
            for j, frame in enumerate(outputs):
                if j < lead:
                    continue
                if index > last:
                    break
                chunk.append(frame)
                if on_frame:
                    on_frame(start - lead + j)
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
    if out.suffix.lower() in (".hspy", ".zarr"):  # a dask array that reads one chunk at a time: written in blocks
        import dask
        import dask.array as da

        h, w = stack.data.shape[1:]
        step = store.manifest["chunk_frames"]
        sizes = [min(step, n - i * step) for i in range(n_chunks)]
        data = da.concatenate([da.from_delayed(dask.delayed(store.read)(i), shape=(k, h, w), dtype=np.float32)
                               for i, k in enumerate(sizes)])
        if out.suffix.lower() == ".zarr":
            write_ome_zarr(out, data, pixel_size=stack.pixel_size, unit=stack.unit, frame_time_s=stack.frame_time_s,
                           processing=record, overwrite=overwrite)
        else:
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
