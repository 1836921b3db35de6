"""Alignment diagnostics: what readers of the feedback-alignment papers plot.

* :func:`gradient_alignment`: per layer, the angle between the rule's weight update and the true
  backpropagation gradient (computed on a plain-autograd view sharing the weights,
  :func:`~ratebased.layer_swap.true_gradient_view`);
* :func:`feedback_angles`: per layer, the angle between the feedback matrix ``B`` and ``W``.

Angles are in degrees: 0 is perfect alignment, 90 is orthogonal (random), NaN when a vector is zero.

Examples
--------
>>> import torch
>>> from ratebased import MLP, get_rule
>>> rule = get_rule("fa"); net = rule.prepare(MLP(4, (8,), 3), seed=0)
>>> ang = gradient_alignment(net, rule, torch.randn(16, 4), torch.randint(0, 3, (16,)),
...                          torch.nn.functional.cross_entropy)
>>> ang["layers.1"]          # the output layer's update is the true gradient
0.0
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .layer_swap import trainable_layers, true_gradient_view

__all__ = ["angle_deg", "gradient_alignment", "feedback_angles"]


def angle_deg(a: Tensor, b: Tensor) -> float:
    """Angle in degrees between two tensors seen as flat vectors (float64 arithmetic)."""
    a = a.detach().reshape(-1).double()
    b = b.detach().reshape(-1).double()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return math.nan
    ua, ub = a / na, b / nb
    # 2 atan2(|ua - ub|, |ua + ub|) is accurate near 0 and 180 degrees, where acos(cos) is not.
    return math.degrees(2.0 * math.atan2(float((ua - ub).norm()), float((ua + ub).norm())))


def gradient_alignment(model: nn.Module, rule, x: Tensor, y: Tensor, loss_fn) -> dict[str, float]:
    """Angle between the rule's update and the BP gradient for each layer's weight.

    Only layers on the forward path of the model (whose BP gradient exists) are reported; parameter
    ``.grad`` fields are not touched.
    """
    _, directions = rule.gradients(model, x, y, loss_fn)
    plain = true_gradient_view(model)
    layers = [(n, m) for n, m in trainable_layers(plain)]
    loss = loss_fn(plain(x), y)
    true = torch.autograd.grad(loss, [m.weight for _, m in layers], allow_unused=True)
    out = {}
    for (name, _), g in zip(layers, true):
        d = directions.get(f"{name}.weight")
        if g is not None and d is not None:
            out[name] = angle_deg(d, g)
    return out


def feedback_angles(model: nn.Module) -> dict[str, float]:
    """Angle between ``B`` and ``W`` for every layer with a feedback matrix of ``W``'s shape."""
    out = {}
    for name, layer in trainable_layers(model):
        fm = getattr(layer, "feedback_matrix", None)
        if fm is None:
            continue
        b = fm()
        if b is not None and b.shape == layer.weight.shape:
            out[name] = angle_deg(b, layer.weight)
    return out
