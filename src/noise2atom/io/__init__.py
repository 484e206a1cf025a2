"""Reading and writing image series with their calibration."""

from .readers import check_frames, pixel_size_nm, read_stack, stack_from_array
from .stack import LazyFrames, Stack, iter_blocks
from .writers import (check_output, write_array, write_atoms_csv, write_hspy, write_ome_zarr, write_tiff,
                      write_tiff_stream)

__all__ = ["Stack", "LazyFrames", "iter_blocks", "read_stack", "stack_from_array", "check_frames", "pixel_size_nm",
           "write_tiff", "write_array", "write_tiff_stream", "check_output", "write_atoms_csv", "write_hspy",
           "write_ome_zarr"]
