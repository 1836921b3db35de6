"""The spiking rule registry: each rule is one module registering one RuleSpec, nothing else in
``spiking`` compares a rule name, and a further rule is one more ``register_rule`` call."""
from __future__ import annotations

import ast
import dataclasses
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import spiking as spk
from spiking.presets import PRESETS, RULE_RUN_DEFAULTS, preset_params
from spiking.rules import RULES, RuleSpec, available_rules, get_rule, register_rule
from spiking.rules import local_error, stdp_association

SPIKING = Path(spk.__file__).resolve().parent


def test_builtin_rules_are_registered_in_order():
    assert available_rules() == ("stdp-association", "local-error")
    assert list(spk.RULES) == list(available_rules()) and spk.RULES is RULES
    assert get_rule(stdp_association.NAME) is stdp_association.SPEC
    assert get_rule(local_error.NAME) is local_error.SPEC
    assert get_rule("STDP-Association").params_type is spk.STDPAssociationParams
    with pytest.raises(ValueError, match="unknown spiking rule 'hebb'; valid names: stdp-association, local-error"):
        get_rule("hebb")
    with pytest.raises(ValueError, match="already registered"):
        register_rule(local_error.SPEC)


def test_config_takes_params_and_checks_from_the_rule():
    for name in available_rules():
        cfg = spk.NetworkConfig(rule=name.upper(), n_in=3, hidden=(4, 4), n_out=2)
        assert cfg.rule == name and cfg.rule_spec is get_rule(name)
        assert type(cfg.params) is get_rule(name).params_type
        assert spk.config_from_dict(spk.config_to_dict(cfg)) == cfg
    with pytest.raises(ValueError, match="unknown spiking rule 'hebb'"):
        spk.NetworkConfig(rule="hebb", n_in=3)
    with pytest.raises(ValueError, match="unknown spiking rule 'hebb'"):
        spk.config_from_dict({"rule": "hebb", "n_in": 3})
    with pytest.raises(ValueError, match="needs params of type LocalErrorParams"):
        spk.NetworkConfig(rule="local-error", n_in=3, params=spk.STDPAssociationParams())


def test_run_defaults_view_and_presets_follow_the_registry():
    assert set(RULE_RUN_DEFAULTS) == set(available_rules())
    assert RULE_RUN_DEFAULTS["stdp-association"] == {"dt_ms": 0.5, "t_present_ms": 150.0, "max_rate_hz": 200.0,
                                                     "total_rate_hz": 20000.0}
    assert RULE_RUN_DEFAULTS["local-error"] == {"dt_ms": 1.0, "t_present_ms": 50.0, "max_rate_hz": 200.0,
                                                "total_rate_hz": None}
    fresh = RULE_RUN_DEFAULTS["local-error"]
    fresh["dt_ms"] = 99.0  # a copy: the rule's defaults are read-only
    assert get_rule("local-error").run_defaults["dt_ms"] == 1.0
    assert RULE_RUN_DEFAULTS.get("hebb", {}) == {}
    for name, preset in PRESETS.items():
        assert type(preset_params(name)) is get_rule(preset["rule"]).params_type


def test_layer_kinds_and_surrogate_widths():
    sim = spk.SimParams(dt_ms=1.0, t_present_ms=20.0)
    stdp = spk.NetworkConfig(rule="stdp-association", n_in=3, hidden=(4, 5), n_out=2, sim=sim)
    kinds = stdp.rule_spec.layer_kinds(stdp)
    p = stdp.params
    assert kinds == [(p.hidden_lif, 15.0, False), (p.hidden_lif, 15.0, False), (p.output_lif, 5.0, True)]
    assert stdp.rule_spec.surrogate_width_mV(stdp) == 2.0
    le = spk.NetworkConfig(rule="local-error", n_in=3, hidden=(4,), n_out=2, sim=sim,
                           params=spk.LocalErrorParams(sg_width_mV=3.5))
    assert le.rule_spec.layer_kinds(le) == [(le.params.lif, 0.0, False)] * 2
    assert le.rule_spec.surrogate_width_mV(le) == 3.5
    # LocalErrorParams refuses an adaptive threshold; layer_kinds refuses it too for whatever gets past
    adaptive = dataclasses.replace(le.params.lif, theta_plus_mV=0.1)
    bad = types.SimpleNamespace(params=types.SimpleNamespace(lif=adaptive), layer_sizes=le.layer_sizes)
    with pytest.raises(ValueError, match="adaptive threshold.*set theta_plus_mV=0"):
        le.rule_spec.layer_kinds(bad)


def test_capabilities_replace_name_checks():
    stdp = spk.NetworkConfig(rule="stdp-association", n_in=3, hidden=(4, 4), n_out=2,
                             params=spk.STDPAssociationParams(skip_stdp={}))
    le = spk.NetworkConfig(rule="local-error", n_in=3, hidden=(4, 4), n_out=2)
    assert stdp.rule_spec.skip_projections(stdp) == [("h1", "out")] == spk.skip_projections(stdp)
    assert le.rule_spec.skip_projections(le) == []
    assert stdp.rule_spec.event_driven and not le.rule_spec.event_driven
    assert spk.SpikingClassifier(stdp, target="numpy")._reuse_train_for_eval()
    assert not spk.SpikingClassifier(le, target="numpy")._reuse_train_for_eval()
    assert le.rule_spec.norm_total_mV(le, "in", "h1") is None
    assert stdp.rule_spec.norm_total_mV(stdp, "h1", "out") == stdp.params.output_stdp.norm_total_mV


def test_old_rule_builders_name_is_deprecated():
    import spiking.network

    with pytest.warns(DeprecationWarning, match="RULE_BUILDERS is deprecated"):
        builders = spiking.network.RULE_BUILDERS
    assert builders == {"stdp-association": stdp_association.build, "local-error": local_error.build}


@dataclasses.dataclass(frozen=True)
class _QuietParams(spk.LocalErrorParams):
    """A third rule for the test: the local-error network with every learning rate 0."""

    eta_mV_per_s: float = 0.0


def test_a_third_rule_is_one_register_call():
    spec = dataclasses.replace(local_error.SPEC, name="quiet-local", params_type=_QuietParams,
                               run_defaults={"dt_ms": 1.0, "t_present_ms": 20.0, "max_rate_hz": 100.0,
                                             "total_rate_hz": None})
    register_rule(spec)
    try:
        assert "quiet-local" in spk.RULES and RULE_RUN_DEFAULTS["quiet-local"]["t_present_ms"] == 20.0
        cfg = spk.NetworkConfig(rule="quiet-local", n_in=3, hidden=(4,), n_out=2,
                                sim=spk.SimParams(dt_ms=1.0, t_present_ms=20.0))
        assert isinstance(cfg.params, _QuietParams) and cfg.params.eta_mV_per_s == 0.0
        assert spk.config_from_dict(spk.config_to_dict(cfg)) == cfg
        x = np.random.default_rng(0).uniform(size=(4, 3))
        with spk.SpikingClassifier(cfg, seed=0, target="numpy", chunk_size=4) as clf:
            before = {k: v.copy() for k, v in clf.state.items()}
            clf.fit_epoch(x, np.array([0, 1, 0, 1]))
            for name, w in before.items():  # nothing learns at eta 0
                np.testing.assert_array_equal(clf.state[name], w)
    finally:
        RULES.unregister("quiet-local")
    assert "quiet-local" not in spk.RULES


def _rule_name_comparisons(path: Path, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        consts = []
        if isinstance(node, ast.Compare):
            consts = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            consts = [k for k in node.keys if k is not None]
        for c in consts:
            if isinstance(c, ast.Constant) and c.value in names:
                found.append(f"{path.relative_to(SPIKING)}:{c.lineno}: {c.value!r}")
            if isinstance(c, (ast.Tuple, ast.List, ast.Set)):
                found += [f"{path.relative_to(SPIKING)}:{e.lineno}: {e.value!r}" for e in c.elts
                          if isinstance(e, ast.Constant) and e.value in names]
    return found


def test_no_rule_name_is_compared_outside_its_rule_module():
    names = set(available_rules())
    rule_modules = {SPIKING / "rules" / "stdp_association.py", SPIKING / "rules" / "local_error.py"}
    bad = [hit for path in sorted(SPIKING.rglob("*.py")) if path not in rule_modules
           for hit in _rule_name_comparisons(path, names)]
    assert not bad, "rule names compared outside their rule module:\n" + "\n".join(bad)


def test_rule_spec_rejects_mistakes():
    with pytest.raises(ValueError, match="lower-case"):
        dataclasses.replace(local_error.SPEC, name="Quiet")
    with pytest.raises(ValueError, match="dataclass type"):
        dataclasses.replace(local_error.SPEC, name="quiet", params_type=dict)
    with pytest.raises(TypeError, match="RuleSpec"):
        register_rule("quiet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(get_rule("local-error"), RuleSpec)
