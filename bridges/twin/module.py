"""The nn.Module shells of the spiking-network twin: :class:`SpikingNetworkTwin`, :func:`build_twin`,
:class:`FlattenedInput`.

:class:`SpikingNetworkTwin` is the snntorch/torch twin of a Brian2 spiking STDP / spiking-local
classifier (:mod:`spiking.network`) in evaluation mode: it holds the frozen state as buffers, encodes
features into input spikes, and runs the pure step loop of :mod:`bridges.twin.dynamics`.

Input encoding. Brian2 draws its Poisson spikes inside the network (``rand() < rate * dt`` per
input and step), so the twin cannot see those draws; to compare both on identical inputs,
:func:`bridges.twin.replay.brian2_run_from_spikes` drives the project's own
:func:`spiking.network.build_network` with given spike trains, and
:meth:`SpikingNetworkTwin.run_spikes` runs the twin on the same trains.
The differentiable :meth:`SpikingNetworkTwin.forward` encodes features ``x`` in [0, 1] like
:mod:`spiking.encoders` (``rate = x * max_rate_hz`` or the ``total_rate_hz`` normalisation), draws
a spike in every input and step with probability ``p = rate * dt`` (Bernoulli, as Brian2's
``rand() < rate * dt``; drawn by geometric gap skipping from a torch generator,
:func:`bridges.twin.dynamics.poisson_raster`), and passes the gradient of the expectation
``E[s] = p`` (straight-through: ``s + p - stop_grad(p)``, forward value exactly 0/1, ``ds/dp = 1``).
Averaging the output over ``n_draws`` spike draws is expectation over transformation (Athalye et
al. 2018, "Synthesizing Robust Adversarial Examples", arXiv 1707.07397).
Without ``generator``/``seed`` the draws start from torch's global CPU generator, which is what
:mod:`bridges.attacks` seeds: ``fgsm(twin, x, y, eps, eot_samples=k, seed=s)`` attacks the spiking
network white-box (``functools.partial(twin, n_draws=m)`` batches ``m`` draws per pass).

Known divergence from Brian2 (a quirk of ``spiking/``, reported): Brian2's sample reset writes
``v = v_rest`` only to neurons that are not refractory at the sample boundary (``v`` is
``(unless refractory)``), so a neuron that spiked in the last ``R`` steps of the previous sample
starts the next one at ``v_reset``. The twin starts every sample at ``v_rest`` (the documented
semantics); the two differ only when ``v_reset != v_rest`` and activity reaches the end of a sample
(no difference with the default ``v_reset == v_rest`` or with enough ``t_rest_ms``). Teacher vs plain
form: for ``I_teach = 0`` both forms gave identical bits in all our trials; the twin still evaluates
Brian2's own form. Float64 buffers: devices without float64 (Apple MPS) are not supported.

Example
-------
>>> import torch
>>> from spiking import NetworkConfig, SimParams, init_state
>>> cfg = NetworkConfig(rule="spiking-local", n_in=6, hidden=(5, 4), n_out=3,
...                     sim=SimParams(dt_ms=1.0, t_present_ms=20.0))
>>> twin = build_twin(cfg, init_state(cfg, seed=0))
>>> type(twin).__name__
'SpikingNetworkTwin'
>>> twin(torch.rand(2, 6), seed=0, n_draws=4).shape
torch.Size([2, 3])
>>> spikes = twin.encode(torch.rand(2, 6), seed=1)        # (N, steps_present, n_in)
>>> sorted(twin.run_spikes(spikes))
['h1', 'h2', 'out']
>>> {k: tuple(v.shape) for k, v in twin.run_spikes(spikes).items()}
{'h1': (2, 5), 'h2': (2, 4), 'out': (2, 3)}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from spiking.config import NetworkConfig
from spiking.encoders import latency_steps
from spiking.state import layer_names

from .dynamics import (
    _MS,
    _MV,
    TwinDynamics,
    _brian2_order,
    _layer_dyn,
    _resolve_summation,
    kernels_apply,
    poisson_sampler,
    simulate,
    simulate_layers,
)
from .weights import LayerSpec, export_spiking_weights, import_spiking_weights

__all__ = ["SpikingNetworkTwin", "build_twin", "FlattenedInput", "ENGINES"]

#: How the twin runs its dynamics (see :class:`SpikingNetworkTwin`).
ENGINES = ("auto", "kernels", "steps")


# ----------------------------------------------------------------------------- the twin
class SpikingNetworkTwin(nn.Module):
    """snntorch/torch twin of a Brian2 spiking classifier in evaluation mode (see :mod:`bridges.twin`).

    Build it with :func:`build_twin`. The state is held as float64 buffers under the state's own
    names (``W_in_h1``, ``theta_h1``, ``M_h1``, ... in mV), so ``state -> twin -> state`` is exact;
    the simulation uses ``W * 1e-3`` volts in ``dtype``.

    Parameters
    ----------
    config : NetworkConfig
    layers : dict name -> LayerSpec (from :func:`import_spiking_weights`)
    dtype : torch.float64 (bit-exact with Brian2's numpy target) or torch.float32
    summation : {"matmul", "sequential"}
        How simultaneous synaptic events are summed (see :mod:`bridges.twin.dynamics`).
    sg_width_mV : float, optional
        Width of the surrogate gradient (``u = (v - threshold) / width``); default: the
        spiking-local rule's ``sg_width_mV``, 2 mV for the STDP rule.
    engine : {"auto", "kernels", "steps"}
        ``"kernels"``: every layer over all steps at once in compiled C (CPU, event-driven input;
        :mod:`bridges.twin.kernels`); ``"steps"``: the torch step loop :func:`~bridges.twin.dynamics.simulate`
        (any device; the reference formulation); ``"auto"``: the kernels on the CPU when they compile,
        else the step loop. Both give the same spikes (``"sequential"``: the same bits).

    Speed: the ``"kernels"`` engine runs each layer over all steps in compiled C, event-driven in
    the presynaptic spikes, the samples of a batch split over ``torch.get_num_threads()`` threads
    (for the 784-400-400-10 network, 200 steps: ~20x the step loop; ``bioplausible bench twin``
    measures it). The step loop runs fastest with ``torch.set_num_threads(1)`` (tensors of a few
    hundred elements per step; intra-op threads only add overhead, and much more on a loaded
    machine). Gradients: with the kernels, the gradient of the spike function stays in the twin's
    dtype (the step loop's passes through float32 in snntorch's fast sigmoid) and in
    ``"sequential"`` summation equals the ``"matmul"`` one (the step loop's sequential excitation
    gives no gradient to inputs silent in the whole batch at a step, nor its inhibition to ``k``).

    Shapes
    ------
    ``run_spikes``: ``(N, steps_present, n_in)`` 0/1 -> dict layer -> counts ``(N, n_layer)``;
    ``forward``: features ``(N, ...)`` with ``n_in`` values in [0, 1] -> output counts ``(N, n_out)``.
    """

    def __init__(
        self,
        config: NetworkConfig,
        layers: Mapping[str, LayerSpec],
        *,
        dtype: torch.dtype = torch.float64,
        summation: str = "matmul",
        sg_width_mV: float | None = None,
        engine: str = "auto",
    ) -> None:
        super().__init__()
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; valid: {list(ENGINES)}")
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype must be torch.float64 (exact) or torch.float32, got {dtype}")
        if list(layers) != layer_names(config):
            raise ValueError(
                f"layers {list(layers)} do not match the config's {layer_names(config)}; build them "
                "with import_spiking_weights(config, state)"
            )
        if sg_width_mV is None:
            sg_width_mV = config.rule_spec.surrogate_width_mV(config)
        if not (math.isfinite(sg_width_mV) and sg_width_mV > 0):
            raise ValueError(f"sg_width_mV must be a positive number, got {sg_width_mV!r}")
        self.config = config
        self.dtype = dtype
        self.summation = str(summation).lower()
        self.engine = engine
        self.names = list(layers)
        self._specs = dict(layers)
        excite, inhibit = _resolve_summation(summation)
        index = {name: k for k, name in enumerate(["in", *layers])}
        self._incoming = [_brian2_order(spec.name, [spec.pre, *(q for q, _ in spec.skips)]) for spec in layers.values()]
        self.dynamics = TwinDynamics(
            layers=tuple(_layer_dyn(spec, config.sim.dt_ms) for spec in layers.values()),
            sources=tuple(tuple(index[q] - 1 for q in pres) for pres in self._incoming),
            n_in=config.n_in,
            steps=config.sim.steps_per_sample,
            steps_present=config.sim.steps_present,
            inv_width=1.0 / (sg_width_mV * _MV),
            excite=excite,
            inhibit=inhibit,
        )
        self._state_keys = sorted(export_spiking_weights(layers))
        for key, arr in export_spiking_weights(layers).items():
            self.register_buffer(key, torch.as_tensor(arr, dtype=torch.float64))
        sim = config.sim
        self.steps_present = sim.steps_present
        self.steps = sim.steps_per_sample
        self.dt_s = float(np.float64(sim.dt_ms) * _MS)
        self.n_in = config.n_in

    # -------------------------------------------------------------- state
    def to_state(self) -> dict[str, np.ndarray]:
        """The spiking state (float64 numpy, mV), identical to the one the twin was built from."""
        return {k: getattr(self, k).detach().cpu().numpy().copy() for k in self._state_keys}

    @property
    def device(self) -> torch.device:
        return getattr(self, self._state_keys[0]).device

    def _volt_state(self) -> tuple[list[list[Tensor]], list[Tensor]]:
        """Weights and thresholds in volts and ``dtype``, converted once per state (the cache key is
        every buffer's storage and version, so ``load_state_dict``, ``.to()`` or an in-place edit
        renew it)."""
        key = tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in self.buffers())
        cached = getattr(self, "_volt_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self._weights_volt(), self._thresholds())
            self._volt_cache = cached
        return cached[1], cached[2]

    def _weights_volt(self) -> list[list[Tensor]]:
        return [
            [(getattr(self, f"W_{q}_{spec.name}") * _MV).to(self.dtype) for q in pres]
            for spec, pres in zip(self._specs.values(), self._incoming)
        ]

    def _thresholds(self) -> list[Tensor]:
        out = []
        for spec, dyn in zip(self._specs.values(), self.dynamics.layers):
            theta = (
                getattr(self, f"theta_{spec.name}")
                if spec.adaptive
                else torch.zeros(spec.n, dtype=torch.float64, device=self.device)
            )
            out.append((dyn.v_thresh + theta * _MV).to(self.dtype))
        return out

    def uses_kernels(self) -> bool:
        """Whether runs go through the compiled layer kernels (``engine``, device, compiler)."""
        if self.engine == "steps" or self.device.type != "cpu":
            if self.engine == "kernels":
                raise ValueError(f"engine='kernels' runs on the CPU only; the twin is on {self.device}")
            return False
        ok = kernels_apply(self.dynamics)
        if self.engine == "kernels" and not ok:
            raise ValueError("engine='kernels' needs a C compiler (see bridges.twin.kernels); use engine='auto'")
        return ok

    #: bytes of the largest per-layer array (``samples x steps x neurons``) of one kernel piece: a batch
    #: runs in pieces of at most this size, so buffers stay in the allocator's reuse range
    PIECE_BYTES = 16 << 20

    def _simulate(
        self,
        rows: Callable[[int, int], Tensor],
        n: int,
        drive: Tensor | None = None,
        kind: str | None = None,
        record_v: bool = False,
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Run ``n`` samples whose input spikes ``rows(r0, r1)`` gives (uint8 ``(r1 - r0, steps_present,
        n_in)``); ``drive`` is what gradients reach: the spike probabilities ``(n, n_in)`` (``kind="rate"``,
        straight-through) or the spike trains themselves (``kind="spikes"``)."""
        if not self.uses_kernels():
            raster = rows(0, n)
            counts, traces = simulate(
                self.dynamics,
                self._weights_volt(),
                self._thresholds(),
                n,
                self._input_at(raster, drive, kind),
                record_v=record_v,
                dtype=self.dtype,
                device=self.device,
            )
            return dict(zip(self.names, counts)), (dict(zip(self.names, traces)) if record_v else {})
        weights, thresholds = self._volt_state()
        per_sample = self.steps * max(self.config.layer_sizes) * torch.finfo(self.dtype).bits // 8
        piece = max(1, self.PIECE_BYTES // per_sample)
        piece = -(-n // -(-n // piece)) if n else piece  # equal pieces: 64 samples as 32 + 32, not 51 + 13
        parts = []
        for r0 in range(0, n, piece):
            r1 = min(n, r0 + piece)
            parts.append(
                simulate_layers(
                    self.dynamics,
                    weights,
                    thresholds,
                    rows(r0, r1),
                    drive=None if drive is None else drive[r0:r1],
                    kind=kind,
                    sequential=self.summation == "sequential",
                    record_v=record_v,
                )
            )
        if not parts:
            empty = [torch.zeros((0, m), dtype=self.dtype) for m in self.config.layer_sizes]
            parts = [(empty, [torch.zeros((0, self.steps, m), dtype=self.dtype) for m in self.config.layer_sizes])]
        counts = [torch.cat([c[l] for c, _ in parts]) for l in range(len(self.names))]
        traces = [torch.cat([t[l] for _, t in parts]) for l in range(len(self.names))] if record_v else []
        return dict(zip(self.names, counts)), (dict(zip(self.names, traces)) if record_v else {})

    def _input_at(self, raster: Tensor, drive: Tensor | None, kind: str | None) -> Callable[[int], Tensor]:
        if kind == "spikes" and drive is not None:
            return lambda t: drive[:, t, :]
        hard = raster.to(device=self.device)
        if kind == "rate" and drive is not None:
            st = drive - drive.detach()  # straight-through: value 0/1, gradient of E[s] = p
            return lambda t: hard[:, t, :].to(self.dtype) + st
        return lambda t: hard[:, t, :].to(self.dtype)

    # -------------------------------------------------------------- public API
    def check_spikes(self, input_spikes: Tensor) -> Tensor:
        """Validate ``(N, steps_present, n_in)`` 0/1 spike trains; returns them in ``dtype`` on the
        twin's device (a numpy array is accepted too)."""
        x = torch.as_tensor(input_spikes)
        want = (self.steps_present, self.n_in)
        if x.dim() != 3 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"input spikes must have shape (N, steps_present={want[0]}, n_in={want[1]}) (steps_present = "
                f"t_present_ms / dt_ms of the config; inputs are silent during t_rest_ms); got {tuple(x.shape)}"
            )
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError("input spikes contain NaN or inf; they must be 0/1")
        if not ((x == 0) | (x == 1)).all():
            raise ValueError("input spikes must hold only 0 and 1 (one spike per input and step at most)")
        return x.to(device=self.device, dtype=self.dtype)

    def run_spikes(self, input_spikes: Tensor) -> dict[str, Tensor]:
        """Spike counts ``(N, n_layer)`` of every layer (``h1``.. ``out``) for given input trains.

        Differentiable with respect to ``input_spikes`` (if it requires grad) through the surrogate.
        """
        s = self.check_spikes(input_spikes)
        hard = (s.detach() != 0).to(device="cpu", dtype=torch.uint8)
        return self._simulate(lambda r0, r1: hard[r0:r1], len(s), s, "spikes")[0]

    @torch.no_grad()
    def membrane_traces(self, input_spikes: Tensor) -> dict[str, Tensor]:
        """Membrane potentials in volts, ``(N, steps_per_sample, n_layer)`` per layer, at the end of
        every step (after resets: what a Brian2 ``StateMonitor`` records), for given input trains."""
        s = self.check_spikes(input_spikes)
        hard = (s != 0).to(device="cpu", dtype=torch.uint8)
        return self._simulate(lambda r0, r1: hard[r0:r1], len(s), record_v=True)[1]

    def check_features(self, x: Tensor) -> Tensor:
        """Flatten ``(N, ...)`` features to ``(N, n_in)`` in ``dtype``; they must be finite, in [0, 1]."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor of features in [0, 1], got {type(x).__name__}")
        if x.dim() < 2 or int(np.prod(x.shape[1:])) != self.n_in:
            raise ValueError(
                f"x must have shape (N, {self.n_in}) or (N, ...) with {self.n_in} values per sample "
                f"(the network's n_in); got {tuple(x.shape)}"
            )
        flat = x.flatten(1).to(device=self.device, dtype=self.dtype)
        if not torch.isfinite(flat).all():
            raise ValueError("x contains NaN or inf; clean the data (or the adversarial step) first")
        if flat.numel() and (flat.min() < 0 or flat.max() > 1):
            raise ValueError(
                f"x must lie in [0, 1] (got [{float(flat.min()):.4g}, {float(flat.max()):.4g}]); "
                "clamp adversarial examples to [0, 1]"
            )
        return flat

    def spike_probability(self, x: Tensor) -> Tensor:
        """Per-step spike probability ``p = dt * rate`` ``(N, n_in)`` of the Poisson encoder
        (:func:`spiking.encoders.poisson_rates` in torch, differentiable)."""
        if self.config.encoding != "poisson":
            raise ValueError(f"spike_probability needs encoding='poisson', the config uses {self.config.encoding!r}")
        feats = self.check_features(x)
        cfg = self.config
        if cfg.total_rate_hz is None:
            rates = feats * float(cfg.max_rate_hz)
        else:
            sums = feats.sum(dim=1, keepdim=True)
            scale = torch.where(
                sums > 0, float(cfg.total_rate_hz) / torch.where(sums > 0, sums, 1.0), torch.zeros_like(sums)
            )
            rates = torch.minimum(feats * scale, torch.full_like(feats, float(cfg.max_rate_hz)))
        return self.dt_s * rates

    def _draw(
        self, x: Tensor, n_draws: int, generator: torch.Generator | None
    ) -> tuple[Callable[[int, int], Tensor], int, Tensor | None]:
        """Input spikes of ``n_draws`` draws of ``x`` (draw-major: row ``d * N + i``) as ``rows(r0, r1)``
        -> uint8 ``(r1 - r0, steps_present, n_in)``, the number of rows, and the spike probabilities
        they are drawn with (None for latency codes: no gradient)."""
        if self.config.encoding == "latency":
            if x.requires_grad:
                raise ValueError(
                    "latency encoding is not differentiable in x (the spike step is a step function "
                    "of the feature); use encoding='poisson' or attack the rate model (to_rate_mlp)"
                )
            steps = torch.as_tensor(latency_steps(self.check_features(x).cpu().numpy(), self.steps_present))
            steps = steps.repeat(n_draws, 1)
            grid = torch.arange(self.steps_present)[None, :, None]
            return lambda r0, r1: (steps[r0:r1, None, :] == grid).to(torch.uint8), len(steps), None
        p = self.spike_probability(x).repeat(n_draws, 1)
        return poisson_sampler(p, self.steps_present, generator), len(p), p

    @staticmethod
    def _generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator | None:
        if generator is not None and seed is not None:
            raise ValueError("pass either generator or seed, not both")
        if seed is not None:
            return torch.Generator().manual_seed(int(seed))
        return generator

    def encode(self, x: Tensor, *, generator: torch.Generator | None = None, seed: int | None = None) -> Tensor:
        """Input spike trains ``(N, steps_present, n_in)`` of features ``x``: Poisson draws
        ``[u < dt * rate]`` (the same draws :meth:`forward` makes with the same generator state and
        ``n_draws=1``), or Brian2's latency code (deterministic). Straight-through differentiable."""
        rows, n, p = self._draw(x, 1, self._generator(generator, seed))
        hard = rows(0, n).to(device=self.device, dtype=self.dtype)
        return hard if p is None else hard + (p - p.detach())[:, None, :]  # straight-through

    def forward(
        self, x: Tensor, *, generator: torch.Generator | None = None, seed: int | None = None, n_draws: int = 1
    ) -> Tensor:
        """Output spike counts ``(N, n_out)`` ("logits"), averaged over ``n_draws`` input spike draws.

        Spike draws come from ``generator`` (or a fresh one seeded with ``seed``; CPU, float64, so
        the draws are the same on every device). Gradients reach ``x`` through the straight-through
        Poisson encoder and the surrogate spike function.
        """
        if not (isinstance(n_draws, int) and n_draws >= 1):
            raise ValueError(f"n_draws must be a positive int, got {n_draws!r}")
        n = x.shape[0] if isinstance(x, Tensor) and x.dim() >= 1 else 0
        rows, b, p = self._draw(x, n_draws, self._generator(generator, seed))
        out = self._simulate(rows, b, p, "rate")[0][self.names[-1]]
        return out.reshape(n_draws, n, -1).mean(dim=0)

    @torch.no_grad()
    def predict(self, x: Tensor, *, generator: torch.Generator | None = None, seed: int | None = None) -> Tensor:
        """Predicted classes ``(N,)`` of one input spike draw, as Brian2's classifier predicts them
        (:func:`spiking.model.predict_from_counts`): the output neuron with most spikes, a tie (often
        no output spike at all) to the tied neuron with the most synaptic drive during the sample,
        ``sum_pre counts_pre @ W_pre_out`` (mV; every presynaptic spike into the output adds its weight).

        Example
        -------
        >>> from spiking import NetworkConfig, init_state
        >>> cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(3,), n_out=2)
        >>> twin = build_twin(cfg, init_state(cfg, seed=0))
        >>> twin.predict(torch.full((5, 4), 0.5), seed=0).shape
        torch.Size([5])
        """
        n = x.shape[0] if isinstance(x, Tensor) and x.dim() >= 1 else 0
        rows, b, p = self._draw(x, 1, self._generator(generator, seed))
        counts = self._simulate(rows, b, p, "rate")[0]
        return self._classes(counts, lambda: rows(0, b).sum(dim=1))[:n]

    @torch.no_grad()
    def predict_spikes(self, input_spikes: Tensor) -> Tensor:
        """Predicted classes ``(N,)`` for given input trains ``(N, steps_present, n_in)``, with the
        tie-break of :meth:`predict`: on the spike trains a Brian2 evaluation drew
        (:func:`bridges.twin.brian2_numpy_input_spikes`) it predicts what Brian2 predicted."""
        s = self.check_spikes(input_spikes)
        hard = (s != 0).to(device="cpu", dtype=torch.uint8)
        counts = self._simulate(lambda r0, r1: hard[r0:r1], len(s))[0]
        return self._classes(counts, lambda: hard.sum(dim=1))

    def _classes(self, counts: dict[str, Tensor], input_counts: Callable[[], Tensor]) -> Tensor:
        """The output neuron with most spikes; ties to the tied neuron with most synaptic drive
        (``input_counts()``: spikes per input and sample, for a projection from the input)."""
        out_name = self.names[-1]
        out = counts[out_name].to(torch.float64)
        drive = torch.zeros_like(out)
        for pre in self._incoming[-1]:
            pre_counts = counts[pre] if pre in counts else input_counts()
            w = getattr(self, f"W_{pre}_{out_name}").to(drive.device)
            drive += pre_counts.to(torch.float64).to(drive.device) @ w
        best = out == out.max(dim=1, keepdim=True).values
        return torch.where(best, drive, torch.full_like(drive, -torch.inf)).argmax(dim=1)

    def extra_repr(self) -> str:
        sizes = (self.n_in, *self.config.layer_sizes)
        return (
            f"rule={self.config.rule!r}, sizes={sizes}, steps={self.steps} (present {self.steps_present}), "
            f"dt_ms={self.config.sim.dt_ms}, dtype={self.dtype}, summation={self.summation!r}, engine={self.engine!r}"
        )


def build_twin(
    config: NetworkConfig,
    state: Mapping[str, object],
    *,
    dtype: torch.dtype = torch.float64,
    summation: str = "matmul",
    sg_width_mV: float | None = None,
    device: torch.device | str | None = None,
    engine: str = "auto",
) -> SpikingNetworkTwin:
    """The :class:`SpikingNetworkTwin` of ``config`` with the frozen ``state`` (weights, thresholds,
    readouts).

    Example
    -------
    >>> from spiking import NetworkConfig, init_state
    >>> cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
    >>> state = init_state(cfg, seed=0)
    >>> twin = build_twin(cfg, state)
    >>> all((twin.to_state()[k] == state[k]).all() for k in state)
    True
    """
    twin = SpikingNetworkTwin(
        config,
        import_spiking_weights(config, state),
        dtype=dtype,
        summation=summation,
        sg_width_mV=sg_width_mV,
        engine=engine,
    )
    return twin if device is None else twin.to(device)


class FlattenedInput(nn.Module):
    """The snntorch twin taking images ``(N, C, H, W)`` in [0, 1]; its Poisson draws use torch's
    global generator, so an attack seeded through ``torch.random.fork_rng`` is deterministic.

    (Was ``FlatTwin`` in ``bridges.spiking_runs``.) Flattens ``x`` to ``(N, n_in)`` in the twin's
    dtype and calls the wrapped :class:`SpikingNetworkTwin`.

    Example
    -------
    >>> import torch
    >>> from spiking import NetworkConfig, SimParams, init_state
    >>> cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(3,), n_out=2,
    ...                     sim=SimParams(dt_ms=1.0, t_present_ms=20.0))
    >>> model = FlattenedInput(build_twin(cfg, init_state(cfg, seed=0), dtype=torch.float32))
    >>> model(torch.rand(5, 1, 2, 2)).shape
    torch.Size([5, 2])
    """

    def __init__(self, twin: nn.Module) -> None:
        super().__init__()
        self.twin = twin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.twin(x.flatten(1).to(self.twin.dtype))
