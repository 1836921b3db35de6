"""Pure step functions of the spiking-network twin: membrane constants, spike function, step loop.

The functional core under :class:`bridges.twin.SpikingNetworkTwin` (in the spirit of norse's
``functional/lif.py`` under ``module/lif.py``): nothing here holds state; :func:`simulate` runs the
evaluation-mode dynamics of a Brian2 STDP / spiking-local network of :mod:`spiking.network` for
given weights, thresholds and input spikes, with the constants of :class:`TwinDynamics`.

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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from snntorch import surrogate
from torch import Tensor

from spiking.params import LIFParams

if TYPE_CHECKING:  # annotations only
    from .weights import LayerSpec

__all__ = [
    "SUMMATIONS",
    "membrane_constants",
    "refractory_steps",
    "decay_step",
    "inhibit_sequential",
    "inhibit_matmul",
    "excite_sequential",
    "excite_matmul",
    "TwinDynamics",
    "simulate",
    "simulate_layers",
    "kernels_apply",
    "poisson_raster",
    "poisson_sampler",
]

_MV = 1e-3  # float(brian2.mV): the factor Brian2 applies to every mV number (same rounding)
_MS = 1e-3  # float(brian2.ms)
_NEVER = -(2**40)  # "last spike step" of a neuron that has not spiked in this sample


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
        A=A,
        e=e,
        B=B,
        v_rest=float(np.float64(lif.v_rest_mV) * _MV),
        v_reset=float(np.float64(lif.v_reset_mV) * _MV),
        v_thresh=float(np.float64(lif.v_thresh_mV) * _MV),
        v_floor=float(np.float64(lif.v_floor_mV) * _MV),
        w_inh=float(np.float64(spec.inhibition_mV) * _MV),
        R=refractory_steps(lif, dt_ms),
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


def simulate(
    dyn: TwinDynamics,
    weights: list[Tensor],
    thresholds: list[Tensor],
    n: int,
    input_at: Callable[[int], Tensor],
    *,
    record_v: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | None = None,
) -> tuple[list[Tensor], list[Tensor]]:
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


# ----------------------------------------------------------------------------- Poisson draws
def poisson_raster(p: Tensor, steps: int, generator: torch.Generator | None = None) -> Tensor:
    """Bernoulli spike trains ``(N, steps, n)`` uint8: every input ``i`` of sample ``b`` spikes in each
    step independently with probability ``p[b, i]`` (``p >= 1``: every step).

    Drawn by geometric gap skipping: the gap to the next spike is ``floor(log(u) / log(1 - p))``,
    ``u`` uniform in ``(0, 1]``, which has the distribution of a ``[u < p]`` draw per step but costs
    one random number per spike (plus one per input) instead of one per input and step: the inputs
    of the networks here spike in a few percent of the steps. With the compiled kernels
    (:mod:`bridges.twin.kernels`), one 63-bit seed is drawn from ``generator`` (torch's global CPU
    generator if None) and every row gets its own counter-based stream; without them, the uniforms
    come from ``generator`` itself (other draws, same distribution). Deterministic given the
    generator state; ``p`` is used in float64 on the CPU, so the draws are the same for every dtype
    and device. :func:`poisson_sampler` draws the same rows in pieces.

    Example
    -------
    >>> s = poisson_raster(torch.tensor([[0.0, 0.2, 1.0]]), 1000, torch.Generator().manual_seed(0))
    >>> s.shape, s[0, :, 0].sum().item(), s[0, :, 2].sum().item(), 150 < s[0, :, 1].sum().item() < 250
    (torch.Size([1, 1000, 3]), 0, 1000, True)
    """
    return poisson_sampler(p, steps, generator)(0, int(p.shape[0]))


def poisson_sampler(p: Tensor, steps: int, generator: torch.Generator | None = None) -> Callable[[int, int], Tensor]:
    """``rows(r0, r1)`` -> the spike trains of rows ``r0:r1`` of :func:`poisson_raster` ``(p, steps,
    generator)`` (the generator is read once, now), so that a batch can be simulated piece by piece."""
    from . import kernels

    q = p.detach().to("cpu", torch.float64)
    if q.dim() != 2:
        raise ValueError(f"p must have shape (N, n_inputs), got {tuple(q.shape)}")
    if kernels.available():
        seed = int(torch.randint(0, 2**63 - 1, (1,), generator=generator, dtype=torch.int64))
        return lambda r0, r1: kernels.poisson_raster(q[r0:r1], steps, seed, row0=r0)
    full = _torch_poisson_raster(q, steps, generator)
    return lambda r0, r1: full[r0:r1]


def _torch_poisson_raster(q: Tensor, steps: int, generator: torch.Generator | None) -> Tensor:
    rows, n = q.shape
    out = torch.zeros((rows, steps, n), dtype=torch.uint8)
    flat = q.reshape(-1)
    idx = torch.nonzero(flat > 0).flatten()
    log_q = torch.log1p(-flat[idx].clamp(max=1.0))  # -inf for p >= 1: gap 0
    pos = torch.full_like(idx, -1)
    while idx.numel():
        u = 1.0 - torch.rand(idx.numel(), generator=generator, dtype=torch.float64)  # (0, 1]
        gap = torch.floor(torch.log(u) / log_q).clamp(max=float(steps))
        pos = pos + 1 + gap.to(torch.int64)
        keep = pos < steps
        idx, pos, log_q = idx[keep], pos[keep], log_q[keep]
        out[idx // n, pos, idx % n] = 1
    return out


# ----------------------------------------------------------------------------- layer-by-layer engine
def kernels_apply(dyn: TwinDynamics) -> bool:
    """Whether :func:`simulate_layers` can run ``dyn``: the compiled kernels exist and every
    projection comes from the input or an earlier layer (feed-forward within a step)."""
    from . import kernels

    ordered = all(src < l for l, srcs in enumerate(dyn.sources) for src in srcs)
    return ordered and kernels.available()


#: layers of at most this many neurons pass the gradient of their sources' spikes to those sources'
#: kernels as ``(gexc, W)`` factors (:func:`bridges.twin.kernels.layer_backward`'s ``g_low``) rather
#: than as the ``(B, T, n_src)`` product ``gexc @ W.T``
LOW_RANK_MAX = 32


class _Plan:
    """One run of :func:`simulate_layers`: the layers, their weights and the input raster."""

    def __init__(self, dyn, weights, thresholds, raster, sequential, kind, threads):
        self.dyn, self.weights, self.thresholds = dyn, weights, thresholds
        self.raster, self.sequential, self.kind, self.threads = raster, sequential, kind, threads

    @staticmethod
    def consts(d: _LayerDyn) -> tuple[float, ...]:
        return (d.A, d.e, d.B, d.v_rest, d.v_reset, d.v_floor, d.w_inh)

    def forward(self, *, tape: bool, record_v: bool):
        from . import kernels

        runs = []
        for l, d in enumerate(self.dyn.layers):
            sources = [
                (self.raster if src < 0 else runs[src].spikes, w)
                for src, w in zip(self.dyn.sources[l], self.weights[l])
            ]
            runs.append(
                kernels.layer_forward(
                    consts=self.consts(d),
                    R=d.R,
                    sequential=self.sequential,
                    thr=self.thresholds[l],
                    sources=sources,
                    steps=self.dyn.steps,
                    record_v=record_v,
                    tape=tape,
                    threads=self.threads,
                )
            )
        dtype = self.thresholds[0].dtype
        return runs, [r.counts.to(dtype) for r in runs]

    def backward(self, runs, g_counts) -> Tensor | None:
        from . import kernels

        down: list[Tensor | None] = [None] * len(runs)
        low: list[list[tuple[Tensor, Tensor]]] = [[] for _ in runs]  # factors the source's kernel multiplies
        g_in = None
        P = self.dyn.steps_present
        for l in reversed(range(len(runs))):
            if g_counts[l] is None and down[l] is None and not low[l]:
                continue
            # a layer fed only by a Poisson input needs the sum of its input gradient over the steps
            only_rate_input = self.kind == "rate" and all(src < 0 for src in self.dyn.sources[l])
            gexc = kernels.layer_backward(
                consts=self.consts(self.dyn.layers[l]),
                inv_width=self.dyn.inv_width,
                thr=self.thresholds[l],
                run=runs[l],
                g_count=g_counts[l],
                g_down=down[l],
                g_low=low[l],
                sum_steps=P if only_rate_input else None,
                threads=self.threads,
            )
            low[l] = []
            if only_rate_input:
                for w in self.weights[l]:
                    part = gexc @ w.detach().to(gexc.dtype).T
                    g_in = part if g_in is None else g_in + part
                continue
            B, T, n = gexc.shape
            flat = gexc.reshape(B * T, n)
            for src, w in zip(self.dyn.sources[l], self.weights[l]):
                w = w.detach().to(gexc.dtype)
                if src >= 0 and n <= LOW_RANK_MAX:  # a small layer: its gradient stays factored
                    low[src].append((gexc, w))
                elif src >= 0:
                    if down[src] is None:
                        down[src] = (flat @ w.T).reshape(B, T, -1)
                    else:
                        down[src].view(B * T, -1).addmm_(flat, w.T)
                elif self.kind is not None:
                    part = gexc[:, :P].sum(dim=1) @ w.T if self.kind == "rate" else gexc[:, :P] @ w.T
                    g_in = part if g_in is None else g_in + part
        return g_in


class _KernelRun(torch.autograd.Function):
    """Autograd around :meth:`_Plan.forward`: gradients reach the input drive (Poisson probabilities
    through the straight-through estimator, or given spike trains)."""

    @staticmethod
    def forward(ctx, plan, drive):
        runs, counts = plan.forward(tape=True, record_v=False)
        ctx.plan, ctx.runs = plan, runs
        ctx.set_materialize_grads(False)
        return tuple(counts)

    @staticmethod
    def backward(ctx, *g_counts):
        g = ctx.plan.backward(ctx.runs, g_counts)
        ctx.runs = None
        return None, (None if g is None else g.to(ctx.plan.drive_dtype))


def simulate_layers(
    dyn: TwinDynamics,
    weights: list[list[Tensor]],
    thresholds: list[Tensor],
    raster: Tensor,
    *,
    drive: Tensor | None = None,
    kind: str | None = None,
    sequential: bool = False,
    record_v: bool = False,
    threads: int | None = None,
) -> tuple[list[Tensor], list[Tensor]]:
    """The twin's dynamics layer by layer over all steps with the compiled kernels (CPU).

    Same semantics as :func:`simulate` (``sequential`` picks the summation), computed in the dtype
    of ``thresholds``: each layer runs over every step at once, since within a step a layer only
    sees its own state and the spikes of the input and of earlier layers (:mod:`bridges.twin.kernels`).

    Parameters
    ----------
    weights : per layer, one ``(n_pre, n_l)`` tensor per entry of ``dyn.sources[l]`` (volts)
    thresholds : per layer ``(n_l,)`` (volts)
    raster : ``(N, steps_present, n_in)`` uint8 input spikes
    drive, kind : the differentiable input: ``kind="rate"``, ``drive`` the spike probabilities
        ``(N, n_in)`` (straight-through: ``d s_t / d p = 1`` in every step ``t < steps_present``), or
        ``kind="spikes"``, ``drive`` the spike trains ``(N, steps_present, n_in)``; gradients are
        computed only when ``drive`` requires them
    record_v : also return ``v`` after every step, ``(N, steps, n_l)`` per layer

    Returns
    -------
    counts : list of ``(N, n_l)`` tensors, traces : list (empty unless ``record_v``)
    """
    plan = _Plan(dyn, weights, thresholds, raster.to(torch.uint8).contiguous(), sequential, kind, threads)
    if drive is not None and drive.requires_grad and torch.is_grad_enabled() and not record_v:
        if kind not in ("rate", "spikes"):
            raise ValueError(f"kind must be 'rate' or 'spikes' with a drive, got {kind!r}")
        plan.drive_dtype = drive.dtype
        return list(_KernelRun.apply(plan, drive)), []
    runs, counts = plan.forward(tape=False, record_v=record_v)
    return counts, ([r.v for r in runs] if record_v else [])
