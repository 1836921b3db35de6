"""Data-based normalisation of a ReLU MLP for ANN-to-SNN conversion, and Poisson input spikes.

A ReLU MLP trained by any rate-based rule -> :func:`normalise` (weights rescaled layer by layer so
that the chosen statistic of every layer's activation on training data equals the threshold 1) ->
a :class:`ConvertedNet`, run as integrate-and-fire layers (:mod:`spiking.ifnet` in Brian2,
:class:`bridges.ann2snn.IFNetworkTwin` in snntorch).

References
----------
Diehl et al. 2015, "Fast-classifying, high-accuracy spiking deep networks through weight and
threshold balancing", IJCNN (data-based normalisation, max statistic).
Rueckauer et al. 2017, "Conversion of Continuous-Valued Deep Networks to Efficient Event-Driven
Networks for Image Classification", Front. Neurosci. 11:682 (percentile statistic, biases, reset by
subtraction).

Example
-------
>>> import torch, ratebased as rb
>>> net = rb.MLP(4, (8,), 3); x = torch.rand(64, 4)
>>> conv = normalise(net, x, method="max")
>>> conv.layer_sizes(), len(conv.scales)
([4, 8, 3], 2)
>>> poisson_spikes(x, 10, generator=torch.Generator().manual_seed(0)).shape
torch.Size([64, 10, 4])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ratebased.models import MLP

__all__ = ["ConvertedNet", "mlp_layers", "normalise", "poisson_spikes", "NORMALISATIONS"]

NORMALISATIONS = ("max", "percentile")


@dataclass
class ConvertedNet:
    """Weights ``(n_l, n_{l-1})`` and biases ``(n_l,)`` (float64 numpy) of a converted network.

    Attributes
    ----------
    scales : list of float
        ``lambda_l``: the activation statistic of each layer that was mapped to the threshold.
    method, percentile : the normalisation used.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    scales: list[float] = field(default_factory=list)
    method: str = "max"
    percentile: float = 100.0

    def layer_sizes(self) -> list[int]:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]


def mlp_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of a convertible MLP; rejects what conversion cannot represent."""
    if not isinstance(model, MLP):
        raise ValueError(f"conversion supports ratebased.MLP models, got {type(model).__name__}")
    if model.skip:
        raise ValueError("conversion of MLPs with skip connections is not supported; train with skip=False")
    if model.activation.name != "relu":
        raise ValueError(
            f"conversion needs ReLU hidden units (rate = max(0, a)); the model uses {model.activation.name!r}"
        )
    return list(model.layers)


@torch.no_grad()
def normalise(
    model: nn.Module, x: Tensor, *, method: str = "max", percentile: float = 99.9, batch_size: int = 2048
) -> ConvertedNet:
    """Data-based weight normalisation of a ReLU MLP.

    With ``lambda_l`` the statistic (max, or the ``percentile``-th percentile) of layer ``l``'s ReLU
    activations over ``x`` (``lambda_0 = 1``, inputs lie in [0, 1]), the converted weights are
    ``W_l * lambda_{l-1} / lambda_l`` and biases ``b_l / lambda_l``. Because ReLU is positively
    homogeneous, the normalised network's activations are the original ones divided by
    ``lambda_l``: the statistic of every layer lands exactly on the threshold 1. The output layer
    is normalised by its positive activations too (its argmax is unchanged).

    Parameters
    ----------
    model : ratebased.MLP with ReLU units, no skip connections
    x : Tensor (N, ...) training inputs in [0, 1]
    method : {"max", "percentile"}
    percentile : float in (0, 100]

    Returns
    -------
    ConvertedNet
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {method!r}; valid: {', '.join(NORMALISATIONS)}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must lie in (0, 100], got {percentile}")
    if not torch.isfinite(x).all():
        raise ValueError("normalisation data contain NaN or inf")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"inputs must lie in [0, 1] for conversion, got [{float(x.min())}, {float(x.max())}]")
    layers = mlp_layers(model)
    Ws = [l.weight.detach().double().cpu() for l in layers]
    Bs = [
        (l.bias.detach().double().cpu() if l.bias is not None else torch.zeros(l.out_features, dtype=torch.float64))
        for l in layers
    ]
    for i, (w, b) in enumerate(zip(Ws, Bs)):
        if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
            raise ValueError(f"layer {i} of the model has NaN or inf weights; it cannot be converted")
    q = 1.0 if method == "max" else percentile / 100.0
    h = x.flatten(1).double().cpu()
    scales, out_w, out_b = [], [], []
    prev = 1.0
    for w, b in zip(Ws, Bs):
        a = torch.relu(h @ w.T + b)
        flat = a.reshape(-1)
        lam = float(flat.max()) if q == 1.0 else float(torch.quantile(flat[:16_000_000], q))
        if lam <= 0:
            lam = 1.0  # a dead layer: nothing to scale
        out_w.append((w * (prev / lam)).numpy())
        out_b.append((b / lam).numpy())
        scales.append(lam)
        prev = lam
        h = a
    return ConvertedNet(out_w, out_b, scales, method, 100.0 * q)


def poisson_spikes(x: Tensor, steps: int, *, max_rate: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Bernoulli (discrete Poisson) spike trains ``(N, steps, D)``: pixel ``x`` fires with probability
    ``x * max_rate`` per step (drawn on the CPU from ``generator``: identical on every device)."""
    if not 0 < max_rate <= 1:
        raise ValueError(f"max_rate is a probability per step and must lie in (0, 1], got {max_rate}")
    flat = x.flatten(1).detach().cpu().double()
    if flat.numel() and (flat.min() < 0 or flat.max() > 1):
        raise ValueError("spike encoding needs inputs in [0, 1]")
    u = torch.rand((flat.shape[0], steps, flat.shape[1]), generator=generator, dtype=torch.float64)
    return (u < flat[:, None, :] * max_rate).to(x.device, torch.float64)
