"""Data-parallel training over processes started by ``torchrun`` (one per GPU, or CPU processes).

``torchrun --nproc_per_node N -m noise2atom.cli train ...`` (or ``torchrun ... $(which noise2atom)
train ...``) starts N processes with ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` set;
:meth:`ParallelRun.from_env` joins them into one process group (NCCL on GPUs, gloo on CPUs), each
process draws its own training samples, and the :class:`~noise2atom.train.trainer.Trainer` averages
the gradients over the processes before every optimiser step, so all processes hold the same
weights and the batch is N times larger. Process 0 alone writes the log, checkpoints and model.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch


@dataclass
class ParallelRun:
    world: int = 1
    rank: int = 0
    backend: str | None = None
    device: str | None = None

    @classmethod
    def from_env(cls, device: str | None = None) -> "ParallelRun":
        """One process (``WORLD_SIZE`` unset or 1), or this process's place in a torchrun group."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(device=device)
        cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
        backend = "nccl" if cuda else "gloo"
        if cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        else:
            device = "cpu"
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend)
        return cls(world=world, rank=torch.distributed.get_rank(), backend=backend, device=device)

    def check_same_weights(self, net: torch.nn.Module) -> str:
        """The sha256 (first 16 hex digits) of ``net``'s weights, after checking that every process
        holds the same; RuntimeError otherwise."""
        h = hashlib.sha256()
        for t in net.state_dict().values():
            h.update(t.detach().to("cpu").contiguous().numpy().tobytes())
        digest = h.hexdigest()[:16]
        if self.world > 1:
            found: list = [None] * self.world
            torch.distributed.all_gather_object(found, digest)
            if len(set(found)) != 1:
                raise RuntimeError(f"data-parallel processes ended with different weights: {found}")
        return digest

    def close(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
