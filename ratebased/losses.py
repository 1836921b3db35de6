"""The project's one loss registry: training losses and attack objectives alike.

Every entry is ``loss(logits, y, reduction="mean")`` after torch's convention: ``logits`` of shape
``(N, C)``, integer labels ``y`` of shape ``(N,)``; ``reduction="mean"`` returns the batch mean (a
scalar, what training minimises), ``"sum"`` the batch sum and ``"none"`` one value per sample,
shape ``(N,)`` (what the attacks in ``bridges.attacks`` ascend).

* ``ce``: cross-entropy on logits, :func:`torch.nn.functional.cross_entropy`;
* ``mse``: half the squared distance to the one-hot label, :func:`mse_onehot`;
* ``margin``: the logit margin of Carlini & Wagner, :func:`margin_loss` (an attack objective: it
  is unbounded below, so do not train on it).

Examples
--------
>>> import torch
>>> logits, y = torch.zeros(2, 4), torch.tensor([0, 3])
>>> LOSSES.names()
('ce', 'mse', 'margin')
>>> round(float(LOSSES.get("ce")(logits, y)), 4)                  # log(4)
1.3863
>>> LOSSES.get("mse")(logits, y, reduction="none").tolist()      # 0.5 * ||0 - onehot||^2
[0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .registry import Registry

__all__ = ["LossFn", "LOSSES", "REDUCTIONS", "cross_entropy", "mse_onehot", "margin_loss"]

LossFn = Callable[..., Tensor]
"""``loss(logits (N, C), y (N,), reduction="mean") -> Tensor``: a scalar, or ``(N,)`` for ``"none"``."""

#: The reductions every registered loss accepts (torch's names).
REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; valid names: {', '.join(REDUCTIONS)}")


def cross_entropy(logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``logits`` (N, C) against integer labels ``y`` (N,).

    Exactly ``torch.nn.functional.cross_entropy(logits, y, reduction=reduction)``. With
    ``reduction="none"`` it is the untargeted FGSM/PGD objective of Goodfellow et al. 2015
    (arXiv 1412.6572) and Madry et al. 2018 (arXiv 1706.06083).

    Examples
    --------
    >>> import torch
    >>> [round(v, 4) for v in cross_entropy(torch.zeros(2, 4), torch.tensor([0, 3]), reduction="none").tolist()]
    [1.3863, 1.3863]
    """
    return F.cross_entropy(logits, y, reduction=reduction)


def mse_onehot(output: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """``0.5 * ||output - onehot(y)||^2`` summed over classes; averaged over the batch by default.

    Examples
    --------
    >>> import torch
    >>> float(mse_onehot(torch.tensor([[1.0, 1.0]]), torch.tensor([0])))
    0.5
    """
    _check_reduction(reduction)
    target = torch.nn.functional.one_hot(y, output.shape[1]).to(output.dtype)
    if reduction == "mean":
        return 0.5 * (output - target).pow(2).sum(1).mean()
    if reduction == "sum":
        return 0.5 * (output - target).pow(2).sum(1).sum()
    return 0.5 * (output - target).pow(2).sum(1)


def margin_loss(logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Logit margin ``max_{j != y} z_j - z_y`` (Carlini-Wagner style, unclamped); per sample with ``"none"``.

    Positive means misclassified. Unlike cross-entropy it does not saturate on confident predictions, so it
    keeps a useful gradient where softmax probabilities round to 0 or 1. No ``-kappa`` clamp is applied, so
    PGD keeps pushing after the decision boundary is crossed. Carlini & Wagner (2017), "Towards Evaluating
    the Robustness of Neural Networks", arXiv 1608.04644.

    Examples
    --------
    >>> import torch
    >>> margin_loss(torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([0]), reduction="none").tolist()
    [-1.0]
    """
    _check_reduction(reduction)
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    margin = others.max(dim=1).values - true
    if reduction == "mean":
        return margin.mean()
    if reduction == "sum":
        return margin.sum()
    return margin


#: Losses ``loss(logits, y, reduction="mean")``: ``ce``, ``mse`` (training and attacks), ``margin``
#: (attacks). Training calls them with the default (mean) reduction, attacks with ``"none"``.
LOSSES: Registry[LossFn] = Registry("loss")
LOSSES.register("ce", cross_entropy)
LOSSES.register("mse", mse_onehot)
LOSSES.register("margin", margin_loss)
