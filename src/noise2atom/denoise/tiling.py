"""Tiling as pure geometry (no torch): where tiles go, how frames are padded, how tiles blend.

A frame of any size (Y, X) is padded at its bottom/right edges by mirroring up to at least one tile
per side; tiles of ``tile`` px start every ``tile - overlap`` px, the last one flush with the padded
edge. Each tile's output is weighted by a separable window that, on every side facing another tile,
is 0 over the outer ``overlap // 4`` px (where the network's own padding disturbs its output) and
then rises smoothly (sin²) to 1 across the overlap; sides at the frame's edge keep weight 1. The
frame is the weighted sum divided by the summed weights: every pixel is covered, no seams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

@dataclass(frozen=True)
class TilePlan:
    """height/width: the frame; padded: the padded frame's (Y, X); origins: (y0, x0) per tile."""

    height: int
    width: int
    tile: int
    overlap: int
    padded: tuple[int, int]
    origins: tuple[tuple[int, int], ...]


def axis_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Tile start positions along an axis of length ``n >= tile``, covering every pixel."""
    if n <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, n - tile, stride))
    starts.append(n - tile)
    return sorted(set(starts))


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> TilePlan:
    """Plan the tiles for a ``height`` x ``width`` frame."""
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    ph, pw = max(height, tile), max(width, tile)
    origins = tuple((y, x) for y in axis_starts(ph, tile, overlap) for x in axis_starts(pw, tile, overlap))
    return TilePlan(height, width, tile, overlap, (ph, pw), origins)


def pad_frame(frame: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Mirror-pad a (..., Y, X) frame at the bottom/right to ``plan.padded`` (leading axes, such as
    the channels of a causal stack, are kept)."""
    ph, pw = plan.padded
    lead = [(0, 0)] * (frame.ndim - 2)
    return np.pad(frame, lead + [(0, ph - frame.shape[-2]), (0, pw - frame.shape[-1])], mode="symmetric")


def _ramp(tile: int, overlap: int) -> np.ndarray:
    """1-D weights rising from exactly 0 (over the outer ``overlap // 4`` px, where a network's
    padding disturbs its output) to 1 with a sin² shape across the rest of the overlap."""
    i = np.arange(tile, dtype=np.float64)
    dist = i + 0.5  # distance to the leading edge
    margin = overlap // 4
    return np.sin(0.5 * np.pi * np.clip((dist - margin) / max(overlap - margin, 1), 0.0, 1.0)) ** 2


def blend_window(tile: int, overlap: int, *, top: bool = True, bottom: bool = True, left: bool = True,
                 right: bool = True) -> np.ndarray:
    """(tile, tile) float32 weights: 1 in the middle, tapering to 0 over ``overlap`` px on each side
    flagged True (a side that faces a neighbouring tile) and flat 1 on the others (frame edges).
    Neighbouring windows overlap by at least ``overlap`` px, so every pixel keeps a positive weight."""
    ones = np.ones(tile)
    if overlap == 0:
        return np.ones((tile, tile), dtype=np.float32)
    rise = _ramp(tile, overlap)
    fall = rise[::-1]
    wy = (rise if top else ones) * (fall if bottom else ones)
    wx = (rise if left else ones) * (fall if right else ones)
    return np.outer(wy, wx).astype(np.float32)


def tile_window(plan: TilePlan, index: int) -> np.ndarray:
    """The blending window of tile ``index``: tapered only towards its neighbours."""
    y, x = plan.origins[index]
    ph, pw = plan.padded
    t = plan.tile
    return blend_window(t, plan.overlap, top=y > 0, bottom=y + t < ph, left=x > 0, right=x + t < pw)


def extract_tiles(padded: np.ndarray, plan: TilePlan) -> np.ndarray:
    """(n_tiles, ..., tile, tile) copied out of a padded (..., Y, X) frame."""
    t = plan.tile
    return np.stack([padded[..., y:y + t, x:x + t] for y, x in plan.origins])


class Blender:
    """Accumulates weighted tiles of one frame and returns the blended (Y, X) result."""

    def __init__(self, plan: TilePlan):
        self.plan = plan
        self.acc = np.zeros(plan.padded, dtype=np.float64)
        self.weight = np.zeros(plan.padded, dtype=np.float64)
        self.remaining = len(plan.origins)

    def add(self, index: int, tile_out: np.ndarray) -> None:
        y, x = self.plan.origins[index]
        t = self.plan.tile
        w = tile_window(self.plan, index)
        self.acc[y:y + t, x:x + t] += tile_out * w
        self.weight[y:y + t, x:x + t] += w
        self.remaining -= 1

    def result(self) -> np.ndarray:
        if self.remaining:
            raise RuntimeError(f"{self.remaining} tiles of this frame are still missing")
        out = self.acc / self.weight
        return out[: self.plan.height, : self.plan.width].astype(np.float32)
