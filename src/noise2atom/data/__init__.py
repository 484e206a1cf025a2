"""Simulation, sampling, crops and normalisation."""

from .clean import draw_clean_params, render_clean, simulate_clean
from .movie import Movie, simulate_movie
from .normalize import Normalization
from .patches import CausalCrops, CleanImages, NoisyCrops, causal_stacks, central_crop, sample_frame_indices

__all__ = ["simulate_clean", "draw_clean_params", "render_clean", "Normalization", "NoisyCrops", "CausalCrops",
           "CleanImages", "causal_stacks", "central_crop", "sample_frame_indices", "simulate_movie", "Movie"]
