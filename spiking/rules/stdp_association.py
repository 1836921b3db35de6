"""The STDP / neuronal-association rule (a reconstruction of Gupta 2020, arXiv 2011.12012).

Hidden layers learn by pair-based trace STDP with bounds, normalisation, adaptive thresholds and
lateral inhibition (after Diehl & Cook 2015); the output associates with the label through a
teacher that gates the output STDP. No error is computed or propagated. This module holds the
rule's parameters (:class:`STDPAssociationParams`), its network builder (:func:`build`), its
run defaults and configuration checks, and registers it as ``stdp-association``.

Example
-------
>>> from spiking.config import NetworkConfig
>>> cfg = NetworkConfig(rule=NAME, n_in=4, hidden=(3, 3), n_out=2,
...                     params=STDPAssociationParams(skip_stdp={}))
>>> SPEC.skip_projections(cfg)
[('h1', 'out')]
>>> [(lif.adaptive, inh, teacher) for lif, inh, teacher in SPEC.layer_kinds(cfg)]
[(True, 15.0, False), (True, 15.0, False), (False, 5.0, True)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import brian2 as b2
import numpy as np

from .. import equations as eq
from ..blocks import PLAIN_SYNAPSE, BuildContext, feedforward, lateral_inhibition, neuron_layer
from ..params import LIFParams, STDPParams, _finite, _require
from ..state import layer_names, projection_names
from .spec import LayerKind, RuleSpec, register_rule

if TYPE_CHECKING:
    from ..config import NetworkConfig

__all__ = ["NAME", "STDPAssociationParams", "RUN_DEFAULTS", "stdp_of", "build", "SPEC"]

#: Registered name of the rule.
NAME = "stdp-association"

#: Time grid and input rates of the rule's measured runs: the total input rate is normalised to
#: 20 kHz (so small images drive the network as hard as MNIST does).
RUN_DEFAULTS = {"dt_ms": 0.5, "t_present_ms": 150.0, "max_rate_hz": 200.0, "total_rate_hz": 20000.0}


def _default_hidden_lif() -> LIFParams:
    return LIFParams(
        tau_m_ms=100.0, t_ref_ms=5.0, theta_plus_mV=0.2, tau_theta_ms=1e7, theta_target_hz=0.3, theta_min_mV=-8.0
    )


def _default_output_lif() -> LIFParams:
    return LIFParams(tau_m_ms=20.0, t_ref_ms=2.0)


@dataclass(frozen=True)
class STDPAssociationParams:
    """The STDP / neuronal-association rule (a reconstruction of Gupta 2020, arXiv 2011.12012).

    Gupta, "A more biologically plausible local learning rule for ANNs" (NeurIPS 2020 workshop,
    arXiv 2011.12012) gives no equations or code; this is the project's reconstruction:
    hidden layers learn by pair-based trace STDP with bounds, normalisation, adaptive
    thresholds and lateral inhibition (after Diehl & Cook 2015, "Unsupervised learning of
    digit recognition using spike-timing-dependent plasticity"); the output associates with
    the label through a teacher current on the label neuron (others held back) that gates the
    output STDP. No error is computed or propagated.

    Parameters
    ----------
    tau_pre_ms, tau_post_ms : float
        Time constants of the presynaptic (``xtr``) and postsynaptic (``ytr``) traces.
    hidden_lif, output_lif : LIFParams
        Neuron parameters of hidden and output layers.
    input_stdp : STDPParams
        Plasticity of the input -> first hidden projection.
    hidden_stdp : STDPParams
        Plasticity of the hidden -> hidden projections.
    output_stdp : STDPParams
        Plasticity of the last hidden -> output projection (gated by the teacher).
    skip_stdp : STDPParams or None
        ``None`` (default): the output hears only the last hidden layer. Otherwise the network
        also has a skip projection from the **first** hidden layer to the output (``W_h1_out``,
        networks with two or more hidden layers), learnt by the same teacher-gated association
        with these parameters and normalised on its own (``norm_total_mV``): the output then
        associates the label with the first layer's code too, which carries more of the class
        information than the deeper STDP layers (docs/SPIKING.md). Still no error is computed.
        A mapping is read as changes to ``output_stdp`` (``{}``: the same association as the
        last hidden layer's; ``{"norm_total_mV": 2400.0}``: that one with another total).
    inhibition_mV : float
        Lateral inhibition: every hidden spike lowers ``v`` of the other neurons of its layer.
    output_inhibition_mV : float
        Lateral inhibition within the output layer.
    teacher_exc_mV, teacher_inh_mV : float
        Teacher while training: the label neuron's resting level is raised by
        ``teacher_exc_mV`` (it fires regularly); the other output neurons are held back by
        raising their threshold by ``teacher_inh_mV`` (the default silences them).
    teacher_on : bool
        Whether the teacher (and so the association) is active during training.
    """

    tau_pre_ms: float = 20.0
    tau_post_ms: float = 20.0
    hidden_lif: LIFParams = field(default_factory=_default_hidden_lif)
    output_lif: LIFParams = field(default_factory=_default_output_lif)
    input_stdp: STDPParams = field(
        default_factory=lambda: STDPParams(
            eta_plus_mV=0.002,
            eta_minus_mV=0.0002,
            x_offset=0.4,
            w_max_mV=1.0,
            norm_total_mV=8.0,
            w_init_max_mV=0.3,
        )
    )
    hidden_stdp: STDPParams = field(
        default_factory=lambda: STDPParams(
            eta_plus_mV=0.05,
            eta_minus_mV=0.005,
            x_offset=0.4,
            w_max_mV=40.0,
            norm_total_mV=100.0,
            w_init_max_mV=1.0,
        )
    )
    output_stdp: STDPParams = field(
        default_factory=lambda: STDPParams(
            eta_plus_mV=1.0,
            eta_minus_mV=0.1,
            x_offset=0.0,
            w_max_mV=60.0,
            norm_total_mV=400.0,
            w_init_max_mV=1.0,
            eta_hold_mV=1.0,
        )
    )
    skip_stdp: STDPParams | None = None
    inhibition_mV: float = 15.0
    output_inhibition_mV: float = 5.0
    teacher_exc_mV: float = 20.0
    teacher_inh_mV: float = 1000.0
    teacher_on: bool = True

    def __post_init__(self) -> None:
        _finite(self)
        _require(self.tau_pre_ms > 0 and self.tau_post_ms > 0, "trace time constants must be > 0")
        if isinstance(self.skip_stdp, Mapping):  # e.g. replace_params(p, {"skip_stdp": {...}}) from None
            object.__setattr__(self, "skip_stdp", replace(self.output_stdp, **self.skip_stdp))
        _require(
            self.skip_stdp is None or isinstance(self.skip_stdp, STDPParams),
            f"STDPAssociationParams.skip_stdp must be None or STDPParams, got {type(self.skip_stdp).__name__}",
        )
        for name in ("inhibition_mV", "output_inhibition_mV", "teacher_exc_mV", "teacher_inh_mV"):
            _require(getattr(self, name) >= 0, f"STDPAssociationParams.{name} must be >= 0")


def stdp_of(cfg: NetworkConfig, pre: str, post: str) -> STDPParams:
    """Plasticity parameters of projection ``pre -> post``."""
    p = cfg.params
    if pre == "in":
        return p.input_stdp
    if post != "out":
        return p.hidden_stdp
    return p.output_stdp if pre == f"h{len(cfg.hidden)}" else p.skip_stdp


def _skip_projections(cfg: NetworkConfig) -> list[tuple[str, str]]:
    """``[("h1", "out")]`` with ``params.skip_stdp`` set, else ``[]``."""
    if cfg.params.skip_stdp is not None:
        return [("h1", "out")]
    return []


def _validate(cfg: NetworkConfig) -> None:
    _require(
        cfg.params.skip_stdp is None or len(cfg.hidden) >= 2,
        "STDPAssociationParams.skip_stdp adds a projection h1 -> out that skips the deeper hidden layers; "
        f"with hidden={cfg.hidden} h1 already feeds the output: set skip_stdp=None or add a hidden layer",
    )


def _layer_kinds(cfg: NetworkConfig) -> list[LayerKind]:
    p = cfg.params
    kinds = [(p.hidden_lif, float(p.inhibition_mV), False) for _ in cfg.hidden]
    return kinds + [(p.output_lif, float(p.output_inhibition_mV), True)]


def _init_weights(
    cfg: NetworkConfig, pre: str, post: str, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """``W ~ U(0, w_init_max_mV)`` (normalised afterwards to ``norm_total_mV`` per post neuron)."""
    return rng.uniform(0.0, stdp_of(cfg, pre, post).w_init_max_mV, size=shape)


def _layer_lif(cfg: NetworkConfig, name: str) -> LIFParams:
    return cfg.params.output_lif if name == "out" else cfg.params.hidden_lif


def _extra_state_shapes(cfg: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """``theta_<layer>`` of every layer with an adaptive threshold."""
    return {
        f"theta_{name}": (n,) for name, n in zip(layer_names(cfg), cfg.layer_sizes) if _layer_lif(cfg, name).adaptive
    }


def _init_extra_state(cfg: NetworkConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Adaptive thresholds start at 0."""
    return {name: np.zeros(shape) for name, shape in _extra_state_shapes(cfg).items()}


def _norm_total_mV(cfg: NetworkConfig, pre: str, post: str) -> float | None:
    return stdp_of(cfg, pre, post).norm_total_mV


def _surrogate_width_mV(cfg: NetworkConfig) -> float:
    return 2.0  # the rule has no surrogate of its own; its twin uses a 2 mV fast sigmoid


def build(ctx: BuildContext) -> None:
    """Add the layers and projections of an STDP / association network to ``ctx`` (the rule's
    ``RuleSpec.build``; reconstruction of Gupta 2020, arXiv 2011.12012)."""
    cfg, p = ctx.cfg, ctx.cfg.params
    names = layer_names(cfg)
    projs = projection_names(cfg)
    traces = {"xtr": "tau_pre", "ytr": "tau_post"}
    tau_ns = {"tau_pre": p.tau_pre_ms * b2.ms, "tau_post": p.tau_post_ms * b2.ms}
    skips = _skip_projections(cfg)
    for k, (name, n) in enumerate(zip(names, cfg.layer_sizes)):
        is_out = name == "out"
        lif = p.output_lif if is_out else p.hidden_lif
        # incoming projections: the chain's, then any skip into this layer (W_h1_out)
        pres = [projs[k][0]] + [a for a, b in skips if b == name]
        normed = [q for q in pres if ctx.learning and stdp_of(cfg, q, name).norm_total_mV is not None]
        extra = "\n".join(f"wsum_{q} : volt\nnorm_{q} : 1" for q in normed)
        ns = dict(tau_ns)
        for q in normed:
            ns[f"total_{q}"] = stdp_of(cfg, q, name).norm_total_mV * b2.mV
        if is_out:
            ns.update(teacher_exc=p.teacher_exc_mV * b2.mV, teacher_inh=p.teacher_inh_mV * b2.mV)
        group = neuron_layer(
            ctx,
            name,
            n,
            lif,
            traces=traces,
            teacher=is_out,
            extra_eqs=extra,
            extra_ns=ns,
            learn_expr=f"{float(p.teacher_on)!r} * int(label_now >= 0)" if is_out else "int(label_now >= 0)",
            normalised=tuple(normed),
        )
        for pre in pres:
            sp = stdp_of(cfg, pre, name)
            norm = pre in normed
            wsum = f"wsum_{pre}"
            gated = is_out and sp.hold_gate_mV is not None
            stop = is_out and sp.ltp_stop_trace is not None
            code = (
                eq.stdp_synapse_code(wsum_name=wsum if norm else None, hold=is_out, hold_gate=gated, ltp_stop=stop)
                if ctx.learning
                else PLAIN_SYNAPSE
            )
            syn_ns = sp.to_namespace()
            if gated:
                syn_ns["v_gate"] = (lif.v_thresh_mV + sp.hold_gate_mV) * b2.mV
            syn = feedforward(ctx, pre, name, code, syn_ns)
            if norm:
                setattr(group, wsum, ctx.state[f"W_{pre}_{name}"].sum(axis=0) * b2.mV)
                ctx.wsum[f"W_{pre}_{name}"] = getattr(group, wsum)
                syn.run_regularly(
                    eq.normalisation_synapse_code(pre),
                    clock=ctx.sample_clock,
                    when="start",
                    order=1,
                    name=f"syn_{pre}_{name}_norm",
                )
        inh = p.output_inhibition_mV if is_out else p.inhibition_mV
        if inh > 0:
            lateral_inhibition(ctx, name, inh, lif.v_floor_mV)


#: The rule as registered.
SPEC = register_rule(
    RuleSpec(
        name=NAME,
        label="STDP/association (reconstruction of Gupta 2020)",
        params_type=STDPAssociationParams,
        build=build,
        run_defaults=RUN_DEFAULTS,
        layer_kinds=_layer_kinds,
        init_weights=_init_weights,
        validate=_validate,
        skip_projections=_skip_projections,
        extra_state_shapes=_extra_state_shapes,
        init_extra_state=_init_extra_state,
        norm_total_mV=_norm_total_mV,
        surrogate_width_mV=_surrogate_width_mV,
        event_driven=True,
    )
)
