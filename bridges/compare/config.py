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
from typing import Optional

__all__ = ["CompareConfig", "DEFAULT_RULES", "ATTACK_KINDS", "RULE_FAMILY", "family_of"]

DEFAULT_RULES = ("bp", "fa", "dfa", "usf", "dtp", "gait", "local", "stdp-association", "spiking-local")
ATTACK_KINDS = ("whitebox", "transfer", "surrogate")
#: rule name in the comparison -> (family, rule name inside the family)
RULE_FAMILY = {"stdp-association": ("spiking", "stdp-association"), "spiking-local": ("spiking", "local-error")}


def family_of(rule: str) -> tuple[str, str]:
    """``(family, rule name inside the family)`` of a comparison rule name."""
    return RULE_FAMILY.get(rule, ("rate", rule))


@dataclass(frozen=True)
class CompareConfig:
    """What to compare. Per-data-set presets fill every field left at ``None``.

    Attributes
    ----------
    dataset, classes : data (``classes`` keeps and relabels a subset, e.g. (4, 9)).
    rules : rule names (rate rules from ``ratebased``, plus ``stdp-association`` and ``spiking-local``).
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
    classes: Optional[tuple] = None
    rules: tuple = DEFAULT_RULES
    epsilons: tuple = (0.0, 0.05, 0.1, 0.2, 0.3)
    seeds: tuple = (0, 1, 2)
    methods: tuple = ("fgsm", "pgd")
    pgd_steps: int = 10
    sources: tuple = ("bp",)
    n_eval: Optional[int] = None
    n_eval_spiking: Optional[int] = 100
    eot_samples: int = 4
    data_root: Optional[str] = None
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
        for s in self.sources:
            if family_of(s)[0] != "rate":
                raise ValueError(f"transfer source {s!r} must be a rate-based rule")
        from bridges.compare.families import FAMILIES

        for r in self.rules:
            FAMILIES.get(family_of(r)[0]).check_rule(family_of(r)[1])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
