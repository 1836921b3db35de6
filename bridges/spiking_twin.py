"""snntorch twin of the Brian2 spiking classifiers (evaluation mode) and their weights in torch.

The Brian2 networks of :mod:`spiking.network` (both rules: ``stdp-association``, a reconstruction
of Gupta 2020, arXiv 2011.12012; ``local-error``, Mostafa, Ramesh & Cauwenberghs 2018, arXiv
1711.06756, in DECOLLE's spiking form, arXiv 1811.10766) are re-implemented here step by step in
torch, with plasticity off and the learned state frozen, so that

* given the same input spike trains, :class:`SpikingTwin` and Brian2 (``numpy`` target) emit the
  **same spikes** (checked neuron by neuron in ``tests/test_spiking_twin.py``), and
* the twin is batched, runs on any torch device, and is differentiable: the spike
  non-linearity uses snntorch's fast-sigmoid surrogate gradient (SuperSpike, Zenke & Ganguli
  2018, arXiv 1705.11146) and the Poisson encoder a straight-through estimator, so white-box
  attacks (FGSM with expectation over transformation) can be run on the spiking network itself.

Discrete-time semantics (what Brian2 2.9 generates for these equations, numpy target)
------------------------------------------------------------------------------------
See :func:`spiking.equations.lif_update_semantics`. Brian2 integrates the linear membrane equation
with ``method="exact"``; after its loop-invariant optimisation the generated arithmetic is, with
``e = exp((-dt) / tau_m)`` (SI units: volts, seconds)::

    plain layer   : v <- (v_rest - v_rest * e) + e * v
    teacher layer : v <- v_rest + ((I_teach + e * v) + e * ((0 - v_rest) - I_teach))   (I_teach = 0 here)

(the ``teacher`` form is the STDP rule's output layer). Both are ``A + (e * v + B)`` with
per-layer constants (:func:`membrane_constants`), which the twin evaluates in the same order, in
volts, so float64 results are bit-identical. Per step, for every layer (all layers see the same
step): (1) refractoriness ``nr = (n - last_spike) >= R`` with ``R = timestep(t_ref, dt)``
(:func:`refractory_steps`), ``v`` updated only where ``nr``; (2) spike ``v > v_thresh + theta`` and
``nr``; spiking neurons become refractory at once; (3) synaptic events of this step, in Brian2's
schedule order (objects sorted by name: every ``inh_*`` pathway before every ``syn_*`` one):
lateral inhibition ``v <- clip(v - w_inh, v_floor, 1 V)`` once per other spiking neuron of the
layer, then excitation ``v <- v + W[i, j]`` for each presynaptic spike ``i`` (ascending ``i``);
Brian2 skips **both** for refractory targets (``v`` carries ``(unless refractory)``);
(4) ``v <- v_reset`` for the neurons that spiked. Input spikes exist only in the first
``steps_present`` steps of a sample. Every sample starts from ``v = v_rest``, no refractoriness.

Why not ``snn.Leaky``: its update (``beta * mem + input``, then threshold, reset from the previous
step) cannot express Brian2's order (threshold *between* the decay and this step's input), the
non-zero resting potential with Brian2's rounding, refractoriness, or the clipped subtractive
lateral inhibition (``snn.Leaky(inhibition=True)`` is a winner-take-all). The membrane update is
therefore plain torch (pure functions below); the spike non-linearity is snntorch's
:func:`snntorch.surrogate.fast_sigmoid` applied to ``(v - threshold) / sg_width``, whose gradient
``1 / (1 + |u|)^2`` is the project's ``fast-sigmoid`` surrogate (:data:`spiking.params.SURROGATES`).

Summation order (``summation``): Brian2 adds simultaneous presynaptic spikes one by one
(``numpy.add.at``, ascending presynaptic index). ``"sequential"`` does the same (bit-exact, slower,
for verification); ``"matmul"`` (default) adds ``spikes @ W`` and subtracts ``k * w_inh`` in one go,
which can differ from Brian2 in the last bits of ``v``: a spike differs only if ``v`` lands within
~1e-16 relative of the threshold. Compiled Brian2 targets (``cython``/``cpp_standalone``, built with
``-ffast-math``) round differently anyway; exact agreement is defined against the ``numpy`` target.

Input encoding. Brian2 draws its Poisson spikes inside the network (``rand() < rate * dt`` per
input and step), so the twin cannot see those draws; to compare both on identical inputs,
:func:`brian2_run_from_spikes` drives the project's own :func:`spiking.network.build_network`
with given spike trains, and :meth:`SpikingTwin.run_spikes` runs the twin on the same trains.
The differentiable :meth:`SpikingTwin.forward` encodes features ``x`` in [0, 1] like
:mod:`spiking.encoders` (``rate = x * max_rate_hz`` or the ``total_rate_hz`` normalisation), draws
``s = [u < p]``, ``p = rate * dt``, ``u ~ U(0, 1)`` from a torch generator, and passes the gradient
of the expectation ``E[s] = p`` (straight-through: ``s + p - stop_grad(p)``, forward value exactly
0/1, ``ds/dp = 1``). Averaging the output over ``n_draws`` spike draws is expectation over
transformation (Athalye et al. 2018, "Synthesizing Robust Adversarial Examples", arXiv 1707.07397).
Without ``generator``/``seed`` the draws come from torch's global CPU generator, which is what
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

Weights. The state is ``W_<pre>_<post>`` in mV with layout ``W[pre, post]``, ``theta_<layer>`` in
mV, ``M_<layer>`` (dimensionless readouts, local-error rule); :func:`import_spiking_weights`
validates it (Brian2 ``Quantity`` values are accepted when their dimension is right) and
:func:`to_rate_mlp` turns it into a ``ratebased.MLP`` with ``weight = W.T / (1 mV)``, zero biases:
a rate-model **approximation** of the spiking network (it ignores thresholds, leak, refractoriness
and inhibition), useful for transfer attacks and comparisons, not a conversion.

Example
-------
>>> import torch
>>> from spiking import NetworkConfig, SimParams, init_state
>>> cfg = NetworkConfig(rule="local-error", n_in=6, hidden=(5, 4), n_out=3,
...                     sim=SimParams(dt_ms=1.0, t_present_ms=20.0))
>>> twin = build_twin(cfg, init_state(cfg, seed=0))
>>> twin(torch.rand(2, 6), seed=0, n_draws=4).shape
torch.Size([2, 3])
>>> spikes = twin.encode(torch.rand(2, 6), seed=1)        # (N, steps_present, n_in)
>>> sorted(twin.run_spikes(spikes))
['h1', 'h2', 'out']
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import brian2 as b2
import numpy as np
import torch
from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions
from snntorch import surrogate
from torch import Tensor, nn

from ratebased.models import MLP
from spiking.encoders import latency_steps
from spiking.network import init_state_shapes, layer_names, projection_names, skip_projections
from spiking.params import LIFParams, NetworkConfig

__all__ = [
    "LayerSpec",
    "SUMMATIONS",
    "WEIGHT_UNIT_MV",
    "import_spiking_weights",
    "export_spiking_weights",
    "membrane_constants",
    "refractory_steps",
    "SpikingTwin",
    "TwinDynamics",
    "simulate",
    "build_twin",
    "to_rate_mlp",
    "rate_mlp_to_state",
    "Brian2SpikeRun",
    "brian2_run_from_spikes",
    "brian2_numpy_input_spikes",
]

#: The documented unit of every weight/threshold in a spiking state: numbers are millivolts.
#: The rate model's dimensionless weight is ``W / (WEIGHT_UNIT_MV mV)``.
WEIGHT_UNIT_MV = 1.0

_MV = 1e-3  # float(brian2.mV): the factor Brian2 applies to every mV number (same rounding)
_MS = 1e-3  # float(brian2.ms)
_NEVER = -(2**40)  # "last spike step" of a neuron that has not spiked in this sample


# ----------------------------------------------------------------------------- layer description
@dataclass(frozen=True, eq=False)
class LayerSpec:
    """One spiking layer of a Brian2 classifier, as the twin needs it (numpy, float64, mV).

    Attributes
    ----------
    name, pre : str
        Layer name (``h1``.. ``out``) and the name of the layer feeding it (``in``, ``h1``, ...).
    weight_mV : ndarray (n_pre, n)
        Feed-forward weights ``W[pre, post]`` in mV (PSP jump per spike).
    theta_mV : ndarray (n,)
        Frozen adaptive threshold (zeros without adaptation).
    adaptive : bool
        Whether the state carries ``theta_<name>`` (the layer's LIF adapts).
    lif : LIFParams
    inhibition_mV : float
        Lateral inhibition per spike of another neuron of the layer (0: none).
    teacher_form : bool
        The membrane equation carries the teacher drive (STDP rule's output layer), which changes
        Brian2's generated arithmetic (see :func:`membrane_constants`).
    readout : ndarray (n, n_out) or None
        Fixed random readout ``M_<name>`` (local-error hidden layers); unused in evaluation, kept
        so that ``state -> twin -> state`` is complete.
    skips : tuple of (str, ndarray (n_skip_pre, n))
        Further incoming projections that skip layers (``("h1", W_h1_out)`` for an STDP network
        with ``skip_stdp``), weights in mV.
    """

    name: str
    pre: str
    weight_mV: np.ndarray
    theta_mV: np.ndarray
    adaptive: bool
    lif: LIFParams
    inhibition_mV: float
    teacher_form: bool
    readout: Optional[np.ndarray] = None
    skips: tuple[tuple[str, np.ndarray], ...] = ()

    @property
    def n(self) -> int:
        return int(self.weight_mV.shape[1])

    @property
    def n_pre(self) -> int:
        return int(self.weight_mV.shape[0])

    @property
    def weight_name(self) -> str:
        return f"W_{self.pre}_{self.name}"


def _stdp_layer_kinds(cfg: NetworkConfig) -> list[tuple[LIFParams, float, bool]]:
    p = cfg.params
    kinds = [(p.hidden_lif, float(p.inhibition_mV), False) for _ in cfg.hidden]
    return kinds + [(p.output_lif, float(p.output_inhibition_mV), True)]


def _local_error_layer_kinds(cfg: NetworkConfig) -> list[tuple[LIFParams, float, bool]]:
    lif = cfg.params.lif
    if lif.adaptive:
        raise ValueError(
            "LocalErrorParams.lif.theta_plus_mV > 0 (adaptive threshold) is not supported: the local-error "
            "state has no theta_<layer> arrays and spiking.network cannot build it; set theta_plus_mV=0"
        )
    return [(lif, 0.0, False) for _ in cfg.layer_sizes]


#: Rule name -> (LIF params, lateral inhibition mV, teacher form) of every layer, as built by
#: ``spiking.network`` (``_build_stdp`` / ``_build_local_error``) in evaluation mode.
_RULE_LAYERS: dict[str, Callable[[NetworkConfig], list[tuple[LIFParams, float, bool]]]] = {
    "stdp-association": _stdp_layer_kinds,
    "local-error": _local_error_layer_kinds,
}


def _to_float_array(value, name: str, *, volt: bool) -> np.ndarray:
    """numpy float64 copy of a state entry; Brian2 quantities must have the right dimension."""
    if isinstance(value, b2.Quantity):
        dim = get_dimensions(value)
        if volt:
            if dim != b2.volt.dim:
                raise ValueError(
                    f"state[{name!r}] is a Brian2 quantity with dimension {dim}, but it is a potential: pass "
                    f"volts (e.g. w * mV) or plain numbers in mV"
                )
            arr = np.asarray(value / b2.mV, dtype=np.float64)
        else:
            if dim is not DIMENSIONLESS:
                raise ValueError(
                    f"state[{name!r}] is a Brian2 quantity with dimension {dim}, but it is dimensionless; "
                    "divide by its unit first"
                )
            arr = np.asarray(value, dtype=np.float64)
    else:
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"state[{name!r}] must be a numeric array, got {type(value).__name__}") from err
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"state[{name!r}] contains NaN or inf; the network state is corrupt")
    return np.array(arr, dtype=np.float64, copy=True)


def import_spiking_weights(config: NetworkConfig, state: Mapping[str, object]) -> dict[str, LayerSpec]:
    """Validate a spiking state and describe every layer (input to output) for torch.

    Parameters
    ----------
    config : NetworkConfig
    state : mapping
        ``W_<pre>_<post>`` ``(n_pre, n_post)``, ``theta_<layer>`` ``(n,)`` (numbers in mV, or Brian2
        quantities with dimension volt) and ``M_<layer>`` ``(n, n_out)`` (dimensionless), exactly the
        keys of :func:`spiking.network.init_state` for ``config``.

    Returns
    -------
    dict name -> LayerSpec, ordered ``h1, ..., out`` (copies; the caller's arrays are not aliased).

    Raises
    ------
    ValueError
        Missing or unexpected keys, wrong shapes, NaN/inf, a quantity with the wrong dimension.

    Example
    -------
    >>> from spiking import NetworkConfig, init_state
    >>> cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
    >>> layers = import_spiking_weights(cfg, init_state(cfg, seed=0))
    >>> [(k, v.weight_mV.shape, v.teacher_form) for k, v in layers.items()]
    [('h1', (4, 3), False), ('out', (3, 2), True)]
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a spiking.params.NetworkConfig, got {type(config).__name__}")
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict of arrays (see spiking.network.init_state), got {type(state).__name__}")
    expected = init_state_shapes(config)
    skips = skip_projections(config)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(
            f"state does not match the config (rule {config.rule!r}, layers {config.layer_sizes}): missing "
            f"{missing}, unexpected {extra}; expected keys {sorted(expected)} (make one with "
            "spiking.network.init_state(config, seed) or load the state saved with this config)"
        )
    arrays = {}
    for name, shape in expected.items():
        arr = _to_float_array(state[name], name, volt=not name.startswith("M_"))
        if arr.shape != shape:
            raise ValueError(f"state[{name!r}] has shape {arr.shape}, expected {shape} (layout W[pre, post], "
                             "M[neuron, class])")
        arrays[name] = arr
    kinds = _RULE_LAYERS[config.rule](config)
    layers: dict[str, LayerSpec] = {}
    for (pre, post), (lif, inh, teacher) in zip(projection_names(config), kinds):
        n = arrays[f"W_{pre}_{post}"].shape[1]
        theta_key = f"theta_{post}"
        layers[post] = LayerSpec(
            name=post, pre=pre, weight_mV=arrays[f"W_{pre}_{post}"],
            theta_mV=arrays.get(theta_key, np.zeros(n)), adaptive=theta_key in arrays, lif=lif,
            inhibition_mV=inh, teacher_form=teacher, readout=arrays.get(f"M_{post}"),
            skips=tuple((a, arrays[f"W_{a}_{b}"]) for a, b in skips if b == post),
        )
    return layers


def export_spiking_weights(layers: Mapping[str, LayerSpec]) -> dict[str, np.ndarray]:
    """Inverse of :func:`import_spiking_weights`: the state dict (float64 copies, mV)."""
    state: dict[str, np.ndarray] = {}
    for spec in layers.values():
        state[spec.weight_name] = np.array(spec.weight_mV, dtype=np.float64, copy=True)
        if spec.adaptive:
            state[f"theta_{spec.name}"] = np.array(spec.theta_mV, dtype=np.float64, copy=True)
        if spec.readout is not None:
            state[f"M_{spec.name}"] = np.array(spec.readout, dtype=np.float64, copy=True)
        for pre, w in spec.skips:
            state[f"W_{pre}_{spec.name}"] = np.array(w, dtype=np.float64, copy=True)
    return state


# ----------------------------------------------------------------------------- pure dynamics
def membrane_constants(lif: LIFParams, dt_ms: float, *, teacher_form: bool) -> tuple[float, float, float]:
    """Constants ``(A, e, B)`` (volts, 1, volts) of the exact membrane step ``v <- A + (e * v + B)``.

    They are computed with numpy float64 scalars exactly as Brian2's generated scalar code does:
    ``e = exp((-dt) / tau_m)``; plain layer ``A = v_rest - v_rest * e``, ``B = 0``; teacher layer
    (teacher drive ``I_teach = 0`` in evaluation) ``A = v_rest``, ``B = e * (0 - v_rest)``.

    Example
    -------
    >>> A, e, B = membrane_constants(LIFParams(tau_m_ms=20.0), 1.0, teacher_form=False)
    >>> round(e, 6), B
    (0.951229, 0.0)
    """
    dt = np.float64(dt_ms) * np.float64(_MS)
    tau = np.float64(lif.tau_m_ms) * np.float64(_MS)
    v_rest = np.float64(lif.v_rest_mV) * np.float64(_MV)
    e = np.exp((-dt) / tau)
    if teacher_form:
        return float(v_rest), float(e), float(e * (np.float64(0.0) - v_rest))
    return float(v_rest - v_rest * e), float(e), 0.0


def refractory_steps(lif: LIFParams, dt_ms: float) -> int:
    """``R = timestep(t_ref, dt)`` as Brian2 computes it: ``int64((t_ref + 1e-3 dt) / dt)``.

    A neuron that spiked at step ``m`` is refractory (membrane frozen, synaptic input ignored)
    until step ``m + R - 1`` and integrates again from step ``m + R``.
    """
    dt = np.float64(dt_ms) * np.float64(_MS)
    t_ref = np.float64(lif.t_ref_ms) * np.float64(_MS)
    return int(np.array((t_ref + 1e-3 * dt) / dt, dtype=np.int64))


def decay_step(v: Tensor, nr: Tensor, A: float, e: float, B: float) -> Tensor:
    """Exact leak over one step for non-refractory neurons (``v`` frozen where refractory)."""
    return torch.where(nr, A + (e * v + B), v)


def inhibit_sequential(v: Tensor, nr: Tensor, k: Tensor, w_inh: float, v_floor: float) -> Tensor:
    """``k`` times ``v <- clip(v - w_inh, v_floor, 1 V)`` (one per other spiking neuron), as
    Brian2 applies them one event at a time; refractory targets are skipped."""
    n_max = int(k.max()) if k.numel() else 0
    for r in range(n_max):
        v = torch.where(nr & (k > r), torch.clamp(v - w_inh, v_floor, 1.0), v)
    return v


def inhibit_matmul(v: Tensor, nr: Tensor, k: Tensor, w_inh: float, v_floor: float) -> Tensor:
    """Closed form of :func:`inhibit_sequential`: ``clip(v - k w_inh, v_floor, 1 V)`` (equal up to
    rounding, since the lower clip commutes with further subtraction)."""
    return torch.where(nr & (k > 0), torch.clamp(v - k * w_inh, v_floor, 1.0), v)


def excite_sequential(v: Tensor, nr: Tensor, s_pre: Tensor, w: Tensor) -> Tensor:
    """``v_j += W[i, j]`` for every presynaptic spike ``i`` in ascending order (Brian2's
    ``numpy.add.at``), only for non-refractory ``j``."""
    new = v
    active = torch.nonzero(s_pre.detach().any(dim=0)).flatten().tolist()
    for i in active:
        new = new + s_pre[:, i : i + 1] * w[i]
    return torch.where(nr, new, v)


def excite_matmul(v: Tensor, nr: Tensor, s_pre: Tensor, w: Tensor) -> Tensor:
    """``v += s_pre @ W`` for non-refractory neurons (same sum, another rounding order)."""
    return torch.where(nr, v + s_pre @ w, v)


#: Summation mode -> (excitation, inhibition) step functions (see the module doc).
SUMMATIONS: dict[str, tuple[Callable, Callable]] = {
    "matmul": (excite_matmul, inhibit_matmul),
    "sequential": (excite_sequential, inhibit_sequential),
}


def _resolve_summation(name: str) -> tuple[Callable, Callable]:
    key = str(name).lower()
    if key not in SUMMATIONS:
        raise ValueError(f"unknown summation {name!r}; valid: {sorted(SUMMATIONS)}")
    return SUMMATIONS[key]


@dataclass(frozen=True)
class _LayerDyn:
    """Per-layer constants of the step (SI units, Python floats)."""

    A: float
    e: float
    B: float
    v_rest: float
    v_reset: float
    v_thresh: float
    v_floor: float
    w_inh: float
    R: int


def _layer_dyn(spec: LayerSpec, dt_ms: float) -> _LayerDyn:
    A, e, B = membrane_constants(spec.lif, dt_ms, teacher_form=spec.teacher_form)
    lif = spec.lif
    return _LayerDyn(
        A=A, e=e, B=B,
        v_rest=float(np.float64(lif.v_rest_mV) * _MV), v_reset=float(np.float64(lif.v_reset_mV) * _MV),
        v_thresh=float(np.float64(lif.v_thresh_mV) * _MV), v_floor=float(np.float64(lif.v_floor_mV) * _MV),
        w_inh=float(np.float64(spec.inhibition_mV) * _MV), R=refractory_steps(lif, dt_ms),
    )


def _brian2_order(post: str, pres: list[str]) -> list[str]:
    """Presynaptic layers of ``post`` in the order Brian2 runs their pathways (same ``when`` and
    ``order``, so sorted by object name ``syn_<pre>_<post>``); matters for float64 bit-equality."""
    return sorted(pres, key=lambda q: f"syn_{q}_{post}")


def _spike_fn(v: Tensor, thr: Tensor, inv_width: float) -> Tensor:
    """Heaviside ``[v > thr]`` with the fast-sigmoid surrogate of ``u = (v - thr) / width``.

    ``v - thr > 0`` iff ``v > thr`` for finite floats, and scaling by a positive constant keeps
    the sign, so the forward value is Brian2's spike condition bit for bit.
    """
    return _FAST_SIGMOID((v - thr) * inv_width).to(v.dtype)


_FAST_SIGMOID = surrogate.fast_sigmoid(slope=1.0)


@dataclass(frozen=True)
class TwinDynamics:
    """Everything the step loop needs besides weights and thresholds (see :func:`simulate`)."""

    layers: tuple[_LayerDyn, ...]
    #: per layer, the incoming projections in Brian2's schedule order (pathways sorted by their
    #: ``syn_<pre>_<post>`` names): index -1 = the input group, k >= 0 = layer k
    sources: tuple[tuple[int, ...], ...]
    n_in: int
    steps: int
    steps_present: int
    inv_width: float
    excite: Callable
    inhibit: Callable


def simulate(dyn: TwinDynamics, weights: list[Tensor], thresholds: list[Tensor], n: int,
             input_at: Callable[[int], Tensor], *, record_v: bool = False, dtype: torch.dtype = torch.float64,
             device: Optional[torch.device] = None) -> tuple[list[Tensor], list[Tensor]]:
    """The twin's step loop (Brian2's schedule, see the module doc) for ``n`` samples.

    Parameters
    ----------
    dyn : TwinDynamics
    weights : per layer, a Tensor ``(n_pre, n_l)`` in volts, or a list of them, one per entry of
        ``dyn.sources[l]`` (layers with skip projections); thresholds : list of ``(n_l,)`` in volts
    input_at : callable ``t -> (n, n_in)`` input spikes of step ``t < dyn.steps_present``
    record_v : also return ``v`` after every step (``(n, steps, n_l)`` per layer, detached)

    Returns
    -------
    counts : list of Tensor ``(n, n_l)`` (differentiable through the surrogate), traces : list
    """
    incoming = [list(w) if isinstance(w, (list, tuple)) else [w] for w in weights]
    for l, ws in enumerate(incoming):
        if len(ws) != len(dyn.sources[l]):
            raise ValueError(f"layer {l} has {len(dyn.sources[l])} incoming projections but {len(ws)} weight tensors")
    sizes = [int(ws[0].shape[1]) for ws in incoming]
    v = [torch.full((n, m), d.v_rest, dtype=dtype, device=device) for m, d in zip(sizes, dyn.layers)]
    last = [torch.full((n, m), _NEVER, dtype=torch.int64, device=device) for m in sizes]
    counts = [torch.zeros((n, m), dtype=dtype, device=device) for m in sizes]
    silent = torch.zeros((n, dyn.n_in), dtype=dtype, device=device)
    traces: list[list[Tensor]] = [[] for _ in sizes]
    for t in range(dyn.steps):
        s_in = input_at(t) if t < dyn.steps_present else silent
        nr, spikes = [], []
        for l, d in enumerate(dyn.layers):  # groups, then thresholds (layers are independent here)
            ok = (t - last[l]) >= d.R
            v[l] = decay_step(v[l], ok, d.A, d.e, d.B)
            s = _spike_fn(v[l], thresholds[l], dyn.inv_width) * ok.to(dtype)
            fired = s > 0
            last[l] = torch.where(fired, torch.full_like(last[l], t), last[l])
            nr.append(ok & ~fired)  # a neuron that fires is refractory at once (thresholder)
            spikes.append(s)
        for l, d in enumerate(dyn.layers):  # synapses: every inh_* pathway sorts before syn_* in Brian2
            if d.w_inh > 0:
                k = spikes[l].sum(dim=1, keepdim=True).expand_as(v[l])  # spikes of the others (nr excludes own)
                v[l] = dyn.inhibit(v[l], nr[l], k, d.w_inh, d.v_floor)
            for src, w in zip(dyn.sources[l], incoming[l]):
                v[l] = dyn.excite(v[l], nr[l], s_in if src < 0 else spikes[src], w)
        for l, d in enumerate(dyn.layers):  # resets
            v[l] = torch.where(spikes[l] > 0, torch.full_like(v[l], d.v_reset), v[l])
            counts[l] = counts[l] + spikes[l]
        if record_v:
            for l in range(len(v)):
                traces[l].append(v[l].detach())
    return counts, [torch.stack(tr, dim=1) for tr in traces] if record_v else []


# ----------------------------------------------------------------------------- the twin
class SpikingTwin(nn.Module):
    """snntorch/torch twin of a Brian2 spiking classifier in evaluation mode (see module doc).

    Build it with :func:`build_twin`. The state is held as float64 buffers under the state's own
    names (``W_in_h1``, ``theta_h1``, ``M_h1``, ... in mV), so ``state -> twin -> state`` is exact;
    the simulation uses ``W * 1e-3`` volts in ``dtype``.

    Parameters
    ----------
    config : NetworkConfig
    layers : dict name -> LayerSpec (from :func:`import_spiking_weights`)
    dtype : torch.float64 (bit-exact with Brian2's numpy target) or torch.float32
    summation : {"matmul", "sequential"}
        How simultaneous synaptic events are summed (module doc).
    sg_width_mV : float, optional
        Width of the surrogate gradient (``u = (v - threshold) / width``); default: the
        local-error rule's ``sg_width_mV``, 2 mV for the STDP rule.

    Small networks run fastest with ``torch.set_num_threads(1)`` (tensors of a few hundred
    elements per step; intra-op threads only add overhead).

    Shapes
    ------
    ``run_spikes``: ``(N, steps_present, n_in)`` 0/1 -> dict layer -> counts ``(N, n_layer)``;
    ``forward``: features ``(N, ...)`` with ``n_in`` values in [0, 1] -> output counts ``(N, n_out)``.
    """

    def __init__(self, config: NetworkConfig, layers: Mapping[str, LayerSpec], *,
                 dtype: torch.dtype = torch.float64, summation: str = "matmul",
                 sg_width_mV: Optional[float] = None) -> None:
        super().__init__()
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype must be torch.float64 (exact) or torch.float32, got {dtype}")
        if list(layers) != layer_names(config):
            raise ValueError(f"layers {list(layers)} do not match the config's {layer_names(config)}; build them "
                             "with import_spiking_weights(config, state)")
        if sg_width_mV is None:
            sg_width_mV = float(config.params.sg_width_mV) if config.rule == "local-error" else 2.0
        if not (math.isfinite(sg_width_mV) and sg_width_mV > 0):
            raise ValueError(f"sg_width_mV must be a positive number, got {sg_width_mV!r}")
        self.config = config
        self.dtype = dtype
        self.summation = str(summation).lower()
        self.names = list(layers)
        self._specs = dict(layers)
        excite, inhibit = _resolve_summation(summation)
        index = {name: k for k, name in enumerate(["in", *layers])}
        self._incoming = [_brian2_order(spec.name, [spec.pre, *(q for q, _ in spec.skips)]) for spec in layers.values()]
        self.dynamics = TwinDynamics(
            layers=tuple(_layer_dyn(spec, config.sim.dt_ms) for spec in layers.values()),
            sources=tuple(tuple(index[q] - 1 for q in pres) for pres in self._incoming), n_in=config.n_in,
            steps=config.sim.steps_per_sample, steps_present=config.sim.steps_present,
            inv_width=1.0 / (sg_width_mV * _MV), excite=excite, inhibit=inhibit,
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

    def _weights_volt(self) -> list[list[Tensor]]:
        return [[(getattr(self, f"W_{q}_{spec.name}") * _MV).to(self.dtype) for q in pres]
                for spec, pres in zip(self._specs.values(), self._incoming)]

    def _thresholds(self) -> list[Tensor]:
        out = []
        for spec, dyn in zip(self._specs.values(), self.dynamics.layers):
            theta = getattr(self, f"theta_{spec.name}") if spec.adaptive else torch.zeros(
                spec.n, dtype=torch.float64, device=self.device)
            out.append((dyn.v_thresh + theta * _MV).to(self.dtype))
        return out

    def _simulate(self, n: int, input_at: Callable[[int], Tensor],
                  record_v: bool = False) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        counts, traces = simulate(self.dynamics, self._weights_volt(), self._thresholds(), n, input_at,
                                  record_v=record_v, dtype=self.dtype, device=self.device)
        return dict(zip(self.names, counts)), (dict(zip(self.names, traces)) if record_v else {})

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
        return self._simulate(s.shape[0], lambda t: s[:, t, :])[0]

    @torch.no_grad()
    def membrane_traces(self, input_spikes: Tensor) -> dict[str, Tensor]:
        """Membrane potentials in volts, ``(N, steps_per_sample, n_layer)`` per layer, at the end of
        every step (after resets: what a Brian2 ``StateMonitor`` records), for given input trains."""
        s = self.check_spikes(input_spikes)
        return self._simulate(s.shape[0], lambda t: s[:, t, :], record_v=True)[1]

    def check_features(self, x: Tensor) -> Tensor:
        """Flatten ``(N, ...)`` features to ``(N, n_in)`` in ``dtype``; they must be finite, in [0, 1]."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor of features in [0, 1], got {type(x).__name__}")
        if x.dim() < 2 or int(np.prod(x.shape[1:])) != self.n_in:
            raise ValueError(f"x must have shape (N, {self.n_in}) or (N, ...) with {self.n_in} values per sample "
                             f"(the network's n_in); got {tuple(x.shape)}")
        flat = x.flatten(1).to(device=self.device, dtype=self.dtype)
        if not torch.isfinite(flat).all():
            raise ValueError("x contains NaN or inf; clean the data (or the adversarial step) first")
        if flat.numel() and (flat.min() < 0 or flat.max() > 1):
            raise ValueError(f"x must lie in [0, 1] (got [{float(flat.min()):.4g}, {float(flat.max()):.4g}]); "
                             "clamp adversarial examples to [0, 1]")
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
            scale = torch.where(sums > 0, float(cfg.total_rate_hz) / torch.where(sums > 0, sums, 1.0),
                                torch.zeros_like(sums))
            rates = torch.minimum(feats * scale, torch.full_like(feats, float(cfg.max_rate_hz)))
        return self.dt_s * rates

    def _input_fn(self, x: Tensor, n_draws: int, generator: Optional[torch.Generator]) -> tuple[int, Callable]:
        if self.config.encoding == "latency":
            if x.requires_grad:
                raise ValueError("latency encoding is not differentiable in x (the spike step is a step function "
                                 "of the feature); use encoding='poisson' or attack the rate model (to_rate_mlp)")
            steps = torch.as_tensor(latency_steps(self.check_features(x).cpu().numpy(), self.steps_present),
                                    device=self.device).repeat(n_draws, 1)
            return steps.shape[0], lambda t: (steps == t).to(self.dtype)
        p = self.spike_probability(x).repeat(n_draws, 1)  # draw-major: row d * N + i
        p_cpu = p.detach().cpu().double()

        def draw(t: int) -> Tensor:
            u = torch.rand(p_cpu.shape, generator=generator, dtype=torch.float64)
            hard = (u < p_cpu).to(device=self.device, dtype=self.dtype)
            return hard + (p - p.detach())  # straight-through: value 0/1, gradient of E[s] = p

        return p.shape[0], draw

    @staticmethod
    def _generator(generator: Optional[torch.Generator], seed: Optional[int]) -> Optional[torch.Generator]:
        if generator is not None and seed is not None:
            raise ValueError("pass either generator or seed, not both")
        if seed is not None:
            return torch.Generator().manual_seed(int(seed))
        return generator

    def encode(self, x: Tensor, *, generator: Optional[torch.Generator] = None,
               seed: Optional[int] = None) -> Tensor:
        """Input spike trains ``(N, steps_present, n_in)`` of features ``x``: Poisson draws
        ``[u < dt * rate]`` (the same draws :meth:`forward` makes with the same generator state and
        ``n_draws=1``), or Brian2's latency code (deterministic). Straight-through differentiable."""
        gen = self._generator(generator, seed)
        n, fn = self._input_fn(x, 1, gen)
        return torch.stack([fn(t) for t in range(self.steps_present)], dim=1)

    def forward(self, x: Tensor, *, generator: Optional[torch.Generator] = None, seed: Optional[int] = None,
                n_draws: int = 1) -> Tensor:
        """Output spike counts ``(N, n_out)`` ("logits"), averaged over ``n_draws`` input spike draws.

        Spike draws come from ``generator`` (or a fresh one seeded with ``seed``; CPU, float64, so
        the draws are the same on every device). Gradients reach ``x`` through the straight-through
        Poisson encoder and the surrogate spike function.
        """
        if not (isinstance(n_draws, int) and n_draws >= 1):
            raise ValueError(f"n_draws must be a positive int, got {n_draws!r}")
        n = x.shape[0] if isinstance(x, Tensor) and x.dim() >= 1 else 0
        b, fn = self._input_fn(x, n_draws, self._generator(generator, seed))
        out = self._simulate(b, fn)[0][self.names[-1]]
        return out.reshape(n_draws, n, -1).mean(dim=0)

    def extra_repr(self) -> str:
        sizes = (self.n_in, *self.config.layer_sizes)
        return (f"rule={self.config.rule!r}, sizes={sizes}, steps={self.steps} (present {self.steps_present}), "
                f"dt_ms={self.config.sim.dt_ms}, dtype={self.dtype}, summation={self.summation!r}")


def build_twin(config: NetworkConfig, state: Mapping[str, object], *, dtype: torch.dtype = torch.float64,
               summation: str = "matmul", sg_width_mV: Optional[float] = None,
               device: Optional[torch.device | str] = None) -> SpikingTwin:
    """The :class:`SpikingTwin` of ``config`` with the frozen ``state`` (weights, thresholds, readouts).

    Example
    -------
    >>> from spiking import NetworkConfig, init_state
    >>> cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
    >>> state = init_state(cfg, seed=0)
    >>> twin = build_twin(cfg, state)
    >>> all((twin.to_state()[k] == state[k]).all() for k in state)
    True
    """
    twin = SpikingTwin(config, import_spiking_weights(config, state), dtype=dtype, summation=summation,
                       sg_width_mV=sg_width_mV)
    return twin if device is None else twin.to(device)


# ----------------------------------------------------------------------------- rate model
def _refuse_skips(config: NetworkConfig) -> None:
    if skip_projections(config):
        raise ValueError(f"the spiking network has skip projections {skip_projections(config)} (skip_stdp) that "
                         "ratebased.MLP cannot express; use the SpikingTwin (build_twin) for this network")


def to_rate_mlp(config: NetworkConfig, state: Mapping[str, object], *, activation: str = "relu",
                dtype: torch.dtype = torch.float64) -> MLP:
    """A ``ratebased.MLP`` with the spiking network's topology and learned weights.

    ``layers[k].weight = W_k.T / (1 mV)`` (shape ``(n_post, n_pre)``, dimensionless), biases zero,
    no skip connections. This is an **approximation** of the spiking dynamics: a unit's output is
    ``f(sum_i W_ij h_i)``, ignoring the threshold, leak, refractoriness, adaptive thresholds and
    lateral inhibition; use it for transfer attacks and weight analyses, and the
    :class:`SpikingTwin` for the spiking behaviour. Exact inverse: :func:`rate_mlp_to_state`
    (in float64).

    Example
    -------
    >>> from spiking import NetworkConfig, init_state
    >>> cfg = NetworkConfig(rule="local-error", n_in=4, hidden=(3,), n_out=2)
    >>> mlp = to_rate_mlp(cfg, init_state(cfg, seed=0))
    >>> [tuple(l.weight.shape) for l in mlp.layers]
    [(3, 4), (2, 3)]
    """
    layers = import_spiking_weights(config, state)
    _refuse_skips(config)
    mlp = MLP(config.n_in, config.hidden, config.n_out, activation=activation, skip=False, bias=True).to(dtype)
    with torch.no_grad():
        for lin, spec in zip(mlp.layers, layers.values()):
            lin.weight.copy_(torch.as_tensor(spec.weight_mV.T / WEIGHT_UNIT_MV, dtype=dtype))
            lin.bias.zero_()
    return mlp


def rate_mlp_to_state(config: NetworkConfig, model: MLP,
                      base_state: Optional[Mapping[str, object]] = None) -> dict[str, np.ndarray]:
    """Weights of a rate MLP back into a spiking state (``W = weight.T * 1 mV``, float64 numpy).

    Thresholds and readouts (``theta_*``, ``M_*``) come from ``base_state`` (required when the
    config has them). Raises if the topology differs, a bias is non-zero (the spiking network
    has no bias) or a weight is NaN/inf.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a ratebased.MLP, got {type(model).__name__}")
    _refuse_skips(config)
    projs = projection_names(config)
    if model.skip or len(model.layers) != len(projs):
        raise ValueError(f"the model has {len(model.layers)} layers (skip={model.skip}) but the spiking network has "
                         f"{len(projs)} projections and no skip connections")
    state: dict[str, np.ndarray] = {}
    for (pre, post), lin in zip(projs, model.layers):
        w = lin.weight.detach().cpu().double().numpy()
        if lin.bias is not None and bool(torch.any(lin.bias != 0)):
            raise ValueError(f"layer {pre}->{post} has non-zero biases; the spiking network has none (train with "
                             "bias=False or zero them)")
        state[f"W_{pre}_{post}"] = np.array(w.T * WEIGHT_UNIT_MV, dtype=np.float64)
    others = sorted(set(init_state_shapes(config)) - set(state))
    if others:
        if base_state is None:
            raise ValueError(f"the config also needs {others}; pass base_state (e.g. the state the MLP came from)")
        for key in others:
            if key not in base_state:
                raise ValueError(f"base_state lacks {key!r}")
            state[key] = np.array(base_state[key], dtype=np.float64, copy=True)
    import_spiking_weights(config, state)  # full validation (shapes, finiteness)
    return state


# ----------------------------------------------------------------------------- Brian2 driver
@dataclass
class Brian2SpikeRun:
    """What :func:`brian2_run_from_spikes` returns.

    Attributes
    ----------
    counts : dict layer -> int64 array (N, n_layer)
        Spikes per sample and neuron.
    v_volt : dict layer -> float64 array (N, steps_per_sample, n_layer), or None
        Membrane potential (volts) at the end of every step (after resets), when recorded.
    """

    counts: dict[str, np.ndarray]
    v_volt: Optional[dict[str, np.ndarray]] = None


def brian2_run_from_spikes(config: NetworkConfig, state: Mapping[str, object], input_spikes: np.ndarray, *,
                           n_copies: int = 1, target: str = "numpy", record_v: bool = False) -> Brian2SpikeRun:
    """Run the project's Brian2 network (evaluation build of :func:`spiking.network.build_network`)
    on **given** input spike trains.

    The network is built unchanged; only its stimulus ``TimedArray`` is replaced, before the
    run, by a per-step one holding ``0`` or ``2 / dt`` Hz, so that the input threshold
    ``rand() < rate * dt`` fires exactly where ``input_spikes`` is 1 (``rand() < 2``). A latency
    config is driven through the same Poisson input group (nothing else in an evaluation build
    depends on the encoding). Sample ``s * n_copies + c`` runs in slot ``s``, copy ``c``.

    Parameters
    ----------
    config, state : as for :func:`build_twin`
    input_spikes : array (N, steps_present, n_in) of 0/1, ``N`` a multiple of ``n_copies``
    n_copies : int
        Parallel copies per slot (``spiking.network``'s evaluation layout).
    target : {"numpy", "cython"}
        Runtime targets only (``numpy`` is the one the twin matches bit for bit).
    record_v : bool
        Also record every membrane potential at every step (small networks only).

    Returns
    -------
    Brian2SpikeRun
    """
    from spiking.device import brian_device
    from spiking.network import build_network

    if target not in ("numpy", "cython"):
        raise ValueError(f"target must be 'numpy' or 'cython' (runtime), got {target!r}")
    plain_state = export_spiking_weights(import_spiking_weights(config, state))
    sim = config.sim
    x = np.asarray(input_spikes)
    P, T, n_in = sim.steps_present, sim.steps_per_sample, config.n_in
    if x.ndim != 3 or x.shape[1:] != (P, n_in):
        raise ValueError(f"input_spikes must have shape (N, steps_present={P}, n_in={n_in}), got {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise ValueError("input_spikes must hold only 0 and 1")
    K = int(n_copies)
    if K < 1 or len(x) == 0 or len(x) % K:
        raise ValueError(f"the number of samples ({len(x)}) must be a positive multiple of n_copies ({n_copies})")
    S = len(x) // K
    dt = float(np.float64(sim.dt_ms) * _MS)
    values = np.zeros((S, T, K * n_in))
    values[:, :P, :] = x.reshape(S, K, P, n_in).transpose(0, 2, 1, 3).reshape(S, P, K * n_in) * (2.0 / dt)
    cfg = dataclasses.replace(config, encoding="poisson")
    with brian_device(target):
        built = build_network(cfg, plain_state, n_slots=S, n_copies=K, learning=False)
        if "stim" not in built.inp.namespace:
            raise RuntimeError("spiking.network's input group no longer reads its stimulus from a TimedArray named "
                               "'stim'; update brian2_run_from_spikes")
        built.inp.namespace["stim"] = b2.TimedArray(values.reshape(S * T, K * n_in) * b2.Hz,
                                                    dt=sim.dt_ms * b2.ms, name="stim_given_spikes")
        vmons = {}
        if record_v:
            vmons = {name: b2.StateMonitor(g, "v", record=True, when="end", name=f"twin_v_{name}")
                     for name, g in built.layers.items()}
            built.net.add(*vmons.values())
        built.net.run(built.duration, namespace={})
        mons = {**built.count_mons, "out": built.out_mon}
        counts, traces = {}, {}
        for name in layer_names(config):
            mon = mons[name]
            n = len(mon.source) // K
            i = np.asarray(mon.i[:], dtype=np.int64)
            step = np.rint(np.asarray(mon.t[:] / b2.ms, dtype=np.float64) / sim.dt_ms).astype(np.int64)
            c = np.zeros((S * K, n), dtype=np.int64)
            np.add.at(c, ((step // T) * K + i // n, i % n), 1)
            counts[name] = c
            if record_v:
                v = np.asarray(vmons[name].v_, dtype=np.float64)  # (K * n, S * T), volts
                traces[name] = v.reshape(K, n, S, T).transpose(2, 0, 3, 1).reshape(S * K, T, n).copy()
    return Brian2SpikeRun(counts=counts, v_volt=traces if record_v else None)


def brian2_numpy_input_spikes(config: NetworkConfig, stim: np.ndarray, *, rng_seed: int,
                              n_copies: int = 1) -> np.ndarray:
    """The input spike trains Brian2's ``numpy`` target draws inside one run of the network.

    In runtime ``numpy`` mode, after ``brian2.seed(rng_seed)`` (what
    :class:`spiking.engine.RuntimeEngine` does before each chunk), the input group's threshold
    ``rand() < stim * dt`` draws ``numpy.random.rand(n_copies * n_in)`` once per step, in every
    step of the run (also while the stimulus is off). This replays those draws, so the twin can be
    run on exactly the spikes a Brian2 evaluation saw. Other targets use other generators:
    there, drive both with given trains (:func:`brian2_run_from_spikes`).

    Parameters
    ----------
    config : NetworkConfig
    stim : array (n_slots * n_copies, n_in)
        The chunk's stimulus in sample order (Poisson rates in Hz, as
        ``SpikingClassifier.encode``; latency configs: spike steps, no randomness involved).
    rng_seed : int
        The chunk's Brian2 seed (``spiking.model.chunk_seed``).
    n_copies : int

    Returns
    -------
    ndarray (n_slots * n_copies, steps_present, n_in) of 0/1
    """
    sim = config.sim
    stim = np.asarray(stim, dtype=np.float64)
    n_in, K = config.n_in, int(n_copies)
    if stim.ndim != 2 or stim.shape[1] != n_in or len(stim) == 0 or len(stim) % K:
        raise ValueError(f"stim must have shape (n_slots * n_copies, {n_in}) with n_copies={K}, got {stim.shape}")
    P, T, S = sim.steps_present, sim.steps_per_sample, len(stim) // K
    out = np.zeros((S * K, P, n_in))
    if config.encoding == "latency":
        for t in range(P):
            out[:, t, :] = stim == t
        return out
    dt = np.float64(sim.dt_ms) * np.float64(_MS)
    rs = np.random.RandomState(int(rng_seed))
    by_slot = stim.reshape(S, K * n_in)
    for step in range(S * T):
        u = rs.rand(K * n_in)
        s, t = divmod(step, T)
        if t < P:
            fired = (by_slot[s] > 0) & (u < dt * by_slot[s])
            out[s * K:(s + 1) * K, t, :] = fired.reshape(K, n_in)
    return out
