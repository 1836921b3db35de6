"""The configuration of a spiking classifier, and its (de)serialisation.

:class:`NetworkConfig` names a learning rule registered in :mod:`spiking.rules`; the rule gives
the parameter type (and its defaults) and checks what only it knows (``RuleSpec.validate``).
:func:`config_to_dict` / :func:`config_from_dict` round-trip a config through JSON-ready dicts
(``metrics.json``, checkpoints); the parameter type to rebuild is looked up from the rule.

Example
-------
>>> cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
>>> config_from_dict(config_to_dict(cfg)) == cfg
True
>>> config_to_dict(cfg)["params"]["teacher_on"]
True
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

from .params import ENCODINGS, SimParams, _require
from .rules import RULES, RuleSpec, available_rules, get_rule

__all__ = ["NetworkConfig", "config_to_dict", "config_from_dict"]


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that defines a spiking classifier (architecture, rule, encoding, time grid).

    Parameters
    ----------
    rule : str
        Name of a registered learning rule (:func:`spiking.rules.available_rules`; built in:
        ``"stdp-association"``, ``"spiking-local"``), case-insensitive.
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
    params : the rule's parameter dataclass, or None
        Rule parameters (an instance of ``get_rule(rule).params_type``, e.g.
        :class:`~spiking.rules.stdp_association.STDPAssociationParams`); ``None`` picks the rule's
        defaults.

    Example
    -------
    >>> cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(8, 8), n_out=2)
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
        spec = get_rule(self.rule)  # unknown names raise ValueError listing the registered rules
        rule = spec.name
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
            f"max_rate_hz={self.max_rate_hz} is more than one spike per dt={self.sim.dt_ms} ms; lower the rate or dt",
        )
        _require(
            self.total_rate_hz is None or (math.isfinite(self.total_rate_hz) and self.total_rate_hz > 0),
            f"NetworkConfig.total_rate_hz must be None or > 0, got {self.total_rate_hz}",
        )
        ptype = spec.params_type
        if self.params is None:
            object.__setattr__(self, "params", ptype())
        _require(
            isinstance(self.params, ptype),
            f"rule {rule!r} needs params of type {ptype.__name__}, got {type(self.params).__name__}",
        )
        spec.validate(self)

    @property
    def rule_spec(self) -> RuleSpec:
        """The registered :class:`~spiking.rules.RuleSpec` of :attr:`rule`."""
        return get_rule(self.rule)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Sizes of all spiking layers after the input: hidden layers then output."""
        return (*self.hidden, self.n_out)


def config_to_dict(cfg: NetworkConfig) -> dict[str, Any]:
    """JSON-ready dict of a :class:`NetworkConfig` (inverse: :func:`config_from_dict`)."""
    d = asdict(cfg)
    d["hidden"] = list(cfg.hidden)
    return d


def _nested_type(hint: Any) -> type | None:
    """The parameter dataclass a field holds (``LIFParams``, ``STDPParams | None`` -> ``STDPParams``)."""
    if isinstance(hint, type) and is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(hint) if isinstance(a, type) and is_dataclass(a)]
        if len(found) == 1:
            return found[0]
    return None


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    """Instance of the dataclass ``cls`` from a dict; nested parameter dataclasses (fields typed as
    one, e.g. ``hidden_lif: LIFParams``, ``skip_stdp: STDPParams | None``) are rebuilt from dicts."""
    kwargs = {}
    names = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; valid: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    for key, val in data.items():
        nested = _nested_type(hints.get(key))
        if nested is not None and isinstance(val, Mapping):
            val = _build(nested, val)
        kwargs[key] = val
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> NetworkConfig:
    """Rebuild a :class:`NetworkConfig` from :func:`config_to_dict` output (e.g. a metrics.json)."""
    data = dict(data)
    rule = data.get("rule")
    if not isinstance(rule, str) or rule not in RULES:
        raise ValueError(f"unknown spiking rule {rule!r}; valid names: {', '.join(available_rules())}")
    params = data.pop("params", None)
    if isinstance(params, Mapping):
        params = _build(get_rule(rule).params_type, params)
    if isinstance(data.get("sim"), Mapping):
        data["sim"] = _build(SimParams, data["sim"])
    if "hidden" in data:
        data["hidden"] = tuple(int(h) for h in data["hidden"])
    return NetworkConfig(params=params, **data)
