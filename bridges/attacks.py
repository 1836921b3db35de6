"""White-box L-infinity adversarial attacks (FGSM, PGD) written in plain torch, plus batched evaluation.

The attacks perturb an input batch ``x`` of shape ``(N, ...)`` with labels ``y`` of shape ``(N,)`` inside
the L-infinity ball of radius ``epsilon`` around ``x``, intersected with the valid input box
``input_range``. Every output satisfies ``lo <= x_adv <= hi`` and ``|x_adv - x| <= epsilon`` elementwise.

* FGSM: Goodfellow, Shlens, Szegedy (2015), "Explaining and Harnessing Adversarial Examples",
  arXiv 1412.6572 -- one signed-gradient step ``x + epsilon * sign(grad_x loss)``.
* PGD: Madry, Makelov, Schmidt, Tsipras, Vladu (2018), "Towards Deep Learning Models Resistant to
  Adversarial Attacks", arXiv 1706.06083 -- a uniform random start in the ball, then ``steps`` signed-gradient
  steps, each projected back onto the ball and the input box.

Gradient source. ``model`` is what is attacked; the input gradient is taken through ``grad_model`` when
given (any callable ``inputs -> logits``, called a *gradient source* here), else through ``model``. This is
how to attack a model whose own backward pass is not its true Jacobian: a feedback-alignment network's
custom backward follows its feedback weights, a spiking network's spikes have no useful gradient. Pass a
plain-autograd twin (same weights, ordinary backward) or a surrogate-gradient model as ``grad_model``, and
evaluate the crafted inputs on the original. For stochastic models (Poisson spike encoding, dropout-like
noise) ``eot_samples > 1`` averages the input gradient over several forward passes ("expectation over
transformation"), seeded by ``seed``.

Guarantees: inputs are never mutated; models are switched to eval mode for the attack and every submodule's
``training`` flag is restored afterwards; parameter ``.grad`` fields are never touched (gradients are taken
with :func:`torch.autograd.grad` w.r.t. the input only); ``epsilon == 0`` returns a copy of ``x`` without
running any gradient; one ``seed`` gives bitwise-identical results on a given device, and PGD's random start
is drawn on the CPU so it is the same on CPU and CUDA.

Examples
--------
>>> import torch
>>> from bridges.attacks import fgsm, pgd, robust_accuracy
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> x = torch.linspace(0, 1, 20).reshape(5, 4)
>>> y = torch.tensor([0, 1, 2, 0, 1])
>>> x_adv = pgd(model, x, y, 0.1, steps=5, seed=0)
>>> bool(((x_adv - x).abs() <= 0.1 + 1e-6).all() and x_adv.min() >= 0 and x_adv.max() <= 1)
True
>>> sorted(robust_accuracy(model, x, y, attack="fgsm", epsilons=(0.0, 0.1)))
[0.0, 0.1]
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import math
import numbers
import warnings
from types import MappingProxyType
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "GradientSource",
    "LossFn",
    "AttackFn",
    "LOSSES",
    "ATTACKS",
    "register_loss",
    "get_loss",
    "register_attack",
    "get_attack",
    "ce_loss",
    "margin_loss",
    "input_gradient",
    "fgsm",
    "pgd",
    "craft",
    "accuracy",
    "robust_accuracy",
]

logger = logging.getLogger(__name__)

GradientSource = Callable[[torch.Tensor], torch.Tensor]
"""Any differentiable callable mapping inputs ``(N, ...)`` to logits ``(N, C)``; used for input gradients."""

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(logits (N, C), y (N,)) -> per-sample loss (N,)``; the attack ascends it (descends when targeted)."""

AttackFn = Callable[..., torch.Tensor]
"""``attack(model, x, y, epsilon, **kwargs) -> x_adv`` with ``x_adv.shape == x.shape``."""

_RANGE_TOL = 1e-6


# ---------------------------------------------------------------------------------------------------------
# Registries
# ---------------------------------------------------------------------------------------------------------
def _register(registry: dict, kind: str, name: str, fn: Callable, plural: str) -> None:
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise ValueError(f"{kind} name must be a non-empty lower-case string, got {name!r}; e.g. 'my_{kind}'")
    if name in registry:
        raise ValueError(f"{kind} {name!r} is already registered; registered {plural}: {sorted(registry)}. "
                         f"Pick another name.")
    if not callable(fn):
        raise TypeError(f"{kind} {name!r} must be callable, got {type(fn).__name__}")
    registry[name] = fn


def _lookup(registry: Mapping, kind: str, name: str, plural: str) -> Callable:
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in registry:
        raise ValueError(f"unknown {kind} {name!r}; valid {plural}: {sorted(registry)}")
    return registry[key]


def ce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy of ``logits`` (N, C) against integer labels ``y`` (N,); returns (N,).

    The untargeted FGSM/PGD objective of Goodfellow et al. 2015 (arXiv 1412.6572) and Madry et al. 2018
    (arXiv 1706.06083).

    Examples
    --------
    >>> import torch
    >>> [round(v, 4) for v in ce_loss(torch.zeros(2, 4), torch.tensor([0, 3])).tolist()]  # log(4) each
    [1.3863, 1.3863]
    """
    return F.cross_entropy(logits, y, reduction="none")


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample logit margin ``max_{j != y} z_j - z_y`` (Carlini-Wagner style, unclamped); returns (N,).

    Positive means misclassified. Unlike cross-entropy it does not saturate on confident predictions, so it
    keeps a useful gradient where softmax probabilities round to 0 or 1. No ``-kappa`` clamp is applied, so
    PGD keeps pushing after the decision boundary is crossed. Carlini & Wagner (2017), "Towards Evaluating
    the Robustness of Neural Networks", arXiv 1608.04644.

    Examples
    --------
    >>> import torch
    >>> margin_loss(torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([0])).tolist()
    [-1.0]
    """
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return others.max(dim=1).values - true


_LOSSES: dict[str, LossFn] = {}
LOSSES: Mapping[str, LossFn] = MappingProxyType(_LOSSES)
"""Read-only view of the loss registry (name -> :data:`LossFn`)."""


def register_loss(name: str, fn: LossFn) -> None:
    """Add an attack objective ``fn(logits (N, C), y (N,)) -> (N,)`` under a new lower-case ``name``.

    Raises ``ValueError`` for duplicate or non-lower-case names.

    Examples
    --------
    >>> "ce" in LOSSES and "margin" in LOSSES
    True
    """
    _register(_LOSSES, "loss", name, fn, "losses")


def get_loss(name: str) -> LossFn:
    """Return the registered loss called ``name`` (case-insensitive); unknown names raise ``ValueError``.

    Examples
    --------
    >>> get_loss("CE") is ce_loss
    True
    """
    return _lookup(_LOSSES, "loss", name, "losses")


register_loss("ce", ce_loss)
register_loss("margin", margin_loss)


# ---------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------
def _check_range(input_range: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in input_range)
    except (TypeError, ValueError):
        raise ValueError(f"input_range must be a pair (lo, hi) of numbers, got {input_range!r}; "
                         f"e.g. input_range=(0.0, 1.0)") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise ValueError(f"input_range must be finite with lo < hi, got ({lo}, {hi}); "
                         f"pass the valid pixel range of your data, e.g. (0.0, 1.0)")
    return lo, hi


def _check_epsilon(epsilon: float, lo: float, hi: float) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
        raise ValueError(f"epsilon must be a real number, got {epsilon!r} ({type(epsilon).__name__})")
    eps = float(epsilon)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"epsilon must be finite and >= 0, got {epsilon}; it is the L-inf radius in input "
                         f"units, e.g. 0.1 for inputs in [0, 1]")
    if eps > hi - lo:
        raise ValueError(f"epsilon={eps} is larger than the input range width {hi - lo} "
                         f"(input_range=({lo}, {hi})); use epsilon <= {hi - lo}, or pass the input_range "
                         f"your data really uses (epsilon is in input units, e.g. 8/255 for [0, 1] images)")
    return eps


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_x(x: torch.Tensor, lo: float, hi: float) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (N, ...), got {type(x).__name__}; "
                        f"convert with torch.as_tensor(x, dtype=torch.float32)")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}; convert and rescale, e.g. "
                         f"x.float() / 255 for uint8 images")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"x contains {bad} NaN/inf value(s); clean or drop those samples before attacking")
    x_min, x_max = float(x.min()), float(x.max())
    if x_min < lo - _RANGE_TOL or x_max > hi + _RANGE_TOL:
        raise ValueError(f"x has values in [{x_min:.6g}, {x_max:.6g}] but input_range is ({lo:g}, {hi:g}); "
                         f"rescale x into input_range (e.g. x / 255 for 8-bit pixels) or pass "
                         f"input_range=(lo, hi) matching your data")


def _check_y(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor of integer class labels, got {type(y).__name__}; "
                        f"use torch.as_tensor(y, dtype=torch.long)")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}; "
                         f"convert with y.long() (one-hot targets: y.argmax(1))")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape (N,) = ({x.shape[0]},) to match x of shape {tuple(x.shape)}, "
                         f"got {tuple(y.shape)}; pass one integer label per sample (one-hot: y.argmax(1))")
    return y.to(device=x.device, dtype=torch.long)


def _check_logits(logits: object, y: torch.Tensor) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"the model must return a logits tensor of shape (N, C), got {type(logits).__name__}; "
                        f"wrap models returning tuples, e.g. lambda x: net(x)[0]")
    if logits.ndim != 2 or logits.shape[0] != y.shape[0]:
        raise ValueError(f"the model must return logits of shape (N, C) = ({y.shape[0]}, C), got "
                         f"{tuple(logits.shape)}; wrap it so it returns one row of class scores per sample")
    n_classes = logits.shape[1]
    if bool(((y < 0) | (y >= n_classes)).any()):
        raise ValueError(f"labels y must lie in [0, {n_classes - 1}] for a model with {n_classes} outputs, "
                         f"got range [{int(y.min())}, {int(y.max())}]")
    return logits


# ---------------------------------------------------------------------------------------------------------
# Model state and randomness helpers
# ---------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _eval_mode(*models: object) -> Iterator[None]:
    """Put every ``nn.Module`` among ``models`` in eval mode; restore each submodule's flag on exit."""
    saved = [(m, m.training) for model in models if isinstance(model, torch.nn.Module) for m in model.modules()]
    try:
        for m, _ in saved:
            m.training = False
        yield
    finally:
        for m, flag in saved:
            m.training = flag


@contextlib.contextmanager
def _seeded_rng(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (CPU, and CUDA when attacking there) inside a fork; restore it on exit."""
    if seed is None:
        yield
        return
    cuda_devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.random.default_generator.manual_seed(seed)
        if cuda_devices:
            torch.cuda.manual_seed_all(seed)
        yield


def _check_seed(seed: int | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------------------------------------------------
# Functional core
# ---------------------------------------------------------------------------------------------------------
#: Largest batch (copies x samples) of one EOT pass; more draws run as further passes.
EOT_MAX_ROWS = 4096


def _gradient(grad_model: GradientSource, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
              eot_samples: int) -> torch.Tensor:
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


def _gradient_pass(grad_model: GradientSource, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                   copies: int) -> torch.Tensor:
    """Sum over ``copies`` stacked copies of ``x`` of d(sum_i loss_i)/dx, in one pass."""
    x_in = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        x_rep = x_in.repeat(copies, *([1] * (x.dim() - 1))) if copies > 1 else x_in
        y_rep = y.repeat(copies) if copies > 1 else y
        logits = _check_logits(grad_model(x_rep), y_rep)
        losses = loss_fn(logits, y_rep)
        if losses.shape != (x_rep.shape[0],):
            raise ValueError(f"the loss must return one value per sample, shape ({x_rep.shape[0]},), got "
                             f"{tuple(losses.shape)}")
        if not losses.requires_grad:
            raise ValueError("the model's output does not depend differentiably on its input (no autograd "
                             "graph: torch.no_grad, .detach() or a non-torch simulator inside?); pass "
                             "grad_model= a differentiable twin, e.g. a surrogate-gradient model")
        (grad,) = torch.autograd.grad(losses.sum(), x_in, allow_unused=True)
    if grad is None:
        raise ValueError("the model's output does not depend differentiably on its input (the input is "
                         "not in the autograd graph); pass grad_model= a differentiable twin, e.g. a "
                         "surrogate-gradient model")
    return grad


def _warn_zero_gradients(grad: torch.Tensor) -> None:
    zero = (grad.reshape(grad.shape[0], -1) == 0).all(dim=1)
    n_zero = int(zero.sum())
    if n_zero:
        warnings.warn(f"{n_zero} of {grad.shape[0]} samples have an exactly zero input gradient, so the attack "
                      f"cannot move them (gradient masking?). For non-differentiable models (spikes, hard "
                      f"thresholds) pass grad_model= a surrogate-gradient twin; for stochastic ones use "
                      f"eot_samples > 1; for saturated softmax try loss='margin'.", RuntimeWarning, stacklevel=3)


def _project(x_adv: torch.Tensor, ball_lo: torch.Tensor, ball_hi: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.maximum(x_adv, ball_lo), ball_hi)


def _ball(x: torch.Tensor, eps: float, lo: float, hi: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise bounds of (L-inf ball of radius ``eps`` around ``x``) intersected with [lo, hi]."""
    return (x - eps).clamp(min=lo), (x + eps).clamp(max=hi)


def input_gradient(model: GradientSource, x: torch.Tensor, y: torch.Tensor, *, loss: str = "ce",
                   eot_samples: int = 1, seed: int | None = None) -> torch.Tensor:
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
        Registered loss name, see :data:`LOSSES` (``"ce"``, ``"margin"``).
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


def fgsm(model: GradientSource, x: torch.Tensor, y: torch.Tensor, epsilon: float, *, loss: str = "ce",
         input_range: tuple[float, float] = (0.0, 1.0), targeted: bool = False,
         grad_model: GradientSource | None = None, eot_samples: int = 1,
         seed: int | None = None) -> torch.Tensor:
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
        Registered loss (``"ce"`` cross-entropy, ``"margin"`` logit margin), see :data:`LOSSES`.
    input_range : (float, float)
        Valid input box ``(lo, hi)``; outputs are clipped into it.
    targeted : bool
        If True, step to *decrease* the loss towards the labels ``y`` instead of increasing it.
    grad_model : callable, optional
        Gradient source (e.g. a plain-autograd twin of a feedback-alignment model, or a surrogate-gradient
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
    lo, hi = _check_range(input_range)
    eps = _check_epsilon(epsilon, lo, hi)
    loss_fn = get_loss(loss)
    eot_samples = _check_positive_int(eot_samples, "eot_samples")
    seed = _check_seed(seed)
    _check_x(x, lo, hi)
    y = _check_y(y, x)
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


def pgd(model: GradientSource, x: torch.Tensor, y: torch.Tensor, epsilon: float, *, steps: int = 10,
        step_size: float | None = None, random_start: bool = True, loss: str = "ce",
        input_range: tuple[float, float] = (0.0, 1.0), targeted: bool = False,
        grad_model: GradientSource | None = None, eot_samples: int = 1, seed: int | None = None,
        generator: torch.Generator | None = None) -> torch.Tensor:
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
    lo, hi = _check_range(input_range)
    eps = _check_epsilon(epsilon, lo, hi)
    steps = _check_positive_int(steps, "steps")
    if step_size is None:
        alpha = 2.5 * eps / steps
    else:
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Real) \
                or not math.isfinite(float(step_size)) or step_size <= 0:
            raise ValueError(f"step_size must be a finite number > 0, got {step_size!r}; "
                             f"or leave it None for 2.5 * epsilon / steps")
        alpha = float(step_size)
    loss_fn = get_loss(loss)
    eot_samples = _check_positive_int(eot_samples, "eot_samples")
    seed = _check_seed(seed)
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both: seed makes its own CPU generator for the "
                         "random start")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    _check_x(x, lo, hi)
    y = _check_y(y, x)
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


# ---------------------------------------------------------------------------------------------------------
# Attack registry
# ---------------------------------------------------------------------------------------------------------
_ATTACKS: dict[str, AttackFn] = {}
ATTACKS: Mapping[str, AttackFn] = MappingProxyType(_ATTACKS)
"""Read-only view of the attack registry (name -> :data:`AttackFn`)."""


def register_attack(name: str, fn: AttackFn) -> None:
    """Add ``fn(model, x, y, epsilon, **kwargs) -> x_adv`` under a new lower-case ``name``.

    Raises ``ValueError`` for duplicate or non-lower-case names.

    Examples
    --------
    >>> sorted(ATTACKS)
    ['fgsm', 'pgd']
    """
    _register(_ATTACKS, "attack", name, fn, "attacks")


def get_attack(name: str) -> AttackFn:
    """Return the registered attack called ``name`` (case-insensitive); unknown names raise ``ValueError``.

    Examples
    --------
    >>> get_attack("PGD") is pgd
    True
    """
    return _lookup(_ATTACKS, "attack", name, "attacks")


register_attack("fgsm", fgsm)
register_attack("pgd", pgd)


# ---------------------------------------------------------------------------------------------------------
# Batched evaluation
# ---------------------------------------------------------------------------------------------------------
def _batch_seed(seed: int, batch_index: int) -> int:
    """Independent per-batch seed, the same whatever epsilons are evaluated."""
    return int(np.random.SeedSequence([seed, batch_index]).generate_state(1, dtype=np.uint32)[0])


def _check_attack_kwargs(name: str, fn: AttackFn, attack_kw: Mapping[str, object]) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    reserved = {"model", "x", "y", "epsilon"}
    accepted = sorted(k for k in params if k not in reserved)
    unknown = sorted(k for k in attack_kw if k not in params or k in reserved)
    if unknown:
        raise ValueError(f"attack {name!r} does not accept {unknown}; it accepts {accepted}")


def _check_epsilons(epsilons: Sequence[float], lo: float, hi: float) -> list[float]:
    if isinstance(epsilons, numbers.Real):
        epsilons = (epsilons,)
    eps_list = [_check_epsilon(e, lo, hi) for e in epsilons]
    if not eps_list:
        raise ValueError("epsilons is empty; pass at least one, e.g. epsilons=(0.0, 0.1)")
    if len(set(eps_list)) != len(eps_list):
        raise ValueError(f"epsilons contains duplicates: {eps_list}; pass each radius once")
    return eps_list


def _iter_adversarial(model: GradientSource, x: torch.Tensor, y: torch.Tensor, attack: str,
                      epsilons: Sequence[float], batch_size: int, grad_model: GradientSource | None,
                      device: torch.device | str | None, attack_kw: dict
                      ) -> Iterator[tuple[float, slice, torch.Tensor, torch.Tensor]]:
    """Yield ``(epsilon, batch slice, x_adv batch, y batch)`` on the compute device, epsilon-major."""
    fn = get_attack(attack)
    _check_attack_kwargs(attack, fn, {**attack_kw, "grad_model": grad_model})
    lo, hi = _check_range(attack_kw.get("input_range", (0.0, 1.0)))
    eps_list = _check_epsilons(epsilons, lo, hi)
    batch_size = _check_positive_int(batch_size, "batch_size")
    _check_x(x, lo, hi)
    _check_y(y, x)
    seed = _check_seed(attack_kw.pop("seed", None))
    for eps in eps_list:
        logger.debug("attack %s at epsilon=%g on %d samples", attack, eps, x.shape[0])
        for b, start in enumerate(range(0, x.shape[0], batch_size)):
            sl = slice(start, start + batch_size)
            xb, yb = x[sl], y[sl]
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            kw = dict(attack_kw)
            if seed is not None:
                kw["seed"] = _batch_seed(seed, b)
            yield eps, sl, fn(model, xb, yb, eps, grad_model=grad_model, **kw), yb


def craft(model: GradientSource, x: torch.Tensor, y: torch.Tensor, *, attack: str = "fgsm",
          epsilons: Sequence[float] = (0.0, 0.05, 0.1), batch_size: int = 256,
          grad_model: GradientSource | None = None, device: torch.device | str | None = None,
          **attack_kw: object) -> dict[float, torch.Tensor]:
    """Craft adversarial examples for every epsilon, batch by batch (e.g. for transfer attacks).

    Craft on a source model, then score the results on other models with :func:`accuracy`. Attacks follow
    Goodfellow et al. 2015 (arXiv 1412.6572) and Madry et al. 2018 (arXiv 1706.06083).

    Parameters
    ----------
    model : callable
        Source model (gradient taken through ``grad_model`` if given).
    x : Tensor, shape (N, ...)
        Clean inputs within ``input_range``.
    y : Tensor, shape (N,)
        Integer labels.
    attack : str
        Registered attack name, see :data:`ATTACKS`.
    epsilons : sequence of float
        Distinct L-inf radii.
    batch_size : int
        Samples per attack call.
    grad_model : callable, optional
        Gradient source, see :func:`fgsm`.
    device : torch.device or str, optional
        Move each batch there for the attack (the model must already live there); results come back on
        ``x.device``.
    **attack_kw
        Forwarded to the attack (``loss``, ``input_range``, ``steps``, ``eot_samples``, ...). ``seed`` is
        turned into an independent seed per batch, so results do not depend on which epsilons are asked for
        (they do depend on ``batch_size`` for random attacks).

    Returns
    -------
    dict[float, Tensor]
        ``{epsilon: x_adv}`` with ``x_adv`` of shape and dtype of ``x``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(3, 2)
    >>> x, y = torch.full((4, 3), 0.5), torch.tensor([0, 1, 1, 0])
    >>> adv = craft(model, x, y, attack="pgd", epsilons=(0.0, 0.2), steps=3, seed=0)
    >>> torch.equal(adv[0.0], x), tuple(adv[0.2].shape)
    (True, (4, 3))
    """
    out: dict[float, torch.Tensor] = {}
    for eps, sl, xb_adv, _ in _iter_adversarial(model, x, y, attack, epsilons, batch_size, grad_model,
                                                  device, dict(attack_kw)):
        if eps not in out:
            out[eps] = torch.empty_like(x)
        out[eps][sl] = xb_adv.to(x.device)
    return out


def _count_correct(model: GradientSource, xb: torch.Tensor, yb: torch.Tensor) -> int:
    with torch.no_grad():
        logits = _check_logits(model(xb), yb.to(torch.long))
    return int((logits.argmax(dim=1) == yb).sum())


def accuracy(model: GradientSource, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256,
             device: torch.device | str | None = None) -> float:
    """Fraction of samples whose argmax logit equals ``y``, in eval mode (flags restored), without gradients.

    Parameters
    ----------
    model : callable
        ``(N, ...) -> logits (N, C)``.
    x : Tensor, shape (N, ...)
    y : Tensor, shape (N,)
        Integer labels.
    batch_size : int
        Samples per forward pass.
    device : torch.device or str, optional
        Move each batch there first.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import torch
    >>> accuracy(lambda x: x, torch.eye(3), torch.tensor([0, 1, 1]))
    0.6666666666666666
    """
    batch_size = _check_positive_int(batch_size, "batch_size")
    if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[0] == 0:
        raise ValueError("x must be a non-empty torch.Tensor of shape (N, ...)")
    y = _check_y(y, x)
    correct = 0
    with _eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            correct += _count_correct(model, xb, yb)
    return correct / x.shape[0]


def robust_accuracy(model: GradientSource, x: torch.Tensor, y: torch.Tensor, attack: str = "fgsm",
                    epsilons: Sequence[float] = (0.0, 0.05, 0.1), batch_size: int = 256,
                    grad_model: GradientSource | None = None, device: torch.device | str | None = None,
                    **attack_kw: object) -> dict[float, float]:
    """Accuracy of ``model`` on adversarial inputs crafted against it, for each epsilon.

    White-box by default; with ``grad_model`` the gradient comes from that source while ``model`` is scored
    (e.g. attack a feedback-alignment net with its true-Jacobian twin, as the feedback-weight backward pass
    masks the gradient). FGSM: Goodfellow et al. 2015 (arXiv 1412.6572); PGD: Madry et al. 2018
    (arXiv 1706.06083). Streams batch by batch; adversarial inputs are not kept.

    Parameters
    ----------
    model, x, y, attack, epsilons, batch_size, grad_model, device, **attack_kw
        As in :func:`craft`.

    Returns
    -------
    dict[float, float]
        ``{epsilon: accuracy}`` in the order given; ``epsilon == 0`` is clean accuracy.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(3, 2)
    >>> x, y = torch.full((4, 3), 0.5), torch.tensor([0, 1, 1, 0])
    >>> acc = robust_accuracy(model, x, y, attack="pgd", epsilons=(0.0, 0.3), steps=5, seed=0)
    >>> acc[0.3] <= acc[0.0]
    True
    """
    correct: dict[float, int] = {}
    with _eval_mode(model):
        for eps, _, xb_adv, yb in _iter_adversarial(model, x, y, attack, epsilons, batch_size, grad_model,
                                                    device, dict(attack_kw)):
            correct[eps] = correct.get(eps, 0) + _count_correct(model, xb_adv, yb)
    result = {eps: c / x.shape[0] for eps, c in correct.items()}
    logger.info("robust accuracy (%s): %s", attack, result)
    return result
