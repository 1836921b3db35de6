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

__all__ = [
    "ATTACK_KINDS",
    "CompareConfig",
    "DEFAULT_METHODS",
    "DEFAULT_RULES",
    "GRADIENT_FREE_METHODS",
    "GRADIENT_OF_KIND",
    "N_EVAL_SPIKING",
    "ATTACK_FIELDS",
    "ATTACK_PRESETS",
    "SPIKING_ATTACK_FIELDS",
    "attack_presets",
    "SPIKING_ATTACK_PRESETS",
    "STEP_FIELDS",
    "family_of",
]

DEFAULT_RULES = ("bp", "fa", "dfa", "usf", "dtp", "gait", "local", "stdp-association", "spiking-local")

#: the kinds of attack a row can name (its ``attack`` field), in report order: ``whitebox`` (rate
#: models, exact input gradient), ``surrogate`` (spiking, surrogate-gradient EOT through the twin),
#: ``rate-approx`` (spiking, BPDA through a differentiable rate approximation), ``score`` (gradient-free
#: Square on the model's scores), ``transfer`` (crafted white-box on a rate source model), and the
#: per-sample ``worst-case`` over every attack of a model
ATTACK_KINDS = ("whitebox", "surrogate", "rate-approx", "score", "transfer", "worst-case")

#: where each kind's attack direction comes from (the summary's ``gradient`` field)
GRADIENT_OF_KIND = {
    "whitebox": "exact",
    "surrogate": "surrogate",
    "rate-approx": "rate-approx",
    "score": "none",
    "transfer": "transfer",
    "worst-case": "all",
}

#: attack methods that need only the model's scores (run as the ``score`` kind, never transferred)
GRADIENT_FREE_METHODS = frozenset({"square"})

#: the attack suite of a comparison (Croce & Hein 2020, arXiv 2003.01690, plus FGSM and PGD)
DEFAULT_METHODS = ("fgsm", "pgd", "apgd-ce", "apgd-dlr", "square")

#: test samples attacked per spiking model, per data set (``n_eval_spiking="preset"``; ``None``: all)
N_EVAL_SPIKING = {"digits": 100, "iris": None, "mnist": 1000, "fashion-mnist": 1000, "kmnist": 1000}

#: the fields of a comparison that :attr:`CompareConfig.spiking_attack` may set for spiking models
SPIKING_ATTACK_FIELDS = (
    "methods",
    "surrogate_methods",
    "pgd_steps",
    "apgd_steps",
    "square_queries",
    "eot_samples",
    "attacked_seeds",
)

#: the fields of a comparison's attack suite that a data set's preset (:data:`ATTACK_PRESETS`) may set
ATTACK_FIELDS = ("methods", "surrogate_methods", "pgd_steps", "apgd_steps", "square_queries", "eot_samples")

#: per data set, the attack suite and budgets of every model where they differ from the defaults: the
#: embedded digits set keeps the default run under 5 minutes on 2 cores (no APGD-DLR, whose 9 targeted
#: runs cost 9 APGD-CE runs, and 300 Square queries); the 28x28 sets run the whole suite
ATTACK_PRESETS: dict[str, dict] = {"digits": {"methods": ("fgsm", "pgd", "apgd-ce", "square"), "square_queries": 300}}

#: per data set, the attack suite and budgets of spiking models where they differ from the rate
#: models' (``spiking_attack="preset"``). A spiking model is attacked through its snntorch twin
#: (every surrogate step costs ``eot_samples`` simulations of the whole presentation) and every
#: adversarial image is re-scored in Brian2, so the spiking budgets are smaller; the report states
#: the budgets each row ran with. Digits keeps the default run under 5 minutes on 2 cores; the
#: 28x28 sets keep the full-MNIST comparison (1,000 spiking test images) under an hour.
SPIKING_ATTACK_PRESETS: dict[str, dict] = {
    "digits": {
        "methods": ("fgsm", "pgd", "apgd-ce", "square"),
        "surrogate_methods": ("fgsm",),
        "pgd_steps": 5,
        "apgd_steps": 20,
        "square_queries": 300,
        "attacked_seeds": 1,
    },
    **{
        ds: {
            "methods": ("fgsm", "pgd", "apgd-ce", "square"),
            "surrogate_methods": ("fgsm",),
            "pgd_steps": 5,
            "apgd_steps": 20,
            "square_queries": 200,
        }
        for ds in ("mnist", "fashion-mnist", "kmnist")
    },
}

#: the iteration budget of each iterative method: the CompareConfig field that holds it (methods not
#: named here that take ``steps`` use ``pgd_steps``)
STEP_FIELDS = {"pgd": "pgd_steps", "apgd-ce": "apgd_steps", "apgd-dlr": "apgd_steps"}


def attack_presets(dataset: str, given: dict) -> dict:
    """The attack fields of a comparison on ``dataset`` when ``given`` (field -> value) are set by
    the user for every model: :data:`ATTACK_PRESETS` for the others, and ``spiking_attack``, the
    data set's spiking suite (:data:`SPIKING_ATTACK_PRESETS`) less the given fields (naming the
    methods also drops the preset's ``surrogate_methods``).

    Example
    -------
    >>> attack_presets("digits", {"square_queries": 1000})["spiking_attack"]["apgd_steps"]
    20
    >>> "square_queries" in attack_presets("digits", {"square_queries": 1000})["spiking_attack"]
    False
    """
    dropped = set(given) | ({"surrogate_methods"} if "methods" in given else set())
    out = {k: v for k, v in ATTACK_PRESETS.get(dataset, {}).items() if k not in dropped}
    spiking = {k: v for k, v in SPIKING_ATTACK_PRESETS.get(dataset, {}).items() if k not in dropped}
    return {**out, "spiking_attack": spiking}


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


def _check_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class CompareConfig:
    """What to compare. Per-data-set presets fill every field left at ``None`` (``"preset"`` for
    ``n_eval_spiking``).

    Attributes
    ----------
    dataset, classes : data (``classes`` keeps and relabels a subset, e.g. (4, 9)).
    rules : rule names: rate rules (``ratebased.available_rules()``) and spiking rules
        (``spiking.available_rules()``: ``stdp-association``, ``spiking-local``).
    epsilons, seeds : the sweep.
    methods : attack methods (L-inf, registered in ``bridges.attacks.ATTACKS``): gradient methods
        (``fgsm``, ``pgd``, ``apgd-ce``, ``apgd-dlr``) run white-box on rate models, through the
        surrogate and the rate approximation on spiking models, and by transfer; gradient-free ones
        (:data:`GRADIENT_FREE_METHODS`: ``square``) run on every model's scores.
    pgd_steps, apgd_steps : iterations of PGD / of APGD (CE and DLR); :data:`STEP_FIELDS`.
    square_queries : model queries of each Square attack.
    sources : rules whose models craft transfer attacks (same seed).
    n_eval, n_eval_spiking : test samples attacked per rate / spiking model (``None``: all;
        ``n_eval_spiking="preset"``: :data:`N_EVAL_SPIKING` of the data set).
    eot_samples : spike draws averaged per surrogate gradient (expectation over transformation).
    surrogate_methods : the gradient methods run through a spiking model's surrogate gradients
        (every step costs ``eot_samples`` twin simulations); ``None``: every gradient method.
    attacked_seeds : attack the models of the first ``attacked_seeds`` seeds only (the others are
        evaluated clean); ``None``: every seed.
    spiking_attack : the attack suite and budgets of spiking models where they differ (keys of
        :data:`SPIKING_ATTACK_FIELDS`); ``"preset"``: :data:`SPIKING_ATTACK_PRESETS` of the data set.
        :meth:`attack_config` gives the comparison a family's attacks run with.
    sanity_epsilon : an extra epsilon at which any classifier can be fooled (1.0 on [0, 1] inputs),
        attacked with PGD (or the first gradient method) on each model's own gradients and reported
        apart from the table (masking evidence (b)); ``None``: no sanity row.
    rate : overrides of ``bridges.rate_runs.RateRunConfig`` fields for every rate rule.
    rate_rules : per-rule overrides (on top of ``rate``).
    spiking : overrides for the spiking runs (hidden, epochs, target, t_present_ms, ...).
    """

    dataset: str = "digits"
    classes: tuple | None = None
    rules: tuple = DEFAULT_RULES
    epsilons: tuple = (0.0, 0.05, 0.1, 0.2, 0.3)
    seeds: tuple = (0, 1, 2)
    methods: tuple = DEFAULT_METHODS
    pgd_steps: int = 10
    apgd_steps: int = 100
    square_queries: int = 1000
    sources: tuple = ("bp",)
    n_eval: int | None = None
    n_eval_spiking: int | str | None = "preset"
    eot_samples: int = 20
    surrogate_methods: tuple | None = None
    attacked_seeds: int | None = None
    spiking_attack: dict | str = "preset"
    sanity_epsilon: float | None = 1.0
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
        if not self.methods:
            raise ValueError("methods is empty; name at least one attack, e.g. pgd")
        for e in self.epsilons:
            if not (isinstance(e, (int, float)) and math.isfinite(e) and 0 <= e <= 1):
                raise ValueError(f"epsilon {e!r} must be a finite number in [0, 1] (inputs lie in [0, 1])")
        s = self.sanity_epsilon
        if s is not None and not (isinstance(s, (int, float)) and math.isfinite(s) and 0 < s <= 1):
            raise ValueError(f"sanity_epsilon {s!r} must be a number in (0, 1] (1.0 fools any classifier), or None")
        from bridges.attacks import get_attack

        for m in self.methods:
            get_attack(m)  # unknown names raise ValueError listing the registered attacks
        object.__setattr__(self, "methods", tuple(m.strip().lower() for m in self.methods))
        for name in ("pgd_steps", "apgd_steps", "square_queries", "eot_samples"):
            _check_int(name, getattr(self, name))
        if self.attacked_seeds is not None:
            _check_int("attacked_seeds", self.attacked_seeds)
        for name in ("n_eval", "n_eval_spiking"):
            v = getattr(self, name)
            if v is not None and not (name == "n_eval_spiking" and v == "preset"):
                _check_int(name, v)
        if self.spiking_attack == "preset":  # the data set's suites, less the fields set for every model
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            changed = {k: getattr(self, k) for k in SPIKING_ATTACK_FIELDS if getattr(self, k) != defaults[k]}
            for k, v in attack_presets(self.dataset, changed).items():
                object.__setattr__(self, k, v)
        if not isinstance(self.spiking_attack, dict):
            raise ValueError(f"spiking_attack must be a dict or 'preset', got {self.spiking_attack!r}")
        unknown = sorted(set(self.spiking_attack) - set(SPIKING_ATTACK_FIELDS))
        if unknown:
            raise ValueError(
                f"spiking_attack has unknown keys {unknown}; valid keys: {', '.join(SPIKING_ATTACK_FIELDS)}"
            )
        for name in ("methods", "surrogate_methods"):
            if self.spiking_attack.get(name) is not None:
                self.spiking_attack[name] = tuple(self.spiking_attack[name])
        if self.surrogate_methods is not None:
            object.__setattr__(self, "surrogate_methods", tuple(m.strip().lower() for m in self.surrogate_methods))
            extra = sorted(set(self.surrogate_methods) - set(self.gradient_methods))
            if extra:
                raise ValueError(
                    f"surrogate_methods {extra} are not among the gradient methods of the comparison "
                    f"({', '.join(self.gradient_methods)})"
                )
        if self.spiking_attack:
            self.attack_config("spiking")  # validates the spiking values like the comparison's own
        if self.n_eval_spiking == "preset":
            object.__setattr__(self, "n_eval_spiking", N_EVAL_SPIKING.get(self.dataset, 1000))
        object.__setattr__(self, "rules", tuple(family_of(r)[1] for r in self.rules))
        for s in self.sources:
            if family_of(s)[0] != "rate":
                raise ValueError(f"transfer source {s!r} must be a rate-based rule")

    def attack_config(self, family: str) -> CompareConfig:
        """The comparison as the attacks on ``family``'s models run it: ``self`` for rate models;
        for spiking models, ``self`` with :attr:`spiking_attack` applied.

        Example
        -------
        >>> cfg = CompareConfig(spiking_attack={"apgd_steps": 20})
        >>> cfg.attack_config("rate").apgd_steps, cfg.attack_config("spiking").apgd_steps
        (100, 20)
        """
        if family != "spiking" or not self.spiking_attack:
            return self
        return dataclasses.replace(self, spiking_attack={}, **self.spiking_attack)

    def is_attacked(self, seed: int) -> bool:
        """Whether the models of ``seed`` are attacked (:attr:`attacked_seeds`)."""
        return self.attacked_seeds is None or seed in self.seeds[: self.attacked_seeds]

    @property
    def gradient_methods(self) -> tuple[str, ...]:
        """The methods that follow an input gradient (white-box, surrogate, rate-approx, transfer)."""
        return tuple(m for m in self.methods if m not in GRADIENT_FREE_METHODS)

    @property
    def score_methods(self) -> tuple[str, ...]:
        """The gradient-free methods (the ``score`` kind)."""
        return tuple(m for m in self.methods if m in GRADIENT_FREE_METHODS)

    def steps_of(self, method: str) -> int | None:
        """The iteration budget of ``method`` (``None`` when the attack takes no ``steps``)."""
        from bridges.attacks import get_attack

        field_name = STEP_FIELDS.get(method)
        if field_name is None:
            import inspect

            if "steps" not in inspect.signature(get_attack(method)).parameters:
                return None
            field_name = "pgd_steps"
        return int(getattr(self, field_name))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
