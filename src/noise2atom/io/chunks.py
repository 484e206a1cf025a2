"""Resumable output: a long series is written as numbered chunks, then assembled into its file.

``movie-denoised.tif`` is built in the folder ``movie-denoised.tif.parts/`` beside it:

- ``manifest.json`` says what is being written (input, model, options, frame count); a resumed run
  must match it exactly, so chunks of two different runs are never mixed;
- ``chunk-000000.npy``, ``chunk-000001.npy``, ... each appear only when complete (written to a
  temporary name, flushed to disk, renamed), so a run killed at any moment leaves whole chunks;
- ``lock`` is held (``flock``) while a process writes: a second process aiming at the same output
  is refused instead of mixing its chunks in. The operating system releases the lock when the
  process dies, so a killed run never leaves a stale lock.

When every chunk is there the final file is streamed from them (under a temporary name, renamed
when complete) and the folder is removed. A process killed outright (SIGKILL, a power cut) cannot
remove its temporary files; the next run on the same output, once it holds the lock, removes those
whose process is gone (:meth:`ChunkStore.remove_stale`): the final file's ``NAME.<pid>.partial``
beside it (a whole movie's size when the kill came while it was assembled) and the chunks'
``*.<pid>.tmp`` in the folder.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger("noise2atom")

#: errno values that mean the disk (or the user's quota or file-size limit) is full
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def is_disk_full(exc: BaseException) -> bool:
    """An OSError that means no room: ENOSPC, EDQUOT, EFBIG, or a short write (what a writer reports
    when the kernel took fewer bytes than asked, e.g. tifffile's "4096 requested and 1600 written")."""
    if not isinstance(exc, OSError):
        return False
    short_write = exc.errno is None and re.search(r"requested and \d+ written", str(exc)) is not None
    return exc.errno in DISK_FULL or short_write


def disk_full_error(path: Path, exc: OSError, *, kept: Path | None = None) -> InputError:
    """The one-line answer to a write that ran out of space."""
    if exc.errno is None:  # a short write
        exc = OSError(errno.ENOSPC, f"short write: {exc}")
    keep = (f"; the finished chunks are kept in {kept}: free space and run the same command with --resume"
            if kept is not None else "")
    return InputError(f"{path}: disk full while writing ({exc.strerror or exc}); nothing was written under "
                      f"this name{keep}")


def temporary_name(path: Path, suffix: str = ".partial") -> Path:
    """This process's temporary name for ``path``: ``NAME.<pid><suffix>`` beside it, unique to the
    process, and found again by :meth:`ChunkStore.remove_stale` if the process is killed."""
    return path.with_name(f"{path.name}.{os.getpid()}{suffix}")


def _temporaries_of(name: str, suffix: str) -> re.Pattern:
    """What :func:`temporary_name` makes of a file called ``name`` (``name`` a regular expression),
    the process id as group 1."""
    return re.compile(name + r"\.(\d+)" + re.escape(suffix) + "$")


def _process_runs(pid: int) -> bool:
    """Whether a process of this id runs on this machine (POSIX: signal 0; one owned by another user
    counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as someone else
        pass
    return True


class ChunkStore:
    """The ``<output>.parts`` folder of one output file.

    Parameters
    ----------
    output : Path
        The final file the chunks are for.
    manifest : dict
        JSON-able description of the work; compared on resume.
    resume : bool
        Continue the chunks of a stopped run (its manifest must equal ``manifest``).
    overwrite : bool
        Discard the chunks of a stopped run and start again.

    Use as a context manager: the lock is taken on entry and released on exit.
    """

    MANIFEST = "manifest.json"

    def __init__(self, output: Path, manifest: dict, *, resume: bool = False, overwrite: bool = False):
        self.output = Path(output)
        self.folder = self.output.with_name(self.output.name + ".parts")
        self.manifest = json.loads(json.dumps(manifest))  # what it reads back as
        self.resume, self.overwrite = resume, overwrite
        self._lock_file = None
        #: the killed processes' temporary files removed on entry (:meth:`remove_stale`)
        self.removed: list[Path] = []

    # -- lifetime ------------------------------------------------------------------------------
    def __enter__(self) -> "ChunkStore":
        existed = self.folder.exists()
        self.folder.mkdir(exist_ok=True)
        self._lock()
        saved = self._saved_manifest()
        if existed and saved is not None and not self.resume and not self.overwrite:
            self._unlock()
            raise InputError(f"{self.output}: a stopped run left its finished chunks in {self.folder}; "
                             "continue it with --resume, or start again with --overwrite")
        if saved is not None and self.resume and saved != self.manifest:
            diff = sorted(k for k in set(saved) | set(self.manifest) if saved.get(k) != self.manifest.get(k))
            self._unlock()
            raise InputError(f"{self.output}: cannot resume: the stopped run had other {', '.join(diff)}; run the "
                             "same command as before, or start again with --overwrite")
        self.removed = self.remove_stale()
        if saved is None or saved != self.manifest or (self.overwrite and not self.resume):  # start clean
            for f in self.folder.glob("chunk-*"):
                f.unlink()
            self._write_bytes(self.folder / self.MANIFEST, json.dumps(self.manifest, indent=1).encode())
        return self

    def __exit__(self, *exc) -> None:
        self._unlock()

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one writer per output is then the user's care
            return
        self._lock_file = open(self.folder / "lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            self._lock_file = None
            raise InputError(f"{self.output}: another noise2atom process is writing this output now; wait for "
                             "it, or choose another output name") from None

    def remove_stale(self) -> list[Path]:
        """Remove the temporary files that killed processes left for this output (returned): the
        final file's ``NAME.<pid>.partial`` (a file or, for OME-Zarr, a folder) beside it and the chunks'
        ``*.<pid>.tmp`` in the folder, each only when no process of that id runs on this machine.
        Called with the lock held, so no other noise2atom process is writing this output; nothing is
        removed where there is no lock (Windows)."""
        if self._lock_file is None:
            return []
        partial = _temporaries_of(re.escape(self.output.name), ".partial")
        tmp = _temporaries_of(r"chunk-\d+\.npy", ".tmp")
        found = [(p, partial.match(p.name)) for p in self.output.parent.iterdir()]
        found += [(p, tmp.match(p.name)) for p in self.folder.iterdir()]
        removed = []
        for p, m in found:
            if m is None or _process_runs(int(m.group(1))):
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p)
            log.info("removed %s, left by process %s, which was stopped before it could", p, m.group(1))
        return removed

    def _unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None

    def _saved_manifest(self) -> dict | None:
        try:
            return json.loads((self.folder / self.MANIFEST).read_text())
        except (OSError, ValueError):
            return None

    # -- chunks --------------------------------------------------------------------------------
    def path(self, index: int) -> Path:
        return self.folder / f"chunk-{index:06d}.npy"

    def done(self, index: int) -> bool:
        return self.path(index).exists()

    def write(self, index: int, frames: np.ndarray) -> None:
        """Store chunk ``index`` (float32), complete or not at all."""
        import io

        buf = io.BytesIO()
        np.save(buf, np.asarray(frames, dtype=np.float32))
        self._write_bytes(self.path(index), buf.getvalue())

    def read(self, index: int) -> np.ndarray:
        """Chunk ``index`` (read whole: one chunk at a time is what the assembly holds)."""
        return np.load(self.path(index))

    def remove(self) -> None:
        """Delete the folder (after the final file is in place)."""
        self._unlock()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write_bytes(self, path: Path, data: bytes) -> None:
        tmp = temporary_name(path, ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if is_disk_full(exc):
                raise disk_full_error(self.output, exc, kept=self.folder) from exc
            raise
