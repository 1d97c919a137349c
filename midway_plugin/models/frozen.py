"""Frozen pretrained parts: no gradients, eval mode that survives ``train()``, a forward pass without autograd.

The adapters' ``frozen=True`` (mmseg ``MidwayViT``, mmflow ``MidwayFlow`` and ``MidwayViTEncoder``) is this one
mixin: :func:`~midway_plugin.models.build_network` freezes the parameters, the adapter names the parts it holds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class FrozenParts(nn.Module):
    """Mixin for an adapter module that holds pretrained parts which may be frozen.

    Put it first among the bases (``class MidwayFlow(FrozenParts, FlowEstimator)``) and call :meth:`freeze_parts`
    in ``__init__``.
    """

    frozen: bool = False
    _frozen_parts: tuple[str, ...] = ()

    def freeze_parts(self, frozen: bool, *names: str) -> None:
        """Freezes the named submodules (no gradients, eval mode) if ``frozen``; ``"."`` names the module itself.

        Raises:
            ValueError: ``frozen`` is not a bool.
        """
        if not isinstance(frozen, bool):
            raise ValueError(f"{type(self).__name__}: frozen must be True or False, got {frozen!r}")
        self.frozen = frozen
        self._frozen_parts = names if frozen else ()
        for module in self._frozen_modules():
            module.requires_grad_(False)
        self.train(self.training)

    def _frozen_modules(self) -> list[nn.Module]:
        return [self if name == "." else self.get_submodule(name) for name in self._frozen_parts]

    def train(self, mode: bool = True) -> Any:
        """Sets train/eval mode; frozen parts always stay in eval mode (norms, dropout, drop path)."""
        super().train(mode)
        for module in self._frozen_modules():
            nn.Module.train(module, False)  # the plain method: `self` may be one of them
        return self

    def grad_enabled(self) -> torch.autograd.grad_mode.set_grad_enabled:
        """The context of a forward pass: autograd off when frozen (no activations kept for a backward pass)."""
        return torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen)


__all__ = ["FrozenParts"]
