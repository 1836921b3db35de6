"""CIFAR-style residual networks (ResNet-20/32/56) with parameter-free option-A shortcuts.

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv 1512.03385),
section 4.2: a 3x3 convolution with 16 channels, then three stages of ``n`` basic blocks (two 3x3
convolutions each, batch norm after every convolution, ReLU after the sum) with 16, 32 and 64
channels, the second and third stage halving the resolution with a stride-2 first convolution, then
global average pooling and a fully connected layer: ``6n + 2`` weighted layers (ResNet-20: n = 3,
ResNet-32: n = 5, ResNet-56: n = 9). The networks of the scaling papers of the feedback family
(Xiao et al. 2018, arXiv 1811.03567; BioTorch, Sanfiz & Akrout 2021, arXiv 2108.13446: ResNet-20 and
ResNet-56 on CIFAR-10).

**Shortcuts: option A** (the paper's choice for CIFAR-10, and BioTorch's): where a block changes the
resolution and width, the shortcut takes every second pixel and appends zero channels
(``(C_out - C_in) / 2`` on each side, as in BioTorch's ``IdentityPadding``); every other shortcut is
the identity. The shortcuts hold no parameters, so every learnable layer of the network is an
``nn.Conv2d`` or ``nn.Linear`` that :func:`ratebased.with_feedback` converts (option B's 1x1
projection convolutions would be layers whose feedback path bypasses the residual branch, and
would make the shortcut's error depend on the rule). The shortcut's backward is exact (a gradient
slice), whatever the rule.

Weights: He et al. 2015 (arXiv 1502.01852) normal initialisation of the convolutions
(``kaiming_normal_``, fan-in, ReLU gain), as the paper states; batch-norm scales 1 and shifts 0;
the output layer keeps ``nn.Linear``'s default.

Any image size works (28x28 Fashion-MNIST: stages at 28, 14 and 7 pixels; 32x32 CIFAR-10/SVHN: 32,
16, 8), with ``in_channels`` 1 or 3.

Examples
--------
>>> import torch
>>> net = CifarResNet(20, in_channels=1, n_classes=10)
>>> net(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 10])
>>> sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in net.modules())  # 6n + 2 = 20
20
>>> sum(p.numel() for p in CifarResNet(20, in_channels=3).parameters())  # the paper's 0.27M
269722
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .activations import ACTIVATIONS, Activation

__all__ = ["CifarResNet", "CifarBasicBlock", "ZeroPadShortcut", "CIFAR_WIDTHS", "blocks_per_stage"]

#: Channels of the three stages (He et al. 2016, section 4.2).
CIFAR_WIDTHS = (16, 32, 64)


def blocks_per_stage(depth: int) -> int:
    """``n`` of a CIFAR ResNet of ``depth = 6n + 2`` layers; ``ValueError`` for any other depth.

    Examples
    --------
    >>> blocks_per_stage(20), blocks_per_stage(56)
    (3, 9)
    """
    if isinstance(depth, bool) or int(depth) != depth or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (20, 32, 44, 56, 110, ...), got {depth!r}")
    return (int(depth) - 2) // 6


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: ``x[:, :, ::stride, ::stride]`` with zero channels added on both sides.

    Parameters
    ----------
    stride : int
        Spatial subsampling (1 or 2).
    extra_channels : int
        Zero channels added (``extra // 2`` before the input's channels, the rest after).

    Shapes: input ``(N, C, H, W)``; output ``(N, C + extra_channels, ceil(H / stride), ceil(W / stride))``,
    the output shape of a 3x3 convolution with padding 1 and the same stride.
    """

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        if stride < 1 or extra_channels < 0:
            raise ValueError(f"stride must be >= 1 and extra_channels >= 0, got {stride}, {extra_channels}")
        self.stride, self.extra_channels = int(stride), int(extra_channels)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            before = self.extra_channels // 2
            x = F.pad(x, (0, 0, 0, 0, before, self.extra_channels - before))
        return x

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


class CifarBasicBlock(nn.Module):
    """``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))`` with 3x3 convolutions, no biases.

    The shortcut is the identity, or :class:`ZeroPadShortcut` where the block changes the stride or
    width (option A).

    Shapes: input ``(N, cin, H, W)``; output ``(N, cout, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, cin: int, cout: int, stride: int, act: Activation) -> None:
        super().__init__()
        if cout < cin:
            raise ValueError(f"an option-A shortcut can only add channels, got {cin} -> {cout}")
        self.act = act
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = ZeroPadShortcut(stride, cout - cin) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet of depth ``6n + 2`` for small images (He et al. 2016, arXiv 1512.03385, section 4.2).

    Parameters
    ----------
    depth : int
        ``6n + 2``: 20, 32, 56 (registered as ``resnet20``, ``resnet32``, ``resnet56`` in
        :data:`ratebased.MODELS`), or any other such depth.
    in_channels : int
        1 (Fashion-MNIST, MNIST) or 3 (CIFAR-10, SVHN).
    n_classes : int
    activation : str
        A name in :data:`ratebased.activations.ACTIVATIONS` (the paper: ``relu``).

    Attributes
    ----------
    stem, bn : the first convolution and its batch norm.
    stages : ``nn.Sequential`` of the ``3n`` :class:`CifarBasicBlock` in order.
    fc : the output layer (after global average pooling).

    Shapes: input ``(N, in_channels, H, W)``; output ``(N, n_classes)``.

    Examples
    --------
    >>> import torch
    >>> net = CifarResNet(32, in_channels=3, n_classes=10)
    >>> len(net.stages), net(torch.zeros(1, 3, 32, 32)).shape
    (15, torch.Size([1, 10]))
    """

    def __init__(self, depth: int = 20, in_channels: int = 3, n_classes: int = 10, activation: str = "relu") -> None:
        super().__init__()
        n = blocks_per_stage(depth)
        if in_channels < 1 or n_classes < 1:
            raise ValueError(f"in_channels and n_classes must be positive, got {in_channels}, {n_classes}")
        self.depth, self.blocks = int(depth), n
        self.act = ACTIVATIONS.get(activation)
        self.stem = nn.Conv2d(in_channels, CIFAR_WIDTHS[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(CIFAR_WIDTHS[0])
        blocks, cin = [], CIFAR_WIDTHS[0]
        for i, width in enumerate(CIFAR_WIDTHS):
            for b in range(n):
                blocks.append(CifarBasicBlock(cin, width, 2 if (i > 0 and b == 0) else 1, self.act))
                cin = width
        self.stages = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.bn(self.stem(x)))
        x = self.stages(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
