"""The spiking learning rules: one module per rule, each registering one :class:`RuleSpec`.

A rule is everything ``spiking`` needs to know that differs between rules: its parameter
dataclass, its network builder, the time grid and input rates of its measured runs, its
configuration checks, the arrays its state carries besides the weights, its skip projections
and normalisation, and what its snntorch twin needs (layer kinds, surrogate width). The rest of
the package asks the config's rule (``cfg.rule_spec``, or :func:`get_rule`) and never compares
a rule name.

Built in (registered when this package is imported):

* ``stdp-association`` (:mod:`spiking.rules.stdp_association`) - STDP / neuronal association,
  a reconstruction of Gupta 2020 (arXiv 2011.12012).
* ``spiking-local`` (:mod:`spiking.rules.local_error`) - spiking local errors (Mostafa, Ramesh &
  Cauwenberghs 2018, arXiv 1711.06756; DECOLLE, arXiv 1811.10766).

Adding a rule: write one module (say ``spiking/rules/my_rule.py``) holding its parameter
dataclass and its builder (assembled from :mod:`spiking.blocks`), ending in::

    SPEC = register_rule(RuleSpec(name=NAME, params_type=MyRuleParams, build=build,
                                  run_defaults={...}, layer_kinds=..., init_weights=..., ...))

(``RuleSpec`` and ``register_rule`` from :mod:`spiking.rules.spec`), and import it: from this
file's last lines for a built-in rule, or from the user's own code for a private one. Nothing
else changes: :class:`~spiking.config.NetworkConfig`, the network builder, the state functions,
the presets, the engines and the twin look the rule up. (A private rule must be imported in every
process that makes its configs, e.g. the workers of a parallel sweep.)

Examples are in :mod:`spiking.rules.spec`.
"""

from .spec import RULES, LayerKind, RuleSpec, available_rules, get_rule, register_rule

# The built-in rules register themselves on import, in this order (the order of available_rules()).
# isort: off
from . import stdp_association  # noqa: F401
from . import local_error  # noqa: F401
# isort: on

__all__ = ["RuleSpec", "LayerKind", "RULES", "register_rule", "get_rule", "available_rules"]
