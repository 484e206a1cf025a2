"""Quality measures: pure functions on arrays."""

from .css import C1, C2, CssResult, css, css_pair
from .fidelity import affine_fit, psnr, ssim
from .predictive import predictive_r2

__all__ = ["css", "css_pair", "CssResult", "C1", "C2", "psnr", "ssim", "affine_fit", "predictive_r2"]
