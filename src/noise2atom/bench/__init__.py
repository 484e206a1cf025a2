"""The arena: baselines, the benchmark runner and its figures (``noise2atom benchmark``)."""

from .methods import LEARNED, METHODS, TEMPORAL, Output

__all__ = ["METHODS", "TEMPORAL", "LEARNED", "Output"]
