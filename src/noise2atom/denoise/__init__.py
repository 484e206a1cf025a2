"""Tiled inference: geometry in :mod:`.tiling` (no torch), the network loop in :mod:`.inference`."""

from .background import restore_background
from .inference import denoise_frames
from .tiling import Blender, TilePlan, blend_window, plan_tiles, tile_window

__all__ = ["denoise_frames", "restore_background", "plan_tiles", "blend_window", "TilePlan", "Blender", "tile_window"]
