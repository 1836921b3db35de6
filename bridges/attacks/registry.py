"""The attack registry, the types every attack shares, and the name checks of both registries.

An attack is ``attack(model, x, y, epsilon, **kwargs) -> x_adv``; each attack module registers its
own functions (:mod:`bridges.attacks.fgsm_pgd` registers ``fgsm`` and ``pgd``, :mod:`bridges.attacks.apgd`
``apgd-ce`` and ``apgd-dlr``, :mod:`bridges.attacks.square` ``square``). The registry is a
:class:`ratebased.registry.Registry`, the project's one registry mechanism; its losses live in
:data:`ratebased.losses.LOSSES` (see :mod:`bridges.attacks.losses`).

Examples
--------
>>> from bridges.attacks import ATTACKS, fgsm
>>> ATTACKS.get("FGSM") is fgsm
True
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ratebased.losses import LossFn
from ratebased.registry import Registry

__all__ = ["GradientSource", "LossFn", "AttackFn", "ATTACKS", "register_attack", "get_attack"]

GradientSource = Callable[[torch.Tensor], torch.Tensor]
"""Any differentiable callable mapping inputs ``(N, ...)`` to logits ``(N, C)``; used for input gradients."""

AttackFn = Callable[..., torch.Tensor]
"""``attack(model, x, y, epsilon, **kwargs) -> x_adv`` with ``x_adv.shape == x.shape``."""

#: The attack registry (name -> :data:`AttackFn`); fill it with :func:`register_attack`.
ATTACKS: Registry[AttackFn] = Registry("attack")


def _check_new_entry(kind: str, name: str, fn: Callable) -> None:
    """Names must already be lower case (the registry would silently lower them) and entries callable."""
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise ValueError(f"{kind} name must be a non-empty lower-case string, got {name!r}; e.g. 'my_{kind}'")
    if not callable(fn):
        raise TypeError(f"{kind} {name!r} must be callable, got {type(fn).__name__}")


def register_attack(name: str, fn: AttackFn) -> None:
    """Add ``fn(model, x, y, epsilon, **kwargs) -> x_adv`` under a new lower-case ``name``.

    Raises ``ValueError`` for duplicate or non-lower-case names, ``TypeError`` for a non-callable.

    Examples
    --------
    >>> sorted(ATTACKS)
    ['apgd-ce', 'apgd-dlr', 'fgsm', 'pgd', 'square']
    """
    _check_new_entry("attack", name, fn)
    ATTACKS.register(name, fn)


def get_attack(name: str) -> AttackFn:
    """Return the registered attack called ``name`` (case-insensitive); unknown names raise ``ValueError``.

    Examples
    --------
    >>> from bridges.attacks import pgd
    >>> get_attack("PGD") is pgd
    True
    """
    return ATTACKS.get(name)
