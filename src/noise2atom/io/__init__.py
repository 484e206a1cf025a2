"""Reading and writing image series with their calibration."""

from .readers import check_frames, read_stack, stack_from_array
from .stack import Stack
from .writers import TiffStackWriter, check_output, write_array, write_tiff

__all__ = ["Stack", "read_stack", "stack_from_array", "check_frames", "write_tiff", "write_array",
           "TiffStackWriter", "check_output"]
