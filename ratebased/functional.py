"""The math of every feedback-based rule: custom ``torch.autograd.Function``s.

The forward pass of each Function is the ordinary ``linear``/``conv2d``; only the backward pass
differs from backpropagation, and only in the matrix that carries the error to the layer below:

* backpropagation   : ``grad_x = grad_y @ W``
* feedback family   : ``grad_x = grad_y @ B``  (FA: B fixed random; sign-symmetry: B shares sign(W))
* direct feedback   : ``grad_x = e @ B``       (e: the error at the network's output, shared by all layers)

The weight gradient is always the true local gradient ``grad_y^T x``, optionally replaced by its sign
("batch manhattan", Liao, Leibo & Poggio 2016). The costs are those of backpropagation: one matmul
(or one ``convolution_backward``) for the input gradient and one for the weight gradient.

References
----------
Lillicrap et al., "Random synaptic feedback weights support error backpropagation for deep
learning", Nat. Commun. 2016 (arXiv 1411.0247).
Nøkland, "Direct Feedback Alignment Provides Learning in Deep Neural Networks", NeurIPS 2016
(arXiv 1609.01596).
Liao, Leibo & Poggio, "How Important is Weight Symmetry in Backpropagation?", AAAI 2016
(arXiv 1510.05067).
Xiao, Chen, Liao & Poggio, "Biologically-plausible learning algorithms can scale to large
datasets", 2018 (arXiv 1811.03567).

Examples
--------
With ``B = W`` the feedback Function is backpropagation:

>>> import torch
>>> x = torch.randn(4, 3, requires_grad=True); w = torch.randn(2, 3, requires_grad=True)
>>> y = FeedbackLinearFn.apply(x, w, None, None, WeightTransport, False)
>>> y.sum().backward()
>>> torch.allclose(x.grad, torch.ones(4, 2) @ w.detach())
True
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "ErrorHub",
    "FeedbackLinearFn",
    "FeedbackConv2dFn",
    "DirectFeedbackLinearFn",
    "DirectFeedbackConv2dFn",
    "RecordErrorFn",
    "feedback_linear",
    "WeightTransport",
    "GivenFeedback",
    "feedback_conv2d",
]


def _manhattan(g: Tensor | None, on: bool) -> Tensor | None:
    return torch.sign(g) if (on and g is not None) else g


def _linear_backward(ctx, grad_out: Tensor, grad_x_from: Tensor | None):
    """Shared weight/bias gradient of ``y = x W^T + b``; ``grad_x_from`` is already the input gradient."""
    (x,) = ctx.saved_tensors[:1]
    g2 = grad_out.reshape(-1, grad_out.shape[-1])
    grad_w = grad_b = None
    if ctx.needs_input_grad[1]:
        grad_w = g2.t().mm(x.reshape(-1, x.shape[-1]))
    if ctx.has_bias and ctx.needs_input_grad[2]:
        grad_b = g2.sum(0)
    return grad_x_from, _manhattan(grad_w, ctx.manhattan), _manhattan(grad_b, ctx.manhattan)


class FeedbackLinearFn(torch.autograd.Function):
    """``y = x W^T + b`` whose backward sends ``grad_y @ B`` to the input.

    ``B`` is built inside the backward pass, and only when the input needs a gradient (the first
    layer's never does), by ``spec.feedback(weight, stored)``.

    Parameters (of ``apply``)
    -------------------------
    x : Tensor, shape (..., in_features)
    weight : Tensor, shape (out_features, in_features)
    bias : Tensor or None, shape (out_features,)
    stored : Tensor or None
        The layer's stored feedback tensor, passed to ``spec``.
    spec : object with ``feedback(weight, stored) -> Tensor`` of the weight's shape
        (:class:`ratebased.feedback.FeedbackSpec`; ``WeightTransport`` gives backpropagation).
    manhattan : bool
        Replace the weight and bias gradients by their sign.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stored, spec, manhattan):  # noqa: D401 - autograd API
        ctx.save_for_backward(x, weight, stored)
        ctx.spec = spec
        ctx.has_bias = bias is not None
        ctx.manhattan = bool(manhattan)
        return torch.nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, stored = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            feedback = ctx.spec.feedback(weight, stored)
            grad_x = grad_out.mm(feedback) if grad_out.dim() == 2 else grad_out.matmul(feedback)
        gx, gw, gb = _linear_backward(ctx, grad_out, grad_x)
        return gx, gw, gb, None, None, None


def _conv_backward(ctx, grad_out, x, weight_like, input_mask: bool):
    out = torch.ops.aten.convolution_backward(
        grad_out,
        x,
        weight_like,
        [weight_like.shape[0]] if ctx.has_bias else None,
        ctx.stride,
        ctx.padding,
        ctx.dilation,
        False,
        [0, 0],
        ctx.groups,
        [input_mask, ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]],
    )
    grad_x, grad_w, grad_b = out
    return grad_x, _manhattan(grad_w, ctx.manhattan), _manhattan(grad_b, ctx.manhattan)


def _save_conv_ctx(ctx, bias, stride, padding, dilation, groups, manhattan):
    ctx.has_bias = bias is not None
    ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, groups
    ctx.manhattan = bool(manhattan)


class FeedbackConv2dFn(torch.autograd.Function):
    """``conv2d(x, W, b)`` whose backward sends ``conv_transpose(grad_y, B)`` to the input.

    ``B = spec.feedback(weight, stored)`` has the weight's shape ``(C_out, C_in/groups, kH, kW)`` and
    is built only when the input needs a gradient; ``stride``, ``padding``, ``dilation`` are 2-lists
    of ints, as in ``nn.Conv2d`` (string padding is resolved by the layer).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stored, spec, stride, padding, dilation, groups, manhattan):
        ctx.save_for_backward(x, weight, stored)
        ctx.spec = spec
        _save_conv_ctx(ctx, bias, stride, padding, dilation, groups, manhattan)
        return torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, stored = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        kernel = ctx.spec.feedback(weight, stored) if need_x else weight
        gx, gw, gb = _conv_backward(ctx, grad_out, x, kernel, need_x)
        return gx, gw, gb, None, None, None, None, None, None, None


class ErrorHub:
    """Holds the output error ``e = dL/dy`` of the current backward pass for direct feedback.

    One hub is shared by all layers of a model given DFA feedback (:func:`ratebased.with_feedback`).
    :class:`RecordErrorFn` writes it when the backward pass reaches the network's output; the hidden
    layers, whose backward runs later, read it. No targets pass through ``forward``, and any batch
    size works, in train or eval mode.
    """

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: Tensor | None = None

    def read(self, batch: int) -> Tensor:
        e = self.error
        if e is None:
            raise RuntimeError(
                "direct feedback alignment: no output error was recorded in this backward pass; "
                "the loss must depend on the model's output layer (the layer built with "
                "record_error=True)"
            )
        if e.shape[0] != batch:
            raise RuntimeError(
                f"direct feedback alignment: the recorded output error has batch size {e.shape[0]} "
                f"but this layer's input has {batch}; layers off the path to the output layer "
                "cannot be trained by DFA"
            )
        return e

    def __deepcopy__(self, memo):  # a copied model gets its own, empty hub
        return ErrorHub()


class RecordErrorFn(torch.autograd.Function):
    """Identity in forward; in backward stores ``grad_y`` (flattened to (N, -1)) in ``hub``."""

    @staticmethod
    def forward(ctx, y, hub):
        ctx.hub = hub
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad_y):
        ctx.hub.error = grad_y.detach().reshape(grad_y.shape[0], -1)
        return grad_y, None


class DirectFeedbackLinearFn(torch.autograd.Function):
    """``y = x W^T + b`` whose backward sends ``e @ B`` to the input, ``e`` read from ``hub``.

    ``feedback`` has shape ``(n_outputs, in_features)``; ``x`` must be 2-D ``(N, in_features)``.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, feedback, hub, manhattan):
        ctx.save_for_backward(x, feedback)
        ctx.hub = hub
        ctx.has_bias = bias is not None
        ctx.manhattan = bool(manhattan)
        return torch.nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, feedback = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = ctx.hub.read(x.shape[0]).to(feedback.dtype).mm(feedback)
        gx, gw, gb = _linear_backward(ctx, grad_out, grad_x)
        return gx, gw, gb, None, None, None


class DirectFeedbackConv2dFn(torch.autograd.Function):
    """``conv2d`` whose backward sends ``e @ B`` tiled over space to the input.

    ``feedback`` has shape ``(n_outputs, C_in)``: the projected error of each input channel is the
    same at every spatial position (the usual convolutional DFA, Nøkland 2016).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, feedback, hub, stride, padding, dilation, groups, manhattan):
        ctx.save_for_backward(x, feedback, weight)
        ctx.hub = hub
        _save_conv_ctx(ctx, bias, stride, padding, dilation, groups, manhattan)
        return torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, feedback, weight = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            proj = ctx.hub.read(x.shape[0]).to(feedback.dtype).mm(feedback)  # (N, C_in)
            grad_x = proj[:, :, None, None].expand_as(x).contiguous()
        _, gw, gb = _conv_backward(ctx, grad_out, x, weight, False)
        return grad_x, gw, gb, None, None, None, None, None, None, None


class WeightTransport:
    """The feedback "rule" ``B = W``: with it the feedback Functions compute backpropagation."""

    @staticmethod
    def feedback(weight: Tensor, stored: Tensor | None) -> Tensor:
        return weight


class GivenFeedback:
    """The feedback "rule" ``B = stored``: a fixed matrix given by the caller."""

    @staticmethod
    def feedback(weight: Tensor, stored: Tensor | None) -> Tensor:
        return stored


def feedback_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor, manhattan: bool = False
) -> Tensor:
    """``linear(x, weight, bias)`` whose backward uses the given ``feedback`` matrix for the input."""
    return FeedbackLinearFn.apply(x, weight, bias, feedback, GivenFeedback, manhattan)


def feedback_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    feedback: Tensor,
    stride=(1, 1),
    padding=(0, 0),
    dilation=(1, 1),
    groups: int = 1,
    manhattan: bool = False,
) -> Tensor:
    """``conv2d`` whose backward uses the given ``feedback`` kernel for the input."""
    return FeedbackConv2dFn.apply(
        x, weight, bias, feedback, GivenFeedback, list(stride), list(padding), list(dilation), groups, manhattan
    )
