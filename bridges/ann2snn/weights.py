"""Weight maps between a ``ratebased`` MLP, a Brian2 IF network and an snntorch IF network.

The same topology moves between simulators: every Linear layer's ``weight`` ``(n_out, n_in)`` and
``bias`` ``(n_out,)`` become Brian2 synapse weights ``w`` (one synapse per pair, ``i`` presynaptic,
``j`` postsynaptic) and the neuron-group variable ``b``; in snntorch they become the ``nn.Linear``
layers of an :class:`bridges.ann2snn.IFNetworkTwin`. Float32 torch weights pass through float64
numpy exactly, so ``torch -> Brian2 -> torch`` and ``torch -> snntorch -> torch`` are bit-exact.

Example
-------
>>> import torch, ratebased as rb
>>> net = rb.MLP(4, (3,), 2)
>>> back = from_snntorch(to_snntorch(net), like=net)
>>> all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
True
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ratebased.layer_swap import trainable_layers

from .twin import IFNetworkTwin

__all__ = ["export_weights", "import_weights", "to_brian2", "from_brian2", "to_snntorch", "from_snntorch"]


def _linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    layers = list(trainable_layers(model))
    convs = [n for n, m in layers if not isinstance(m, nn.Linear)]
    if convs:
        raise ValueError(
            f"weight maps to spiking networks support Linear layers only; {convs[0]!r} is a convolution (use an MLP)"
        )
    if not layers:
        raise ValueError("the model has no Linear layer")
    return layers


def export_weights(model: nn.Module) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(weights, biases)`` of every Linear layer as float64 numpy (missing bias: zeros).

    Raises ``ValueError`` naming the layer if a weight holds NaN/inf or layers do not chain.
    """
    ws, bs = [], []
    prev_out, prev_name = None, None
    for name, layer in _linear_layers(model):
        w = layer.weight.detach().cpu().double().numpy()
        b = layer.bias.detach().cpu().double().numpy() if layer.bias is not None else np.zeros(w.shape[0])
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError(f"layer {name!r} has NaN or inf weights or biases; it cannot be exported")
        if prev_out is not None and w.shape[1] != prev_out:
            raise ValueError(
                f"layer {name!r} takes {w.shape[1]} inputs but {prev_name!r} gives {prev_out}: "
                "only plain feed-forward chains can be exported"
            )
        ws.append(w)
        bs.append(b)
        prev_out, prev_name = w.shape[0], name
    return ws, bs


def import_weights(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], like: nn.Module) -> nn.Module:
    """A copy of ``like`` holding ``weights``/``biases`` (cast to its dtype); shapes must match exactly."""
    new = copy.deepcopy(like)
    layers = _linear_layers(new)
    if len(layers) != len(weights) or len(weights) != len(biases):
        raise ValueError(
            f"the model has {len(layers)} Linear layers but {len(weights)} weight matrices and "
            f"{len(biases)} bias vectors were given"
        )
    with torch.no_grad():
        for (name, layer), w, b in zip(layers, weights, biases):
            w, b = np.asarray(w), np.asarray(b)
            if tuple(w.shape) != tuple(layer.weight.shape):
                raise ValueError(
                    f"layer {name!r}: weight shape {tuple(w.shape)} does not match the model's "
                    f"{tuple(layer.weight.shape)}"
                )
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"layer {name!r}: imported weights contain NaN or inf")
            layer.weight.copy_(torch.as_tensor(w, dtype=layer.weight.dtype))
            if layer.bias is not None:
                if tuple(b.shape) != tuple(layer.bias.shape):
                    raise ValueError(
                        f"layer {name!r}: bias shape {tuple(b.shape)} does not match {tuple(layer.bias.shape)}"
                    )
                layer.bias.copy_(torch.as_tensor(b, dtype=layer.bias.dtype))
            elif np.any(b != 0):
                raise ValueError(f"layer {name!r} has no bias but non-zero biases were given")
    return new


def _dimensionless(values, name: str) -> np.ndarray:
    try:
        from brian2 import Quantity
        from brian2.units.fundamentalunits import DIMENSIONLESS
    except ImportError:  # pragma: no cover - brian2 is a dependency
        return np.asarray(values)
    if isinstance(values, Quantity) and values.dim is not DIMENSIONLESS:
        raise ValueError(
            f"{name} carries Brian2 units ({values.dim}); the rate model's weights are "
            "dimensionless: divide by the unit (e.g. w / mV) first"
        )
    return np.asarray(values, dtype=np.float64)


def to_brian2(model: nn.Module, *, mode: str = "spikes", steps: int = 1):
    """Build, in the active Brian2 device, the IF network with the model's weights (see
    :func:`spiking.ifnet.build_if_network`). ``mode="spikes"`` makes every layer a Brian2 synapse."""
    from spiking.ifnet import build_if_network

    ws, bs = export_weights(model)
    return build_if_network(ws, bs, mode=mode, steps=steps)


def from_brian2(built, like: nn.Module) -> nn.Module:
    """Read weights back from a Brian2 IF network into a copy of ``like``."""
    from spiking.ifnet import read_if_weights

    first = None
    if len(built.synapses) < len(built.groups):
        first = export_weights(like)[0][0]
    ws, bs = read_if_weights(built, first_weight=first)
    ws = [_dimensionless(w, f"layer {i} weights") for i, w in enumerate(ws)]
    bs = [_dimensionless(b, f"layer {i} biases") for i, b in enumerate(bs)]
    return import_weights(ws, bs, like)


def to_snntorch(model: nn.Module, *, dtype: torch.dtype = torch.float64) -> IFNetworkTwin:
    """The snntorch IF network with the model's raw (un-normalised) weights."""
    ws, bs = export_weights(model)
    return IFNetworkTwin(ws, bs, dtype=dtype)


def from_snntorch(twin: IFNetworkTwin, like: nn.Module) -> nn.Module:
    """Weights of an :class:`IFNetworkTwin` back into a copy of ``like``."""
    ws = [fc.weight.detach().cpu().numpy() for fc in twin.fcs]
    bs = [fc.bias.detach().cpu().numpy() for fc in twin.fcs]
    return import_weights(ws, bs, like)
