"""Learning rules: one interface, one registry.

A :class:`LearningRule` does two things:

* ``prepare(model, seed=...)`` returns the copy of the model it trains (for the feedback family,
  the model returned by :func:`ratebased.with_feedback`; target-propagation rules add inverse layers);
* ``gradients(model, x, y, loss_fn)`` returns the loss and the *update direction* of every trainable
  parameter (a gradient-like tensor: the optimizer steps along ``-direction``), without touching
  ``.grad``. The training loop assigns it to ``.grad`` and calls the optimizer, and the alignment
  diagnostics compare it with the true backpropagation gradient.

Examples
--------
>>> import torch
>>> from ratebased import get_rule, MLP
>>> rule = get_rule("usf", manhattan=False)
>>> net = rule.prepare(MLP(4, (8,), 3), seed=0)
>>> loss, grads = rule.gradients(net, torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]),
...                              torch.nn.functional.cross_entropy)
>>> sorted(grads)[:2]
['layers.0.bias', 'layers.0.weight']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .layer_swap import with_feedback
from .registry import Registry

__all__ = ["LearningRule", "Backprop", "FeedbackFamily", "RULES", "get_rule", "available_rules", "register_rule"]

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class LearningRule:
    """Base class of every rule (a frozen dataclass of its hyper-parameters)."""

    name = "abstract"

    def prepare(self, model: nn.Module, *, seed: int = 0) -> nn.Module:
        """Return the copy of ``model`` this rule trains (the caller's model is never modified)."""
        raise NotImplementedError

    def gradients(
        self, model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn
    ) -> tuple[Tensor, dict[str, Tensor | None]]:
        """Loss (a detached scalar) and the update direction of every trainable parameter."""
        raise NotImplementedError

    def config(self) -> dict:
        """Name and hyper-parameters, JSON-serialisable."""
        return {"rule": self.name, **dataclasses.asdict(self)}


def _autograd_directions(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn):
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    return loss.detach(), {n: g for (n, _), g in zip(named, grads)}


@dataclass(frozen=True)
class Backprop(LearningRule):
    """Backpropagation (Rumelhart, Hinton & Williams 1986): plain autograd."""

    name = "bp"

    def prepare(self, model, *, seed=0):
        return with_feedback(model, "bp")

    def gradients(self, model, x, y, loss_fn):
        return _autograd_directions(model, x, y, loss_fn)


@dataclass(frozen=True)
class FeedbackFamily(LearningRule):
    """FA, DFA and the sign-symmetry family: autograd through the feedback Functions.

    Attributes
    ----------
    kind : str
        One of ``fa``, ``dfa``, ``usf``, ``frsf``, ``brsf`` (see :mod:`ratebased.feedback`).
    manhattan : bool
        Batch-manhattan updates: the sign of the batch gradient.
    """

    kind: str = "fa"
    manhattan: bool = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.kind

    def prepare(self, model, *, seed=0):
        return with_feedback(model, self.kind, seed=seed, manhattan=self.manhattan)

    def gradients(self, model, x, y, loss_fn):
        return _autograd_directions(model, x, y, loss_fn)

    def config(self) -> dict:
        return {"rule": self.kind, "manhattan": self.manhattan}


#: Name -> factory(**options) -> LearningRule.
RULES: Registry[Callable[..., LearningRule]] = Registry("learning rule")


def register_rule(name: str, factory: Callable[..., LearningRule]) -> None:
    """Register a rule factory under a new lower-case name (duplicates raise ``ValueError``)."""
    RULES.register(name, factory)


def get_rule(name: str, **options) -> LearningRule:
    """Build the rule registered as ``name`` with its hyper-parameters.

    Raises
    ------
    ValueError
        Unknown name (lists valid names) or an option the rule does not take (lists its options).
    """
    factory = RULES.get(name)
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(f"rule {name!r} does not accept options {sorted(options)}: {exc}") from None


def available_rules() -> tuple[str, ...]:
    """Names of every registered rule."""
    return RULES.names()


register_rule("bp", Backprop)
for _kind in ("fa", "dfa", "usf", "frsf", "brsf"):
    register_rule(_kind, lambda _k=_kind, **kw: FeedbackFamily(kind=_k, **kw))
