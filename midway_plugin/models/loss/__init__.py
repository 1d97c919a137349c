"""Losses of the core model."""

from midway_plugin.models.loss.forward_prediction_loss import forward_prediction_loss

__all__ = ["forward_prediction_loss"]
