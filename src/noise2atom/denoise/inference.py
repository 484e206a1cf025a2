"""Tiled, batched inference of a generator over whole series, streamed frame by frame.

Memory held by the network is bounded by ``batch_size`` tiles, whatever the frame size; tiles of
consecutive frames share batches when frames are small.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from ..models.amp import autocast
from .tiling import Blender, extract_tiles, pad_frame, plan_tiles


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


@torch.inference_mode()
def run_tiles(net: torch.nn.Module, tiles: np.ndarray, device: torch.device, *, tta: bool = False,
              precision: str = "fp32") -> np.ndarray:
    """(n, t, t) or (n, c, t, t) float32 in [-1, 1] -> (n, t, t) float32 in [0, 1] (tanh output
    mapped by (y+1)/2). ``c`` channels: a causal stack per tile (``model.context_frames`` + 1).

    ``precision`` ``"bf16"`` or ``"fp16"`` runs the network under autocast
    (:func:`noise2atom.models.amp.autocast`; faster where the hardware computes that format: GPUs,
    and for bf16 CPUs with AVX-512 BF16 or AMX); the output is float32 either way.

    ``tta``: the mean over the 4 mirror images of each tile (none, x, y, both; each undone on the
    output). No 90° rotations: they would turn the scan direction, along which the noise of a STEM
    frame is correlated, into the slow direction, which the network never saw.
    """
    x = torch.from_numpy(np.ascontiguousarray(tiles, dtype=np.float32))
    x = (x[:, None] if x.ndim == 3 else x).to(device, non_blocking=True)
    with autocast(device, precision):
        if not tta:
            y = net(x).float()
        else:
            y = torch.zeros_like(x[:, :1])
            for dims in ((), (3,), (2,), (2, 3)):
                y += (torch.flip(net(torch.flip(x, dims)), dims) if dims else net(x)).float()
            y /= 4
    return (y[:, 0].float().cpu().numpy() + 1.0) * 0.5


def denoise_frames(net: torch.nn.Module, frames: Iterable[np.ndarray], *, tile_px: int | None, overlap_px: int,
                   batch_size: int, size_multiple: int, device: torch.device, tta: bool = False,
                   on_frame: Callable[[int], None] | None = None, precision: str = "fp32") -> Iterator[np.ndarray]:
    """Denoise normalised frames one by one.

    Parameters
    ----------
    net : generator in eval mode
    frames : iterable of (Y, X) float32 in [-1, 1], or of (c, Y, X) causal stacks for a network
        with ``c`` input channels
    tile_px : int or None
        Tile side (a multiple of ``size_multiple``); None runs each whole frame at once (mirror-padded
        up to a multiple of ``size_multiple``): exact but memory grows with the frame.
    overlap_px : int
    batch_size : int
        Tiles per forward pass.
    tta : bool
        Average over the 4 mirror images of each tile or frame.
    precision : {"fp32", "bf16", "fp16"}
        Autocast dtype of the network (:func:`run_tiles`).

    Yields
    ------
    ndarray (Y, X) float32 in [0, 1], in input order.
    """
    net.eval()
    if tile_px is None:
        for i, frame in enumerate(frames):
            h, w = frame.shape[-2:]
            ph, pw = _round_up(h, size_multiple), _round_up(w, size_multiple)
            lead = [(0, 0)] * (frame.ndim - 2)
            padded = np.pad(frame, lead + [(0, ph - h), (0, pw - w)], mode="symmetric")
            yield run_tiles(net, padded[None], device, tta=tta, precision=precision)[0, :h, :w]
            if on_frame:
                on_frame(i)
        return
    if tile_px % size_multiple:
        raise ValueError(f"tile_px={tile_px} must be a multiple of {size_multiple}")
    blenders: deque[Blender] = deque()
    queue: list[tuple[Blender, int, np.ndarray]] = []
    done = 0

    def flush():
        nonlocal done
        if queue:
            out = run_tiles(net, np.stack([t for _, _, t in queue]), device, tta=tta, precision=precision)
            for (b, idx, _), o in zip(queue, out):
                b.add(idx, o)
            queue.clear()
        while blenders and blenders[0].remaining == 0:
            yield blenders.popleft().result()
            if on_frame:
                on_frame(done)
            done += 1

    for frame in frames:
        plan = plan_tiles(frame.shape[-2], frame.shape[-1], tile_px, overlap_px)
        blender = Blender(plan)
        blenders.append(blender)
        for idx, tile in enumerate(extract_tiles(pad_frame(frame, plan), plan)):
            queue.append((blender, idx, tile))
            if len(queue) >= batch_size:
                yield from flush()
    yield from flush()
