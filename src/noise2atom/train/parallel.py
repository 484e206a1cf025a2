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
import logging
import os
import sys
import traceback
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
        """Leave the process group together: a barrier (so no process tears its connections down
        while another still works, e.g. process 0 writing the model), then destroy it."""
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()

    def end(self, exc: BaseException | None) -> None:
        """Close, then, with more than one process, end this one at once with ``os._exit``.

        A process that returned normally from a torchrun run sometimes aborted during the
        interpreter's own exit (C++ destructors, no Python frame left: "terminate called without an
        active exception", SIGABRT; 3 of 8 runs without the barrier, 1 in about 20 with it, on 2 CPU
        cores with torch 2.13), and torchrun then reports the whole run failed. Leaving with
        ``os._exit`` after flushing the logs and the console skips those destructors. The exit status
        follows ``exc``, the exception that ends the command (``None``: 0; an exit with a status
        — SystemExit, click's Exit —: that status; anything else: its traceback and 1)."""
        try:
            self.close()
        except Exception as close_exc:  # a peer already gone: report it, keep the command's own status
            print(f"closing the process group failed: {close_exc}", file=sys.stderr)
            exc = exc or close_exc
        if self.world <= 1:
            return
        if exc is None:
            code = 0
        elif isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else 1
        elif isinstance(getattr(exc, "exit_code", None), int):
            code = exc.exit_code
        else:
            traceback.print_exception(exc)
            code = 1
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
