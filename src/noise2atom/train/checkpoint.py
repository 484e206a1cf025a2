"""Training checkpoints: written atomically, loaded without executing code.

``last.pt`` is the newest, ``prev.pt`` the one before it. A new checkpoint is written to a temporary
file and renamed into place, so a crash mid-write leaves the previous files intact. Files are read
with ``torch.load(weights_only=True)``: tensors, numbers, strings and containers only, no pickle
code.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

log = logging.getLogger("noise2atom")

LAST, PREV = "last.pt", "prev.pt"


def save_checkpoint(workdir: Path, state: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    last, prev = workdir / LAST, workdir / PREV
    tmp = workdir / (LAST + ".tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    if last.exists():
        os.replace(last, prev)
    os.replace(tmp, last)
    return last


def load_checkpoint(workdir: Path) -> dict | None:
    """The newest readable checkpoint in ``workdir``, or None when there is none."""
    for name in (LAST, PREV):
        path = workdir / name
        if not path.exists():
            continue
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            log.warning("checkpoint %s cannot be read (%s); trying the previous one", path, exc)
    return None
