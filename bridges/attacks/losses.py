"""Attack objectives: the project's one loss registry, :data:`ratebased.losses.LOSSES`, called per sample.

An attack calls ``loss(logits (N, C), y (N,), reduction="none") -> (N,)`` and ascends it (descends
when targeted). ``ce`` (cross-entropy, :func:`ce_loss`) and ``margin`` (the Carlini-Wagner logit
margin, :func:`margin_loss`) are the usual choices; ``mse`` (one-hot squared error) is there too, as
every training loss is.

Examples
--------
>>> import torch
>>> get_loss("margin")(torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([0]), reduction="none").tolist()
[-1.0]
"""

from __future__ import annotations

from ratebased.losses import LOSSES, LossFn, margin_loss
from ratebased.losses import cross_entropy as ce_loss

from .registry import _check_new_entry

__all__ = ["LOSSES", "LossFn", "ce_loss", "margin_loss", "register_loss", "get_loss"]


def register_loss(name: str, fn: LossFn) -> None:
    """Add a loss ``fn(logits (N, C), y (N,), reduction="mean")`` under a new lower-case ``name``.

    ``fn`` follows torch's convention: ``reduction="none"`` (what attacks use) returns one value per
    sample, shape ``(N,)``; ``"mean"`` (what training uses) the batch mean. The loss joins
    :data:`ratebased.losses.LOSSES`, so training can use it too. Raises ``ValueError`` for
    duplicate or non-lower-case names, ``TypeError`` for a non-callable.

    Examples
    --------
    >>> "ce" in LOSSES and "margin" in LOSSES
    True
    """
    _check_new_entry("loss", name, fn)
    LOSSES.register(name, fn)


def get_loss(name: str) -> LossFn:
    """Return the registered loss called ``name`` (case-insensitive); unknown names raise ``ValueError``.

    Examples
    --------
    >>> get_loss("CE") is ce_loss
    True
    """
    return LOSSES.get(name)
