"""The gradient source of every attack: input gradients of a per-sample loss, averaged over EOT draws.

For stochastic models (Poisson spike encoding, dropout-like noise) ``eot_samples > 1`` averages the
input gradient over several forward passes ("expectation over transformation"); the draws run as
stacked copies of the batch, at most :data:`EOT_MAX_ROWS` rows per pass (patch
``bridges.attacks.gradient.EOT_MAX_ROWS``, this module's own name, to change it).

Examples
--------
>>> import torch
>>> lin = torch.nn.Linear(2, 2, bias=False)
>>> with torch.no_grad():
...     _ = lin.weight.copy_(torch.eye(2))
>>> input_gradient(lin, torch.zeros(1, 2), torch.tensor([1]), loss="margin", eot_samples=3).tolist()
[[1.0, -1.0]]
"""

from __future__ import annotations

import warnings

import torch

from .base import (
    _check_logits,
    _check_positive_int,
    _check_seed,
    _check_y,
    _eval_mode,
    _seeded_rng,
)
from .losses import LossFn, get_loss
from .registry import GradientSource

__all__ = ["EOT_MAX_ROWS", "input_gradient"]

#: Largest batch (copies x samples) of one EOT pass; more draws run as further passes.
EOT_MAX_ROWS = 4096


def _gradient(
    grad_model: GradientSource, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, eot_samples: int
) -> torch.Tensor:
    """Mean over ``eot_samples`` draws of d(sum_i loss_i)/dx; shape of ``x``. No validation, no RNG seeding.

    The draws run as batches of ``k * N`` copies of ``x`` (copy ``j`` of sample ``i`` at row
    ``j N + i``), ``k`` as many as fit in :data:`EOT_MAX_ROWS` rows (at least one), so a stochastic
    model (Poisson input spikes) makes an independent draw for every copy in few forward/backward
    passes instead of ``eot_samples`` passes.
    """
    n = x.shape[0]
    per_pass = max(1, min(eot_samples, EOT_MAX_ROWS // max(1, n)))
    total = None
    done = 0
    while done < eot_samples:
        k = min(per_pass, eot_samples - done)
        grad = _gradient_pass(grad_model, x, y, loss_fn, k)
        total = grad if total is None else total + grad
        done += k
    return total / eot_samples if eot_samples > 1 else total


def _gradient_pass(
    grad_model: GradientSource, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, copies: int
) -> torch.Tensor:
    """Sum over ``copies`` stacked copies of ``x`` of d(sum_i loss_i)/dx, in one pass."""
    x_in = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        x_rep = x_in.repeat(copies, *([1] * (x.dim() - 1))) if copies > 1 else x_in
        y_rep = y.repeat(copies) if copies > 1 else y
        logits = _check_logits(grad_model(x_rep), y_rep)
        losses = loss_fn(logits, y_rep, reduction="none")
        if losses.shape != (x_rep.shape[0],):
            raise ValueError(
                f"the loss must return one value per sample, shape ({x_rep.shape[0]},), got {tuple(losses.shape)}"
            )
        if not losses.requires_grad:
            raise ValueError(
                "the model's output does not depend differentiably on its input (no autograd "
                "graph: torch.no_grad, .detach() or a non-torch simulator inside?); pass "
                "grad_model= a differentiable twin, e.g. a surrogate-gradient model"
            )
        (grad,) = torch.autograd.grad(losses.sum(), x_in, allow_unused=True)
    if grad is None:
        raise ValueError(
            "the model's output does not depend differentiably on its input (the input is "
            "not in the autograd graph); pass grad_model= a differentiable twin, e.g. a "
            "surrogate-gradient model"
        )
    return grad


def _warn_zero_gradients(grad: torch.Tensor) -> None:
    zero = (grad.reshape(grad.shape[0], -1) == 0).all(dim=1)
    n_zero = int(zero.sum())
    if n_zero:
        warnings.warn(
            f"{n_zero} of {grad.shape[0]} samples have an exactly zero input gradient, so the attack "
            f"cannot move them (gradient masking?). For non-differentiable models (spikes, hard "
            f"thresholds) pass grad_model= a surrogate-gradient twin; for stochastic ones use "
            f"eot_samples > 1; for saturated softmax try loss='margin'.",
            RuntimeWarning,
            stacklevel=3,
        )


def input_gradient(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str = "ce",
    eot_samples: int = 1,
    seed: int | None = None,
) -> torch.Tensor:
    """Input gradient of the summed attack loss, averaged over ``eot_samples`` forward passes.

    This is the gradient source every attack here uses: with ``targeted=False`` the attack steps along
    ``sign(g)``; with ``targeted=True`` along ``-sign(g)`` (``y`` then holds target classes). The loss is
    summed over the batch, so each sample's gradient is independent of the batch it sits in.

    Parameters
    ----------
    model : callable
        Differentiable ``(N, ...) -> logits (N, C)``. ``nn.Module`` s are put in eval mode and restored.
    x : Tensor, shape (N, ...)
        Floating-point inputs (not range-checked here).
    y : Tensor, shape (N,)
        Integer labels (or targets).
    loss : str
        Registered loss name, see :data:`~bridges.attacks.LOSSES` (``"ce"``, ``"margin"``, ``"mse"``).
    eot_samples : int
        Number of forward/backward passes to average ("expectation over transformation").
    seed : int, optional
        Seeds torch's global RNG inside a fork for stochastic models; the caller's RNG state is restored.

    Returns
    -------
    Tensor, shape of ``x``
        ``mean_k d/dx sum_i loss(model_k(x)_i, y_i)``, detached.

    Examples
    --------
    >>> import torch
    >>> lin = torch.nn.Linear(3, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    >>> input_gradient(lin, torch.zeros(1, 3), torch.tensor([0]), loss="margin").tolist()
    [[-1.0, 1.0, 0.0]]
    """
    loss_fn = get_loss(loss)
    eot_samples = _check_positive_int(eot_samples, "eot_samples")
    seed = _check_seed(seed)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("x must be a floating-point torch.Tensor of shape (N, ...); convert with x.float()")
    y = _check_y(y, x)
    with _eval_mode(model), _seeded_rng(seed, x.device):
        return _gradient(model, x, y, loss_fn, eot_samples)
