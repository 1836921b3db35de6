"""Give any model built from ``nn.Linear``/``nn.Conv2d`` layers a feedback rule, or plain autograd back.

:func:`with_feedback` swaps a model's layers for feedback layers (:mod:`ratebased.feedback`) that
keep the forward pass and send the error backward through feedback weights (FA, DFA, sign
symmetry), or for plain layers (``"bp"``); :func:`true_gradient_view` is the plain-autograd view
of a feedback-trained model that shares its parameters, whose input and weight gradients are the
true ones (white-box attacks, alignment diagnostics). Neither is ANN-to-SNN conversion, which is
what "convert" means in this project (the ANN-to-SNN code in ``bridges``).

Examples
--------
>>> import torch
>>> from ratebased import true_gradient_view, with_feedback
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
>>> fa = with_feedback(net, "fa", seed=0)
>>> x = torch.randn(2, 4)
>>> torch.equal(fa(x), net(x))        # the forward pass is unchanged
True
>>> plain = true_gradient_view(fa)    # plain autograd, same Parameter objects
>>> plain[0].weight is fa[0].weight
True
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn

from .feedback import (
    CONV2D_ATTRIBUTES,
    BatchRandomSignSymmetry,
    DirectFeedbackConv2d,
    DirectFeedbackLinear,
    DirectRandomFeedback,
    FeedbackConv2d,
    FeedbackLinear,
    FeedbackSpec,
    FixedRandomSignSymmetry,
    RandomFeedback,
    UniformSignSymmetry,
)
from .functional import ErrorHub
from .registry import Registry

__all__ = ["FEEDBACK_SPECS", "with_feedback", "true_gradient_view", "trainable_layers", "check_finite"]

#: Feedback rules that :func:`with_feedback` applies layer by layer ("bp" restores plain layers).
FEEDBACK_SPECS: Registry[type] = Registry("feedback rule")
for _cls in (
    RandomFeedback,
    DirectRandomFeedback,
    UniformSignSymmetry,
    FixedRandomSignSymmetry,
    BatchRandomSignSymmetry,
):
    FEEDBACK_SPECS.register(_cls.name, _cls)


def trainable_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(qualified_name, layer)`` for every ``nn.Linear``/``nn.Conv2d`` in registration order."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            yield name, module


def check_finite(model: nn.Module) -> None:
    """Raise ``ValueError`` naming the first parameter or buffer that holds NaN or inf."""
    for kind, items in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in items:
            if t is not None and t.is_floating_point() and not torch.isfinite(t).all():
                raise ValueError(
                    f"{kind} {name!r} contains NaN or inf; the model diverged or was loaded from a corrupt "
                    "file: lower the learning rate or reload a finite checkpoint"
                )


def _set_submodule(root: nn.Module, qualname: str, new: nn.Module) -> None:
    parent_name, _, child = qualname.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def _plain(layer: nn.Module) -> nn.Module:
    """A plain ``nn.Linear``/``nn.Conv2d`` holding the same Parameter objects as ``layer``."""
    if isinstance(layer, nn.Linear):
        new = nn.Linear.__new__(nn.Linear)
        nn.Module.__init__(new)
        new.in_features, new.out_features = layer.in_features, layer.out_features
    else:
        new = nn.Conv2d.__new__(nn.Conv2d)
        nn.Module.__init__(new)
        for attr in CONV2D_ATTRIBUTES:
            setattr(new, attr, getattr(layer, attr))
    new.weight = layer.weight
    new.bias = layer.bias
    new.train(layer.training)
    return new


def _copy(model: nn.Module, share_parameters: bool) -> nn.Module:
    if not share_parameters:
        return copy.deepcopy(model)
    memo = {id(t): t for t in model.parameters()}
    memo.update({id(t): t for t in model.buffers()})
    return copy.deepcopy(model, memo)


def with_feedback(
    model: nn.Module,
    rule: str,
    *,
    seed: int = 0,
    manhattan: bool = False,
    output_layer: str | None = None,
    share_parameters: bool = False,
) -> nn.Module:
    """Return a copy of ``model`` whose Linear/Conv2d layers learn by ``rule``.

    The caller's model is never modified. The forward pass of the copy is identical.

    Parameters
    ----------
    model : nn.Module
        Any module made of ``nn.Linear``/``nn.Conv2d`` layers (and parameter-free or other layers,
        such as activations, pooling, batch norm, which keep training by their true gradient).
    rule : str
        ``"bp"`` (plain layers), or a name in :data:`FEEDBACK_SPECS`: ``fa``, ``dfa``, ``usf``,
        ``frsf``, ``brsf``.
    seed : int
        Seed of the random feedback matrices (drawn on the CPU in float64, so identical on every
        device and dtype).
    manhattan : bool
        Batch-manhattan updates (sign of the batch gradient); not available for ``"bp"``.
    output_layer : str, optional
        DFA only: qualified name of the output layer (default: the last Linear layer).
    share_parameters : bool
        Share the Parameter and buffer objects with ``model`` instead of copying them (used by
        :func:`true_gradient_view`, the plain-autograd view that attacks and diagnostics use).

    Returns
    -------
    nn.Module
        The copy with swapped layers.

    Raises
    ------
    ValueError
        Unknown rule (lists valid ones), a model with no Linear/Conv2d layer, non-finite weights, or a
        DFA model whose output layer is not Linear.
    """
    key = rule.strip().lower() if isinstance(rule, str) else rule
    if key != "bp":
        spec_cls = FEEDBACK_SPECS.get(rule) if key in FEEDBACK_SPECS else None
        if spec_cls is None:
            raise ValueError(f"unknown feedback rule {rule!r}; valid names: bp, {', '.join(FEEDBACK_SPECS.names())}")
    elif manhattan:
        raise ValueError("manhattan=True changes the update rule; it is not available for 'bp'")
    check_finite(model)
    layers = list(trainable_layers(model))
    if not layers:
        raise ValueError("the model has no nn.Linear or nn.Conv2d layer to swap")
    new = _copy(model, share_parameters)
    new_layers = dict(trainable_layers(new))
    generator = torch.Generator().manual_seed(int(seed))

    if key == "bp":
        for name, _ in layers:
            _set_submodule(new, name, _plain(new_layers[name]))
        return new

    if key == "dfa":
        linears = [n for n, m in layers if isinstance(m, nn.Linear)]
        out_name = output_layer if output_layer is not None else (linears[-1] if linears else layers[-1][0])
        if out_name not in new_layers:
            raise ValueError(
                f"output_layer {out_name!r} is not a Linear/Conv2d layer of the model; "
                f"layers: {', '.join(n for n, _ in layers)}"
            )
        out = new_layers[out_name]
        if not isinstance(out, nn.Linear):
            raise ValueError(
                f"direct feedback alignment needs a Linear output layer, but {out_name!r} is "
                f"{type(out).__name__}; end the model with nn.Linear"
            )
        spec = DirectRandomFeedback(manhattan=manhattan, n_outputs=out.out_features)
        hub = ErrorHub()
        for name, _ in layers:
            layer = new_layers[name]
            if isinstance(layer, nn.Linear):
                conv = DirectFeedbackLinear.from_linear(layer, spec, generator, hub, record_error=name == out_name)
            else:
                conv = DirectFeedbackConv2d.from_conv(layer, spec, generator, hub)
            conv.train(layer.training)
            _set_submodule(new, name, conv)
        return new

    spec: FeedbackSpec = spec_cls(manhattan=manhattan)
    for name, _ in layers:
        layer = new_layers[name]
        if isinstance(layer, nn.Linear):
            conv = FeedbackLinear.from_linear(layer, spec, generator)
        else:
            conv = FeedbackConv2d.from_conv(layer, spec, generator)
        conv.train(layer.training)
        _set_submodule(new, name, conv)
    return new


def true_gradient_view(model: nn.Module) -> nn.Module:
    """A plain-autograd copy of ``model`` sharing its parameters and buffers.

    Its input gradient is the model's true gradient (never a feedback path), which is what
    white-box attacks and the alignment diagnostics need. The module tree is new but every
    Parameter and buffer is ``model``'s own (a *view*: training either one moves both); for an
    independent plain copy use ``with_feedback(model, "bp")``.

    Examples
    --------
    >>> import torch
    >>> fa = with_feedback(torch.nn.Sequential(torch.nn.Linear(3, 2)), "fa", seed=0)
    >>> plain = true_gradient_view(fa)
    >>> type(plain[0]).__name__, plain[0].weight is fa[0].weight
    ('Linear', True)
    """
    return with_feedback(model, "bp", share_parameters=True)
