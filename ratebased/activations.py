"""Activation functions with their derivative and (where it exists) inverse, in a registry.

Target-propagation rules need ``f'`` and ``f^{-1}``; every rule resolves the activation once, at
construction, through :data:`ACTIVATIONS` (no string branching inside ``forward``).

Examples
--------
>>> import torch
>>> act = ACTIVATIONS.get("leaky_relu")
>>> a = torch.tensor([-1.0, 2.0])
>>> act.inverse(act(a))
tensor([-1.,  2.])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from .registry import Registry

__all__ = ["Activation", "ACTIVATIONS", "LEAKY_SLOPE"]

#: Negative slope of ``leaky_relu`` (GAIT-prop, Ahmad et al. 2020, uses 0.1).
LEAKY_SLOPE = 0.1


@dataclass(frozen=True)
class Activation:
    """An element-wise activation ``f`` with ``f'`` (as a function of the pre-activation) and ``f^{-1}``."""

    name: str
    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    inverse: Callable[[Tensor], Tensor] | None = None

    def __call__(self, a: Tensor) -> Tensor:
        return self.fn(a)

    @property
    def invertible(self) -> bool:
        return self.inverse is not None


def _sigmoid_d(a: Tensor) -> Tensor:
    s = torch.sigmoid(a)
    return s * (1 - s)


ACTIVATIONS: Registry[Activation] = Registry("activation")
ACTIVATIONS.register("relu", Activation("relu", F.relu, lambda a: (a > 0).to(a.dtype)))
ACTIVATIONS.register(
    "tanh",
    Activation(
        "tanh", torch.tanh, lambda a: 1 - torch.tanh(a) ** 2, lambda y: torch.atanh(y.clamp(-1 + 1e-7, 1 - 1e-7))
    ),
)
ACTIVATIONS.register("sigmoid", Activation("sigmoid", torch.sigmoid, _sigmoid_d, lambda y: torch.logit(y, eps=1e-7)))
ACTIVATIONS.register(
    "leaky_relu",
    Activation(
        "leaky_relu",
        lambda a: F.leaky_relu(a, LEAKY_SLOPE),
        lambda a: torch.where(a > 0, torch.ones_like(a), torch.full_like(a, LEAKY_SLOPE)),
        lambda y: torch.where(y > 0, y, y / LEAKY_SLOPE),
    ),
)
ACTIVATIONS.register("identity", Activation("identity", lambda a: a, torch.ones_like, lambda y: y))
