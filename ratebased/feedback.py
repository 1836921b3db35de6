"""Feedback-alignment family: how each layer's feedback matrix ``B`` is made, and the layers using it.

A :class:`FeedbackSpec` is a frozen dataclass that says how ``B`` is built from the layer's weight
``W`` and an optional stored tensor ``M``:

============  ==============================  ====================================================
name          stored ``M``                    ``B`` used in each backward pass
============  ==============================  ====================================================
``fa``        fixed random, like ``W``'s init  ``M``
``usf``       none                             ``sign(W) / sqrt(fan_in)``
``frsf``      fixed random                     ``|M| * sign(W)``
``brsf``      none                             ``|R| * sign(W)``, ``R`` redrawn every step
``dfa``       fixed random ``(n_out, fan)``    output error projected by ``M`` (see ``functional``)
============  ==============================  ====================================================

The layers subclass ``nn.Linear``/``nn.Conv2d`` so their ``weight``/``bias`` (and state-dict keys)
are those of the layer they replace; the stored matrix is the buffer ``feedback``. When no gradient
is needed (``torch.no_grad()``, frozen weights) they run the plain ``linear``/``conv2d``.

References
----------
Lillicrap et al. 2016 (arXiv 1411.0247); Nøkland 2016 (arXiv 1609.01596); Liao, Leibo & Poggio 2016
(arXiv 1510.05067); Xiao, Chen, Liao & Poggio, "Biologically-plausible learning algorithms can scale
to large datasets" (arXiv 1811.03567). Names as in BioTorch (Sanfiz & Akrout 2021, arXiv 2108.13446).
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .functional import (
    DirectFeedbackConv2dFn,
    DirectFeedbackLinearFn,
    ErrorHub,
    FeedbackConv2dFn,
    FeedbackLinearFn,
    RecordErrorFn,
)

__all__ = [
    "FeedbackSpec",
    "RandomFeedback",
    "UniformSignSymmetry",
    "FixedRandomSignSymmetry",
    "BatchRandomSignSymmetry",
    "DirectRandomFeedback",
    "FeedbackLinear",
    "FeedbackConv2d",
    "DirectFeedbackLinear",
    "DirectFeedbackConv2d",
    "FEEDBACK_LAYERS",
    "uniform_magnitudes",
    "signed_uniform",
]


def _fan_in(weight_shape: torch.Size) -> int:
    return int(math.prod(weight_shape[1:]))


def _uniform_like_init(shape, fan_in: int, generator: torch.Generator) -> Tensor:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the bound of ``nn.Linear``/``nn.Conv2d``'s default init."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1).mul_(bound)


@dataclass(frozen=True)
class FeedbackSpec:
    """How a layer's feedback matrix is made. Subclasses override the two methods.

    Attributes
    ----------
    manhattan : bool
        Batch-manhattan: the weight update uses the sign of the batch gradient (Liao et al. 2016).
    """

    manhattan: bool = False
    name = "abstract"

    def init_feedback(self, weight: Tensor, generator: torch.Generator) -> Optional[Tensor]:
        """The tensor stored in the layer's ``feedback`` buffer (``None``: nothing stored)."""
        return None

    def feedback(self, weight: Tensor, stored: Optional[Tensor]) -> Tensor:
        """The matrix ``B`` used by this backward pass, shape of ``weight``."""
        raise NotImplementedError


#: Resolution of the CPU magnitude draw of :func:`uniform_magnitudes` (bits per value).
MAGNITUDE_BITS = 16


_THREAD = threading.local()


def _sfc64_from_torch() -> np.random.SFC64:
    """This thread's SFC64 bit generator, its state set from three 64-bit words of torch's global
    CPU generator (so the stream is a function of torch's RNG state alone)."""
    bg = getattr(_THREAD, "sfc64", None)
    if bg is None:
        bg = _THREAD.sfc64 = np.random.SFC64(0)
    words = torch.randint(-(2**63), 2**63 - 1, (3,), dtype=torch.int64).numpy().view(np.uint64)
    bg.state = {"bit_generator": "SFC64", "has_uint32": 0, "uinteger": 0,
                "state": {"state": np.array([words[0], words[1], words[2], 1], dtype=np.uint64)}}
    return bg


def uniform_magnitudes(like: Tensor, bound: float) -> Tensor:
    """Fresh magnitudes ``U(0, bound)`` with ``like``'s shape, dtype and device (brSF's per-step draw).

    On CUDA (and other accelerators) this is ``torch.rand_like(like) * bound``. On the CPU, where
    torch's Mersenne-Twister draw of one float per element costs more than a quarter of a
    backpropagation step of a small MLP, three 64-bit words drawn from torch's global CPU generator
    set the state of numpy's SFC64 bit generator, which supplies ``MAGNITUDE_BITS`` = 16 random
    bits per element: ``(k + 1/2) * bound / 2**16`` with ``k`` uniform on ``0 .. 2**16 - 1``, the
    midpoints of 65,536 equal bins of ``(0, bound)`` (mean ``bound / 2`` exactly, never 0, so the
    sign of ``B`` is always the sign of ``W``). The draw is deterministic under
    ``torch.manual_seed`` and follows torch's RNG state (resumed runs continue the same stream).

    Parameters
    ----------
    like : Tensor
        Any shape; only its shape, dtype and device are used.
    bound : float
        Upper end of the magnitudes (> 0).

    Returns
    -------
    Tensor
        Same shape, dtype and device as ``like``, values in ``(0, bound)``.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> m = uniform_magnitudes(torch.empty(3, 4), 0.5)
    >>> bool((m > 0).all() and (m < 0.5).all())
    True
    """
    if like.device.type != "cpu":
        return torch.rand_like(like).mul_(bound)
    return _bits16(like).to(like.dtype).add_(2.0**15 + 0.5).mul_(bound / 2.0**MAGNITUDE_BITS)


def _bits16(like: Tensor) -> Tensor:
    """int16 tensor of ``like``'s shape, 16 fresh random bits per element (CPU, see above);
    as an int16 it holds ``k - 2**15``."""
    n = like.numel()
    raw = _sfc64_from_torch().random_raw((n + 3) // 4).view(np.int16)[:n]
    return torch.from_numpy(raw).view(like.shape)


def signed_uniform(weight: Tensor, bound: float) -> Tensor:
    """``sign(weight) * U(0, bound)``: brSF's feedback matrix, with the magnitudes of
    :func:`uniform_magnitudes` (same random stream), fused into three passes on the CPU.

    Examples
    --------
    >>> w = torch.randn(3, 4)
    >>> b = signed_uniform(w, 0.5)
    >>> bool((torch.sign(b) == torch.sign(w)).all() and (b.abs() < 0.5).all())
    True
    """
    s = torch.sign(weight)
    if weight.device.type != "cpu":
        return s.mul_(uniform_magnitudes(weight, bound))
    c = bound / 2.0**MAGNITUDE_BITS
    # s * (k' + 2**15 + 1/2) * c, with the int16 -> float conversion inside addcmul
    return torch.addcmul(s * (c * (2.0**15 + 0.5)), s, _bits16(weight), value=c)


@dataclass(frozen=True)
class RandomFeedback(FeedbackSpec):
    """Feedback alignment: ``B`` fixed and random (Lillicrap et al. 2016)."""

    name = "fa"

    def init_feedback(self, weight, generator):
        return _uniform_like_init(weight.shape, _fan_in(weight.shape), generator)

    def feedback(self, weight, stored):
        return stored


@dataclass(frozen=True)
class UniformSignSymmetry(FeedbackSpec):
    """uSF: ``B = sign(W) / sqrt(fan_in)`` (Liao et al. 2016; Xiao et al. 2018)."""

    name = "usf"

    def feedback(self, weight, stored):
        return torch.sign(weight.detach()).mul_(1.0 / math.sqrt(_fan_in(weight.shape)))


@dataclass(frozen=True)
class FixedRandomSignSymmetry(FeedbackSpec):
    """frSF: ``B = |M| * sign(W)`` with ``M`` fixed and random."""

    name = "frsf"

    def init_feedback(self, weight, generator):
        return _uniform_like_init(weight.shape, _fan_in(weight.shape), generator)

    def feedback(self, weight, stored):
        return torch.sign(weight.detach()).mul_(stored.abs())


@dataclass(frozen=True)
class BatchRandomSignSymmetry(FeedbackSpec):
    """brSF: ``B = |R| * sign(W)`` with ``R ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` drawn every step.

    ``B`` comes from :func:`signed_uniform` (magnitudes as :func:`uniform_magnitudes`): deterministic under ``torch.manual_seed``
    (every draw consumes torch's global generator on the weight's device).
    """

    name = "brsf"

    def feedback(self, weight, stored):
        bound = 1.0 / math.sqrt(_fan_in(weight.shape))
        w = weight.detach()
        return signed_uniform(w, bound)


@dataclass(frozen=True)
class DirectRandomFeedback(FeedbackSpec):
    """DFA: the output error reaches every layer through a fixed random matrix (Nøkland 2016).

    Attributes
    ----------
    n_outputs : int
        Size of the network's output (the error's dimension).
    """

    n_outputs: int = 10
    name = "dfa"

    def init_feedback(self, weight, generator):
        fan = weight.shape[1]  # in_features (Linear) or C_in/groups (Conv2d)
        return _uniform_like_init((self.n_outputs, fan), fan, generator)

    def feedback(self, weight, stored):
        return stored


def _needs_graph(x: Tensor, weight: Tensor) -> bool:
    return torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad)


class _FeedbackMixin:
    """Shared construction: adopt an existing layer's parameters, add the feedback buffer."""

    spec: FeedbackSpec

    def _adopt(self, spec: FeedbackSpec, generator: torch.Generator) -> None:
        self.spec = spec
        stored = spec.init_feedback(self.weight, generator)
        if stored is not None:
            stored = stored.to(device=self.weight.device, dtype=self.weight.dtype)
        self.register_buffer("feedback", stored)

    def feedback_matrix(self) -> Tensor:
        """The ``B`` this layer would use now (for diagnostics)."""
        return self.spec.feedback(self.weight, self.feedback)

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return f"{super().extra_repr()}, rule={self.spec.name}, manhattan={self.spec.manhattan}"


def _conv_int_padding(layer: nn.Conv2d) -> list[int]:
    if layer.padding_mode != "zeros":
        raise ValueError(
            f"feedback rules support Conv2d with padding_mode='zeros' only, got {layer.padding_mode!r}; "
            "pad the input explicitly with F.pad before the convolution instead"
        )
    if isinstance(layer.padding, str):
        if layer.padding == "valid":
            return [0, 0]
        pads = []
        for k, d in zip(layer.kernel_size, layer.dilation):
            if (d * (k - 1)) % 2:
                raise ValueError(
                    f"padding='same' with kernel {layer.kernel_size} and dilation {layer.dilation} is "
                    "asymmetric; use odd kernels or explicit integer padding"
                )
            pads.append(d * (k - 1) // 2)
        return pads
    return list(layer.padding)


class FeedbackLinear(_FeedbackMixin, nn.Linear):
    """``nn.Linear`` trained with a feedback matrix ``B`` in place of ``W`` in the backward pass.

    Build it with :meth:`from_linear` (or :func:`ratebased.convert`).

    Shapes: input ``(..., in_features)``, output ``(..., out_features)``.

    Examples
    --------
    >>> import torch
    >>> layer = FeedbackLinear.from_linear(torch.nn.Linear(3, 2), RandomFeedback(), torch.Generator())
    >>> layer(torch.randn(5, 3)).shape
    torch.Size([5, 2])
    """

    @classmethod
    def from_linear(cls, layer: nn.Linear, spec: FeedbackSpec, generator: torch.Generator):
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = layer.in_features, layer.out_features
        new.weight = layer.weight
        new.bias = layer.bias
        new._adopt(spec, generator)
        return new

    def forward(self, x: Tensor) -> Tensor:
        if not _needs_graph(x, self.weight):
            return F.linear(x, self.weight, self.bias)
        return FeedbackLinearFn.apply(x, self.weight, self.bias, self.feedback, self.spec, self.spec.manhattan)


class FeedbackConv2d(_FeedbackMixin, nn.Conv2d):
    """``nn.Conv2d`` trained with a feedback kernel ``B`` in place of ``W`` in the backward pass.

    Shapes: input ``(N, C_in, H, W)``, output ``(N, C_out, H', W')``; ``B`` has the weight's shape.
    """

    @classmethod
    def from_conv(cls, layer: nn.Conv2d, spec: FeedbackSpec, generator: torch.Generator):
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                     "transposed", "output_padding", "groups", "padding_mode",
                     "_reversed_padding_repeated_twice"):
            setattr(new, attr, getattr(layer, attr))
        new._int_padding = _conv_int_padding(layer)
        new.weight = layer.weight
        new.bias = layer.bias
        new._adopt(spec, generator)
        return new

    def forward(self, x: Tensor) -> Tensor:
        if not _needs_graph(x, self.weight):
            return F.conv2d(x, self.weight, self.bias, self.stride, self._int_padding, self.dilation, self.groups)
        return FeedbackConv2dFn.apply(x, self.weight, self.bias, self.feedback, self.spec, list(self.stride),
                                      self._int_padding, list(self.dilation), self.groups, self.spec.manhattan)


class DirectFeedbackLinear(FeedbackLinear):
    """``nn.Linear`` trained by direct feedback alignment: its input receives ``e @ B``.

    ``B`` (buffer ``feedback``) has shape ``(n_outputs, in_features)``. The model's output layer is
    built with ``record_error=True``: it stores ``e = dL/dy`` in the shared :class:`ErrorHub`.
    """

    @classmethod
    def from_linear(cls, layer, spec, generator, hub: ErrorHub = None, record_error: bool = False):
        new = super().from_linear(layer, spec, generator)
        new.hub = hub if hub is not None else ErrorHub()
        new.record_error = bool(record_error)
        return new

    def forward(self, x: Tensor) -> Tensor:
        if not _needs_graph(x, self.weight):
            return F.linear(x, self.weight, self.bias)
        if x.dim() != 2:
            raise ValueError(
                f"direct feedback alignment needs 2-D input (N, features) to Linear layers, got shape "
                f"{tuple(x.shape)}; flatten the input before the layer"
            )
        y = DirectFeedbackLinearFn.apply(x, self.weight, self.bias, self.feedback, self.hub, self.spec.manhattan)
        return RecordErrorFn.apply(y, self.hub) if self.record_error else y


class DirectFeedbackConv2d(FeedbackConv2d):
    """``nn.Conv2d`` trained by direct feedback alignment; ``B`` has shape ``(n_outputs, C_in)``."""

    @classmethod
    def from_conv(cls, layer, spec, generator, hub: ErrorHub = None, record_error: bool = False):
        if record_error:
            raise ValueError(
                "direct feedback alignment needs a Linear output layer (the error e = dL/dy must be a "
                "vector per sample); end the model with nn.Linear"
            )
        if layer.groups != 1:
            raise ValueError(f"direct feedback alignment supports Conv2d with groups=1 only, got groups={layer.groups}")
        new = super().from_conv(layer, spec, generator)
        new.hub = hub if hub is not None else ErrorHub()
        new.record_error = False
        return new

    def forward(self, x: Tensor) -> Tensor:
        if not _needs_graph(x, self.weight):
            return F.conv2d(x, self.weight, self.bias, self.stride, self._int_padding, self.dilation, self.groups)
        return DirectFeedbackConv2dFn.apply(x, self.weight, self.bias, self.feedback, self.hub, list(self.stride),
                                            self._int_padding, list(self.dilation), self.groups,
                                            self.spec.manhattan)


FEEDBACK_LAYERS = (FeedbackLinear, FeedbackConv2d)
