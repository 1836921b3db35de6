"""Encoders, parameter validation and bad input: every mistake gets a clear error (no Brian2 runs)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import spiking as spk
from spiking.backend import device as spk_device
from spiking.model import SpikingClassifier
from spiking.network import build_network
from spiking.state import init_state


def _cfg(**kw) -> spk.NetworkConfig:
    base = dict(
        rule="stdp-association", n_in=784, hidden=(4, 4), n_out=2, sim=spk.SimParams(dt_ms=1.0, t_present_ms=20.0)
    )
    base.update(kw)
    return spk.NetworkConfig(**base)


# ----------------------------------------------------------------------------- encoders
def test_poisson_rates_scale_and_total_normalisation():
    x = np.array([[0.0, 0.25, 1.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(spk.poisson_rates(x, 100.0), [[0, 25, 100], [50, 50, 0]])
    r = spk.poisson_rates(x, max_rate_hz=1000.0, total_rate_hz=300.0)
    np.testing.assert_allclose(r.sum(axis=1), [300.0, 300.0])
    np.testing.assert_allclose(r[0], [0.0, 60.0, 240.0])
    capped = spk.poisson_rates(x, max_rate_hz=200.0, total_rate_hz=300.0)
    assert capped.max() == 200.0
    np.testing.assert_array_equal(spk.poisson_rates(np.zeros((1, 3)), 50.0, total_rate_hz=10.0), [[0.0, 0.0, 0.0]])


def test_latency_steps_stronger_is_earlier():
    steps = spk.latency_steps(np.array([[1.0, 0.75, 0.5, 0.0]]), n_present=9)
    np.testing.assert_array_equal(steps, [[0, 2, 4, -1]])


def test_population_code_peaks_at_centres():
    x = np.array([[0.0, 1.0], [0.5, 0.25]])
    codes = spk.population_code(x, n_per_feature=5, lo=np.zeros(2), hi=np.ones(2))
    assert codes.shape == (2, 10)
    assert codes.min() >= 0.0 and codes.max() <= 1.0
    # feature 0 of sample 0 (value 0) peaks on the first field; value 0.5 on the middle one
    assert codes[0, :5].argmax() == 0 and codes[1, :5].argmax() == 2 and codes[0, 5:].argmax() == 4
    assert codes[1, 2] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "shape",
    [
        pytest.param((3, 1, 27, 27), id="27x27-image"),
        pytest.param((3, 783), id="783-features"),
        pytest.param((784,), id="missing-sample-axis"),
    ],
)
def test_wrong_image_size_is_rejected(shape):
    clf = SpikingClassifier(_cfg(), target="numpy")
    with pytest.raises(ValueError, match=r"784"):
        clf.fit_epoch(np.zeros(shape), np.zeros(3, dtype=int))


def test_correct_image_shape_is_flattened():
    clf = SpikingClassifier(_cfg(max_rate_hz=100.0), target="numpy")
    rates = clf.encode(np.full((2, 1, 28, 28), 0.5))
    assert rates.shape == (2, 784) and np.all(rates == 50.0)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: spk.check_rates(np.array([[1.0, -2.0]]), 2), id="check_rates"),
        pytest.param(lambda: spk.poisson_rates(np.array([[0.5, -0.1]]), 100.0), id="poisson_rates-features"),
        pytest.param(
            lambda: SpikingClassifier(_cfg(n_in=2), target="numpy").encode(np.array([[0.5, -0.1]])), id="classifier"
        ),
    ],
)
def test_negative_rates_are_rejected(call):
    with pytest.raises(ValueError, match=r">= 0|\[0, 1\]"):
        call()


@pytest.mark.parametrize(
    "x, match",
    [
        pytest.param(np.array([[np.nan, 0.5]]), "NaN", id="nan"),
        pytest.param(np.array([[2.0, 0.5]]), r"\[0, 1\].*x / 255", id="unscaled-pixels"),
    ],
)
def test_bad_feature_values(x, match):
    with pytest.raises(ValueError, match=match):
        spk.as_features(x, 2)


def test_rate_above_one_spike_per_step():
    with pytest.raises(ValueError, match="one spike per"):
        spk.check_rates(np.array([[2000.0]]), 1, dt_ms=1.0)
    with pytest.raises(ValueError, match="one spike per"):
        _cfg(max_rate_hz=5000.0)


@pytest.mark.parametrize("target", ["gpu", "cuda_standalone", "", 3])
def test_unknown_target(target):
    with pytest.raises(ValueError, match="cpp_standalone.*cython.*numpy"):
        spk.resolve_target(target)
    with pytest.raises(ValueError, match="cpp_standalone"):
        SpikingClassifier(_cfg(), target=target)


def test_target_names_are_case_insensitive():
    assert spk.resolve_target(" CPP_Standalone ") in ("cpp_standalone", "numpy")
    assert spk.resolve_target("NumPy") == "numpy"


def test_missing_compiler_falls_back_to_numpy_with_warning(monkeypatch):
    monkeypatch.setattr(spk_device, "has_cpp_compiler", lambda: False)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler.*numpy"):
        assert spk_device.resolve_target("cpp_standalone") == "numpy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spk_device.resolve_target("numpy") == "numpy"


@pytest.mark.parametrize(
    "y, match",
    [
        pytest.param(np.array([0, 2, 1]), r"\[0, 1\]", id="label-out-of-range"),
        pytest.param(np.array([0, -1, 1]), r"\[0, 1\]", id="negative-label"),
        pytest.param(np.array([0, 1]), r"shape \(3,\)", id="length-mismatch"),
        pytest.param(np.array([0.5, 1.0, 0.0]), "integer", id="fractional-label"),
    ],
)
def test_bad_labels(y, match):
    clf = SpikingClassifier(_cfg(n_in=2), target="numpy")
    with pytest.raises(ValueError, match=match):
        clf.fit_epoch(np.zeros((3, 2)), y)


def test_state_with_transposed_weights_is_rejected():
    cfg = _cfg(n_in=6, hidden=(4,))
    state = init_state(cfg, 0)
    state["W_in_h1"] = state["W_in_h1"].T
    with spk.brian_device("numpy"):
        with pytest.raises(ValueError, match=r"W_in_h1.*\(4, 6\).*\(6, 4\).*W\[pre, post\]"):
            build_network(cfg, state, n_slots=1)


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize(
    "make, match",
    [
        pytest.param(
            lambda: spk.LIFParams(v_reset_mV=-50.0, v_thresh_mV=-52.0), "v_reset_mV", id="reset-above-threshold"
        ),
        pytest.param(lambda: spk.LIFParams(tau_m_ms=0.0), "tau_m_ms", id="zero-tau"),
        pytest.param(lambda: spk.LIFParams(tau_m_ms=float("nan")), "finite", id="nan-tau"),
        pytest.param(
            lambda: spk.SimParams(dt_ms=0.3, t_present_ms=100.0), "multiple of dt_ms", id="t-not-multiple-of-dt"
        ),
        pytest.param(lambda: spk.STDPParams(w_min_mV=1.0, w_max_mV=1.0), "w_min_mV", id="empty-weight-range"),
        pytest.param(lambda: spk.LocalErrorParams(surrogate="tanh"), "box.*fast-sigmoid", id="unknown-surrogate"),
        pytest.param(
            lambda: _cfg(rule="bp"),
            "unknown spiking rule 'bp'; valid names: stdp-association, spiking-local",
            id="unknown-rule",
        ),
        pytest.param(lambda: _cfg(encoding="rank"), "latency.*poisson|poisson.*latency", id="unknown-encoding"),
        pytest.param(lambda: _cfg(hidden=()), "at least one layer", id="no-hidden-layer"),
        pytest.param(lambda: _cfg(n_out=1), "n_out", id="one-class"),
        pytest.param(lambda: _cfg(params=spk.LocalErrorParams()), "STDPAssociationParams", id="params-of-other-rule"),
        pytest.param(
            lambda: _cfg(rule="spiking-local", params=spk.LocalErrorParams(burn_in_ms=20.0)),
            "burn_in_ms",
            id="burn-in-longer-than-sample",
        ),
        pytest.param(
            lambda: _cfg(hidden=(5,), params=spk.STDPAssociationParams(skip_stdp=spk.STDPParams())),
            "skip_stdp",
            id="skip-without-second-hidden-layer",
        ),
        pytest.param(lambda: spk.STDPAssociationParams(skip_stdp=3.0), "skip_stdp", id="skip-not-stdp-params"),
    ],
)
def test_impossible_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_rule_and_names_are_case_insensitive_and_config_round_trips():
    cfg = _cfg(rule="STDP-Association", encoding="Latency", hidden=[5, 3])
    assert cfg.rule == "stdp-association" and cfg.encoding == "latency" and cfg.hidden == (5, 3)
    back = spk.config_from_dict(spk.config_to_dict(cfg))
    assert back == cfg
    le = spk.NetworkConfig(
        rule="spiking-local",
        n_in=3,
        hidden=(2,),
        n_out=2,
        params=spk.LocalErrorParams(surrogate="Box", eta_mV_per_s=3.0),
    )
    assert spk.config_from_dict(spk.config_to_dict(le)) == le
    with pytest.raises(ValueError, match="unknown LocalErrorParams fields.*'etaa'"):
        spk.config_from_dict({**spk.config_to_dict(le), "params": {"etaa": 1.0}})
    skip = _cfg(
        hidden=[5, 3], params=spk.replace_params(spk.STDPAssociationParams(), {"skip_stdp": {"norm_total_mV": 50.0}})
    )
    # a mapping is read as changes to the output association's parameters
    assert skip.params.skip_stdp == dataclasses.replace(skip.params.output_stdp, norm_total_mV=50.0)
    assert (
        spk.replace_params(spk.STDPAssociationParams(), {"skip_stdp": {}}).skip_stdp
        == spk.STDPAssociationParams().output_stdp
    )
    assert spk.config_from_dict(spk.config_to_dict(skip)) == skip
    assert spk.skip_projections(skip) == [("h1", "out")] and spk.skip_projections(cfg) == []


def test_semantics_doc_names_every_step():
    doc = spk.lif_update_semantics()
    for word in ("start", "groups", "thresholds", "synapses", "resets", "end", "W[pre, post]", "exp(-dt / tau_m)"):
        assert word in doc


def test_local_error_rejects_an_adaptive_threshold():
    from spiking.params import LIFParams
    from spiking.rules.local_error import LocalErrorParams

    with pytest.raises(ValueError, match=r"adaptive threshold \(theta_plus_mV=0.05\).*set theta_plus_mV=0"):
        LocalErrorParams(lif=LIFParams(theta_plus_mV=0.05))
    assert not LocalErrorParams().lif.adaptive  # the default is accepted
