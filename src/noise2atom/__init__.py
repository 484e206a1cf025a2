"""noise2atom: unsupervised denoising of low-dose STEM movies of atoms (Noise2Atom).

Data flows one way: ``io`` -> ``data`` -> ``models`` -> ``train`` -> ``denoise`` -> ``metrics``
-> ``cli``. The public API:

- :func:`simulate_clean` — clean-domain images of Gaussian atomic peaks (the paper's domain C)
- :func:`simulate_movie` — a small noisy STEM-like movie with known truth
- :class:`Noise2Atom` — ``fit`` / ``denoise`` / ``save`` / ``load``
- :func:`css` — consecutive structural similarity (eq. 10)
- :func:`read_stack` / :func:`write_tiff` — image series with calibration
- :func:`denoise_signal` — a HyperSpy ``Signal2D`` in, a ``Signal2D`` out (the ``[hyperspy]`` extra)
"""

from ._version import __version__
from .config import RunConfig, preset_config
from .data import simulate_clean, simulate_movie
from .errors import InputError
from .io import Stack, read_stack, write_tiff
from .metrics import css
from .model import Noise2Atom
from .signals import denoise_signal

__all__ = ["__version__", "Noise2Atom", "RunConfig", "preset_config", "simulate_clean", "simulate_movie", "css",
           "read_stack", "write_tiff", "Stack", "InputError", "denoise_signal"]
