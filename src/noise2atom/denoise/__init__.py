"""Tiled inference: geometry in :mod:`.tiling` (no torch), the network loop in :mod:`.inference`."""

from .inference import denoise_frames
from .tiling import Blender, TilePlan, blend_window, plan_tiles, tile_window

__all__ = ["denoise_frames", "plan_tiles", "blend_window", "TilePlan", "Blender", "tile_window"]
