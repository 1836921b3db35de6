"""Per-data-set, per-rule training settings of the comparison and the training scripts (documented in the README).

Every preset is a plain dict of ``RateRunConfig`` (rate) or spiking-run fields; the comparison's
own overrides are applied on top. Rules without an entry use the data set's defaults.
"""

from __future__ import annotations

import copy

__all__ = [
    "rate_preset",
    "spiking_preset",
    "RATE_DEFAULTS",
    "RATE_RULE_OVERRIDES",
    "SPIKING_DEFAULTS",
    "SPIKING_RULE_OVERRIDES",
]

#: data set -> RateRunConfig fields shared by every rate rule
RATE_DEFAULTS = {
    "digits": {"model": "mlp", "hidden": (64, 64), "epochs": 30, "batch_size": 32, "lr": 2e-3, "align_batch": 0},
    "iris": {"model": "mlp", "hidden": (16, 16), "epochs": 100, "batch_size": 16, "lr": 5e-3, "align_batch": 0},
    "mnist": {"model": "mlp", "hidden": (256, 256), "epochs": 20, "batch_size": 128, "lr": 1e-3, "align_batch": 0},
    "fashion-mnist": {
        "model": "mlp",
        "hidden": (256, 256),
        "epochs": 20,
        "batch_size": 128,
        "lr": 1e-3,
        "align_batch": 0,
    },
    "kmnist": {"model": "mlp", "hidden": (256, 256), "epochs": 20, "batch_size": 128, "lr": 1e-3, "align_batch": 0},
}

#: rule -> overrides (data-set independent), from the full-MNIST runs in docs/RESULTS.md
RATE_RULE_OVERRIDES: dict[str, dict] = {
    "fa": {"weight_decay": 1e-4},
    "gait": {"activation": "leaky_relu"},  # GAIT-prop inverts every layer: needs an invertible activation
    "dtp": {"activation": "tanh"},  # as in Lee et al. 2015
}

#: data set -> spiking-run fields shared by both spiking rules
SPIKING_DEFAULTS = {
    "digits": {"hidden": (100, 100), "epochs": 1},
    "iris": {"hidden": (20, 20), "epochs": 5},
    "mnist": {"hidden": (100, 100), "epochs": 1},
}


#: 28x28 image sets: in addition, the named parameter presets of :mod:`spiking.presets` (and
#: hidden sizes) that gave the best 10-class MNIST accuracy in the measured full-MNIST runs
#: (``stdp-skip-400`` on 400-400 hidden layers, ``spiking-local-out`` on 100-100), and 2,000-sample
#: training chunks
_IMAGE28_SPIKING_RULES = {
    "stdp-association": {"chunk_size": 2000, "preset": "stdp-skip-400", "hidden": (400, 400)},
    "spiking-local": {"chunk_size": 2000, "preset": "spiking-local-out"},
}
#: (data set, spiking rule) -> run-field overrides on top of :data:`SPIKING_DEFAULTS` and the rule's
#: own run defaults (``spiking.get_rule(rule).run_defaults``: the time grid and input rates of the
#: rule's measured runs, shared with ``scripts/train_spiking.py``)
SPIKING_RULE_OVERRIDES: dict[tuple[str, str], dict] = {
    (ds, rule): fields for ds in ("mnist", "fashion-mnist", "kmnist") for rule, fields in _IMAGE28_SPIKING_RULES.items()
}


def rate_preset(dataset: str, rule: str) -> dict:
    """RateRunConfig fields for ``rule`` on ``dataset`` (a fresh dict)."""
    d = copy.deepcopy(RATE_DEFAULTS.get(dataset, RATE_DEFAULTS["mnist"]))
    d.update(copy.deepcopy(RATE_RULE_OVERRIDES.get(rule, {})))
    return d


def spiking_preset(dataset: str, rule: str) -> dict:
    """Spiking-run fields for ``rule`` on ``dataset`` (a fresh dict)."""
    import spiking as spk

    rule = spk.get_rule(rule).name
    d = copy.deepcopy(SPIKING_DEFAULTS.get(dataset, SPIKING_DEFAULTS["mnist"]))
    d.update(copy.deepcopy(dict(spk.get_rule(rule).run_defaults)))
    extra = copy.deepcopy(SPIKING_RULE_OVERRIDES.get((dataset, rule), {}))
    name = extra.pop("preset", None)
    if name is not None:
        from spiking.presets import PRESETS, preset_name

        name = preset_name(name) or name
        if spk.get_rule(PRESETS[name]["rule"]).name != spk.get_rule(rule).name:
            raise ValueError(f"spiking preset {name!r} is for rule {PRESETS[name]['rule']!r}, not {rule!r}")
        extra["params"] = copy.deepcopy(PRESETS[name]["params"])
    d.update(extra)
    d["hidden"] = list(d["hidden"])
    return d
