"""Spiking local errors (Mostafa, Ramesh & Cauwenberghs 2018, arXiv 1711.06756; spiking form as
DECOLLE, Kaiser, Mostafa & Neftci 2020, arXiv 1811.10766).

Every layer learns from its own fixed random readout by a three-factor update; nothing crosses
layers. This module holds the rule's parameters (:class:`LocalErrorParams`), its network builder
(:func:`build`, with the readouts), its run defaults and configuration checks, and registers it
under :data:`NAME`.

Example
-------
>>> from spiking.config import NetworkConfig
>>> cfg = NetworkConfig(rule=NAME, n_in=4, hidden=(3,), n_out=2)
>>> SPEC.extra_state_shapes(cfg), SPEC.surrogate_width_mV(cfg)
({'M_h1': (3, 2)}, 2.0)
>>> NetworkConfig(rule=NAME, n_in=4, hidden=(3,), n_out=2, params=LocalErrorParams(burn_in_ms=200.0))
... # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: LocalErrorParams.burn_in_ms (200.0) must be shorter than t_present_ms (100.0), or nothing ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import brian2 as b2
import numpy as np

from .. import equations as eq
from ..blocks import PLAIN_SYNAPSE, BuildContext, dense_indices, feedforward, neuron_layer
from ..params import SURROGATES, LIFParams, _finite, _require
from ..state import layer_names, projection_names
from .spec import RULES, LayerKind, RuleSpec, register_rule

if TYPE_CHECKING:
    from ..config import NetworkConfig

__all__ = ["NAME", "LocalErrorParams", "RUN_DEFAULTS", "build", "SPEC"]

#: Registered name of the rule.
NAME = "spiking-local"

#: Time grid and input rates of the rule's measured runs: shorter samples on a coarser grid than
#: the STDP rule's, and no normalisation of the total input rate.
RUN_DEFAULTS = {"dt_ms": 1.0, "t_present_ms": 50.0, "max_rate_hz": 200.0, "total_rate_hz": None}


@dataclass(frozen=True)
class LocalErrorParams:
    """Spiking local errors (Mostafa, Ramesh & Cauwenberghs 2018, arXiv 1711.06756; spiking form
    as DECOLLE, Kaiser, Mostafa & Neftci 2020, arXiv 1811.10766).

    Each hidden layer ``l`` has a fixed random readout ``M_l`` (uniform
    ``+-readout_scale / sqrt(n_l)``, never trained). Per step, with ``r`` the layer's filtered
    spikes and ``y`` the one-hot label scaled by ``target_on``, the local error is
    ``e = M_l r - y`` and each synapse changes by the three-factor product::

        dw_ij = -eta * dt_update * x_i * sigma'(v_j) * (M_l^T e)_j

    ``x_i`` is the presynaptic trace (``tau_pre_ms``; equal to ``tau_m`` it is exactly
    ``dv_j/dw_ij`` of a non-spiking delta-synapse LIF), ``sigma'`` the surrogate derivative.
    The output layer uses the identity as its readout (``e = r - y``). Nothing crosses layers.

    Parameters
    ----------
    lif : LIFParams
        Neuron parameters (all layers; no adaptive threshold).
    tau_pre_ms, tau_r_ms : float
        Presynaptic trace and readout filter time constants.
    eta_mV_per_s : float
        Learning rate (mV of weight per second of unit three-factor product).
    eta_out_mV_per_s : float or None
        Learning rate of the output projection (``None``: ``eta_mV_per_s``). The output's
        straight-through delta rule sums over every active hidden neuron, so its effective step is
        far larger than a hidden layer's at the same ``eta`` (its error is not bounded by a softmax).
        On MNIST 0.2 (preset ``spiking-local-out``) gives 93.7% after two epochs where ``None`` gives
        56% (docs/SPIKING.md); the default stays ``None`` so small embedded sets keep their settings.
    surrogate : str
        Name in :data:`SURROGATES` (hidden layers).
    output_surrogate : str
        Name in :data:`SURROGATES` for the output layer.
    sg_width_mV : float
        Surrogate width.
    target_on : float
        Target value of the readout for the label class (others 0).
    readout_scale : float
        Scale of the fixed random readouts.
    w_init_mV : float
        Initial weights uniform in ``+-w_init_mV * sqrt(100 / n_pre)``.
    w_bound_mV : float
        Weights are clipped to ``[-w_bound_mV, w_bound_mV]``.
    update_every : int
        Apply the update every ``update_every`` steps using the current factors times the
        elapsed time (1 = every step).
    burn_in_ms : float
        No update during the first ``burn_in_ms`` of every sample, while the filtered spikes
        ``r`` (reset to 0 at the sample start) build up (DECOLLE's burn-in).
    rate_reg : float
        Weight of a local activity regulariser added to every layer's projected error:
        ``delta + rate_reg * (r - r_target)`` (DECOLLE regularises activity the same way, on
        the neuron's own state only, so nothing crosses layers). 0 disables it.
    r_target : float
        Target of ``r`` for the regulariser (``r = 1`` is about ``1 / tau_r``, 50 Hz).
    loss : str
        Local loss of the hidden layers' readouts: ``"softmax"`` (cross-entropy, error
        ``softmax(beta * score) - y``, bounded and scale-free, as in Mostafa et al.; it cannot
        be lowered by firing faster) or ``"mse"`` (error ``score - target_on * y``).
    output_loss : str
        Loss of the output layer on its own rates ``r``; ``"mse"`` drives the label neuron to
        ``r = target_on`` and the others to silence, so the most active neuron is the answer.
    beta : float
        Inverse temperature of the softmax.
    """

    lif: LIFParams = field(default_factory=lambda: LIFParams(tau_m_ms=20.0, t_ref_ms=1.0))
    tau_pre_ms: float = 20.0
    tau_r_ms: float = 20.0
    eta_mV_per_s: float = 20.0
    eta_out_mV_per_s: float | None = None
    surrogate: str = "fast-sigmoid"
    output_surrogate: str = "straight-through"
    sg_width_mV: float = 2.0
    target_on: float = 1.0
    readout_scale: float = 1.0
    w_init_mV: float = 1.0
    w_bound_mV: float = 20.0
    update_every: int = 2
    burn_in_ms: float = 10.0
    rate_reg: float = 0.0
    r_target: float = 0.4
    loss: str = "softmax"
    output_loss: str = "mse"
    beta: float = 5.0

    def __post_init__(self) -> None:
        _finite(self)
        _require(self.tau_pre_ms > 0 and self.tau_r_ms > 0, "LocalErrorParams time constants must be > 0")
        _require(self.eta_mV_per_s >= 0, "LocalErrorParams.eta_mV_per_s must be >= 0")
        _require(
            self.eta_out_mV_per_s is None or self.eta_out_mV_per_s >= 0,
            f"LocalErrorParams.eta_out_mV_per_s must be >= 0 or None, got {self.eta_out_mV_per_s}",
        )
        _require(self.sg_width_mV > 0, "LocalErrorParams.sg_width_mV must be > 0")
        _require(self.w_bound_mV > 0, "LocalErrorParams.w_bound_mV must be > 0")
        _require(self.burn_in_ms >= 0, "LocalErrorParams.burn_in_ms must be >= 0")
        _require(self.rate_reg >= 0 and self.r_target >= 0, "LocalErrorParams.rate_reg and r_target must be >= 0")
        _require(self.beta > 0, "LocalErrorParams.beta must be > 0")
        _require(
            not self.lif.adaptive,
            f"LocalErrorParams.lif has an adaptive threshold (theta_plus_mV={self.lif.theta_plus_mV}), which "
            "the spiking-local rule does not model (no theta state); set theta_plus_mV=0",
        )
        for attr in ("loss", "output_loss"):
            val = str(getattr(self, attr)).lower()
            _require(
                val in ("softmax", "mse"), f"unknown {attr} {getattr(self, attr)!r}; choose one of ['mse', 'softmax']"
            )
            object.__setattr__(self, attr, val)
        _require(
            isinstance(self.update_every, int) and self.update_every >= 1,
            f"LocalErrorParams.update_every must be an int >= 1, got {self.update_every!r}",
        )
        for attr in ("surrogate", "output_surrogate"):
            name = str(getattr(self, attr)).lower()
            _require(
                name in SURROGATES,
                f"unknown {attr} {getattr(self, attr)!r}; choose one of {sorted(SURROGATES)}",
            )
            object.__setattr__(self, attr, name)


def _validate(cfg: NetworkConfig) -> None:
    _require(
        cfg.params.burn_in_ms < cfg.sim.t_present_ms,
        f"LocalErrorParams.burn_in_ms ({cfg.params.burn_in_ms}) must be shorter than t_present_ms "
        f"({cfg.sim.t_present_ms}), or nothing is ever learnt; lower burn_in_ms",
    )


def _layer_kinds(cfg: NetworkConfig) -> list[LayerKind]:
    lif = cfg.params.lif
    if lif.adaptive:
        raise ValueError(
            "LocalErrorParams.lif.theta_plus_mV > 0 (adaptive threshold) is not supported: the spiking-local "
            "state has no theta_<layer> arrays and spiking.network cannot build it; set theta_plus_mV=0"
        )
    return [(lif, 0.0, False) for _ in cfg.layer_sizes]


def _init_weights(
    cfg: NetworkConfig, pre: str, post: str, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """``W ~ U(-a, a)`` with ``a = w_init_mV * sqrt(100 / n_pre)``."""
    a = cfg.params.w_init_mV * np.sqrt(100.0 / shape[0])
    return rng.uniform(-a, a, size=shape)


def _extra_state_shapes(cfg: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """The fixed random readout ``M_<layer>`` ``(n, n_out)`` of every hidden layer."""
    return {f"M_{name}": (n, cfg.n_out) for name, n in zip(layer_names(cfg)[:-1], cfg.hidden)}


def _init_extra_state(cfg: NetworkConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Readouts ``M ~ U(-s, s)`` with ``s = readout_scale / sqrt(n_layer)`` (DECOLLE's scaling)."""
    state = {}
    for name, n in zip(layer_names(cfg)[:-1], cfg.hidden):
        s = cfg.params.readout_scale / np.sqrt(n)
        state[f"M_{name}"] = rng.uniform(-s, s, size=(n, cfg.n_out))
    return state


def _surrogate_width_mV(cfg: NetworkConfig) -> float:
    return float(cfg.params.sg_width_mV)


def build(ctx: BuildContext) -> None:
    """Add the layers, projections and fixed random readouts of a spiking-local network to ``ctx``
    (the rule's ``RuleSpec.build``; Mostafa et al. 2018, arXiv 1711.06756; DECOLLE, arXiv 1811.10766)."""
    cfg, p = ctx.cfg, ctx.cfg.params
    names = layer_names(cfg)
    projs = projection_names(cfg)
    base_ns = {
        "tau_pre": p.tau_pre_ms * b2.ms,
        "tau_r": p.tau_r_ms * b2.ms,
        "sg_width": p.sg_width_mV * b2.mV,
        "target_on": p.target_on,
        "beta": p.beta,
    }
    syn_ns = {
        "dt_update": p.update_every * cfg.sim.dt_ms * b2.ms,
        "w_bound": p.w_bound_mV * b2.mV,
        "n_sample": cfg.sim.steps_per_sample,
        "n_burnin": int(round(p.burn_in_ms / cfg.sim.dt_ms)),
        "rate_reg": p.rate_reg,
        "r_target": p.r_target,
    }
    update_clock = b2.Clock(dt=p.update_every * cfg.sim.dt_ms * b2.ms, name="clk_update")
    for k, (name, n) in enumerate(zip(names, cfg.layer_sizes)):
        is_out = name == "out"
        traces = {"r": "tau_r"} if is_out else {"xtr": "tau_pre", "r": "tau_r"}
        extra = (
            eq.local_error_output_extra(p.output_surrogate, p.output_loss)
            if is_out
            else eq.local_error_hidden_extra(p.surrogate)
        )
        group = neuron_layer(ctx, name, n, p.lif, traces=traces, extra_eqs=extra, extra_ns=base_ns)
        if is_out and p.output_loss == "softmax" and ctx.learning:
            _softmax_sum(ctx, group, "r", f"zs_{name}")
        pre = projs[k][0]
        # the update reads sg_post / delta_post, subexpressions of the post group's namespace
        eta = p.eta_out_mV_per_s if is_out and p.eta_out_mV_per_s is not None else p.eta_mV_per_s
        syn = feedforward(
            ctx, pre, name, PLAIN_SYNAPSE, {**p.lif.to_namespace(), **base_ns, **syn_ns, "eta": eta * b2.mV / b2.second}
        )
        if ctx.learning:
            syn.run_regularly(eq.three_factor_code(), clock=update_clock, when="end", name=f"syn_{pre}_{name}_3f")
            if not is_out:
                _readout(ctx, name, n)


def _readout(ctx: BuildContext, name: str, n: int) -> None:
    cfg = ctx.cfg
    layer = ctx.groups[name]
    M = ctx.state[f"M_{name}"]
    # order -2: the readout's summed ``yhat`` (order -3) is computed before the layer's summed
    # ``delta`` (order -1), so within a step delta = M (yhat - y) uses this step's yhat
    p = cfg.params
    ro = b2.NeuronGroup(
        cfg.n_out,
        eq.readout_equations(p.loss) + ("\nlabel_in : 1 (shared)" if ctx.label_expr == "label_in" else ""),
        clock=ctx.clock,
        order=-2,
        name=f"ro_{name}",
        namespace={"target_on": p.target_on, "label": ctx.label, "beta": p.beta},
    )
    ro.run_regularly(
        f"label_now = {ctx.label_expr}", clock=ctx.sample_clock, when="start", order=0, name=f"ro_{name}_reset"
    )
    fwd = b2.Synapses(layer, ro, model="m : 1\nyhat_post = m * r_pre : 1 (summed)", clock=ctx.clock, name=f"rof_{name}")
    i, j = dense_indices(n, cfg.n_out)
    fwd.connect(i=i, j=j)
    fwd.m = M.ravel()
    if p.loss == "softmax":  # named between rof and rob: runs after yhat, before delta
        _softmax_sum(ctx, ro, "yhat", f"rog_{name}")
    back = b2.Synapses(
        ro,
        layer,
        model="m : 1\ndelta_post = m * err_pre : 1 (summed)",
        clock=ctx.clock,
        name=f"rob_{name}",
        namespace={"target_on": p.target_on, "beta": p.beta},
    )
    i, j = dense_indices(cfg.n_out, n)
    back.connect(i=i, j=j)
    back.m = M.T.ravel()
    ctx.objects.append(ro)
    ctx.synapses[f"rof_{name}"] = fwd
    ctx.synapses[f"rob_{name}"] = back


def _softmax_sum(ctx: BuildContext, group: b2.NeuronGroup, score: str, name: str) -> None:
    """All-to-all synapses of ``group`` onto itself computing ``zsum = sum_k exp(beta score_k)``."""
    syn = b2.Synapses(
        group,
        group,
        model=eq.softmax_sum_code(score),
        clock=ctx.clock,
        name=name,
        namespace={"beta": ctx.cfg.params.beta},
    )
    i, j = dense_indices(len(group), len(group))
    syn.connect(i=i, j=j)
    ctx.synapses[name] = syn


#: The rule as registered.
SPEC = register_rule(
    RuleSpec(
        name=NAME,
        label="spiking local errors (Mostafa 2018 / DECOLLE)",
        params_type=LocalErrorParams,
        build=build,
        run_defaults=RUN_DEFAULTS,
        layer_kinds=_layer_kinds,
        init_weights=_init_weights,
        validate=_validate,
        extra_state_shapes=_extra_state_shapes,
        init_extra_state=_init_extra_state,
        surrogate_width_mV=_surrogate_width_mV,
    )
)
RULES.alias("local-error", NAME)  # the name before 0.2, accepted with a DeprecationWarning for one release
