"""snntorch twin of the Brian2 spiking classifiers: spike-for-spike agreement, gradients, weight maps.

Brian2 runs use the runtime ``numpy`` target (the one the twin matches bit for bit). Each distinct
(equations, group size) costs Brian2 a few seconds of sympy work once per process, so every Brian2
network here has hidden layers (5, 5) and two copies per slot, and the classifier tests reuse them.
"""

from __future__ import annotations

import dataclasses

import brian2 as b2
import numpy as np
import pytest
import torch

from bridges.twin import (
    SUMMATIONS,
    brian2_numpy_input_spikes,
    brian2_run_from_spikes,
    build_twin,
    import_spiking_weights,
    inhibit_matmul,
    inhibit_sequential,
    membrane_constants,
    rate_mlp_to_state,
    refractory_steps,
    to_rate_mlp,
)
from bridges.twin.kernels import available as kernels_available
from spiking.config import NetworkConfig
from spiking.encoders import poisson_rates
from spiking.model import SpikingClassifier, chunk_seed
from spiking.params import LIFParams, SimParams, STDPParams
from spiking.rules.local_error import LocalErrorParams
from spiking.rules.stdp_association import STDPAssociationParams
from spiking.state import init_state

RULES = ("stdp-association", "spiking-local")
SIM = SimParams(dt_ms=0.5, t_present_ms=15.0, t_rest_ms=5.0)  # 30 steps of input + 10 of rest
P, T = SIM.steps_present, SIM.steps_per_sample
N_IN, N_OUT = 6, 3
# v_reset != v_rest, several refractory lengths, a reachable inhibition floor: every branch of the
# step is exercised. The 5 ms rest lets every neuron leave refractoriness before the next sample:
# Brian2's sample reset skips neurons still refractory at the boundary (their v stays v_reset, not
# v_rest), which only matters when v_reset != v_rest (reported to spiking/'s owner).
PARAMS = {
    "stdp-association": STDPAssociationParams(
        hidden_lif=LIFParams(tau_m_ms=20.0, t_ref_ms=2.0, theta_plus_mV=0.05, v_reset_mV=-68.0, v_floor_mV=-72.0),
        output_lif=LIFParams(tau_m_ms=20.0, t_ref_ms=1.0, v_reset_mV=-67.0, v_floor_mV=-75.0),
        inhibition_mV=4.0,
        output_inhibition_mV=3.0,
    ),
    "spiking-local": LocalErrorParams(lif=LIFParams(tau_m_ms=15.0, t_ref_ms=1.0, v_reset_mV=-70.0)),
}
W_SCALE = {"stdp-association": 1.5, "spiking-local": 4.0}  # init weights scaled up so that every layer fires


pytestmark = pytest.mark.usefixtures("one_thread_module")  # tiny tensors: intra-op threads only contend


def _cfg(rule: str, hidden=(5, 5), **kw) -> NetworkConfig:
    return NetworkConfig(
        rule=rule, n_in=N_IN, hidden=hidden, n_out=N_OUT, sim=SIM, max_rate_hz=400.0, params=PARAMS[rule], **kw
    )


def _state(cfg: NetworkConfig) -> dict[str, np.ndarray]:
    state = {k: (v * W_SCALE[cfg.rule] if k.startswith("W_") else v) for k, v in init_state(cfg, seed=0).items()}
    rng = np.random.default_rng(1)
    for key in [k for k in state if k.startswith("theta_")]:
        state[key] = rng.uniform(0.0, 3.0, size=state[key].shape)  # frozen adaptive thresholds (mV)
    return state


def _spikes(n: int = 8, p: float = 0.3, seed: int = 2) -> np.ndarray:
    return (np.random.default_rng(seed).uniform(size=(n, P, N_IN)) < p).astype(np.float64)


def _skip_cfg() -> NetworkConfig:
    """STDP network with the skip projection h1 -> out (``skip_stdp``): two pathways into ``out``."""
    skip = STDPParams(w_max_mV=60.0, norm_total_mV=400.0, w_init_max_mV=1.0)
    return NetworkConfig(
        rule="stdp-association",
        n_in=N_IN,
        hidden=(5, 5),
        n_out=N_OUT,
        sim=SIM,
        max_rate_hz=400.0,
        params=dataclasses.replace(PARAMS["stdp-association"], skip_stdp=skip),
    )


CASES = {
    "stdp-association": lambda: _cfg("stdp-association"),
    "spiking-local": lambda: _cfg("spiking-local"),
    "stdp-association-skip": _skip_cfg,
}


@pytest.fixture(scope="module", params=sorted(CASES))
def brian_case(request):
    """One Brian2 run per rule (and the STDP skip network): 8 samples as 4 slots x 2 copies,
    membranes recorded."""
    cfg = CASES[request.param]()
    state, spikes = _state(cfg), _spikes()
    run = brian2_run_from_spikes(cfg, state, spikes, n_copies=2, record_v=True)
    return cfg, state, spikes, run


# ----------------------------------------------------------------------------- agreement with Brian2
def test_brian2_network_is_active(brian_case):
    cfg, _, _, run = brian_case
    totals = {k: int(c.sum()) for k, c in run.counts.items()}
    assert min(totals.values()) >= 10, totals  # every layer fires, so agreement is not vacuous
    assert set(totals) == {"h1", "h2", "out"}


@pytest.mark.parametrize("summation", sorted(SUMMATIONS))
def test_twin_spike_counts_equal_brian2_for_every_neuron(brian_case, summation):
    cfg, state, spikes, run = brian_case
    counts = build_twin(cfg, state, summation=summation).run_spikes(torch.as_tensor(spikes))
    assert sorted(counts) == sorted(run.counts)
    for layer, expected in run.counts.items():
        np.testing.assert_array_equal(counts[layer].numpy(), expected, err_msg=f"layer {layer}")


def test_sequential_twin_membranes_are_bit_identical_to_brian2(brian_case):
    """Counts alone would miss e.g. a one-step shift absorbed by the rest period; membranes do not."""
    cfg, state, spikes, run = brian_case
    traces = build_twin(cfg, state, summation="sequential").membrane_traces(torch.as_tensor(spikes))
    for layer, expected in run.v_volt.items():
        assert traces[layer].shape == (8, T, expected.shape[2])
        np.testing.assert_array_equal(traces[layer].numpy(), expected, err_msg=f"layer {layer}")


def test_matmul_twin_membranes_agree_to_summation_rounding(brian_case):
    """``spikes @ W`` sums in another order than Brian2's one-by-one ``add.at``: a few ulps of v."""
    cfg, state, spikes, run = brian_case
    traces = build_twin(cfg, state, summation="matmul").membrane_traces(torch.as_tensor(spikes))
    for layer, expected in run.v_volt.items():
        assert float(np.abs(traces[layer].numpy() - expected).max()) <= 1e-12, layer  # volts


def test_inhibition_floor_and_refractoriness_are_exercised():
    cfg = _cfg("stdp-association")
    twin = build_twin(cfg, _state(cfg), summation="sequential")
    v = twin.membrane_traces(torch.as_tensor(_spikes()))
    floor, reset = -72.0 * 1e-3, -68.0 * 1e-3  # volts, rounded as Brian2's ``value * mV``
    assert int((v["h2"] == floor).sum()) > 0  # lateral inhibition hit v_floor_mV
    held = (v["h1"][:, 1:] == reset) & (v["h1"][:, :-1] == reset)  # v frozen at v_reset while refractory
    assert int(held.sum()) > 0


@pytest.mark.parametrize(
    "rule,encoding,total_rate",
    [
        ("stdp-association", "poisson", 600.0),
        ("spiking-local", "poisson", None),
        ("stdp-association", "latency", None),
    ],
    ids=["stdp-poisson-total-rate", "spiking-local-poisson", "stdp-latency"],
)
def test_twin_reproduces_spiking_classifier_evaluation(rule, encoding, total_rate):
    """End to end through the project's own evaluation path: SpikingClassifier.predict_counts
    (numpy target, 2 copies, 2 chunks, the second one padded) against the twin driven with the
    spikes Brian2 drew (replayed) or, for latency, with the twin's own deterministic encoder."""
    cfg = _cfg(rule, encoding=encoding, total_rate_hz=total_rate)
    state = _state(cfg)
    if encoding == "latency":  # one spike per input and sample: stronger weights keep every layer active
        state = {k: (v * 4.0 if k.startswith("W_") else v) for k, v in state.items()}
    x = np.random.default_rng(5).uniform(size=(6, N_IN))
    with SpikingClassifier(cfg, seed=3, target="numpy", chunk_size=4, eval_copies=2, state=state) as clf:
        counts, _ = clf.predict_counts(x)
        hidden = clf.last_hidden_counts
        stim = clf.encode(x)
    twin = build_twin(cfg, state)
    if encoding == "latency":
        spikes = twin.encode(torch.as_tensor(x)).numpy()
        np.testing.assert_array_equal(twin(torch.as_tensor(x)).numpy(), counts)  # forward, same encoder
    else:
        spikes = np.zeros((6, P, N_IN))
        for c in range(2):  # chunks of 4 samples, padded with silent ones
            part = np.zeros((4, N_IN))
            part[: len(stim[4 * c : 4 * c + 4])] = stim[4 * c : 4 * c + 4]
            drawn = brian2_numpy_input_spikes(cfg, part, rng_seed=chunk_seed(3, 0, c, tag=1), n_copies=2)
            spikes[4 * c : 4 * c + 4] = drawn[: len(stim[4 * c : 4 * c + 4])]
    got = twin.run_spikes(torch.as_tensor(spikes))
    assert counts.sum() >= 5
    np.testing.assert_array_equal(got["out"].numpy(), counts)
    for layer in ("h1", "h2"):
        np.testing.assert_array_equal(got[layer].numpy(), hidden[layer], err_msg=layer)


# ----------------------------------------------------------------------------- encoder and gradients
def _small(rule: str):
    cfg = _cfg(rule, hidden=(5, 4))
    return cfg, build_twin(cfg, _state(cfg))


@pytest.mark.parametrize("total_rate", [None, 300.0], ids=["rate", "total-rate"])
def test_spike_probability_matches_numpy_encoder(total_rate):
    cfg = _cfg("spiking-local", hidden=(5, 4), total_rate_hz=total_rate)
    twin = build_twin(cfg, _state(cfg))
    x = np.random.default_rng(0).uniform(size=(5, N_IN))
    x[0] = 0.0  # an all-zero sample stays silent
    expected = SIM.dt_ms * 1e-3 * poisson_rates(x, cfg.max_rate_hz, total_rate)
    np.testing.assert_allclose(twin.spike_probability(torch.as_tensor(x)).numpy(), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("rule", RULES)
def test_forward_equals_run_spikes_on_the_same_draws(rule):
    _, twin = _small(rule)
    x = torch.rand(4, N_IN, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    logits = twin(x, seed=7)
    spikes = twin.encode(x, seed=7)
    assert spikes.shape == (4, P, N_IN) and set(torch.unique(spikes).tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(logits, twin.run_spikes(spikes)["out"], rtol=0, atol=0)


def test_straight_through_encoder_gradient_is_the_rate_derivative():
    cfg, twin = _small("spiking-local")
    x = torch.rand(3, N_IN, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    twin.encode(x, seed=0).sum().backward()
    expected = P * SIM.dt_ms * 1e-3 * cfg.max_rate_hz  # d/dx sum_t E[s_t] = steps * dt * max_rate
    torch.testing.assert_close(x.grad, torch.full_like(x, expected), rtol=1e-15, atol=0)


def _input_grad(twin, x, y, seed, n_draws):
    xg = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(twin(xg, seed=seed, n_draws=n_draws), y).backward()
    return xg.grad


@pytest.mark.parametrize("rule", RULES)
def test_surrogate_gradient_reaches_the_input_and_is_finite(rule):
    _, twin = _small(rule)
    x = torch.rand(4, N_IN, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = _input_grad(twin, x, torch.tensor([0, 1, 2, 0]), seed=0, n_draws=2)
    assert g.shape == x.shape and bool(torch.isfinite(g).all())
    assert bool((g.abs().sum(dim=1) > 0).all())  # every sample gets a gradient


@pytest.mark.parametrize("rule", RULES)
def test_eot_gradient_is_deterministic_given_a_seed_and_less_variable(rule):
    _, twin = _small(rule)
    x = torch.rand(4, N_IN, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(_input_grad(twin, x, y, 3, 8), _input_grad(twin, x, y, 3, 8), rtol=0, atol=0)
    single = torch.stack([_input_grad(twin, x, y, s, 1) for s in range(6)])
    averaged = torch.stack([_input_grad(twin, x, y, 100 + s, 16) for s in range(6)])
    var1, var16 = float(single.var(dim=0).mean()), float(averaged.var(dim=0).mean())
    assert var16 < 0.5 * var1, (var1, var16)  # ideally 1/16


def test_fgsm_of_bridges_attacks_runs_white_box_on_the_twin():
    """bridges.attacks seeds torch's global RNG, which the twin's encoder draws from."""
    from bridges.attacks import fgsm

    _, twin = _small("stdp-association")
    x = torch.rand(4, N_IN, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0])
    a = fgsm(twin, x, y, 0.1, eot_samples=2, seed=0)
    b = fgsm(twin, x, y, 0.1, eot_samples=2, seed=0)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    moved = (a - x).abs()
    assert float(moved.max()) <= 0.1 + 1e-6 and int((moved > 0.05).sum()) >= N_IN  # it moved along sign(grad)


def test_float32_twin_gives_the_float64_counts_here():
    cfg = _cfg("stdp-association", hidden=(5, 4))
    spikes = torch.as_tensor(_spikes())
    c64 = build_twin(cfg, _state(cfg)).run_spikes(spikes)
    c32 = build_twin(cfg, _state(cfg), dtype=torch.float32).run_spikes(spikes)
    for layer in c64:
        assert c32[layer].dtype == torch.float32
        np.testing.assert_array_equal(c32[layer].numpy(), c64[layer].numpy(), err_msg=layer)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "shape,value,match",
    [
        ((2, P, N_IN + 1), 0.0, "n_in=6"),
        ((2, P + 1, N_IN), 0.0, "steps_present=30"),
        ((2, P * N_IN), 0.0, r"shape \(N, steps_present"),
        ((2, P, N_IN), float("nan"), "NaN"),
        ((2, P, N_IN), 0.5, "only 0 and 1"),
    ],
    ids=["wrong-n-in", "wrong-steps", "2d", "nan", "not-binary"],
)
def test_bad_spike_trains_raise_clear_errors(shape, value, match):
    _, twin = _small("stdp-association")
    with pytest.raises(ValueError, match=match):
        twin.run_spikes(torch.full(shape, value, dtype=torch.float64))


@pytest.mark.parametrize(
    "x,kw,match",
    [
        (torch.rand(2, N_IN + 1), {}, "n_in"),
        (torch.full((2, N_IN), float("nan")), {}, "NaN"),
        (torch.full((2, N_IN), 1.5), {}, r"\[0, 1\]"),
        (torch.rand(2, N_IN), {"n_draws": 0}, "n_draws"),
        (torch.rand(2, N_IN), {"seed": 0, "generator": torch.Generator()}, "either generator or seed"),
    ],
    ids=["wrong-n-in", "nan", "out-of-range", "n-draws", "seed-and-generator"],
)
def test_bad_features_raise_clear_errors(x, kw, match):
    _, twin = _small("spiking-local")
    with pytest.raises(ValueError, match=match):
        twin(x, **kw)


def test_latency_encoding_refuses_gradients():
    cfg = _cfg("spiking-local", hidden=(5, 4), encoding="latency")
    twin = build_twin(cfg, _state(cfg))
    assert twin(torch.rand(2, N_IN)).shape == (2, N_OUT)
    with pytest.raises(ValueError, match="not differentiable"):
        twin(torch.rand(2, N_IN, requires_grad=True))


def test_unknown_summation_lists_the_valid_ones():
    cfg = _cfg("spiking-local", hidden=(5, 4))
    with pytest.raises(ValueError, match=r"unknown summation 'fast'; valid: \['matmul', 'sequential'\]"):
        build_twin(cfg, _state(cfg), summation="fast")


def test_brian2_driver_rejects_bad_spikes_before_building():
    cfg = _cfg("spiking-local")
    with pytest.raises(ValueError, match="steps_present=30"):
        brian2_run_from_spikes(cfg, _state(cfg), np.zeros((2, P + 1, N_IN)))
    with pytest.raises(ValueError, match="multiple of n_copies"):
        brian2_run_from_spikes(cfg, _state(cfg), np.zeros((3, P, N_IN)), n_copies=2)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda s: s.pop("W_h1_h2"), r"missing \['W_h1_h2'\]"),
        (lambda s: s.update(W_extra=np.zeros(2)), r"unexpected \['W_extra'\]"),
        (lambda s: s.update(W_in_h1=np.zeros((5, 6))), r"shape \(5, 6\), expected \(6, 5\)"),
        (lambda s: s["W_h2_out"].__setitem__((0, 0), np.nan), "NaN"),
        (lambda s: s.update(W_in_h1=s["W_in_h1"] * b2.Hz), "dimension"),
        (lambda s: s.update(theta_h1=s["theta_h1"] * b2.second), "dimension"),
    ],
    ids=["missing", "unexpected", "transposed", "nan", "weight-in-hz", "theta-in-seconds"],
)
def test_bad_states_raise_clear_errors(edit, match):
    cfg = _cfg("stdp-association", hidden=(5, 4))
    state = _state(cfg)
    edit(state)
    with pytest.raises(ValueError, match=match):
        build_twin(cfg, state)


def test_readout_with_units_raises():
    cfg = _cfg("spiking-local", hidden=(5, 4))
    state = _state(cfg)
    state["M_h1"] = state["M_h1"] * b2.mV
    with pytest.raises(ValueError, match="dimensionless"):
        import_spiking_weights(cfg, state)


# ----------------------------------------------------------------------------- weights and units
@pytest.mark.parametrize("rule", RULES)
def test_state_twin_state_round_trip_is_exact(rule):
    cfg = _cfg(rule, hidden=(5, 4))
    state = _state(cfg)
    twin = build_twin(cfg, state)
    back = twin.to_state()
    assert sorted(back) == sorted(state) == sorted(twin.state_dict())
    for key in state:
        assert back[key].dtype == np.float64
        np.testing.assert_array_equal(back[key], state[key], err_msg=key)
    reloaded = build_twin(cfg, init_state(cfg, seed=9))
    reloaded.load_state_dict(twin.state_dict())
    for key in state:
        np.testing.assert_array_equal(reloaded.to_state()[key], state[key], err_msg=key)


def test_twin_does_not_alias_the_callers_state():
    cfg = _cfg("spiking-local", hidden=(5, 4))
    state = _state(cfg)
    twin = build_twin(cfg, state)
    before = state["W_in_h1"].copy()
    state["W_in_h1"][:] = 0.0
    np.testing.assert_array_equal(twin.to_state()["W_in_h1"], before)


def test_volt_quantities_are_converted_to_mV():
    cfg = _cfg("stdp-association", hidden=(5, 4))
    state = _state(cfg)
    with_units = {k: v * b2.mV for k, v in state.items()}  # what Brian2's syn.w / group.theta hold
    plain, converted = import_spiking_weights(cfg, state), import_spiking_weights(cfg, with_units)
    for name in plain:
        # (w * mV) / mV is w up to one ulp (1.1e-16 relative), as in spiking.state.read_state
        np.testing.assert_allclose(converted[name].weight_mV, plain[name].weight_mV, rtol=2e-16 * 4, atol=0)
        np.testing.assert_allclose(converted[name].theta_mV, plain[name].theta_mV, rtol=2e-16 * 4, atol=0)


@pytest.mark.parametrize("rule", RULES)
def test_state_mlp_state_round_trip_is_exact(rule):
    cfg = _cfg(rule, hidden=(5, 4))
    state = _state(cfg)
    mlp = to_rate_mlp(cfg, state)
    assert [tuple(lin.weight.shape) for lin in mlp.layers] == [(5, N_IN), (4, 5), (N_OUT, 4)]
    assert all(float(lin.bias.detach().abs().sum()) == 0.0 for lin in mlp.layers)
    np.testing.assert_array_equal(mlp.layers[0].weight.detach().numpy(), state["W_in_h1"].T)
    back = rate_mlp_to_state(cfg, mlp, base_state=state)
    assert sorted(back) == sorted(state)
    for key in state:
        np.testing.assert_array_equal(back[key], state[key], err_msg=key)


def test_rate_mlp_computes_the_relu_chain_of_the_weights():
    cfg = _cfg("spiking-local", hidden=(5, 4))
    state = _state(cfg)
    x = np.random.default_rng(0).uniform(size=(7, N_IN))
    h = np.maximum(x @ state["W_in_h1"], 0.0)
    h = np.maximum(h @ state["W_h1_h2"], 0.0)
    np.testing.assert_allclose(
        to_rate_mlp(cfg, state)(torch.as_tensor(x)).detach().numpy(), h @ state["W_h2_out"], rtol=1e-12, atol=1e-12
    )


def test_rate_mlp_back_to_state_rejects_biases_and_missing_thresholds():
    cfg = _cfg("stdp-association", hidden=(5, 4))
    state = _state(cfg)
    mlp = to_rate_mlp(cfg, state)
    with pytest.raises(ValueError, match=r"needs \['theta_h1', 'theta_h2'\]"):
        rate_mlp_to_state(cfg, mlp)
    with torch.no_grad():
        mlp.layers[1].bias[0] = 0.1
    with pytest.raises(ValueError, match="non-zero biases"):
        rate_mlp_to_state(cfg, mlp, base_state=state)


# ----------------------------------------------------------------------------- pure pieces
@pytest.mark.parametrize("teacher", [False, True], ids=["plain", "teacher"])
def test_membrane_constants_give_the_exact_exponential_decay(teacher):
    lif = LIFParams(tau_m_ms=20.0, v_rest_mV=-65.0)
    A, e, B = membrane_constants(lif, 0.5, teacher_form=teacher)
    v = np.linspace(-0.08, -0.05, 13)
    expected = -0.065 + (v + 0.065) * np.exp(-0.5 / 20.0)
    np.testing.assert_allclose(A + (e * v + B), expected, rtol=1e-15, atol=1e-17)


@pytest.mark.parametrize(
    "t_ref,dt,steps",
    [(5.0, 1.0, 5), (2.5, 1.0, 2), (0.0, 0.5, 0), (1.0, 0.1, 10), (0.3, 0.1, 3)],
    ids=["5ms-1ms", "2.5ms-1ms", "none", "1ms-0.1ms", "0.3ms-0.1ms"],
)
def test_refractory_steps_follow_brian2_timestep(t_ref, dt, steps):
    assert refractory_steps(LIFParams(t_ref_ms=t_ref), dt) == steps


def test_sequential_and_closed_form_inhibition_agree():
    g = torch.Generator().manual_seed(0)
    v = -0.065 + 0.01 * torch.rand(50, 8, generator=g, dtype=torch.float64)
    k = torch.randint(0, 6, (50, 8), generator=g).to(torch.float64)
    nr = torch.rand(50, 8, generator=g) > 0.2
    a = inhibit_sequential(v, nr, k, 0.004, -0.072)
    b = inhibit_matmul(v, nr, k, 0.004, -0.072)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-16)
    assert bool((a >= -0.072).all()) and bool((a[~nr] == v[~nr]).all())
    assert int((a == -0.072).sum()) > 0


# ----------------------------------------------------------------------------- skip projection h1 -> out
def test_skip_projection_drives_the_output_in_brian2_and_the_twin():
    """The skip pathway is not vacuous: without ``W_h1_out`` the output spikes differently, in Brian2
    and in the twin alike (bit-exact agreement with it is in the ``brian_case`` tests)."""
    cfg = _skip_cfg()
    state, spikes = _state(cfg), _spikes()
    cut = dict(state, W_h1_out=np.zeros_like(state["W_h1_out"]))
    with_skip = brian2_run_from_spikes(cfg, state, spikes, n_copies=2).counts["out"]
    without = brian2_run_from_spikes(cfg, cut, spikes, n_copies=2).counts["out"]
    assert int(with_skip.sum()) > int(without.sum())  # excitatory extra input: more output spikes
    twin_cut = build_twin(cfg, cut).run_spikes(torch.as_tensor(spikes))["out"].numpy()
    np.testing.assert_array_equal(twin_cut, without)


def test_skip_state_round_trips_and_the_rate_mlp_refuses_it():
    cfg = _skip_cfg()
    state = _state(cfg)
    assert state["W_h1_out"].shape == (5, N_OUT)
    back = build_twin(cfg, state).to_state()
    assert sorted(back) == sorted(state)
    for key in state:
        np.testing.assert_array_equal(back[key], state[key], err_msg=key)
    with pytest.raises(ValueError, match="skip projections"):
        to_rate_mlp(cfg, state)
    from ratebased.models import MLP

    with pytest.raises(ValueError, match="skip projections"):
        rate_mlp_to_state(cfg, MLP(N_IN, (5, 5), N_OUT, bias=False), base_state=state)


def test_skip_needs_two_hidden_layers():
    skip = dataclasses.replace(PARAMS["stdp-association"], skip_stdp=STDPParams())
    with pytest.raises(ValueError, match="skip_stdp"):
        NetworkConfig(rule="stdp-association", n_in=N_IN, hidden=(5,), n_out=N_OUT, sim=SIM, params=skip)


def test_old_name_spikingtwin_is_a_deprecated_alias():
    import bridges.twin

    with pytest.warns(DeprecationWarning, match=r"bridges.twin.SpikingTwin is deprecated; use .*SpikingNetworkTwin"):
        assert bridges.twin.SpikingTwin is bridges.twin.SpikingNetworkTwin


# ----------------------------------------------------------------------------- compiled kernels vs the step loop


def test_the_compiled_kernels_are_available():
    """The kernel tests below run the compiled kernels, never skip: a machine without a C compiler (which
    Brian2's cpp_standalone target needs too) fails here, naming the fix."""
    from bridges.twin import kernels

    assert kernels_available(), f"twin kernels unavailable ({kernels._LIB_ERROR}): install gcc or set CC"


DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _engines(dtype, summation="matmul"):
    cfg = _skip_cfg()
    state = _state(cfg)
    return tuple(build_twin(cfg, state, dtype=dtype, summation=summation, engine=e) for e in ("kernels", "steps"))


@pytest.mark.parametrize("summation", sorted(SUMMATIONS))
@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_kernel_engine_gives_the_step_loops_spikes_and_membranes(dtype, summation):
    """The layer-by-layer kernels and the per-step torch loop, on the skip network (two pathways
    into ``out``, inhibition floor, refractoriness): identical spike counts in every layer, membranes
    bit-identical with ``sequential`` (the Brian2 order) and within summation rounding with ``matmul``."""
    fast, ref = _engines(DTYPES[dtype], summation)
    assert fast.uses_kernels() and not ref.uses_kernels()
    spikes = torch.as_tensor(_spikes(n=16, seed=4))
    got, want = fast.run_spikes(spikes), ref.run_spikes(spikes)
    assert int(want["out"].sum()) >= 10 and int(want["h2"].sum()) >= 10
    for layer in want:
        assert got[layer].dtype == DTYPES[dtype]
        torch.testing.assert_close(got[layer], want[layer], rtol=0, atol=0, msg=layer)
    v_fast, v_ref = fast.membrane_traces(spikes), ref.membrane_traces(spikes)
    tol = 0.0 if summation == "sequential" and dtype == "float64" else (1e-12 if dtype == "float64" else 1e-5)
    for layer in v_ref:
        assert float((v_fast[layer] - v_ref[layer]).abs().max()) <= tol, layer  # volts


def _assert_gradients_agree(fast, ref):
    """Kernel vs step-loop gradients. The step loop's spike function is snntorch's fast sigmoid, whose
    forward returns float32, so its gradient passes through float32 at every spike node (~1e-8
    relative) even in a float64 twin; the kernels stay in the twin's dtype. Tolerances: 1e-6 of the
    largest entry plus 1e-4 relative (float32 rounding accumulated over 40 steps and 3 layers)."""
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-6 * float(ref.abs().max()))


@pytest.mark.parametrize("low_rank_max", [32, 0], ids=["factored", "dense"])
@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_kernel_engine_forward_and_gradients_equal_the_step_loops(dtype, grad, low_rank_max, monkeypatch):
    """Same draws (the encoder is shared), same output counts, and (``grad``) the same surrogate input
    gradient through the straight-through Poisson encoder, the skip and the inhibition; with the
    gradients of small layers passed to their sources' kernels as factors (``factored``: every layer
    here has at most 32 neurons) or as ``(B, T, n)`` products (``dense``, as for 400-neuron layers)."""
    monkeypatch.setattr("bridges.twin.dynamics.LOW_RANK_MAX", low_rank_max)
    fast, ref = _engines(DTYPES[dtype])
    pieces = _engines(DTYPES[dtype])[0]
    pieces.PIECE_BYTES = 1  # one sample per kernel call: the batch split must change nothing
    x = torch.rand(6, N_IN, generator=torch.Generator().manual_seed(3), dtype=DTYPES[dtype])
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    outs, grads = [], []
    for twin in (fast, ref, pieces):
        xg = x.clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            out = twin(xg, seed=11, n_draws=3)
            if grad:
                torch.nn.functional.cross_entropy(out, y).backward()
                grads.append(xg.grad)
        outs.append(out.detach())
    assert float(outs[1].sum()) >= 10
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    torch.testing.assert_close(outs[2], outs[0], rtol=0, atol=0)
    if grad:
        assert float(grads[1].abs().min()) > 0  # every input gets a gradient (straight-through)
        _assert_gradients_agree(grads[0], grads[1])
        torch.testing.assert_close(grads[2], grads[0], rtol=1e-12 if dtype == "float64" else 1e-5, atol=0)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("low_rank_max", [32, 0], ids=["factored", "dense"])
def test_kernel_engine_gradient_with_respect_to_spike_trains_equals_the_step_loops(dtype, low_rank_max, monkeypatch):
    monkeypatch.setattr("bridges.twin.dynamics.LOW_RANK_MAX", low_rank_max)
    fast, ref = _engines(DTYPES[dtype])
    spikes = torch.as_tensor(_spikes(n=4, seed=6)).to(DTYPES[dtype])
    grads = []
    for twin in (fast, ref):
        s = spikes.clone().requires_grad_(True)
        counts = twin.run_spikes(s)
        (counts["out"] * torch.arange(1.0, N_OUT + 1, dtype=s.dtype)).sum().backward()
        grads.append(s.grad)
    assert float(grads[1].abs().max()) > 0
    _assert_gradients_agree(grads[0], grads[1])


@pytest.mark.parametrize("compiled", [True, False], ids=["kernel-sampler", "torch-sampler"])
def test_poisson_raster_draws_independent_bernoulli_spikes_per_step(compiled, monkeypatch):
    """Geometric gap skipping must give a Bernoulli(p) spike in every step: the mean count per step is
    p in the first and in the last steps (no drift along the train) within 5 binomial standard errors."""
    from bridges.twin import dynamics, kernels

    assert kernels.available() or not compiled, "no C compiler: install gcc or set CC"
    if not compiled:
        monkeypatch.setattr(kernels, "available", lambda: False)
    p = torch.tensor([[0.0, 0.01, 0.1, 0.6, 1.0]]).repeat(4000, 1)
    s = dynamics.poisson_raster(p, 50, torch.Generator().manual_seed(0))
    assert s.shape == (4000, 50, 5) and s.dtype == torch.uint8
    assert int(s[:, :, 0].sum()) == 0 and int(s[:, :, 4].sum()) == 4000 * 50
    for i, q in [(1, 0.01), (2, 0.1), (3, 0.6)]:
        for steps in (slice(0, 5), slice(45, 50)):
            n = 4000 * 5
            rate = float(s[:, steps, i].double().mean())
            assert abs(rate - q) <= 5 * (q * (1 - q) / n) ** 0.5, (i, steps, rate)
    again = dynamics.poisson_raster(p, 50, torch.Generator().manual_seed(0))
    assert torch.equal(s, again)
    assert not torch.equal(s, dynamics.poisson_raster(p, 50, torch.Generator().manual_seed(1)))


def test_unknown_engine_lists_the_valid_ones():
    cfg = _cfg("spiking-local", hidden=(5, 4))
    with pytest.raises(ValueError, match=r"unknown engine 'gpu'; valid: \['auto', 'kernels', 'steps'\]"):
        build_twin(cfg, _state(cfg), engine="gpu")


def test_loading_another_state_renews_the_cached_volt_weights():
    """The kernels reuse weights converted to volts; ``load_state_dict`` (in-place copies) must renew them."""
    cfg = _skip_cfg()
    state = _state(cfg)
    other = {k: (v * 0.5 if k.startswith("W_") else v) for k, v in state.items()}
    spikes = torch.as_tensor(_spikes(n=6, seed=8))
    twin = build_twin(cfg, state)
    before = twin.run_spikes(spikes)
    twin.load_state_dict({k: torch.as_tensor(v) for k, v in other.items()})
    after, fresh = twin.run_spikes(spikes), build_twin(cfg, other).run_spikes(spikes)
    assert any(not torch.equal(before[k], fresh[k]) for k in fresh)  # the two states spike differently
    for k in fresh:
        torch.testing.assert_close(after[k], fresh[k], rtol=0, atol=0)


@pytest.mark.parametrize("w_out", [(0.01, 0.05), (0.05, 0.01)], ids=["drive-to-1", "drive-to-0"])
def test_predict_breaks_ties_by_output_drive_as_brian2_does(w_out):
    """Silent outputs (every sample a tie at 0 spikes): ``predict`` gives the class whose neuron received
    the most synaptic input (``spiking.model.predict_from_counts``), not the lowest index as argmax would."""
    cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(3,), n_out=2)
    state = init_state(cfg, seed=0)
    state["W_in_h1"] = np.full_like(state["W_in_h1"], 30.0)  # the hidden layer fires
    w = np.zeros_like(state["W_h1_out"])
    w[:, 0], w[:, 1] = w_out  # far below threshold: the output never fires
    state["W_h1_out"] = w
    twin = build_twin(cfg, state)
    x = torch.full((6, 4), 0.9, dtype=torch.float64)
    assert torch.equal(twin(x, seed=0), torch.zeros(6, 2, dtype=torch.float64))
    expected = int(np.argmax(w_out))
    assert twin.predict(x, seed=0).tolist() == [expected] * 6
    # with output spikes the counts decide, whatever the drive: the twin's argmax on a network that fires
    state["W_h1_out"] = np.where(w > 0, 40.0, 0.0)
    state["W_h1_out"][:, expected] = 0.0  # only the other neuron can fire
    twin = build_twin(cfg, state)
    assert twin.predict(x, seed=0).tolist() == [1 - expected] * 6
