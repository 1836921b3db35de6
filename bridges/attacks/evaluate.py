"""Batched evaluation: craft adversarial examples, score accuracy, robust accuracy per epsilon.

Attacks are looked up by name in :data:`bridges.attacks.ATTACKS`; a ``seed`` becomes an independent
seed per batch, so results do not depend on which epsilons are asked for.

Examples
--------
>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> x = torch.linspace(0, 1, 20).reshape(5, 4)
>>> y = torch.tensor([0, 1, 2, 0, 1])
>>> sorted(robust_accuracy(model, x, y, attack="fgsm", epsilons=(0.0, 0.1)))
[0.0, 0.1]
"""

from __future__ import annotations

import inspect
import logging
import numbers
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch

from .base import (
    _check_epsilon,
    _check_logits,
    _check_positive_int,
    _check_range,
    _check_seed,
    _check_x,
    _check_y,
    _eval_mode,
)
from .registry import AttackFn, GradientSource, get_attack

__all__ = ["craft", "accuracy", "robust_accuracy"]

logger = logging.getLogger(__name__)


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


def _iter_adversarial(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: str,
    epsilons: Sequence[float],
    batch_size: int,
    grad_model: GradientSource | None,
    device: torch.device | str | None,
    attack_kw: dict,
) -> Iterator[tuple[float, slice, torch.Tensor, torch.Tensor]]:
    """Yield ``(epsilon, batch slice, x_adv batch, y batch)`` on the compute device, epsilon-major."""
    fn = get_attack(attack)
    extra = {} if grad_model is None else {"grad_model": grad_model}  # gradient-free attacks take none
    _check_attack_kwargs(attack, fn, {**attack_kw, **extra})
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
            yield eps, sl, fn(model, xb, yb, eps, **extra, **kw), yb


def craft(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    attack: str = "fgsm",
    epsilons: Sequence[float] = (0.0, 0.05, 0.1),
    batch_size: int = 256,
    grad_model: GradientSource | None = None,
    device: torch.device | str | None = None,
    **attack_kw: object,
) -> dict[float, torch.Tensor]:
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
        Registered attack name, see :data:`~bridges.attacks.ATTACKS`.
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
    for eps, sl, xb_adv, _ in _iter_adversarial(
        model, x, y, attack, epsilons, batch_size, grad_model, device, dict(attack_kw)
    ):
        if eps not in out:
            out[eps] = torch.empty_like(x)
        out[eps][sl] = xb_adv.to(x.device)
    return out


def _count_correct(model: GradientSource, xb: torch.Tensor, yb: torch.Tensor) -> int:
    with torch.no_grad():
        logits = _check_logits(model(xb), yb.to(torch.long))
    return int((logits.argmax(dim=1) == yb).sum())


def accuracy(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> float:
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
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            correct += _count_correct(model, xb, yb)
    return correct / x.shape[0]


def robust_accuracy(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: str = "fgsm",
    epsilons: Sequence[float] = (0.0, 0.05, 0.1),
    batch_size: int = 256,
    grad_model: GradientSource | None = None,
    device: torch.device | str | None = None,
    **attack_kw: object,
) -> dict[float, float]:
    """Accuracy of ``model`` on adversarial inputs crafted against it, for each epsilon.

    White-box by default; with ``grad_model`` the gradient comes from that source while ``model`` is scored
    (e.g. attack a feedback-alignment net through its true-gradient view, as the feedback-weight backward pass
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
        for eps, _, xb_adv, yb in _iter_adversarial(
            model, x, y, attack, epsilons, batch_size, grad_model, device, dict(attack_kw)
        ):
            correct[eps] = correct.get(eps, 0) + _count_correct(model, xb_adv, yb)
    result = {eps: c / x.shape[0] for eps, c in correct.items()}
    logger.info("robust accuracy (%s): %s", attack, result)
    return result
