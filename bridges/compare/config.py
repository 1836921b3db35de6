"""What a comparison compares: :class:`CompareConfig`, the default rules and the kinds of attack.

Example
-------
>>> cfg = CompareConfig(rules=("bp", "fa"), seeds=(0,), epsilons=(0.0, 0.1), methods=("fgsm",))
>>> cfg.rules, family_of("fa")
(('bp', 'fa'), ('rate', 'fa'))
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

__all__ = ["CompareConfig", "DEFAULT_RULES", "ATTACK_KINDS", "family_of"]

DEFAULT_RULES = ("bp", "fa", "dfa", "usf", "dtp", "gait", "local", "stdp-association", "spiking-local")
ATTACK_KINDS = ("whitebox", "transfer", "surrogate")


def family_of(rule: str) -> tuple[str, str]:
    """``(family, registered rule name)`` of a rule: the model family whose registry holds it
    (:data:`bridges.compare.families.FAMILIES`). A deprecated spelling resolves with a warning.

    Raises
    ------
    ValueError
        No family knows the rule; the message lists every family's rules.
    """
    from bridges.compare.families import FAMILIES

    for name, family in FAMILIES.items():
        if family.has_rule(rule):
            return name, family.canonical(rule)
    valid = "; ".join(f"{name}: {', '.join(family.rule_names())}" for name, family in FAMILIES.items())
    raise ValueError(f"unknown rule {rule!r}; valid names ({valid})")


@dataclass(frozen=True)
class CompareConfig:
    """What to compare. Per-data-set presets fill every field left at ``None``.

    Attributes
    ----------
    dataset, classes : data (``classes`` keeps and relabels a subset, e.g. (4, 9)).
    rules : rule names: rate rules (``ratebased.available_rules()``) and spiking rules
        (``spiking.available_rules()``: ``stdp-association``, ``spiking-local``).
    epsilons, seeds : the sweep.
    methods : attack methods, ``fgsm`` and/or ``pgd`` (L-inf); ``pgd_steps`` iterations.
    sources : rules whose models craft transfer attacks (same seed).
    n_eval, n_eval_spiking : test samples attacked per rate / spiking model (``None``: all).
    eot_samples : spike draws averaged per surrogate gradient.
    rate : overrides of ``bridges.rate_runs.RateRunConfig`` fields for every rate rule.
    rate_rules : per-rule overrides (on top of ``rate``).
    spiking : overrides for the spiking runs (hidden, epochs, target, t_present_ms, ...).
    """

    dataset: str = "digits"
    classes: tuple | None = None
    rules: tuple = DEFAULT_RULES
    epsilons: tuple = (0.0, 0.05, 0.1, 0.2, 0.3)
    seeds: tuple = (0, 1, 2)
    methods: tuple = ("fgsm", "pgd")
    pgd_steps: int = 10
    sources: tuple = ("bp",)
    n_eval: int | None = None
    n_eval_spiking: int | None = 100
    eot_samples: int = 4
    data_root: str | None = None
    rate: dict = field(default_factory=dict)
    rate_rules: dict = field(default_factory=dict)
    spiking: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("rules", "epsilons", "seeds", "methods", "sources"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))
        if not self.rules:
            raise ValueError("rules is empty; name at least one rule")
        if not self.seeds:
            raise ValueError("seeds is empty; name at least one seed")
        for e in self.epsilons:
            if not (isinstance(e, (int, float)) and math.isfinite(e) and 0 <= e <= 1):
                raise ValueError(f"epsilon {e!r} must be a finite number in [0, 1] (inputs lie in [0, 1])")
        from bridges.attacks import get_attack

        for m in self.methods:
            get_attack(m)  # unknown names raise ValueError listing the registered attacks
        if self.pgd_steps < 1:
            raise ValueError(f"pgd_steps must be >= 1, got {self.pgd_steps}")
        if self.eot_samples < 1:
            raise ValueError(f"eot_samples must be >= 1, got {self.eot_samples}")
        object.__setattr__(self, "rules", tuple(family_of(r)[1] for r in self.rules))
        for s in self.sources:
            if family_of(s)[0] != "rate":
                raise ValueError(f"transfer source {s!r} must be a rate-based rule")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
