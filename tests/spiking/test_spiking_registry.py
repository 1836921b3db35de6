"""The spiking rule registry: each rule is one module registering one RuleSpec, nothing else in
``spiking`` compares a rule name, and a further rule is one more ``register_rule`` call."""

from __future__ import annotations

import ast
import dataclasses
import types
import warnings
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest

import spiking as spk
from spiking.presets import PRESETS, RULE_RUN_DEFAULTS, preset_params
from spiking.rules import RULES, RuleSpec, available_rules, get_rule, local_error, register_rule, stdp_association

SPIKING = Path(spk.__file__).resolve().parent


def test_builtin_rules_are_registered_in_order():
    assert available_rules() == ("stdp-association", "spiking-local")
    assert list(spk.RULES) == list(available_rules()) and spk.RULES is RULES
    assert get_rule(stdp_association.NAME) is stdp_association.SPEC
    assert get_rule(local_error.NAME) is local_error.SPEC
    assert get_rule("STDP-Association").params_type is spk.STDPAssociationParams
    with pytest.raises(ValueError, match="unknown spiking rule 'hebb'; valid names: stdp-association, spiking-local"):
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
        spk.NetworkConfig(rule="spiking-local", n_in=3, params=spk.STDPAssociationParams())


def test_run_defaults_view_and_presets_follow_the_registry():
    assert set(RULE_RUN_DEFAULTS) == set(available_rules())
    assert RULE_RUN_DEFAULTS["stdp-association"] == {
        "dt_ms": 0.5,
        "t_present_ms": 150.0,
        "max_rate_hz": 200.0,
        "total_rate_hz": 20000.0,
    }
    assert RULE_RUN_DEFAULTS["spiking-local"] == {
        "dt_ms": 1.0,
        "t_present_ms": 50.0,
        "max_rate_hz": 200.0,
        "total_rate_hz": None,
    }
    fresh = RULE_RUN_DEFAULTS["spiking-local"]
    fresh["dt_ms"] = 99.0  # a copy: the rule's defaults are read-only
    assert get_rule("spiking-local").run_defaults["dt_ms"] == 1.0
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
    le = spk.NetworkConfig(
        rule="spiking-local", n_in=3, hidden=(4,), n_out=2, sim=sim, params=spk.LocalErrorParams(sg_width_mV=3.5)
    )
    assert le.rule_spec.layer_kinds(le) == [(le.params.lif, 0.0, False)] * 2
    assert le.rule_spec.surrogate_width_mV(le) == 3.5
    # LocalErrorParams refuses an adaptive threshold; layer_kinds refuses it too for whatever gets past
    adaptive = dataclasses.replace(le.params.lif, theta_plus_mV=0.1)
    bad = types.SimpleNamespace(params=types.SimpleNamespace(lif=adaptive), layer_sizes=le.layer_sizes)
    with pytest.raises(ValueError, match="adaptive threshold.*set theta_plus_mV=0"):
        le.rule_spec.layer_kinds(bad)


def test_capabilities_replace_name_checks():
    stdp = spk.NetworkConfig(
        rule="stdp-association", n_in=3, hidden=(4, 4), n_out=2, params=spk.STDPAssociationParams(skip_stdp={})
    )
    le = spk.NetworkConfig(rule="spiking-local", n_in=3, hidden=(4, 4), n_out=2)
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
    assert builders == {"stdp-association": stdp_association.build, "spiking-local": local_error.build}


# ----------------------------------------------------------------------------------------------
# A toy third rule, defined here and nowhere else: a frozen random feed-forward LIF network (no
# plasticity), with its own parameter dataclass, builder (from spiking.blocks), run defaults,
# validation, initial weights and twin description.


@dataclasses.dataclass(frozen=True)
class FrozenParams:
    """Parameters of the toy rule ``frozen-random``."""

    lif: spk.LIFParams = dataclasses.field(default_factory=spk.LIFParams)
    tau_pre_ms: float = 20.0  # the input trace every rule carries
    w_init_mV: float = 4.0

    def __post_init__(self) -> None:
        if not self.w_init_mV > 0:
            raise ValueError(f"FrozenParams.w_init_mV must be > 0, got {self.w_init_mV}")


def _frozen_build(ctx) -> None:
    from spiking.blocks import PLAIN_SYNAPSE, feedforward, neuron_layer
    from spiking.state import layer_names, projection_names

    p = ctx.cfg.params
    for (pre, post), n in zip(projection_names(ctx.cfg), ctx.cfg.layer_sizes):
        neuron_layer(ctx, post, n, p.lif, traces={"xtr": "tau_pre"}, extra_ns={"tau_pre": p.tau_pre_ms * b2.ms})
        feedforward(ctx, pre, post, PLAIN_SYNAPSE, p.lif.to_namespace())
    assert list(ctx.groups) == ["in", *layer_names(ctx.cfg)]


def _frozen_validate(cfg) -> None:
    if cfg.sim.t_present_ms < 10:
        raise ValueError("frozen-random needs t_present_ms >= 10 to spike at all")


FROZEN = RuleSpec(
    name="frozen-random",
    label="frozen random LIF network (test rule)",
    params_type=FrozenParams,
    build=_frozen_build,
    run_defaults={"dt_ms": 1.0, "t_present_ms": 20.0, "max_rate_hz": 200.0, "total_rate_hz": None},
    layer_kinds=lambda cfg: [(cfg.params.lif, 0.0, False) for _ in cfg.layer_sizes],
    init_weights=lambda cfg, pre, post, shape, rng: rng.uniform(0.0, cfg.params.w_init_mV, size=shape),
    validate=_frozen_validate,
    event_driven=True,
)


@pytest.fixture
def frozen_rule():
    register_rule(FROZEN)
    yield FROZEN
    RULES.unregister(FROZEN.name)


def test_a_third_rule_is_one_register_call(frozen_rule, tmp_path):
    """Registering the test-local rule is all it takes: configs, validation, presets' run defaults,
    Brian2 networks, training, serialisation and the state's round trip work with it."""
    assert "frozen-random" in spk.RULES and RULE_RUN_DEFAULTS["frozen-random"]["t_present_ms"] == 20.0
    sim = spk.SimParams(dt_ms=1.0, t_present_ms=20.0)
    cfg = spk.NetworkConfig(rule="frozen-random", n_in=3, hidden=(4,), n_out=2, sim=sim)
    assert isinstance(cfg.params, FrozenParams) and cfg.rule_spec is FROZEN
    # validation: the rule's own check and its parameter dataclass's
    with pytest.raises(ValueError, match="t_present_ms >= 10"):
        spk.NetworkConfig(
            rule="frozen-random", n_in=3, hidden=(4,), n_out=2, sim=spk.SimParams(dt_ms=1.0, t_present_ms=5.0)
        )
    with pytest.raises(ValueError, match="w_init_mV must be > 0"):
        spk.replace_params(FrozenParams(), {"w_init_mV": 0.0})
    # serialisation: config dict (JSON) round trip rebuilds the rule's own parameter type
    import json

    again = spk.config_from_dict(json.loads(json.dumps(spk.config_to_dict(cfg))))
    assert again == cfg and isinstance(again.params, FrozenParams)
    # a Brian2 network, trained (nothing plastic: weights stay) and evaluated; its state saved and restored
    x = np.random.default_rng(0).uniform(size=(6, 3))
    with spk.SpikingClassifier(cfg, seed=0, target="numpy", chunk_size=6) as clf:
        before = {k: v.copy() for k, v in clf.state.items()}
        assert set(before) == {"W_in_h1", "W_h1_out"} and (before["W_in_h1"] >= 0).all()
        clf.fit_epoch(x, np.array([0, 1, 0, 1, 0, 1]))
        for name, w in before.items():  # unchanged up to the mV -> V -> mV round trip through Brian2
            np.testing.assert_allclose(clf.state[name], w, rtol=1e-15, atol=1e-17)
        counts, rates = clf.predict_counts(x)
        assert counts.shape == (6, 2) and set(rates) == {"h1", "out"}
        np.savez(tmp_path / "state.npz", **clf.state)
    with np.load(tmp_path / "state.npz") as z:
        state = {k: z[k] for k in z.files}
    with spk.SpikingClassifier(cfg, seed=0, target="numpy", chunk_size=6, state=state) as clf:
        np.testing.assert_array_equal(clf.predict_counts(x)[0], counts)


def test_unregistered_rule_is_unknown_again(frozen_rule):
    RULES.unregister("frozen-random")
    try:
        with pytest.raises(ValueError, match="unknown spiking rule 'frozen-random'; valid names: stdp-association"):
            spk.NetworkConfig(rule="frozen-random", n_in=3, hidden=(4,), n_out=2)
    finally:
        register_rule(FROZEN)


def test_old_local_error_name_is_deprecated():
    with pytest.warns(DeprecationWarning, match="'local-error' is deprecated; use 'spiking-local'"):
        assert spk.get_rule("local-error") is spk.get_rule("spiking-local")


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
                found += [
                    f"{path.relative_to(SPIKING)}:{e.lineno}: {e.value!r}"
                    for e in c.elts
                    if isinstance(e, ast.Constant) and e.value in names
                ]
    return found


def test_no_rule_name_is_compared_outside_its_rule_module():
    names = set(available_rules())
    rule_modules = {SPIKING / "rules" / "stdp_association.py", SPIKING / "rules" / "local_error.py"}
    bad = [
        hit
        for path in sorted(SPIKING.rglob("*.py"))
        if path not in rule_modules
        for hit in _rule_name_comparisons(path, names)
    ]
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
        assert isinstance(get_rule("spiking-local"), RuleSpec)
