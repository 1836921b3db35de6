"""FGSM and PGD (L-infinity), registered as the attacks ``fgsm`` and ``pgd``.

* FGSM: Goodfellow, Shlens, Szegedy (2015), "Explaining and Harnessing Adversarial Examples",
  arXiv 1412.6572 -- one signed-gradient step ``x + epsilon * sign(grad_x loss)``.
* PGD: Madry, Makelov, Schmidt, Tsipras, Vladu (2018), "Towards Deep Learning Models Resistant to
  Adversarial Attacks", arXiv 1706.06083 -- a uniform random start in the ball, then ``steps``
  signed-gradient steps, each projected back onto the ball and the input box.

Examples
--------
>>> import torch
>>> model = torch.nn.Linear(2, 2)
>>> x, y = torch.full((3, 2), 0.5), torch.tensor([0, 1, 0])
>>> torch.equal(pgd(model, x, y, 0.1, steps=1, step_size=0.1, random_start=False), fgsm(model, x, y, 0.1))
True
"""

from __future__ import annotations

import math
import numbers

import torch

from .base import (
    _check_inputs,
    _check_positive_int,
    _check_seed,
    _eval_mode,
    _seeded_rng,
)
from .gradient import _gradient, _warn_zero_gradients
from .losses import get_loss
from .registry import GradientSource, register_attack

__all__ = ["fgsm", "pgd"]


def _project(x_adv: torch.Tensor, ball_lo: torch.Tensor, ball_hi: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.maximum(x_adv, ball_lo), ball_hi)


def _ball(x: torch.Tensor, eps: float, lo: float, hi: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise bounds of (L-inf ball of radius ``eps`` around ``x``) intersected with [lo, hi]."""
    return (x - eps).clamp(min=lo), (x + eps).clamp(max=hi)


def fgsm(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    loss: str = "ce",
    input_range: tuple[float, float] = (0.0, 1.0),
    targeted: bool = False,
    grad_model: GradientSource | None = None,
    eot_samples: int = 1,
    seed: int | None = None,
) -> torch.Tensor:
    """Fast Gradient Sign Method: ``x_adv = clip(x + epsilon * sign(grad_x loss), input_range)``.

    Goodfellow, Shlens, Szegedy (2015), "Explaining and Harnessing Adversarial Examples", arXiv 1412.6572.

    Parameters
    ----------
    model : callable
        The attacked model, ``(N, ...) -> logits (N, C)``. Only used for the gradient when ``grad_model`` is
        None. Put in eval mode during the attack, flags restored afterwards; parameter grads untouched.
    x : Tensor, shape (N, ...)
        Clean inputs, floating point, finite, within ``input_range`` (tolerance 1e-6). Not mutated.
    y : Tensor, shape (N,)
        Integer true labels (untargeted) or target labels (``targeted=True``).
    epsilon : float
        L-infinity radius in input units, ``0 <= epsilon <= hi - lo``. ``0`` returns ``x.clone()``.
    loss : str
        Registered loss (``"ce"`` cross-entropy, ``"margin"`` logit margin), see :data:`~bridges.attacks.LOSSES`.
    input_range : (float, float)
        Valid input box ``(lo, hi)``; outputs are clipped into it.
    targeted : bool
        If True, step to *decrease* the loss towards the labels ``y`` instead of increasing it.
    grad_model : callable, optional
        Gradient source (e.g. the plain-autograd view of a feedback-alignment model, or a surrogate-gradient
        spiking model). Defaults to ``model``.
    eot_samples : int
        Average the input gradient over this many forward passes (for stochastic models).
    seed : int, optional
        Seeds the stochastic model's torch RNG during the attack (caller's RNG state restored).

    Returns
    -------
    Tensor, shape and dtype of ``x``
        Adversarial inputs, detached, ``lo <= x_adv <= hi`` and ``|x_adv - x| <= epsilon``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> x, y = torch.full((3, 2), 0.5), torch.tensor([0, 1, 0])
    >>> float((fgsm(model, x, y, 0.1) - x).abs().max()) <= 0.1 + 1e-6
    True
    """
    lo, hi, eps, y = _check_inputs(x, y, epsilon, input_range)
    loss_fn = get_loss(loss)
    eot_samples = _check_positive_int(eot_samples, "eot_samples")
    seed = _check_seed(seed)
    x0 = x.detach()
    if eps == 0.0:
        return x0.clone()
    source = model if grad_model is None else grad_model
    direction = -1.0 if targeted else 1.0
    ball_lo, ball_hi = _ball(x0, eps, lo, hi)
    with _eval_mode(model, grad_model), _seeded_rng(seed, x0.device):
        grad = _gradient(source, x0, y, loss_fn, eot_samples)
    _warn_zero_gradients(grad)
    return _project(x0 + eps * torch.sign(direction * grad), ball_lo, ball_hi)


def pgd(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    loss: str = "ce",
    input_range: tuple[float, float] = (0.0, 1.0),
    targeted: bool = False,
    grad_model: GradientSource | None = None,
    eot_samples: int = 1,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected Gradient Descent (L-infinity) with an optional uniform random start.

    Madry, Makelov, Schmidt, Tsipras, Vladu (2018), "Towards Deep Learning Models Resistant to Adversarial
    Attacks", arXiv 1706.06083. Iterates ``x_{t+1} = Proj(x_t + step_size * sign(grad_x loss(x_t)))`` where
    ``Proj`` clips onto the L-inf ball around ``x`` and onto ``input_range``. With ``steps=1``,
    ``step_size=epsilon``, ``random_start=False`` it is exactly :func:`fgsm`. The last iterate is returned.

    Parameters
    ----------
    model, x, y, epsilon, loss, input_range, targeted, grad_model, eot_samples
        As in :func:`fgsm`.
    steps : int
        Number of gradient steps, >= 1.
    step_size : float, optional
        Step length in input units, > 0; default ``2.5 * epsilon / steps`` (Madry et al.).
    random_start : bool
        Start from ``x + U(-epsilon, epsilon)`` (clipped into ``input_range``) instead of ``x``.
    seed : int, optional
        Seeds the random start (a CPU ``torch.Generator``, so CPU and CUDA get the same start) and the
        stochastic model's torch RNG during the attack (caller's RNG state restored).
    generator : torch.Generator, optional
        Draw the random start from this generator instead (CPU or on any device); exclusive with ``seed``.
        Without either, the start comes from torch's global CPU RNG.

    Returns
    -------
    Tensor, shape and dtype of ``x``
        Adversarial inputs, detached, ``lo <= x_adv <= hi`` and ``|x_adv - x| <= epsilon``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> x, y = torch.full((3, 2), 0.5), torch.tensor([0, 1, 0])
    >>> a, b = pgd(model, x, y, 0.1, seed=1), pgd(model, x, y, 0.1, seed=1)
    >>> torch.equal(a, b)
    True
    """
    lo, hi, eps, y = _check_inputs(x, y, epsilon, input_range)
    steps = _check_positive_int(steps, "steps")
    if step_size is None:
        alpha = 2.5 * eps / steps
    else:
        if (
            isinstance(step_size, bool)
            or not isinstance(step_size, numbers.Real)
            or not math.isfinite(float(step_size))
            or step_size <= 0
        ):
            raise ValueError(
                f"step_size must be a finite number > 0, got {step_size!r}; or leave it None for 2.5 * epsilon / steps"
            )
        alpha = float(step_size)
    loss_fn = get_loss(loss)
    eot_samples = _check_positive_int(eot_samples, "eot_samples")
    seed = _check_seed(seed)
    if seed is not None and generator is not None:
        raise ValueError(
            "pass either seed or generator, not both: seed makes its own CPU generator for the random start"
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    x0 = x.detach()
    if eps == 0.0:
        return x0.clone()
    source = model if grad_model is None else grad_model
    direction = -1.0 if targeted else 1.0
    ball_lo, ball_hi = _ball(x0, eps, lo, hi)

    x_adv = x0.clone()
    if random_start:
        gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else generator
        noise_device = gen.device if gen is not None else torch.device("cpu")
        noise = torch.rand(x0.shape, generator=gen, dtype=x0.dtype, device=noise_device)
        x_adv = _project(x0 + eps * (2.0 * noise.to(x0.device) - 1.0), ball_lo, ball_hi)

    with _eval_mode(model, grad_model), _seeded_rng(seed, x0.device):
        for step in range(steps):
            grad = _gradient(source, x_adv, y, loss_fn, eot_samples)
            if step == 0:
                _warn_zero_gradients(grad)
            x_adv = _project(x_adv + alpha * torch.sign(direction * grad), ball_lo, ball_hi)
    return x_adv


register_attack("fgsm", fgsm)
register_attack("pgd", pgd)
