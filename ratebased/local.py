"""Local errors: every layer learns from its own fixed random classifier (Mostafa et al. 2018).

Mostafa, Ramesh & Cauwenberghs, "Deep supervised learning using local errors", Frontiers in
Neuroscience 12:608, 2018 (arXiv 1711.06756). The network is cut into *stages* (a layer with its
activation, and pooling for a conv block). Stage ``k`` receives its input **detached**, so no
gradient ever crosses from one stage to the one below, and is trained on its local loss
``ℓ(M_k φ(h_k), y)``, where ``M_k`` is a fixed random classifier (a buffer, never trained)
and ``φ`` flattens (conv stages: after adaptive average pooling). The last stage, the output layer,
is trained on the training loss itself. All stages learn simultaneously, from one forward pass.

The local loss ``ℓ`` defaults to the squared error against the one-hot label
(``ratebased.LOSSES.get("mse")``) whatever the training loss: with cross-entropy, a fixed random
readout keeps pushing ``h_k`` along the label's row of ``M_k`` without bound (the softmax saturates
only as ``|h_k|`` grows), while the squared error stops once ``M_k φ(h_k)`` reaches the label.
Measured on full MNIST (Adam 1e-3, cosine, batch 128, 20 epochs, seed 0, CE training loss):
784-1024-1024-10 ReLU 98.93% (98.35% with a cross-entropy local loss, 98.63% with cross-entropy and
``classifier_scale=8``; BP 98.62%); 784-1024x3-10 98.94%; LeNet 98.39% (BP 99.21%).

Stages of the supported models:

* :class:`~ratebased.MLP`: every hidden layer ``h_k = f(W_k h_{k-1} + b_k) [+ h_{k-1}]`` (skip
  connections keep their identity term, a constant for the stage), then the output layer.
* :class:`~ratebased.LeNet`: ``pool(f(conv1))``, ``pool(f(conv2))``, ``f(fc1)``, ``f(fc2)``, ``fc3``.
  A conv stage's ``(N, C, H, W)`` output is average-pooled to ``(N, C, conv_pool, conv_pool)``
  and flattened before its classifier (``C * conv_pool²`` features, independent of the image size).
* :class:`~ratebased.CifarResNet` (``resnet20/32/56``): the stem ``f(bn(conv(x)))``, then every residual basic block,
  then the head (global average pooling and the output layer). The stage is the *block*, not the layer: the block's
  output is the sum of its second convolution's branch and the shortcut of the block's input, so a cut between its two
  convolutions would leave a stage whose output depends on two detached inputs. Each block's output is average-pooled
  to ``conv_pool x conv_pool`` (as for LeNet's conv stages) before its fixed random classifier. Mostafa et al. trained
  plain conv nets; on residual networks the block is the natural unit (one classifier per block, no gradient crossing
  a block boundary, batch norms trained by their block's local loss). On ResNets the squared-error local loss learns
  poorly: ResNet-20 on the embedded digits (8x8, Adam 2e-3 constant, batch 32, seed 0, test accuracy after epochs
  1-6): default ``local_loss="mse"`` 10.5, 18.5, 23.4, 34.5, 47.2, 45.7%; ``local_loss=None`` (cross-entropy, the
  training loss) 33.6, 75.3, 88.4, 94.9, 94.9, 96.4%; ``classifier_scale=8`` with MSE stays near chance. Use
  ``local_loss=None`` on ResNets.

The random classifiers are drawn U(±1/sqrt(fan_in)) * ``classifier_scale`` from the ``prepare``
seed and live in ``model.local_classifiers`` (buffers: saved in the state dict, never optimised).

Examples
--------
>>> import torch
>>> from ratebased import MLP, get_rule
>>> rule = get_rule("local")
>>> net = rule.prepare(MLP(6, (8, 8), 3), seed=0)
>>> [tuple(c.weight.shape) for c in net.local_classifiers]
[(3, 8), (3, 8)]
>>> loss, d = rule.gradients(net, torch.randn(4, 6), torch.tensor([0, 1, 2, 0]),
...                          torch.nn.functional.cross_entropy)
>>> sorted(d)[:2]
['layers.0.bias', 'layers.0.weight']
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .layer_swap import check_finite
from .losses import LOSSES
from .models import MLP, LeNet
from .resnet_cifar import CifarResNet
from .rules import LearningRule, register_rule

__all__ = ["LocalErrors", "FixedRandomClassifier", "local_stages", "local_losses", "CLASSIFIERS"]

LossFn = Callable[[Tensor, Tensor], Tensor]
Stage = Callable[[Tensor], Tensor]

#: Name of the submodule (``nn.ModuleList`` of :class:`FixedRandomClassifier`) holding the classifiers.
CLASSIFIERS = "local_classifiers"


class FixedRandomClassifier(nn.Module):
    """A fixed random linear readout ``y = M φ(h)`` whose matrix ``M`` is a buffer (never trained).

    Parameters
    ----------
    weight : Tensor, shape (n_classes, features)
    pool : int or None
        For 4-d inputs ``(N, C, H, W)``: adaptive average pooling to ``(pool, pool)`` before flattening.

    Shapes: input ``(N, features)`` or ``(N, C, H, W)``; output ``(N, n_classes)``.
    """

    def __init__(self, weight: Tensor, pool: int | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.pool = pool

    def forward(self, h: Tensor) -> Tensor:
        if h.dim() == 4 and self.pool is not None:
            h = F.adaptive_avg_pool2d(h, self.pool)
        return F.linear(h.flatten(1), self.weight)


def _mlp_stages(model: MLP) -> list[Stage]:
    f, last = model.activation, len(model.layers) - 1

    def stage(i: int) -> Stage:
        layer = model.layers[i]
        if i == last:
            return lambda h: layer(h.flatten(1))
        if model.skips_into(i):
            return lambda h: f(layer(h)) + h
        return lambda h: f(layer(h.flatten(1)))

    return [stage(i) for i in range(last + 1)]


def _lenet_stages(model: LeNet) -> list[Stage]:
    f = model.activation
    return [
        lambda x: F.max_pool2d(f(model.conv1(x)), 2),
        lambda h: F.max_pool2d(f(model.conv2(h)), 2),
        lambda h: f(model.fc1(h.flatten(1))),
        lambda h: f(model.fc2(h)),
        lambda h: model.fc3(h),
    ]


def _lenet_features(model: LeNet, conv_pool: int) -> list[int]:
    return [
        model.conv1.out_channels * conv_pool**2,
        model.conv2.out_channels * conv_pool**2,
        model.fc1.out_features,
        model.fc2.out_features,
    ]


def _cifar_resnet_stages(model: CifarResNet) -> list[Stage]:
    f = model.act
    return [
        lambda x: f(model.bn(model.stem(x))),
        *model.stages,
        lambda h: model.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)),
    ]


def _cifar_resnet_features(model: CifarResNet, conv_pool: int) -> list[int]:
    return [model.stem.out_channels * conv_pool**2] + [b.conv2.out_channels * conv_pool**2 for b in model.stages]


# Supported model classes -> (stages, features of each hidden stage's classifier input, n_classes).
_SUPPORTED = (
    (MLP, _mlp_stages, lambda m, p: list(m.hidden), lambda m: m.out_features),
    (LeNet, _lenet_stages, _lenet_features, lambda m: m.fc3.out_features),
    (CifarResNet, _cifar_resnet_stages, _cifar_resnet_features, lambda m: m.fc.out_features),
)


def _entry(model: nn.Module):
    for cls, stages, features, classes in _SUPPORTED:
        if isinstance(model, cls):
            return stages, features, classes
    raise ValueError(
        f"local errors supports the models {', '.join(c.__name__ for c, *_ in _SUPPORTED)} "
        f"(model='mlp', 'lenet', 'resnet20', 'resnet32' or 'resnet56'); got {type(model).__name__}"
    )


def local_stages(model: nn.Module) -> list[Stage]:
    """The model cut into stages; composing them reproduces ``model(x)`` (the last is the output layer)."""
    return _entry(model)[0](model)


def _classifiers(model: nn.Module) -> nn.ModuleList:
    heads = getattr(model, CLASSIFIERS, None)
    if not isinstance(heads, nn.ModuleList):
        raise ValueError(
            "this model has no local classifiers; train the model returned by "
            "get_rule('local').prepare(model), not the original model"
        )
    return heads


def local_losses(
    model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn, local_loss_fn: LossFn | None = None
) -> list[Tensor]:
    """Every stage's loss, each stage fed its input detached (graphs attached, for autograd).

    ``loss_fn`` is the training loss (of the output stage); ``local_loss_fn`` (default: ``loss_fn``)
    the loss of the hidden stages' random classifiers.

    Returns
    -------
    list of scalar Tensors: the local losses of the hidden stages, then the output loss.
    """
    stages, heads = local_stages(model), _classifiers(model)
    if len(heads) != len(stages) - 1:
        raise ValueError(f"the model has {len(stages) - 1} hidden stages but {len(heads)} local classifiers")
    local_loss_fn = loss_fn if local_loss_fn is None else local_loss_fn
    losses, h = [], x
    for k, stage in enumerate(stages):
        h = stage(h.detach())
        losses.append(local_loss_fn(heads[k](h), y) if k < len(heads) else loss_fn(h, y))
    return losses


@dataclass(frozen=True)
class LocalErrors(LearningRule):
    """Local errors from fixed random classifiers (Mostafa et al. 2018, arXiv 1711.06756).

    Attributes
    ----------
    classifier_scale : float
        The random classifiers are U(±classifier_scale / sqrt(fan_in)).
    conv_pool : int
        Conv stages are average-pooled to ``conv_pool x conv_pool`` before their classifier.
    local_loss : str or None
        Loss of the hidden stages' random classifiers, a name in :data:`ratebased.LOSSES`
        (default ``"mse"``, see the module notes); ``None`` uses the training loss.

    Examples
    --------
    >>> import torch
    >>> from ratebased import LeNet
    >>> rule = LocalErrors()
    >>> net = rule.prepare(LeNet(1, 10, 28), seed=0)
    >>> [tuple(c.weight.shape) for c in net.local_classifiers]
    [(10, 96), (10, 256), (10, 120), (10, 84)]
    """

    classifier_scale: float = 1.0
    conv_pool: int = 4
    local_loss: str | None = "mse"

    name = "local"

    def __post_init__(self) -> None:
        if not (0 < self.classifier_scale < math.inf):
            raise ValueError(f"classifier_scale must be positive and finite, got {self.classifier_scale}")
        if int(self.conv_pool) != self.conv_pool or self.conv_pool < 1:
            raise ValueError(f"conv_pool must be a positive integer, got {self.conv_pool}")
        if self.local_loss is not None:
            LOSSES.get(self.local_loss)

    def prepare(self, model: nn.Module, *, seed: int = 0) -> nn.Module:
        """A copy of ``model`` with one fixed random classifier per hidden stage (seeded)."""
        _, features, classes = _entry(model)
        check_finite(model)
        new = copy.deepcopy(model)
        ref = next(new.parameters())
        gen = torch.Generator().manual_seed(int(seed))
        n_classes = classes(new)
        heads = nn.ModuleList()
        for fan_in in features(new, self.conv_pool):
            bound = self.classifier_scale / math.sqrt(fan_in)
            w = (torch.rand(n_classes, fan_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            heads.append(FixedRandomClassifier(w.to(device=ref.device, dtype=ref.dtype), pool=self.conv_pool))
        new.add_module(CLASSIFIERS, heads)
        return new

    def gradients(self, model, x, y, loss_fn):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        with torch.enable_grad():
            local = None if self.local_loss is None else LOSSES.get(self.local_loss)
            losses = local_losses(model, x, y, loss_fn, local)
            grads = torch.autograd.grad(torch.stack(losses).sum(), [p for _, p in named], allow_unused=True)
        return losses[-1].detach(), {n: g for (n, _), g in zip(named, grads)}


register_rule("local", LocalErrors)
