"""The fast parts of a Midway training step: fused AdamW, foreach clipping, one head call, guarded compile.

Measured on the CPU for ViT-S (docs/performance.md): AdamW with ``fused=True`` is 4.3x faster than the
per-parameter loop, per-parameter clipping with ``torch._foreach_norm`` 1.6x faster than a Python loop of
``clip_grad_norm_``, and one student DINO-head call on the global and local CLS features together 1.84x faster
than two calls, for the same outputs (the head has no batch norm, so rows do not interact).

``torch.compile`` is opt-in (``trainer.compile``): :func:`compile_guarded` compiles a module's forward methods and
falls back to eager execution, with one :class:`CompileFallbackWarning` giving the reason, when compiling fails.
"""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import AdamW

#: Device types whose AdamW has fused kernels in the torch versions this project supports (>= 2.4 for the CPU).
FUSED_DEVICES = ("cuda", "cpu")


class CompileFallbackWarning(UserWarning):
    """``torch.compile`` failed for a module; it runs eagerly (the message gives the module and the reason)."""


def make_adamw(
    param_groups: list[dict[str, Any]], lr: float, betas: Sequence[float], fused: bool | None = None
) -> tuple[AdamW, str]:
    """AdamW with the fastest implementation the parameters' device supports.

    Args:
        param_groups: Optimizer parameter groups.
        lr: Learning rate.
        betas: AdamW betas.
        fused: True: fused kernels (error when unsupported); False: torch's default (foreach); None: fused where
            supported (CUDA, and CPU on torch >= 2.4), else the default.

    Returns:
        ``(optimizer, implementation)`` with implementation ``"fused"`` or ``"foreach"``.

    Raises:
        ValueError: ``fused=True`` on parameters the fused kernels do not support (the message says why).
    """
    params = [p for group in param_groups for p in group["params"]]
    unsupported = sorted(
        {
            f"{p.device.type}/{p.dtype}"
            for p in params
            if p.device.type not in FUSED_DEVICES or not p.is_floating_point()
        }
    )
    if fused and unsupported:
        raise ValueError(
            f"optim.fused=true, but fused AdamW does not support parameters on {', '.join(unsupported)} "
            f"(supported: floating-point parameters on {', '.join(FUSED_DEVICES)})"
        )
    beta1, beta2 = betas
    if fused is not False and not unsupported:
        return AdamW(param_groups, lr=lr, betas=(beta1, beta2), fused=True), "fused"
    return AdamW(param_groups, lr=lr, betas=(beta1, beta2)), "foreach"


@torch.no_grad()
def clip_grad_per_parameter_(parameters: Iterable[nn.Parameter], max_norm: float) -> None:
    """Scales each parameter's gradient to norm <= ``max_norm`` (like ``clip_grad_norm_([p], max_norm)`` per ``p``).

    Batched with ``torch._foreach_norm`` / ``torch._foreach_mul_`` per (device, dtype) instead of one call per
    parameter. Same coefficient as ``clip_grad_norm_``: ``min(1, max_norm / (norm + 1e-6))``.
    """
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = defaultdict(list)
    for param in parameters:
        if param.grad is not None:
            groups[(param.grad.device, param.grad.dtype)].append(param.grad)
    for grads in groups.values():
        norms = torch.stack(torch._foreach_norm(grads))
        coefs = (max_norm / (norms + 1e-6)).clamp_(max=1.0)
        torch._foreach_mul_(grads, list(coefs.unbind(0)))


def student_head_outputs(
    encode: Callable[[Tensor], Tensor], head: nn.Module, views_per_resolution: Sequence[Sequence[Tensor]]
) -> list[Tensor]:
    """Head outputs of every view: one encoder pass per resolution, then one head call on all CLS features.

    Args:
        encode: Images ``(M, C, H, W)`` -> CLS features ``(M, D)``.
        head: The DINO projection head.
        views_per_resolution: Groups of views of one resolution each (e.g. globals, locals), each view
            ``(N, C, H, W)`` with the same N.

    Returns:
        One ``(N, output_dim)`` tensor per view, in the order given.
    """
    groups = [list(group) for group in views_per_resolution if len(group)]
    if not groups:
        return []
    features = torch.cat([encode(torch.cat(group)) for group in groups])
    return list(head(features).chunk(sum(len(group) for group in groups)))


class _GuardedCall:
    """A compiled callable that switches to its eager original for good when compiling it fails."""

    def __init__(self, name: str, eager: Callable[..., Any], **compile_kwargs: Any) -> None:
        self.name = name
        self.eager = eager
        self.compiled = torch.compile(eager, **compile_kwargs)
        self.status = "not run yet"
        self.first_call_seconds: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.status.startswith("failed"):
            return self.eager(*args, **kwargs)
        start = time.perf_counter()
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any compiler failure: fall back (a real error recurs eagerly)
            reason = _describe(err)
            self.status = f"failed ({reason})"
            warnings.warn(
                f"torch.compile of {self.name} failed; it runs eagerly from now on. Reason: {reason}",
                CompileFallbackWarning,
                stacklevel=2,
            )
            return self.eager(*args, **kwargs)
        if self.first_call_seconds is None:
            self.first_call_seconds = time.perf_counter() - start  # includes the compilation
            self.status = "compiled"
        return out


def _describe(err: BaseException) -> str:
    """``Type: first line`` of an error and of its innermost cause (compiler errors wrap the real reason)."""

    def line(e: BaseException) -> str:
        text = str(e).strip()
        return f"{type(e).__name__}: {text.splitlines()[0][:300] if text else ''}"

    inner = getattr(err, "inner_exception", None) or err
    while inner.__cause__ is not None:
        inner = inner.__cause__
    return line(err) if inner is err else f"{line(err)} <- {line(inner)}"


def compile_guarded(
    modules: dict[str, nn.Module], methods: Sequence[str] = ("forward",), **compile_kwargs: Any
) -> dict[str, _GuardedCall]:
    """Compiles the given methods of each module in place (instance attributes), each with an eager fallback.

    Parameters and state-dict keys are untouched, so checkpoints are the same with and without compiling.

    Args:
        modules: Name -> module.
        methods: Method names compiled on every module that has them (e.g. ``forward``, ``forward_cls``).
        **compile_kwargs: Passed to ``torch.compile`` (e.g. ``backend``, ``mode``).

    Returns:
        ``"name.method"`` -> guard, whose ``status`` ("compiled", "failed (reason)", "not run yet") and
        ``first_call_seconds`` (compile + first run) can be reported.
    """
    guards: dict[str, _GuardedCall] = {}
    for name, module in modules.items():
        for method in methods:
            if not hasattr(module, method):
                continue
            guard = _GuardedCall(f"{name}.{method}", getattr(module, method), **compile_kwargs)
            setattr(module, method, guard)
            guards[f"{name}.{method}"] = guard
    return guards


def compile_report(guards: dict[str, _GuardedCall]) -> str:
    """One line per compiled method: status and the time of its first (compiling) call."""
    lines = []
    for name, guard in guards.items():
        seconds = "" if guard.first_call_seconds is None else f", first call {guard.first_call_seconds:.1f} s"
        lines.append(f"{name}: {guard.status}{seconds}")
    return "\n".join(lines)
