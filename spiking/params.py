"""Frozen parameter dataclasses for the Brian2 side, with validation and Brian2 units.

Every dataclass stores plain floats whose unit is part of the field name (``tau_m_ms``,
``v_thresh_mV``, ``eta_plus_mV``); :meth:`to_namespace` turns them into the Brian2
``Quantity`` namespace that the equation strings of :mod:`spiking.equations` refer to.
That keeps configs JSON-serialisable (``dataclasses.asdict``) while Brian2 sees real units.

Validation happens in ``__post_init__``: an impossible value raises ``ValueError`` naming the
field and how to fix it, so a bad config fails when it is made, not in the middle of a run.

Example
-------
>>> p = LIFParams(tau_m_ms=20.0, v_thresh_mV=-52.0)
>>> ns = p.to_namespace()
>>> float(ns["tau_m"] / 1e-3)   # seconds -> ms
20.0
>>> SimParams(dt_ms=0.5, t_present_ms=100.0).steps_per_sample
200
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any, Mapping

import brian2 as b2

__all__ = [
    "LIFParams",
    "SimParams",
    "STDPParams",
    "STDPAssociationParams",
    "LocalErrorParams",
    "NetworkConfig",
    "SURROGATES",
    "ENCODINGS",
    "config_to_dict",
    "config_from_dict",
    "replace_params",
]

#: Input encodings understood by the network builder (see :mod:`spiking.encoders`).
ENCODINGS = ("poisson", "latency")

#: Surrogate derivatives of the spike non-linearity, as Brian2 expressions of ``v``.
#: ``box`` is DECOLLE's (Kaiser, Mostafa & Neftci 2020, arXiv 1811.10766) ``|u| < 1/2`` window,
#: with ``u = (v - v_thresh) / sg_width``; ``fast-sigmoid`` is ``1 / (1 + |u|)^2``
#: (SuperSpike, Zenke & Ganguli 2018, arXiv 1705.11146); ``straight-through`` is 1 (the update
#: becomes a delta rule on rates: a silent neuron learns as fast as an active one, so the
#: output layer cannot be silenced by the surrogate's asymmetry).
SURROGATES: dict[str, str] = {
    "box": "int(abs(v - v_thresh) < 0.5 * sg_width)",
    "fast-sigmoid": "1.0 / (1.0 + abs(v - v_thresh) / sg_width)**2",
    "straight-through": "1.0 + 0.0 * v / volt",
}


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _finite(obj: Any) -> None:
    for f in fields(obj):
        val = getattr(obj, f.name)
        if isinstance(val, float) and not math.isfinite(val):
            raise ValueError(f"{type(obj).__name__}.{f.name} must be finite, got {val!r}")


def _multiple_of(value: float, dt: float) -> bool:
    n = value / dt
    return abs(n - round(n)) < 1e-9 * max(1.0, abs(n))


@dataclass(frozen=True)
class LIFParams:
    """Leaky integrate-and-fire neuron with delta synapses and an optional adaptive threshold.

    The exact per-step update is documented in :func:`spiking.equations.lif_update_semantics`.

    Parameters
    ----------
    tau_m_ms : float
        Membrane time constant (ms).
    v_rest_mV, v_reset_mV, v_thresh_mV : float
        Resting, reset and base threshold potential (mV); need ``v_reset < v_thresh`` and
        ``v_rest < v_thresh``.
    t_ref_ms : float
        Absolute refractory period (ms, >= 0); input arriving during it is ignored.
    theta_plus_mV : float
        Adaptive-threshold increment per spike while learning (Diehl & Cook 2015 homeostasis);
        0 gives a fixed threshold.
    tau_theta_ms : float
        Exponential decay time constant of the adaptive threshold while learning (frozen
        otherwise).
    theta_target_hz : float
        Homeostatic target rate: after every learning sample ``theta`` also drops by
        ``theta_plus * theta_target_hz * t_present`` (floored at 0), so a neuron firing faster
        than the target on average gets a higher threshold and a slower one a lower threshold.
        0 disables it.
    theta_min_mV : float
        Floor of the adaptive threshold under homeostasis; negative values let silent neurons
        become more excitable than at rest (``v_thresh_mV + theta_min_mV`` must stay above
        ``v_reset_mV`` and ``v_rest_mV``).
    v_floor_mV : float
        Lower bound on ``v`` after lateral inhibition (mimics an inhibitory reversal potential).
    """

    tau_m_ms: float = 20.0
    v_rest_mV: float = -65.0
    v_reset_mV: float = -65.0
    v_thresh_mV: float = -52.0
    t_ref_ms: float = 2.0
    theta_plus_mV: float = 0.0
    tau_theta_ms: float = 1e7
    theta_target_hz: float = 0.0
    theta_min_mV: float = 0.0
    v_floor_mV: float = -80.0

    def __post_init__(self) -> None:
        _finite(self)
        _require(self.tau_m_ms > 0, f"LIFParams.tau_m_ms must be > 0, got {self.tau_m_ms}")
        _require(self.tau_theta_ms > 0, f"LIFParams.tau_theta_ms must be > 0, got {self.tau_theta_ms}")
        _require(self.t_ref_ms >= 0, f"LIFParams.t_ref_ms must be >= 0, got {self.t_ref_ms}")
        _require(self.theta_target_hz >= 0, f"LIFParams.theta_target_hz must be >= 0, got {self.theta_target_hz}")
        _require(self.theta_plus_mV >= 0, f"LIFParams.theta_plus_mV must be >= 0, got {self.theta_plus_mV}")
        _require(
            self.v_reset_mV < self.v_thresh_mV and self.v_rest_mV < self.v_thresh_mV,
            f"LIFParams needs v_reset_mV ({self.v_reset_mV}) and v_rest_mV ({self.v_rest_mV}) below "
            f"v_thresh_mV ({self.v_thresh_mV}); raise v_thresh_mV or lower the others",
        )
        _require(
            self.v_thresh_mV + self.theta_min_mV > max(self.v_reset_mV, self.v_rest_mV),
            f"LIFParams.theta_min_mV ({self.theta_min_mV}) would put the threshold at or below v_reset/v_rest; "
            "raise it",
        )
        _require(
            self.v_floor_mV <= min(self.v_reset_mV, self.v_rest_mV),
            f"LIFParams.v_floor_mV ({self.v_floor_mV}) must be <= v_reset_mV and v_rest_mV",
        )

    @property
    def adaptive(self) -> bool:
        """True when the threshold adapts (``theta_plus_mV > 0``)."""
        return self.theta_plus_mV > 0

    def to_namespace(self) -> dict[str, b2.Quantity]:
        """Brian2 namespace (names used by :func:`spiking.equations.lif_equations`)."""
        return {
            "tau_m": self.tau_m_ms * b2.ms,
            "v_rest": self.v_rest_mV * b2.mV,
            "v_reset": self.v_reset_mV * b2.mV,
            "v_thresh": self.v_thresh_mV * b2.mV,
            "t_ref": self.t_ref_ms * b2.ms,
            "theta_plus": self.theta_plus_mV * b2.mV,
            "tau_theta": self.tau_theta_ms * b2.ms,
            "v_floor": self.v_floor_mV * b2.mV,
            "theta_min": self.theta_min_mV * b2.mV,
        }


@dataclass(frozen=True)
class SimParams:
    """Time grid and sample presentation.

    Each sample occupies ``t_present_ms + t_rest_ms``; input is on for the first
    ``t_present_ms``. At every sample boundary the state (membranes, traces, refractoriness)
    is reset, so no rest is needed between samples; ``t_rest_ms`` exists to reproduce the
    classic 350 ms + 150 ms protocol (Diehl & Cook 2015).

    Parameters
    ----------
    dt_ms : float
        Integration step (ms).
    t_present_ms, t_rest_ms : float
        Stimulus-on and stimulus-off time per sample (ms), multiples of ``dt_ms``.
    """

    dt_ms: float = 0.5
    t_present_ms: float = 100.0
    t_rest_ms: float = 0.0

    def __post_init__(self) -> None:
        _finite(self)
        _require(self.dt_ms > 0, f"SimParams.dt_ms must be > 0, got {self.dt_ms}")
        _require(self.t_present_ms > 0, f"SimParams.t_present_ms must be > 0, got {self.t_present_ms}")
        _require(self.t_rest_ms >= 0, f"SimParams.t_rest_ms must be >= 0, got {self.t_rest_ms}")
        for name in ("t_present_ms", "t_rest_ms"):
            _require(
                _multiple_of(getattr(self, name), self.dt_ms),
                f"SimParams.{name}={getattr(self, name)} is not a multiple of dt_ms={self.dt_ms}; "
                "choose a multiple",
            )

    @property
    def steps_present(self) -> int:
        return int(round(self.t_present_ms / self.dt_ms))

    @property
    def steps_per_sample(self) -> int:
        return int(round((self.t_present_ms + self.t_rest_ms) / self.dt_ms))

    @property
    def t_sample_ms(self) -> float:
        return self.steps_per_sample * self.dt_ms


@dataclass(frozen=True)
class STDPParams:
    """Pair-based trace STDP of one projection (weights in mV of membrane jump per spike).

    On a presynaptic spike ``w <- clip(w - eta_minus * y_post, w_min, w_max)`` (depression by the
    postsynaptic trace); on a postsynaptic spike ``w <- clip(w + eta_plus * (x_pre - x_offset),
    w_min, w_max)`` (potentiation by the presynaptic trace, with Diehl & Cook's offset that
    depresses inputs which did not fire). Only while the post layer's ``learn`` flag is 1.

    Parameters
    ----------
    eta_plus_mV, eta_minus_mV : float
        Learning rates (mV per unit trace), >= 0.
    x_offset : float
        Presynaptic trace target (0 disables the heterosynaptic depression).
    w_min_mV, w_max_mV : float
        Hard weight bounds.
    norm_total_mV : float or None
        Sum of incoming weights of each post neuron restored after every learning sample
        (multiplicative normalisation); ``None`` disables it.
    w_init_max_mV : float
        Initial weights are uniform in ``[0, w_init_max_mV]`` (then normalised).
    eta_hold_mV : float
        Output projection only: depression per presynaptic spike onto an output neuron the
        teacher holds back (``w <- clip(w - eta_hold, w_min, w_max)``): inputs active for
        another class dissociate from this one. 0 disables it.
    hold_gate_mV : float or None
        Output projection only, "stop learning" (Brader, Senn & Fusi 2007): the ``eta_hold``
        depression of a held-back neuron happens only while its membrane is above
        ``v_thresh + hold_gate_mV``, i.e. only while the hidden input would make the wrong
        class fire; a class already silent for this input stops dissociating. ``None``: always.
    ltp_stop_trace : float or None
        Output projection only: potentiation on a postsynaptic spike happens only while the
        postsynaptic trace ``ytr`` (a running rate estimate, about ``rate * tau_post``) is below
        this value, so the label neuron stops learning once the hidden input already drives it
        well above the teacher-alone rate (calcium-gated stop learning). ``None``: always.
    """

    eta_plus_mV: float = 0.05
    eta_minus_mV: float = 0.005
    x_offset: float = 0.0
    w_min_mV: float = 0.0
    w_max_mV: float = 1.0
    norm_total_mV: float | None = None
    w_init_max_mV: float = 0.3
    eta_hold_mV: float = 0.0
    hold_gate_mV: float | None = None
    ltp_stop_trace: float | None = None

    def __post_init__(self) -> None:
        _finite(self)
        for name in ("hold_gate_mV", "ltp_stop_trace"):
            val = getattr(self, name)
            _require(val is None or math.isfinite(val), f"STDPParams.{name} must be None or finite, got {val!r}")
        _require(
            self.ltp_stop_trace is None or self.ltp_stop_trace > 0,
            f"STDPParams.ltp_stop_trace must be None or > 0, got {self.ltp_stop_trace}",
        )
        _require(
            self.eta_plus_mV >= 0 and self.eta_minus_mV >= 0 and self.eta_hold_mV >= 0,
            "STDPParams learning rates must be >= 0",
        )
        _require(
            self.w_min_mV < self.w_max_mV,
            f"STDPParams needs w_min_mV ({self.w_min_mV}) < w_max_mV ({self.w_max_mV})",
        )
        _require(self.w_init_max_mV >= 0, "STDPParams.w_init_max_mV must be >= 0")
        _require(
            self.norm_total_mV is None or (math.isfinite(self.norm_total_mV) and self.norm_total_mV > 0),
            f"STDPParams.norm_total_mV must be None or > 0, got {self.norm_total_mV}",
        )

    def to_namespace(self) -> dict[str, Any]:
        return {
            "eta_plus": self.eta_plus_mV * b2.mV,
            "eta_minus": self.eta_minus_mV * b2.mV,
            "eta_hold": self.eta_hold_mV * b2.mV,
            "x_offset": self.x_offset,
            "w_min": self.w_min_mV * b2.mV,
            "w_max": self.w_max_mV * b2.mV,
            "y_stop": self.ltp_stop_trace if self.ltp_stop_trace is not None else 0.0,
        }


def _default_hidden_lif() -> LIFParams:
    return LIFParams(tau_m_ms=100.0, t_ref_ms=5.0, theta_plus_mV=0.2, tau_theta_ms=1e7, theta_target_hz=0.3,
                     theta_min_mV=-8.0)


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
            eta_plus_mV=0.002, eta_minus_mV=0.0002, x_offset=0.4, w_max_mV=1.0, norm_total_mV=8.0,
            w_init_max_mV=0.3,
        )
    )
    hidden_stdp: STDPParams = field(
        default_factory=lambda: STDPParams(
            eta_plus_mV=0.05, eta_minus_mV=0.005, x_offset=0.4, w_max_mV=40.0, norm_total_mV=100.0,
            w_init_max_mV=1.0,
        )
    )
    output_stdp: STDPParams = field(
        default_factory=lambda: STDPParams(
            eta_plus_mV=1.0, eta_minus_mV=0.1, x_offset=0.0, w_max_mV=60.0, norm_total_mV=400.0,
            w_init_max_mV=1.0, eta_hold_mV=1.0,
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
        On MNIST 0.2 (preset ``local-error-out``) gives 93.7% after two epochs where ``None`` gives
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
        _require(self.eta_out_mV_per_s is None or self.eta_out_mV_per_s >= 0,
                 f"LocalErrorParams.eta_out_mV_per_s must be >= 0 or None, got {self.eta_out_mV_per_s}")
        _require(self.sg_width_mV > 0, "LocalErrorParams.sg_width_mV must be > 0")
        _require(self.w_bound_mV > 0, "LocalErrorParams.w_bound_mV must be > 0")
        _require(self.burn_in_ms >= 0, "LocalErrorParams.burn_in_ms must be >= 0")
        _require(self.rate_reg >= 0 and self.r_target >= 0, "LocalErrorParams.rate_reg and r_target must be >= 0")
        _require(self.beta > 0, "LocalErrorParams.beta must be > 0")
        _require(
            not self.lif.adaptive,
            f"LocalErrorParams.lif has an adaptive threshold (theta_plus_mV={self.lif.theta_plus_mV}), which "
            "the local-error rule does not model (no theta state); set theta_plus_mV=0",
        )
        for attr in ("loss", "output_loss"):
            val = str(getattr(self, attr)).lower()
            _require(val in ("softmax", "mse"), f"unknown {attr} {getattr(self, attr)!r}; choose one of ['mse', 'softmax']")
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


_RULE_PARAM_TYPES = {"stdp-association": STDPAssociationParams, "local-error": LocalErrorParams}


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that defines a spiking classifier (architecture, rule, encoding, time grid).

    Parameters
    ----------
    rule : str
        ``"stdp-association"`` or ``"local-error"``.
    n_in : int
        Number of input neurons (features).
    hidden : tuple of int
        Hidden layer sizes (two by default).
    n_out : int
        Number of classes / output neurons.
    encoding : str
        ``"poisson"`` (rate code) or ``"latency"`` (stronger input fires earlier).
    max_rate_hz : float
        Poisson rate of a feature equal to 1 (and the cap of every rate).
    total_rate_hz : float or None
        If set, every sample's Poisson rates are scaled to sum to this (see
        :func:`spiking.encoders.poisson_rates`).
    sim : SimParams
        Time grid.
    params : STDPAssociationParams or LocalErrorParams or None
        Rule parameters; ``None`` picks the rule's defaults.

    Example
    -------
    >>> cfg = NetworkConfig(rule="local-error", n_in=4, hidden=(8, 8), n_out=2)
    >>> type(cfg.params).__name__
    'LocalErrorParams'
    """

    rule: str
    n_in: int
    hidden: tuple[int, ...] = (100, 100)
    n_out: int = 10
    encoding: str = "poisson"
    max_rate_hz: float = 200.0
    total_rate_hz: float | None = None
    sim: SimParams = field(default_factory=SimParams)
    params: Any = None

    def __post_init__(self) -> None:
        rule = str(self.rule).lower()
        _require(rule in _RULE_PARAM_TYPES, f"unknown rule {self.rule!r}; choose one of {sorted(_RULE_PARAM_TYPES)}")
        object.__setattr__(self, "rule", rule)
        enc = str(self.encoding).lower()
        _require(enc in ENCODINGS, f"unknown encoding {self.encoding!r}; choose one of {list(ENCODINGS)}")
        object.__setattr__(self, "encoding", enc)
        for name in ("n_in", "n_out"):
            val = getattr(self, name)
            _require(isinstance(val, int) and val >= 1, f"NetworkConfig.{name} must be a positive int, got {val!r}")
        _require(self.n_out >= 2, f"NetworkConfig.n_out must be >= 2 classes, got {self.n_out}")
        hidden = tuple(self.hidden)
        _require(len(hidden) >= 1, "NetworkConfig.hidden needs at least one layer, e.g. (100, 100)")
        _require(
            all(isinstance(h, int) and h >= 1 for h in hidden),
            f"NetworkConfig.hidden must be positive ints, got {self.hidden!r}",
        )
        object.__setattr__(self, "hidden", hidden)
        _require(
            math.isfinite(self.max_rate_hz) and self.max_rate_hz > 0,
            f"NetworkConfig.max_rate_hz must be > 0, got {self.max_rate_hz}",
        )
        _require(
            self.max_rate_hz * self.sim.dt_ms * 1e-3 <= 1.0,
            f"max_rate_hz={self.max_rate_hz} is more than one spike per dt={self.sim.dt_ms} ms; "
            "lower the rate or dt",
        )
        _require(
            self.total_rate_hz is None or (math.isfinite(self.total_rate_hz) and self.total_rate_hz > 0),
            f"NetworkConfig.total_rate_hz must be None or > 0, got {self.total_rate_hz}",
        )
        ptype = _RULE_PARAM_TYPES[rule]
        if self.params is None:
            object.__setattr__(self, "params", ptype())
        _require(
            isinstance(self.params, ptype),
            f"rule {rule!r} needs params of type {ptype.__name__}, got {type(self.params).__name__}",
        )
        if rule == "stdp-association":
            _require(
                self.params.skip_stdp is None or len(hidden) >= 2,
                "STDPAssociationParams.skip_stdp adds a projection h1 -> out that skips the deeper hidden layers; "
                f"with hidden={hidden} h1 already feeds the output: set skip_stdp=None or add a hidden layer",
            )
        if rule == "local-error":
            _require(
                self.params.burn_in_ms < self.sim.t_present_ms,
                f"LocalErrorParams.burn_in_ms ({self.params.burn_in_ms}) must be shorter than t_present_ms "
                f"({self.sim.t_present_ms}), or nothing is ever learnt; lower burn_in_ms",
            )

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Sizes of all spiking layers after the input: hidden layers then output."""
        return (*self.hidden, self.n_out)


def replace_params(obj: Any, changes: Mapping[str, Any]) -> Any:
    """Copy of a frozen parameter dataclass with (nested) fields replaced.

    Example
    -------
    >>> p = replace_params(STDPAssociationParams(), {"inhibition_mV": 3.0, "hidden_lif": {"t_ref_ms": 1.0}})
    >>> p.inhibition_mV, p.hidden_lif.t_ref_ms
    (3.0, 1.0)
    """
    names = {f.name for f in fields(obj)}
    kwargs = {}
    for key, val in changes.items():
        if key not in names:
            raise ValueError(f"unknown {type(obj).__name__} field {key!r}; valid: {sorted(names)}")
        cur = getattr(obj, key)
        kwargs[key] = replace_params(cur, val) if is_dataclass(cur) and isinstance(val, Mapping) else val
    return replace(obj, **kwargs)


def config_to_dict(cfg: NetworkConfig) -> dict[str, Any]:
    """JSON-ready dict of a :class:`NetworkConfig` (inverse: :func:`config_from_dict`)."""
    d = asdict(cfg)
    d["hidden"] = list(cfg.hidden)
    return d


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    kwargs = {}
    names = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; valid: {sorted(names)}")
    nested = {
        "hidden_lif": LIFParams, "output_lif": LIFParams, "lif": LIFParams, "sim": SimParams,
        "input_stdp": STDPParams, "hidden_stdp": STDPParams, "output_stdp": STDPParams, "skip_stdp": STDPParams,
    }
    for key, val in data.items():
        if key in nested and isinstance(val, Mapping):
            val = _build(nested[key], val)
        kwargs[key] = val
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> NetworkConfig:
    """Rebuild a :class:`NetworkConfig` from :func:`config_to_dict` output (e.g. a metrics.json)."""
    data = dict(data)
    rule = str(data.get("rule", "")).lower()
    if rule not in _RULE_PARAM_TYPES:
        raise ValueError(f"unknown rule {data.get('rule')!r}; choose one of {sorted(_RULE_PARAM_TYPES)}")
    params = data.pop("params", None)
    if isinstance(params, Mapping):
        params = _build(_RULE_PARAM_TYPES[rule], params)
    if isinstance(data.get("sim"), Mapping):
        data["sim"] = _build(SimParams, data["sim"])
    if "hidden" in data:
        data["hidden"] = tuple(int(h) for h in data["hidden"])
    return NetworkConfig(params=params, **data)
