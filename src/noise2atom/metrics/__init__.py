"""Quality measures: pure functions on arrays."""

from .atoms import AtomScore, atom_score, find_atoms, locate_atoms, match_atoms
from .css import C1, C2, CssResult, css, css_pair
from .fidelity import affine_fit, psnr, ssim
from .predictive import predictive_r2

__all__ = ["css", "css_pair", "CssResult", "C1", "C2", "psnr", "ssim", "affine_fit", "predictive_r2",
           "AtomScore", "atom_score", "find_atoms", "locate_atoms", "match_atoms"]
