"""The per-data-set spiking presets: the comparison and ``bioplausible train-spiking`` train the same networks."""

from __future__ import annotations

import pytest

import spiking as spk
from bridges.runs.presets import (
    SPIKING_RULE_OVERRIDES,
    TRAIN_SPIKING_OVERRIDES,
    spiking_defaults,
    spiking_preset,
)
from bridges.runs.spiking import network_config
from spiking.presets import PRESETS, preset_params

DATASETS = ("digits", "iris", "mnist", "fashion-mnist", "kmnist")
RULES = ("stdp-association", "spiking-local")


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_comparison_and_single_run_resolve_the_same_settings(dataset, rule):
    """Every setting the comparison fills in equals what train-spiking fills in when its flags are
    left out, and the comparison's parameters are exactly the named preset's."""
    comp, single = spiking_preset(dataset, rule), spiking_defaults(dataset, rule)
    assert comp["hidden"] == list(single["hidden"])
    for key in ("epochs", "dt_ms", "t_present_ms", "max_rate_hz", "total_rate_hz"):
        assert comp[key] == single[key], key
    assert comp.get("chunk_size", 1000) == single["chunk_size"]
    expected = {} if single["preset"] is None else PRESETS[single["preset"]]["params"]
    assert comp.get("params", {}) == expected


def test_no_single_run_differs_from_the_comparison():
    assert TRAIN_SPIKING_OVERRIDES == {}


@pytest.mark.parametrize(
    "rule, preset, hidden, epochs, max_rate_hz",
    [
        ("stdp-association", "stdp-digits-skip", (400, 100), 5, 200.0),
        ("spiking-local", "spiking-local-out", (100, 100), 7, 1000.0),
    ],
    ids=["stdp", "spiking-local"],
)
def test_digits_uses_the_validation_selected_recipe(rule, preset, hidden, epochs, max_rate_hz):
    """docs/spiking_runs/digits_presets.md: the recipes chosen on the validation quarter of digits'
    training split."""
    d = spiking_defaults("digits", rule)
    assert (d["preset"], d["hidden"], d["epochs"], d["max_rate_hz"]) == (preset, hidden, epochs, max_rate_hz)
    run = {**spiking_preset("digits", rule), "rule": rule, "seed": 0, "dataset": "digits"}
    cfg = network_config(run, 64, 10)
    assert cfg.params == preset_params(preset) and cfg.hidden == hidden and cfg.n_in == 64


def test_digits_stdp_preset_is_the_mnist_skip_recipe_with_faster_input_stdp():
    """stdp-digits-skip changes exactly the input STDP rates of stdp-skip-400 (5x), nothing else."""
    digits, mnist = preset_params("stdp-digits-skip"), preset_params("stdp-skip-400")
    assert digits.input_stdp.eta_plus_mV == pytest.approx(5 * mnist.input_stdp.eta_plus_mV, rel=1e-12)
    assert digits.input_stdp.eta_minus_mV == pytest.approx(5 * mnist.input_stdp.eta_minus_mV, rel=1e-12)
    assert digits.skip_stdp is not None and digits.skip_stdp.norm_total_mV == 2400.0
    for name in ("hidden_lif", "hidden_stdp", "output_stdp", "skip_stdp", "output_inhibition_mV", "inhibition_mV"):
        assert getattr(digits, name) == getattr(mnist, name), name
    # the presets do not share nested dicts: editing one cannot change the other
    assert PRESETS["stdp-digits-skip"]["params"]["hidden_lif"] is not PRESETS["stdp-skip-400"]["params"]["hidden_lif"]


@pytest.mark.parametrize("key", sorted(SPIKING_RULE_OVERRIDES, key=str), ids=lambda k: f"{k[0]}-{k[1]}")
def test_every_named_preset_belongs_to_its_rule(key):
    dataset, rule = key
    name = SPIKING_RULE_OVERRIDES[key].get("preset")
    if name is None:
        assert "params" not in spiking_preset(dataset, rule)
    else:
        assert spk.get_rule(PRESETS[name]["rule"]).name == rule
