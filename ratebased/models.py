"""Models usable with every rule: MLP (optional skip connections), LeNet-style convnet, small ResNet.

The CIFAR-style ResNet-20/32/56 (option-A shortcuts) live in :mod:`ratebased.resnet_cifar` and are
registered here as ``resnet20``, ``resnet32``, ``resnet56``.

All are built from ``nn.Linear``/``nn.Conv2d`` layers, so :func:`ratebased.with_feedback` applies to each.
The MLP exposes its layers in order (``model.layers``) and a :meth:`MLP.trace` of every
pre-activation, which the layer-local rules (target propagation, local errors) use.

Examples
--------
>>> import torch
>>> net = build_model("mlp", (1, 28, 28), 10, hidden=(32, 32), skip=True)
>>> net(torch.zeros(5, 1, 28, 28)).shape
torch.Size([5, 10])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .activations import ACTIVATIONS, Activation
from .registry import Registry
from .resnet_cifar import CifarResNet

__all__ = ["MLP", "LeNet", "ResNet", "CifarResNet", "MODELS", "build_model"]


class MLP(nn.Module):
    """Fully connected network ``in -> hidden... -> out`` with optional skip connections.

    With ``skip=True`` every hidden layer after the first adds its input to its output,
    ``h_l = f(W_l h_{l-1} + b_l) + h_{l-1}``: identity skip connections between intermediate layers,
    as studied for feedback alignment and target propagation in arXiv 2001.01647 ("biologically-
    motivated learning rules with skip connections between intermediate layers can perform as well as
    backpropagation on MNIST"). This needs equal hidden widths.

    Parameters
    ----------
    in_features : int
        Input size; inputs of any shape ``(N, ...)`` are flattened.
    hidden : sequence of int
        Hidden widths (may be empty: a linear model).
    out_features : int
    activation : str
        A name in :data:`ratebased.activations.ACTIVATIONS`.
    skip : bool
    bias : bool

    Shapes: input ``(N, *)`` with ``prod(*) == in_features``; output ``(N, out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (256, 256),
        out_features: int = 10,
        activation: str = "relu",
        skip: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if in_features < 1 or out_features < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"layer sizes must be positive, got in={in_features}, hidden={hidden}, out={out_features}")
        if skip and len(set(hidden)) > 1:
            raise ValueError(f"skip connections add h_(l-1) to h_l, so hidden widths must be equal; got {hidden}")
        self.in_features, self.hidden, self.out_features = int(in_features), hidden, int(out_features)
        self.skip = bool(skip)
        self.activation: Activation = ACTIVATIONS.get(activation)
        sizes = (self.in_features, *hidden, self.out_features)
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(sizes[:-1], sizes[1:]))

    def skips_into(self, index: int) -> bool:
        """Whether hidden layer ``index`` (0-based) adds its input to its output."""
        return self.skip and 0 < index < len(self.layers) - 1

    def _flat(self, x: Tensor) -> Tensor:
        h = x.flatten(1) if x.dim() > 1 else x.unsqueeze(0)
        if h.shape[1] != self.in_features:
            raise ValueError(
                f"MLP expects inputs with {self.in_features} features per sample, got shape {tuple(x.shape)}; "
                "build the model for this data set's input shape"
            )
        return h

    def trace(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Pre-activations ``a_l`` and layer outputs ``h_l`` of every layer (``h_0`` is the input).

        Returns
        -------
        pre : list of Tensor, length ``n_layers``
        post : list of Tensor, length ``n_layers + 1``; ``post[-1]`` is the network output (no activation).
        """
        h = self._flat(x)
        pre, post = [], [h]
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            a = layer(h)
            pre.append(a)
            if i == last:
                h = a
            else:
                h = self.activation(a) + h if self.skips_into(i) else self.activation(a)
            post.append(h)
        return pre, post

    def forward(self, x: Tensor) -> Tensor:
        h = self._flat(x)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            a = layer(h)
            if i == last:
                return a
            h = self.activation(a) + h if self.skips_into(i) else self.activation(a)
        return h  # pragma: no cover - layers is never empty


class LeNet(nn.Module):
    """LeNet-5-style convnet: conv(6,5x5)-pool-conv(16,5x5)-pool-fc120-fc84-fc(n_classes).

    The first convolution pads by 2 (28x28 stays 28x28, as in the usual MNIST LeNet); the second pads
    by 2 only for small images (< 16 px, e.g. 8x8 digits) so that every size from 8 px up works.

    Shapes: input ``(N, in_channels, image_size, image_size)``; output ``(N, n_classes)``.
    """

    def __init__(
        self, in_channels: int = 1, n_classes: int = 10, image_size: int = 28, activation: str = "relu"
    ) -> None:
        super().__init__()
        if image_size < 8:
            raise ValueError(f"LeNet needs images of at least 8x8 pixels, got {image_size}")
        self.activation = ACTIVATIONS.get(activation)
        pad2 = 0 if image_size >= 16 else 2
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5, padding=pad2)
        s = image_size // 2
        s = (s + 2 * pad2 - 4) // 2
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        f = self.activation
        x = F.max_pool2d(f(self.conv1(x)), 2)
        x = F.max_pool2d(f(self.conv2(x)), 2)
        x = f(self.fc1(x.flatten(1)))
        x = f(self.fc2(x))
        return self.fc3(x)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, act: Activation) -> None:
        super().__init__()
        self.act = act
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet (He et al. 2016, arXiv 1512.03385) of basic blocks, as used for sign-symmetry
    at scale (Xiao et al. 2018, arXiv 1811.03567) but sized for MNIST-scale data.

    Parameters
    ----------
    widths : sequence of int
        Channels of each stage; stage ``i > 0`` halves the resolution.
    blocks : int
        Basic blocks per stage.

    Shapes: input ``(N, in_channels, H, W)``; output ``(N, n_classes)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        blocks: int = 1,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        act = ACTIVATIONS.get(activation)
        self.act = act
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                stages.append(_BasicBlock(cin, w, 2 if (i > 0 and b == 0) else 1, act))
                cin = w
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.bn(self.stem(x)))
        x = self.stages(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _build_mlp(input_shape, n_classes, **kw):
    return MLP(math.prod(input_shape), out_features=n_classes, **kw)


def _build_lenet(input_shape, n_classes, **kw):
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise ValueError(f"LeNet needs square images (C, H, W), got input shape {tuple(input_shape)}; use 'mlp'")
    return LeNet(input_shape[0], n_classes, input_shape[1], **kw)


def _build_resnet(input_shape, n_classes, **kw):
    if len(input_shape) != 3:
        raise ValueError(f"ResNet needs images (C, H, W), got input shape {tuple(input_shape)}; use 'mlp'")
    return ResNet(input_shape[0], n_classes, **kw)


MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
MODELS.register("mlp", _build_mlp)
MODELS.register("lenet", _build_lenet)
MODELS.register("resnet", _build_resnet)


def _cifar_resnet_builder(depth: int) -> Callable[..., nn.Module]:
    def build(input_shape, n_classes, **kw):
        if len(input_shape) != 3:
            raise ValueError(f"resnet{depth} needs images (C, H, W), got input shape {tuple(input_shape)}; use 'mlp'")
        return CifarResNet(depth, input_shape[0], n_classes, **kw)

    return build


for _depth in (20, 32, 56):
    MODELS.register(f"resnet{_depth}", _cifar_resnet_builder(_depth))


def build_model(name: str, input_shape: Sequence[int], n_classes: int, **kwargs) -> nn.Module:
    """Build a registered model for inputs of ``input_shape`` (without batch) and ``n_classes`` outputs."""
    return MODELS.get(name)(tuple(int(s) for s in input_shape), int(n_classes), **kwargs)
