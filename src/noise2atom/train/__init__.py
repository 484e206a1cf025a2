"""Training: the loss terms, the loop and its checkpoints."""

from .losses import (adversarial_loss, brightness_loss, critic_loss, cycle_loss, gradient_penalty, lfc_loss,
                     lowpass_correlation, wasserstein)
from .trainer import TrainResult, Trainer, default_device

__all__ = ["Trainer", "TrainResult", "default_device", "wasserstein", "gradient_penalty", "critic_loss",
           "adversarial_loss", "cycle_loss", "lfc_loss", "lowpass_correlation", "brightness_loss"]
