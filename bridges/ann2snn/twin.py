"""The snntorch twin of the Brian2 integrate-and-fire network of a converted ANN.

:class:`IFNetworkTwin` implements exactly the discrete-time semantics of
:func:`spiking.ifnet.simulate_if` (documented in :mod:`spiking.ifnet`), batched and differentiable.

Example
-------
>>> import torch, ratebased as rb
>>> from bridges.ann2snn import normalise
>>> net = rb.MLP(4, (8,), 3); x = torch.rand(64, 4)
>>> conv = normalise(net, x, method="max")
>>> twin = IFNetworkTwin(conv.weights, conv.biases)
>>> twin.counts(x.double(), steps=50)[-1].shape
torch.Size([64, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate
from torch import Tensor, nn

__all__ = ["IFNetworkTwin"]


class IFNetworkTwin(nn.Module):
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

    def __init__(
        self,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        *,
        dtype: torch.dtype = torch.float64,
        slope: float = 5.0,
    ) -> None:
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
            snn.Leaky(beta=1.0, threshold=1.0, reset_mechanism="subtract", spike_grad=grad) for _ in weights
        )
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
