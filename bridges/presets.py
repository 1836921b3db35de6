"""Per-data-set, per-rule training settings used by the comparison (and documented in the README).

Every preset is a plain dict of ``RateRunConfig`` (rate) or spiking-run fields; the comparison's
own overrides are applied on top. Rules without an entry use the data set's defaults.
"""
from __future__ import annotations

import copy

__all__ = ["rate_preset", "spiking_preset", "RATE_DEFAULTS", "RATE_RULE_OVERRIDES", "SPIKING_DEFAULTS"]

#: data set -> RateRunConfig fields shared by every rate rule
RATE_DEFAULTS = {
    "digits": {"model": "mlp", "hidden": (64, 64), "epochs": 30, "batch_size": 32, "lr": 2e-3, "align_batch": 0},
    "iris": {"model": "mlp", "hidden": (16, 16), "epochs": 100, "batch_size": 16, "lr": 5e-3, "align_batch": 0},
    "mnist": {"model": "mlp", "hidden": (256, 256), "epochs": 20, "batch_size": 128, "lr": 1e-3, "align_batch": 0},
    "fashion-mnist": {"model": "mlp", "hidden": (256, 256), "epochs": 20, "batch_size": 128, "lr": 1e-3,
                      "align_batch": 0},
    "kmnist": {"model": "mlp", "hidden": (256, 256), "epochs": 20, "batch_size": 128, "lr": 1e-3, "align_batch": 0},
}

#: rule -> overrides (data-set independent), from the full-MNIST runs in docs/RESULTS.md
RATE_RULE_OVERRIDES: dict[str, dict] = {
    "fa": {"weight_decay": 1e-4},
    "gait": {"activation": "leaky_relu"},  # GAIT-prop inverts every layer: needs an invertible activation
    "dtp": {"activation": "tanh"},         # as in Lee et al. 2015
}

#: data set -> spiking-run fields shared by both spiking rules
SPIKING_DEFAULTS = {
    "digits": {"hidden": (100, 100), "epochs": 1},
    "iris": {"hidden": (20, 20), "epochs": 5},
    "mnist": {"hidden": (100, 100), "epochs": 1},
}


def rate_preset(dataset: str, rule: str) -> dict:
    """RateRunConfig fields for ``rule`` on ``dataset`` (a fresh dict)."""
    d = copy.deepcopy(RATE_DEFAULTS.get(dataset, RATE_DEFAULTS["mnist"]))
    d.update(copy.deepcopy(RATE_RULE_OVERRIDES.get(rule, {})))
    return d


def spiking_preset(dataset: str, rule: str) -> dict:
    """Spiking-run fields for ``rule`` on ``dataset`` (a fresh dict)."""
    d = copy.deepcopy(SPIKING_DEFAULTS.get(dataset, SPIKING_DEFAULTS["mnist"]))
    d["hidden"] = list(d["hidden"])
    return d
