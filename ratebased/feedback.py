"""Feedback-alignment family: how each layer's feedback matrix ``B`` is made, and the layers using it.

A :class:`FeedbackSpec` is a frozen dataclass that says how ``B`` is built from the layer's weight
``W`` and an optional stored tensor ``M``:

============  ==============================  ====================================================
name          stored ``M``                    ``B`` used in each backward pass
============  ==============================  ====================================================
``fa``        fixed random, like ``W``'s init  ``M``
``usf``       none                             ``sign(W) / sqrt(fan_in)``
``frsf``      fixed random                     ``|M| * sign(W)``
``brsf``      random-stream state (int64 (6,)) ``|R| * sign(W)``, ``R`` redrawn every step
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
import weakref
from dataclasses import dataclass

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
    "new_stream_state",
]


def _fan_in(weight_shape: torch.Size) -> int:
    return int(math.prod(weight_shape[1:]))


def _uniform_like_init(shape, fan_in: int, generator: torch.Generator) -> Tensor:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the bound of ``nn.Linear``/``nn.Conv2d``'s default init."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1).mul_(bound)


#: The configuration attributes of an ``nn.Conv2d`` that a layer sharing its weight copies.
CONV2D_ATTRIBUTES = (
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "transposed",
    "output_padding",
    "groups",
    "padding_mode",
    "_reversed_padding_repeated_twice",
)


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

    def init_feedback(self, weight: Tensor, generator: torch.Generator) -> Tensor | None:
        """The tensor stored in the layer's ``feedback`` buffer (``None``: nothing stored)."""
        return None

    def feedback(self, weight: Tensor, stored: Tensor | None) -> Tensor:
        """The matrix ``B`` used by this backward pass, shape of ``weight``."""
        raise NotImplementedError


#: Resolution of the CPU magnitude draw of :func:`uniform_magnitudes` (bits per value).
MAGNITUDE_BITS = 16

#: Values prefetched per block of a magnitude stream: a block holds ``max(1, STREAM_BLOCK_VALUES // n)``
#: draws of ``n`` values (one per element of the weight).
STREAM_BLOCK_VALUES = 2**20

_STATE_WORDS = 6  # SFC64 state at the start of the current block (4), draws used from it, values per draw


def new_stream_state(generator: torch.Generator | None = None) -> Tensor:
    """The state of a fresh magnitude stream (:func:`uniform_magnitudes`): an int64 tensor ``(6,)``.

    Words 0-3 are the 256-bit state of numpy's SFC64 bit generator at the start of the current block of
    draws (three 64-bit words drawn from ``generator``, torch's global CPU generator when ``None``, and
    SFC64's counter, 1); word 4 counts the draws already taken from that block, word 5 is the number of
    values per draw (0 until the first draw fixes it). brSF layers keep it as their ``feedback`` buffer,
    so it is saved and restored with the model's ``state_dict``, and a restored model continues the
    same stream exactly.

    Examples
    --------
    >>> s = new_stream_state(torch.Generator().manual_seed(0))
    >>> s.dtype, tuple(s.shape), s[3:].tolist()
    (torch.int64, (6,), [1, 0, 0])
    """
    words = torch.randint(-(2**63), 2**63 - 1, (3,), generator=generator, dtype=torch.int64)
    return torch.cat([words, torch.tensor([1, 0, 0], dtype=torch.int64)])


def _sfc64(words: np.ndarray) -> np.random.SFC64:
    """numpy's SFC64 bit generator with its 256-bit state set to ``words`` (4 uint64)."""
    bg = np.random.SFC64(0)
    bg.state = {"bit_generator": "SFC64", "has_uint32": 0, "uinteger": 0, "state": {"state": words.copy()}}
    return bg


def _block_draws(n: int) -> int:
    return max(1, STREAM_BLOCK_VALUES // n)


def _magnitude_block(bg: np.random.SFC64, n: int, draws: int, dtype: torch.dtype, bound: float) -> Tensor:
    """``(draws, n)`` magnitudes ``(k + 1/2) * bound / 2**16`` from the next ``ceil(draws * n / 4)``
    64-bit words of ``bg`` (four 16-bit values ``k - 2**15`` per word)."""
    total = draws * n
    bits = bg.random_raw((total + 3) // 4).view(np.int16)[:total]
    return torch.from_numpy(bits).to(dtype).add_(2.0**15 + 0.5).mul_(bound / 2.0**MAGNITUDE_BITS).view(draws, n)


class _Stream:
    """Cache of one stream-state buffer: its SFC64 generator (positioned after the current block), the
    block of magnitudes, and the buffer's bytes as last written here (anything else that writes the
    buffer, e.g. ``load_state_dict``, makes the cache rebuild from the buffer)."""

    __slots__ = ("bg", "view", "written", "ref", "block", "key")


# id(stream-state buffer) -> _Stream; an entry leaves with its buffer (weakref.finalize)
_STREAMS: dict[int, _Stream] = {}


def _check_state(state: Tensor) -> None:
    if (
        not isinstance(state, Tensor)
        or state.dtype != torch.int64
        or tuple(state.shape) != (_STATE_WORDS,)
        or state.device.type != "cpu"
    ):
        got = f"{state.dtype} {tuple(state.shape)} on {state.device}" if isinstance(state, Tensor) else type(state)
        raise ValueError(
            f"a magnitude-stream state is an int64 CPU tensor of shape ({_STATE_WORDS},) "
            f"(make one with new_stream_state), got {got}"
        )


def _rebuild(state: Tensor, n: int, dtype: torch.dtype, bound: float) -> _Stream:
    _check_state(state)
    view = state.numpy().view(np.uint64)
    draws = _block_draws(n)
    if int(view[5]) not in (0, n):
        raise ValueError(
            f"this magnitude stream draws {int(view[5])} values at a time, asked for {n}; "
            "give every weight shape its own state (new_stream_state)"
        )
    if int(view[4]) > draws:
        raise ValueError(f"corrupt magnitude-stream state: {int(view[4])} draws used of a block of {draws}")
    bg = _sfc64(view[:4])
    view[5] = n
    entry = _STREAMS.get(id(state))
    if entry is None or entry.ref() is not state:
        entry = _Stream()
        weakref.finalize(state, _STREAMS.pop, id(state), None)
        _STREAMS[id(state)] = entry
    entry.bg, entry.view, entry.ref = bg, view, weakref.ref(state)
    entry.block = _magnitude_block(bg, n, draws, dtype, bound)
    entry.key = (n, dtype, bound)
    entry.written = view.tobytes()
    return entry


def _stream_magnitudes(state: Tensor, shape: torch.Size, dtype: torch.dtype, bound: float) -> Tensor:
    """The next draw of the stream in ``state`` (advanced in place): magnitudes of ``shape`` (a view into
    the cached block: read it, do not write it)."""
    n = math.prod(shape)
    entry = _STREAMS.get(id(state))
    if (
        entry is None
        or entry.ref() is not state
        or entry.key != (n, dtype, bound)
        or entry.view.tobytes() != entry.written
    ):
        entry = _rebuild(state, n, dtype, bound)
    view = entry.view
    used = int(view[4])
    if used == entry.block.shape[0]:  # block used up: the next one starts where the generator stands
        view[:4] = entry.bg.state["state"]["state"]
        entry.block = _magnitude_block(entry.bg, n, used, dtype, bound)
        used = 0
    view[4] = used + 1  # numpy writes: no autograd version bump of a buffer saved for backward
    entry.written = view.tobytes()
    return entry.block[used].view(shape)


def uniform_magnitudes(like: Tensor, bound: float, state: Tensor | None = None) -> Tensor:
    """Fresh magnitudes ``U(0, bound)`` with ``like``'s shape, dtype and device (brSF's per-step draw).

    On the CPU the magnitudes come from a stream whose state is the tensor ``state``
    (:func:`new_stream_state`), advanced in place: numpy's SFC64 bit generator supplies
    ``MAGNITUDE_BITS`` = 16 random bits per element, and the magnitude is ``(k + 1/2) * bound / 2**16``
    with ``k`` uniform on ``0 .. 2**16 - 1``: the midpoints of 65,536 equal bins of ``(0, bound)``
    (mean ``bound / 2`` exactly, never 0, so the sign of ``B`` is always the sign of ``W``). Draws are
    made ahead in blocks of about ``STREAM_BLOCK_VALUES`` values, and the state records the block's
    start and the draws used, so the draws are a function of the seed that made the state alone, and a
    restored state continues the stream exactly. (Torch's Mersenne-Twister draw of one float per
    element cost more than a quarter of a backpropagation step of a small MLP.) On CUDA and other
    accelerators it is ``torch.rand_like(like) * bound`` (torch's generator of that device) and
    ``state`` is not used.

    Parameters
    ----------
    like : Tensor
        Any shape; only its shape, dtype and device are used.
    bound : float
        Upper end of the magnitudes (> 0).
    state : Tensor, optional
        int64 ``(6,)`` stream state on the CPU, bound to one number of elements. ``None``: one draw from
        a fresh state drawn from torch's global CPU generator (deterministic under ``torch.manual_seed``).

    Returns
    -------
    Tensor
        Same shape, dtype and device as ``like``, values in ``(0, bound)``.

    Examples
    --------
    >>> state = new_stream_state(torch.Generator().manual_seed(0))
    >>> m = uniform_magnitudes(torch.empty(3, 4), 0.5, state)
    >>> bool((m > 0).all() and (m < 0.5).all()), int(state[4])
    (True, 1)
    """
    if like.device.type != "cpu":
        return torch.rand_like(like).mul_(bound)
    if state is None:
        bg = _sfc64(new_stream_state()[:4].numpy().view(np.uint64))
        return _magnitude_block(bg, like.numel(), 1, like.dtype, bound).view(like.shape)
    return _stream_magnitudes(state, like.shape, like.dtype, bound).clone()


def signed_uniform(weight: Tensor, bound: float, state: Tensor | None = None) -> Tensor:
    """``sign(weight) * U(0, bound)``: brSF's feedback matrix, with the magnitudes of
    :func:`uniform_magnitudes` (same stream, same draw).

    Examples
    --------
    >>> w = torch.randn(3, 4)
    >>> b = signed_uniform(w, 0.5, new_stream_state(torch.Generator().manual_seed(0)))
    >>> bool((torch.sign(b) == torch.sign(w)).all() and (b.abs() < 0.5).all())
    True
    """
    s = torch.sign(weight)
    if weight.device.type != "cpu" or state is None:
        return s.mul_(uniform_magnitudes(weight, bound, state))
    return s.mul_(_stream_magnitudes(state, weight.shape, weight.dtype, bound))


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

    ``B`` comes from :func:`signed_uniform`. On the CPU each layer draws its magnitudes from its own
    stream, whose state (:func:`new_stream_state`, seeded from the conversion seed) is the layer's
    ``feedback`` buffer: the draws are a function of the seed, and a model restored from its
    ``state_dict`` continues the same stream. On accelerators they come from torch's generator of
    that device.
    """

    name = "brsf"

    def init_feedback(self, weight, generator):
        return new_stream_state(generator)

    def feedback(self, weight, stored):
        bound = 1.0 / math.sqrt(_fan_in(weight.shape))
        return signed_uniform(weight.detach(), bound, stored)


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
        if stored is not None:  # floating feedback matrices take the weight's dtype; integer states keep theirs
            dtype = self.weight.dtype if stored.is_floating_point() else stored.dtype
            stored = stored.to(device=self.weight.device, dtype=dtype)
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

    Build it with :meth:`from_linear` (or :func:`ratebased.with_feedback`).

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
        for attr in CONV2D_ATTRIBUTES:
            setattr(new, attr, getattr(layer, attr))
        new._int_padding = _conv_int_padding(layer)
        new.weight = layer.weight
        new.bias = layer.bias
        new._adopt(spec, generator)
        return new

    def forward(self, x: Tensor) -> Tensor:
        if not _needs_graph(x, self.weight):
            return F.conv2d(x, self.weight, self.bias, self.stride, self._int_padding, self.dilation, self.groups)
        return FeedbackConv2dFn.apply(
            x,
            self.weight,
            self.bias,
            self.feedback,
            self.spec,
            list(self.stride),
            self._int_padding,
            list(self.dilation),
            self.groups,
            self.spec.manhattan,
        )


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
        return DirectFeedbackConv2dFn.apply(
            x,
            self.weight,
            self.bias,
            self.feedback,
            self.hub,
            list(self.stride),
            self._int_padding,
            list(self.dilation),
            self.groups,
            self.spec.manhattan,
        )


FEEDBACK_LAYERS = (FeedbackLinear, FeedbackConv2d)
