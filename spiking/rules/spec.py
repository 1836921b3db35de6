"""The description of a spiking learning rule (:class:`RuleSpec`) and the registry of rules.

Kept apart from :mod:`spiking.rules` (which re-exports everything here and imports the built-in
rules) so that a rule module imports this one and the package imports the rule modules, without
an import ring. See :mod:`spiking.rules` for how a rule is added.

Example
-------
>>> import spiking.rules  # registers the built-in rules
>>> available_rules()
('stdp-association', 'spiking-local')
>>> spec = get_rule("Spiking-Local")
>>> spec.name, spec.params_type.__name__, spec.run_defaults["dt_ms"]
('spiking-local', 'LocalErrorParams', 1.0)
>>> get_rule("hebb")
Traceback (most recent call last):
...
ValueError: unknown spiking rule 'hebb'; valid names: stdp-association, spiking-local
>>> register_rule(get_rule("spiking-local"))
Traceback (most recent call last):
...
ValueError: spiking rule 'spiking-local' is already registered; registered names: stdp-association, spiking-local
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, is_dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..registry import Registry

if TYPE_CHECKING:
    from ..blocks import BuildContext
    from ..config import NetworkConfig
    from ..params import LIFParams

__all__ = ["RuleSpec", "LayerKind", "RULES", "register_rule", "get_rule", "available_rules"]

#: ``(LIFParams, lateral inhibition in mV, teacher form)`` of one spiking layer (see
#: :attr:`RuleSpec.layer_kinds`).
LayerKind = tuple["LIFParams", float, bool]


def _no_checks(cfg: NetworkConfig) -> None:
    return None


def _no_skip_projections(cfg: NetworkConfig) -> list[tuple[str, str]]:
    return []


def _no_extra_state_shapes(cfg: NetworkConfig) -> dict[str, tuple[int, ...]]:
    return {}


def _no_extra_state(cfg: NetworkConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {}


def _no_normalisation(cfg: NetworkConfig, pre: str, post: str) -> float | None:
    return None


def _default_surrogate_width_mV(cfg: NetworkConfig) -> float:
    return 2.0


@dataclass(frozen=True, eq=False)
class RuleSpec:
    """Everything that differs between spiking learning rules, in one place.

    Functions of the config receive a validated :class:`~spiking.config.NetworkConfig` whose
    ``params`` is an instance of :attr:`params_type`.

    Attributes
    ----------
    name : str
        Registered name (lower case), the value of ``NetworkConfig.rule``.
    params_type : type
        The rule's frozen parameter dataclass; ``params_type()`` gives its defaults. It must
        have ``tau_pre_ms`` (the time constant of the input layer's presynaptic trace).
    build : callable(BuildContext) -> None
        Adds the rule's layers (``h1..hL``, ``out``) and projections to a build context that
        holds the input group (:mod:`spiking.blocks`); with ``ctx.learning`` False, a frozen
        network (no plasticity).
    run_defaults : mapping
        Time grid and input rates of the rule's measured runs (``dt_ms``, ``t_present_ms``,
        ``max_rate_hz``, ``total_rate_hz``), where scripts and comparisons start from
        (:data:`spiking.presets.RULE_RUN_DEFAULTS`); stored read-only.
    layer_kinds : callable(cfg) -> list of LayerKind
        Per spiking layer, input to output (hidden layers then the output):
        ``(LIFParams, lateral inhibition mV, teacher form)`` as the builder makes it in
        evaluation mode, for a snntorch twin. Raises ``ValueError`` for what a twin cannot model.
    init_weights : callable(cfg, pre, post, shape, rng) -> ndarray
        Initial weights ``W[pre, post]`` (mV) of one projection, drawn from the numpy Generator
        ``rng`` (called for every projection in :func:`spiking.state.all_projections` order).
    label : str
        Human-readable name (for reports).
    validate : callable(cfg) -> None
        Rule-specific checks of a config, run by ``NetworkConfig.__post_init__``; raises
        ``ValueError`` saying how to fix it. Default: none.
    skip_projections : callable(cfg) -> list of (pre, post)
        Projections the builder adds besides the feed-forward chain (weights
        ``W_<pre>_<post>``). Default: none.
    extra_state_shapes : callable(cfg) -> dict name -> shape
        Arrays the state carries besides the weights (``theta_<layer>``, ``M_<layer>``).
        Default: none.
    init_extra_state : callable(cfg, rng) -> dict name -> ndarray
        Initial values of those arrays (drawn after every weight). Default: none.
    norm_total_mV : callable(cfg, pre, post) -> float or None
        Sum of incoming weights per post neuron that the network restores after every learning
        sample on projection ``pre -> post`` (``None``: not normalised); the state is normalised
        the same way (:func:`spiking.state.normalise_state`). Default: no normalisation.
    surrogate_width_mV : callable(cfg) -> float
        Width of the surrogate derivative of a differentiable twin's spikes. Default: 2 mV.
    event_driven : bool
        Plasticity acts only on spike events, so a training build with every ``learn`` gate at
        0 (labels -1) evaluates about as cheaply as a frozen build, and evaluation without
        parallel copies reuses it instead of building a second network. Default: False.
    """

    name: str
    params_type: type
    build: Callable[[BuildContext], None]
    run_defaults: Mapping[str, Any]
    layer_kinds: Callable[[NetworkConfig], list[LayerKind]]
    init_weights: Callable[[NetworkConfig, str, str, tuple[int, int], np.random.Generator], np.ndarray]
    label: str = ""
    validate: Callable[[NetworkConfig], None] = _no_checks
    skip_projections: Callable[[NetworkConfig], list[tuple[str, str]]] = _no_skip_projections
    extra_state_shapes: Callable[[NetworkConfig], dict[str, tuple[int, ...]]] = _no_extra_state_shapes
    init_extra_state: Callable[[NetworkConfig, np.random.Generator], dict[str, np.ndarray]] = _no_extra_state
    norm_total_mV: Callable[[NetworkConfig, str, str], float | None] = _no_normalisation
    surrogate_width_mV: Callable[[NetworkConfig], float] = _default_surrogate_width_mV
    event_driven: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or self.name != self.name.strip().lower():
            raise ValueError(f"RuleSpec.name must be a non-empty lower-case string, got {self.name!r}")
        if not (isinstance(self.params_type, type) and is_dataclass(self.params_type)):
            raise ValueError(f"RuleSpec.params_type must be a dataclass type, got {self.params_type!r}")
        for attr in (
            "build",
            "layer_kinds",
            "init_weights",
            "validate",
            "skip_projections",
            "extra_state_shapes",
            "init_extra_state",
            "norm_total_mV",
            "surrogate_width_mV",
        ):
            if not callable(getattr(self, attr)):
                raise ValueError(f"RuleSpec.{attr} of rule {self.name!r} must be callable")
        object.__setattr__(self, "run_defaults", MappingProxyType(dict(self.run_defaults)))
        object.__setattr__(self, "event_driven", bool(self.event_driven))

    def __repr__(self) -> str:
        return f"RuleSpec(name={self.name!r}, params_type={self.params_type.__name__})"


#: The registered spiking rules (name -> :class:`RuleSpec`); iterating gives the names.
RULES: Registry[RuleSpec] = Registry("spiking rule")


def register_rule(spec: RuleSpec) -> RuleSpec:
    """Register ``spec`` under ``spec.name`` and return it; a taken name raises ``ValueError``."""
    if not isinstance(spec, RuleSpec):
        raise TypeError(f"register_rule takes a RuleSpec, got {type(spec).__name__}")
    return RULES.register(spec.name, spec)


def get_rule(name: str) -> RuleSpec:
    """The :class:`RuleSpec` registered as ``name`` (case-insensitive); an unknown name raises
    ``ValueError`` listing the registered rules."""
    return RULES.get(name)


def available_rules() -> tuple[str, ...]:
    """Names of the registered rules, in registration order."""
    return RULES.names()
