"""Shared frozen parameter dataclasses of the Brian2 side (neuron, time grid, STDP), with
validation and Brian2 units.

Every dataclass stores plain floats whose unit is part of the field name (``tau_m_ms``,
``v_thresh_mV``, ``eta_plus_mV``); :meth:`to_namespace` turns them into the Brian2
``Quantity`` namespace that the equation strings of :mod:`spiking.equations` refer to.
That keeps configs JSON-serialisable (``dataclasses.asdict``) while Brian2 sees real units.

Validation happens in ``__post_init__``: an impossible value raises ``ValueError`` naming the
field and how to fix it, so a bad config fails when it is made, not in the middle of a run.

The parameter dataclass of each learning rule lives with its rule (:mod:`spiking.rules`), and
:class:`~spiking.config.NetworkConfig` in :mod:`spiking.config`.

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
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

import brian2 as b2

__all__ = [
    "LIFParams",
    "SimParams",
    "STDPParams",
    "SURROGATES",
    "ENCODINGS",
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
                f"SimParams.{name}={getattr(self, name)} is not a multiple of dt_ms={self.dt_ms}; choose a multiple",
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


def replace_params(obj: Any, changes: Mapping[str, Any]) -> Any:
    """Copy of a frozen parameter dataclass with (nested) fields replaced.

    Example
    -------
    >>> from spiking import STDPAssociationParams
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
