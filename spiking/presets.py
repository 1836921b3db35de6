"""Named parameter presets of the spiking rules (``--params NAME`` in ``scripts/train_spiking.py``).

A preset is a rule name and nested overrides of that rule's parameter dataclass (applied with
:func:`spiking.params.replace_params` to the defaults); architecture, time grid and epochs stay
on the command line. ``docs``/notes record which preset produced which measured number.

Example
-------
>>> p = preset_params("stdp-gated")
>>> p.output_stdp.hold_gate_mV
0.0
>>> d = preset_params("stdp-digits-skip")   # digits: MNIST's skip recipe, 5x faster input STDP
>>> d.input_stdp.eta_plus_mV, d.skip_stdp.norm_total_mV
(0.01, 2400.0)
>>> RULE_RUN_DEFAULTS["spiking-local"]["t_present_ms"]
50.0
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from .params import replace_params
from .rules import RULES, get_rule, local_error, stdp_association

__all__ = ["PRESETS", "RENAMED_PRESETS", "RULE_RUN_DEFAULTS", "preset_name", "preset_params"]


class _RunDefaultsView(Mapping[str, dict[str, Any]]):
    """Read-only view rule name -> a fresh dict of that rule's ``RuleSpec.run_defaults`` (every
    registered rule, including rules registered later)."""

    def __getitem__(self, rule: str) -> dict[str, Any]:
        if not isinstance(rule, str) or rule not in RULES:
            raise KeyError(rule)
        return dict(get_rule(rule).run_defaults)

    def __iter__(self) -> Iterator[str]:
        return iter(RULES)

    def __len__(self) -> int:
        return len(RULES)

    def __repr__(self) -> str:
        return repr({name: self[name] for name in self})


#: rule -> time grid and input rates of its measured runs (``scripts/train_spiking.py`` and the
#: comparison both start from these), as each rule module defines them (``RUN_DEFAULTS``):
#: STDP/association normalises the total input rate to 20 kHz (so small images drive the network
#: as hard as MNIST does); local errors run on a coarser grid.
RULE_RUN_DEFAULTS: Mapping[str, dict[str, Any]] = _RunDefaultsView()

_GATED = {"hold_gate_mV": 0.0, "ltp_stop_trace": 1.0}
#: population-coded tabular sets: faster input STDP; a 4x slower, gated output association
_IRIS_INPUT = {"eta_plus_mV": 0.02, "eta_minus_mV": 0.002}
_IRIS_SLOW_OUT = {**_GATED, "eta_plus_mV": 0.25, "eta_minus_mV": 0.025, "eta_hold_mV": 0.25}

#: MNIST's skip recipe (``stdp-skip-400``): the output reads the first hidden layer through a strong skip
#: association, the second hidden layer's association is weak (docs/SPIKING.md)
_SKIP_400 = {
    "hidden_lif": {"theta_target_hz": 0.1},
    "hidden_stdp": {"norm_total_mV": 400.0, "w_max_mV": 160.0, "eta_plus_mV": 0.2, "eta_minus_mV": 0.02},
    "output_stdp": {
        "norm_total_mV": 100.0,
        "w_max_mV": 15.0,
        "eta_plus_mV": 4.0,
        "eta_minus_mV": 0.4,
        "eta_hold_mV": 4.0,
    },
    "skip_stdp": {"norm_total_mV": 2400.0, "w_max_mV": 360.0},  # otherwise as output_stdp
    "output_inhibition_mV": 15.0,
}

#: name -> {"rule": ..., "params": nested overrides, "doc": one line}
PRESETS: dict[str, dict[str, Any]] = {
    "stdp-gated": {
        "rule": stdp_association.NAME,
        "doc": "stop-learning association: hold-back depression only while the wrong class would fire, "
        "label potentiation only below a trace (rate) ceiling",
        "params": {"output_stdp": dict(_GATED)},
    },
    "stdp-gated-dense": {
        "rule": stdp_association.NAME,
        "doc": "stdp-gated with a denser hidden code (homeostatic target 1 Hz instead of 0.3 Hz)",
        "params": {"output_stdp": dict(_GATED), "hidden_lif": {"theta_target_hz": 1.0}},
    },
    "stdp-gated-dense-inh5": {
        "rule": stdp_association.NAME,
        "doc": "stdp-gated-dense with weaker lateral inhibition (5 mV): soft k-winner-take-all",
        "params": {"output_stdp": dict(_GATED), "hidden_lif": {"theta_target_hz": 1.0}, "inhibition_mV": 5.0},
    },
    "stdp-gated-strongout": {
        "rule": stdp_association.NAME,
        "doc": "stdp-gated with twice the summed output weight (more output spikes at test time)",
        "params": {"output_stdp": {**_GATED, "norm_total_mV": 800.0}},
    },
    "stdp-gated-dense-strongout": {
        "rule": stdp_association.NAME,
        "doc": "stdp-gated-dense and stdp-gated-strongout together",
        "params": {"output_stdp": {**_GATED, "norm_total_mV": 800.0}, "hidden_lif": {"theta_target_hz": 1.0}},
    },
    "stdp-strongout": {
        "rule": stdp_association.NAME,
        "doc": "default association (ungated) with twice the summed output weight",
        "params": {"output_stdp": {"norm_total_mV": 800.0}},
    },
    "stdp-sparse": {
        "rule": stdp_association.NAME,
        "doc": "sparser hidden code (homeostatic target 0.15 Hz)",
        "params": {"hidden_lif": {"theta_target_hz": 0.15}},
    },
    "stdp-sparse-strongout": {
        "rule": stdp_association.NAME,
        "doc": "stdp-sparse and stdp-strongout together",
        "params": {"hidden_lif": {"theta_target_hz": 0.15}, "output_stdp": {"norm_total_mV": 800.0}},
    },
    "stdp-gated-sparse": {
        "rule": stdp_association.NAME,
        "doc": "stdp-gated with the sparser hidden code of stdp-sparse",
        "params": {"hidden_lif": {"theta_target_hz": 0.15}, "output_stdp": dict(_GATED)},
    },
    "stdp-strongout-inh15": {
        "rule": stdp_association.NAME,
        "doc": "stdp-strongout with strong output lateral inhibition (15 mV)",
        "params": {"output_stdp": {"norm_total_mV": 800.0}, "output_inhibition_mV": 15.0},
    },
    "stdp-iris": {
        "rule": stdp_association.NAME,
        "doc": "population-coded tabular data (small layers): faster input STDP, 5 Hz hidden target, gated output",
        "params": {
            "input_stdp": dict(_IRIS_INPUT),
            "hidden_lif": {"theta_target_hz": 5.0},
            "output_stdp": dict(_GATED),
        },
    },
    "stdp-iris-slow": {
        "rule": stdp_association.NAME,
        "doc": "stdp-iris with a 4x slower output association (less drift over epochs)",
        "params": {
            "input_stdp": dict(_IRIS_INPUT),
            "hidden_lif": {"theta_target_hz": 5.0},
            "output_stdp": dict(_IRIS_SLOW_OUT),
        },
    },
    "stdp-skip-400": {
        "rule": stdp_association.NAME,
        "doc": "for --hidden 400,400: the output associates with the first hidden layer through a skip "
        "projection (skip_stdp, 2400 mV per output neuron) beside a weak h2 -> out association "
        "(100 mV); sparse 400-neuron layers (0.1 Hz homeostatic target), strong output inhibition",
        "params": copy.deepcopy(_SKIP_400),
    },
    "stdp-digits-skip": {
        "rule": stdp_association.NAME,
        "doc": "for 8x8 digits on --hidden 400,100: stdp-skip-400 with 5x faster input STDP (64 inputs and "
        "1,348 samples per epoch instead of 784 and 60,000); chosen on a validation quarter of digits' "
        "training split (docs/spiking_runs/digits_presets.md)",
        "params": {**copy.deepcopy(_SKIP_400), "input_stdp": {"eta_plus_mV": 0.01, "eta_minus_mV": 0.001}},
    },
    "stdp-iris-skip": {
        "rule": stdp_association.NAME,
        "doc": "stdp-iris-slow with a denser hidden code (2 Hz homeostatic target) and a gated skip association "
        "h1 -> out (skip_stdp, 400 mV per output neuron); chosen with 3 epochs on IRIS splits 5-9",
        "params": {
            "input_stdp": dict(_IRIS_INPUT),
            "hidden_lif": {"theta_target_hz": 2.0},
            "output_stdp": dict(_IRIS_SLOW_OUT),
            "skip_stdp": {},
        },  # skip: a copy of output_stdp
    },
    "spiking-local-fast": {
        "rule": local_error.NAME,
        "doc": "three-factor update every 5 steps (same rate per second; ~2x faster simulation), eta 10",
        "params": {"update_every": 5, "eta_mV_per_s": 10.0},
    },
    "spiking-local-out": {
        "rule": local_error.NAME,
        "doc": "three-factor update every 5 steps and a 100x slower output layer (eta_out 0.2 mV/s): the "
        "output's delta rule sums over every active hidden neuron, so at the hidden layers' rate it "
        "overwrote itself on every sample",
        "params": {"update_every": 5, "eta_out_mV_per_s": 0.2},
    },
    "spiking-local-fast-reg": {
        "rule": local_error.NAME,
        "doc": "spiking-local-fast with a local activity regulariser (rate_reg 0.1 towards r = 0.4)",
        "params": {"update_every": 5, "eta_mV_per_s": 10.0, "rate_reg": 0.1},
    },
}


#: preset names before 0.2 (when the spiking local-error rule was called ``local-error``)
RENAMED_PRESETS = {
    old.replace("spiking-local", "local-error"): old for old in PRESETS if old.startswith("spiking-local")
}


def preset_name(name: str) -> str | None:
    """The current name of preset ``name`` (an old name warns), or None if there is no such preset.

    >>> preset_name("stdp-skip-400"), preset_name("no-such-preset")
    ('stdp-skip-400', None)
    """
    if name in PRESETS:
        return name
    if name in RENAMED_PRESETS:
        new = RENAMED_PRESETS[name]
        warnings.warn(f"spiking preset {name!r} is now called {new!r}", DeprecationWarning, stacklevel=2)
        return new
    return None


def preset_params(name: str, base: Any = None) -> Any:
    """Parameters of preset ``name`` (overrides applied to ``base`` or the rule's defaults)."""
    if preset_name(name) is None:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    spec = PRESETS[preset_name(name)]
    if base is None:
        base = get_rule(spec["rule"]).params_type()
    return replace_params(base, spec["params"])
