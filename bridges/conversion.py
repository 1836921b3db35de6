"""ANN-to-SNN conversion: data-based normalisation and the snntorch twin of the Brian2 IF network.

Pipeline: a ReLU MLP trained by any rate-based rule -> :func:`normalise` (weights rescaled layer by
layer so that the chosen statistic of every layer's activation on training data equals the
threshold 1) -> simulated as integrate-and-fire layers with reset by subtraction, either in Brian2
(:func:`spiking.ifnet.simulate_if`) or in the batched snntorch twin (:class:`IFTwin`), which
implements exactly the discrete-time semantics documented in :mod:`spiking.ifnet`.

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
>>> twin = IFTwin(conv.weights, conv.biases)
>>> twin.counts(x.double(), steps=50)[-1].shape
torch.Size([64, 3])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate
from torch import Tensor, nn

from ratebased.models import MLP

__all__ = ["ConvertedNet", "mlp_layers", "normalise", "IFTwin", "poisson_spikes", "NORMALISATIONS"]

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
        raise ValueError(f"conversion needs ReLU hidden units (rate = max(0, a)); the model uses "
                         f"{model.activation.name!r}")
    return list(model.layers)


@torch.no_grad()
def normalise(model: nn.Module, x: Tensor, *, method: str = "max", percentile: float = 99.9,
              batch_size: int = 2048) -> ConvertedNet:
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
    Bs = [(l.bias.detach().double().cpu() if l.bias is not None else torch.zeros(l.out_features, dtype=torch.float64))
          for l in layers]
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
        lam = float(flat.max()) if q == 1.0 else float(torch.quantile(flat[: 16_000_000], q))
        if lam <= 0:
            lam = 1.0  # a dead layer: nothing to scale
        out_w.append((w * (prev / lam)).numpy())
        out_b.append((b / lam).numpy())
        scales.append(lam)
        prev = lam
        h = a
    return ConvertedNet(out_w, out_b, scales, method, 100.0 * q)


def poisson_spikes(x: Tensor, steps: int, *, max_rate: float = 1.0, generator: Optional[torch.Generator] = None) -> Tensor:
    """Bernoulli (discrete Poisson) spike trains ``(N, steps, D)``: pixel ``x`` fires with probability
    ``x * max_rate`` per step (drawn on the CPU from ``generator``: identical on every device)."""
    if not 0 < max_rate <= 1:
        raise ValueError(f"max_rate is a probability per step and must lie in (0, 1], got {max_rate}")
    flat = x.flatten(1).detach().cpu().double()
    if flat.numel() and (flat.min() < 0 or flat.max() > 1):
        raise ValueError("spike encoding needs inputs in [0, 1]")
    u = torch.rand((flat.shape[0], steps, flat.shape[1]), generator=generator, dtype=torch.float64)
    return (u < flat[:, None, :] * max_rate).to(x.device, torch.float64)


class IFTwin(nn.Module):
    """snntorch twin of :func:`spiking.ifnet.simulate_if`: same semantics, batched, differentiable.

    Every layer is an ``nn.Linear`` followed by ``snn.Leaky(beta=1, threshold=1,
    reset_mechanism="subtract")`` (non-leaky integrate-and-fire, reset by subtraction applied with
    the next input, spike when ``v > 1``), with the one-step synaptic delay of the Brian2 network.
    The surrogate gradient (fast sigmoid) makes white-box attacks on the spiking network possible.

    Parameters
    ----------
    weights, biases : converted parameters (see :class:`ConvertedNet`)
    dtype : torch dtype of the simulation (float64 to agree with Brian2 to the last bits)
    slope : surrogate-gradient steepness
    """

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], *,
                 dtype: torch.dtype = torch.float64, slope: float = 5.0) -> None:
        super().__init__()
        from spiking.ifnet import check_if_network  # validation shared with the Brian2 side

        check_if_network(weights, biases)
        self.fcs = nn.ModuleList()
        for w, b in zip(weights, biases):
            fc = nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
            with torch.no_grad():
                fc.weight.copy_(torch.as_tensor(np.asarray(w)))
                fc.bias.copy_(torch.as_tensor(np.asarray(b)))
            fc.requires_grad_(False)
            self.fcs.append(fc)
        grad = surrogate.fast_sigmoid(slope=slope)
        self.neurons = nn.ModuleList(
            snn.Leaky(beta=1.0, threshold=1.0, reset_mechanism="subtract", spike_grad=grad) for _ in weights)
        self.dtype = dtype

    def first_current(self, x: Tensor) -> Tensor:
        """The constant first-layer current ``W_1 x + b_1`` of ``"current"`` input, ``(N, n_1)``."""
        return self.fcs[0](x.flatten(1).to(self.dtype))

    def _steps(self, inputs: Tensor, steps: int, mode: str):
        """Yield the spikes of every layer at each step (the core loop of the simulation)."""
        if mode not in ("current", "spikes"):
            raise ValueError(f"unknown input mode {mode!r}; valid: current, spikes")
        if mode == "spikes" and (inputs.dim() != 3 or inputs.shape[1] != steps):
            raise ValueError(f"'spikes' input must have shape (N, steps={steps}, n_in); got {tuple(inputs.shape)}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        x = inputs.to(self.dtype)
        n = x.shape[0]
        mems = [torch.zeros(n, fc.out_features, dtype=self.dtype, device=x.device) for fc in self.fcs]
        prev = [torch.zeros(n, fc.in_features, dtype=self.dtype, device=x.device) for fc in self.fcs]
        const = self.first_current(x) if mode == "current" else None
        for t in range(steps):
            new = []
            for l, (fc, lif) in enumerate(zip(self.fcs, self.neurons)):
                cur = const if (l == 0 and const is not None) else fc(prev[l])
                spk, mems[l] = lif(cur, mems[l])
                new.append(spk.to(self.dtype))  # snntorch's Heaviside returns float32
            yield new
            # one step of synaptic delay: layer l+1 sees layer l's spikes of this step at the next step
            prev = [x[:, t, :] if mode == "spikes" else prev[0]] + new[:-1]

    def run(self, inputs: Tensor, steps: int, mode: str = "current") -> list[Tensor]:
        """Spike trains of every layer, each ``(steps, N, n_l)``.

        ``inputs``: ``(N, n_0)`` analog (``"current"``) or ``(N, steps, n_0)`` spike trains (``"spikes"``).
        """
        trains = [[] for _ in self.fcs]
        for spikes in self._steps(inputs, steps, mode):
            for l, s in enumerate(spikes):
                trains[l].append(s)
        return [torch.stack(tr) for tr in trains]

    @torch.no_grad()
    def output_counts_at(self, inputs: Tensor, checkpoints: Sequence[int], mode: str = "current") -> dict[int, Tensor]:
        """Output spike counts ``(N, n_out)`` after each number of steps in ``checkpoints``, from one
        simulation of ``max(checkpoints)`` steps (the network is causal; nothing is stored per step)."""
        marks = sorted(set(int(c) for c in checkpoints))
        total = None
        out = {}
        for t, spikes in enumerate(self._steps(inputs, marks[-1], mode), start=1):
            total = spikes[-1].clone() if total is None else total + spikes[-1]
            if t in marks:
                out[t] = total.clone()
        return out

    def counts(self, inputs: Tensor, steps: int, mode: str = "current") -> list[Tensor]:
        """Spike counts per sample and neuron for every layer, each ``(N, n_l)``."""
        return [tr.sum(0) for tr in self.run(inputs, steps, mode)]

    def forward(self, inputs: Tensor, steps: int = 100, mode: str = "current") -> Tensor:
        """Output spike counts ``(N, n_out)`` as logits (differentiable through the surrogate)."""
        return self.counts(inputs, steps, mode)[-1]
