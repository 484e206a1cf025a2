"""Training checkpoints: written atomically, checksummed, loaded without executing code.

``last.pt`` is the newest, ``prev.pt`` the one before it. A checkpoint file is ``MAGIC``, the
sha256 of the payload, then the payload (``torch.save`` of tensors, numbers and strings). It is
written to a temporary file, flushed to disk and renamed into place, so a crash mid-write leaves the
previous files intact; on load the checksum is verified (a truncated or damaged ``last.pt`` is
reported in a warning and ``prev.pt`` used) and the payload read with
``torch.load(weights_only=True)``: tensors, numbers, strings and containers only, no pickle code.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import torch

log = logging.getLogger("noise2atom")

LAST, PREV = "last.pt", "prev.pt"
MAGIC = b"N2ACKPT1"


def save_checkpoint(workdir: Path, state: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    last, prev = workdir / LAST, workdir / PREV
    tmp = workdir / (LAST + f".{os.getpid()}.tmp")
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            f.flush()
            os.fsync(f.fileno())
        if last.exists():
            os.replace(last, prev)
        os.replace(tmp, last)
    finally:
        tmp.unlink(missing_ok=True)
    return last


def read_checkpoint(path: Path) -> dict:
    """One checkpoint file; ValueError when it is not one, is truncated or its checksum differs."""
    data = Path(path).read_bytes()
    head = len(MAGIC) + 32
    if len(data) < head or not data.startswith(MAGIC):
        raise ValueError("not a noise2atom checkpoint (or cut before its header)")
    digest, payload = data[len(MAGIC):head], data[head:]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"checksum mismatch: truncated or damaged ({len(payload)} bytes of payload)")
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def load_checkpoint(workdir: Path) -> dict | None:
    """The newest intact checkpoint in ``workdir`` (a warning for each one skipped), or None."""
    for name in (LAST, PREV):
        path = workdir / name
        if not path.exists():
            continue
        try:
            return read_checkpoint(path)
        except Exception as exc:
            log.warning("checkpoint %s cannot be used (%s); trying the previous one", path, exc)
    return None
