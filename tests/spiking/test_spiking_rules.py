"""The two spiking learning rules against small numpy references (Brian2, numpy target).

* trace STDP in Brian2 == :func:`spiking.reference.stdp_reference` for given spike times;
* the three-factor spiking-local update == its formula on a hand-made case;
* the spiking-local readout computes ``yhat = M r`` and ``delta = M (yhat - y)``;
* association: with the teacher off no output weight changes, with it on they do.
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from spiking import equations as eq
from spiking.backend.device import brian_device
from spiking.config import NetworkConfig
from spiking.model import SpikingClassifier
from spiking.network import build_network
from spiking.params import LIFParams, SimParams, STDPParams
from spiking.reference import stdp_reference, surrogate_reference, three_factor_reference
from spiking.rules.local_error import LocalErrorParams
from spiking.rules.stdp_association import STDPAssociationParams
from spiking.state import init_state

DT_MS = 1.0
TAU_PRE, TAU_POST = 20.0, 10.0

# (pre spike steps, post spike steps) of independent synapses, all simulated in one network
PAIRS = [
    ([5], [10]),  # pre before post: potentiation
    ([10], [5]),  # post before pre: depression
    ([2, 8, 15, 16], [5, 9, 15, 30]),  # mixed, with a simultaneous pair at step 15
    ([3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13]),  # bursts: drives the weight into a bound
    ([], [4, 20]),  # post only: only the offset term acts
]
N_STEPS = 40


def _brian_stdp(stdp: STDPParams, w0_mV: float, track_sum: bool) -> tuple[np.ndarray, np.ndarray]:
    """Run every pair of PAIRS through the library's STDP synapse code; return final w and the
    tracked running sum (mV)."""
    n = len(PAIRS)
    pre_flags = np.zeros((N_STEPS, n))
    post_flags = np.zeros((N_STEPS, n))
    for k, (pre, post) in enumerate(PAIRS):
        pre_flags[pre, k] = 1
        post_flags[post, k] = 1
    traces = {"xtr": "tau_pre", "ytr": "tau_post"}
    with brian_device("numpy"):
        clock = b2.Clock(dt=DT_MS * b2.ms)
        ns = {**LIFParams(t_ref_ms=0.0).to_namespace(), "tau_pre": TAU_PRE * b2.ms, "tau_post": TAU_POST * b2.ms}
        wsum = "wsum_in"
        groups = []
        for flags, extra in ((pre_flags, ""), (post_flags, f"{wsum} : volt" if track_sum else "")):
            ta = b2.TimedArray(flags, dt=DT_MS * b2.ms)
            g = b2.NeuronGroup(
                n,
                eq.lif_equations(adaptive=False, teacher=False, traces=traces, extra=extra),
                threshold="spk(t, i) > 0.5",
                reset=eq.lif_reset(adaptive=False, traces=traces),
                refractory="t_ref",
                method="exact",
                clock=clock,
                namespace={**ns, "spk": ta},
            )
            g.learn = 1
            groups.append(g)
        code = eq.stdp_synapse_code(wsum_name=wsum if track_sum else None)
        syn = b2.Synapses(
            *groups,
            model=code["model"],
            on_pre=code["on_pre"],
            on_post=code["on_post"],
            clock=clock,
            namespace=stdp.to_namespace(),
        )
        syn.connect(j="i")
        syn.w = w0_mV * b2.mV
        b2.Network(*groups, syn).run(N_STEPS * DT_MS * b2.ms, namespace={})
        w = np.asarray(syn.w[:] / b2.mV)
        s = np.asarray(getattr(groups[1], wsum)[:] / b2.mV) if track_sum else np.zeros(n)
    return w, s


@pytest.mark.parametrize(
    "stdp, w0",
    [
        pytest.param(STDPParams(eta_plus_mV=0.1, eta_minus_mV=0.08, w_max_mV=1.0), 0.5, id="plain"),
        pytest.param(STDPParams(eta_plus_mV=0.3, eta_minus_mV=0.02, w_max_mV=0.9), 0.5, id="hits-w_max"),
        pytest.param(
            STDPParams(eta_plus_mV=0.1, eta_minus_mV=0.3, x_offset=0.4, w_max_mV=1.0), 0.3, id="offset-hits-w_min"
        ),
    ],
)
def test_brian2_stdp_matches_numpy_trace_rule(stdp, w0):
    w_brian, wsum = _brian_stdp(stdp, w0, track_sum=True)
    w_ref = np.array(
        [
            stdp_reference(
                pre, post, n_steps=N_STEPS, dt_ms=DT_MS, tau_pre_ms=TAU_PRE, tau_post_ms=TAU_POST, stdp=stdp, w0_mV=w0
            )
            for pre, post in PAIRS
        ]
    )
    np.testing.assert_allclose(w_brian, w_ref, rtol=0, atol=1e-9)
    # the four pairings really moved the weight, so the comparison is not vacuous
    assert np.all(np.abs(w_ref[:4] - w0) > 1e-3)
    # the running sum used by the normalisation tracks the weight change exactly
    np.testing.assert_allclose(wsum, w_brian - w0, rtol=0, atol=1e-9)


def test_stdp_reference_pinned_values():
    p = STDPParams(eta_plus_mV=0.1, eta_minus_mV=0.05, w_max_mV=1.0)
    kw = dict(n_steps=20, dt_ms=1.0, tau_pre_ms=20.0, tau_post_ms=20.0, stdp=p, w0_mV=0.5)
    assert stdp_reference([2], [5], **kw) == pytest.approx(0.5 + 0.1 * np.exp(-3 / 20), abs=1e-12)
    assert stdp_reference([5], [2], **kw) == pytest.approx(0.5 - 0.05 * np.exp(-3 / 20), abs=1e-12)
    assert stdp_reference([5], [5], **kw) == pytest.approx(0.5, abs=1e-12)  # simultaneous: no pairing


@pytest.mark.parametrize(
    "surrogate, update_every, burn_in, n_upd",
    [
        pytest.param("fast-sigmoid", 1, 0, 20, id="fast-sigmoid-every-step"),
        pytest.param("box", 4, 0, 5, id="box-every-4-steps"),
        # a 20-step sample, burn-in of 6 steps: updates at steps 8, 12, 16 only
        pytest.param("fast-sigmoid", 4, 6, 3, id="burn-in-6-steps"),
    ],
)
def test_three_factor_update_matches_formula(surrogate, update_every, burn_in, n_upd):
    """Hand-made case: constant traces, membranes and errors, so the summed update is closed-form."""
    p = LocalErrorParams(
        surrogate=surrogate, eta_mV_per_s=50.0, sg_width_mV=2.0, update_every=update_every, w_bound_mV=100.0
    )
    lif = LIFParams(tau_m_ms=1e12, v_rest_mV=-65.0, v_thresh_mV=-52.0)
    x = np.array([0.5, 1.0])  # presynaptic traces (frozen: tau = 1e12 ms)
    v = np.array([-53.0, -52.6, -57.0])  # below threshold, frozen
    delta = np.array([0.7, -1.2, 0.4])
    w0 = np.array([[0.1, -0.2, 0.3], [0.0, 0.5, -0.4]])
    n_steps = 20
    with brian_device("numpy"):
        clock = b2.Clock(dt=DT_MS * b2.ms)
        pre = b2.NeuronGroup(
            2,
            "dxtr/dt = -xtr / tau_pre : 1",
            threshold="False",
            clock=clock,
            method="exact",
            namespace={"tau_pre": 1e12 * b2.ms},
        )
        pre.xtr = x
        post = b2.NeuronGroup(
            3,
            eq.lif_equations(
                adaptive=False, teacher=False, traces={"r": "tau_r"}, extra=eq.local_error_hidden_extra(surrogate)
            ),
            threshold=eq.lif_threshold(adaptive=False),
            reset=eq.lif_reset(adaptive=False, traces={"r": "tau_r"}),
            refractory="t_ref",
            method="exact",
            clock=clock,
            namespace={**lif.to_namespace(), "tau_r": 20 * b2.ms, "sg_width": 2 * b2.mV},
        )
        post.v = v * b2.mV
        post.delta = delta
        post.learn = 1
        syn = b2.Synapses(
            pre,
            post,
            model="w : volt",
            on_pre="v_post += w",
            clock=clock,
            namespace={
                **lif.to_namespace(),
                "sg_width": 2 * b2.mV,
                "eta": p.eta_mV_per_s * b2.mV / b2.second,
                "dt_update": update_every * DT_MS * b2.ms,
                "w_bound": p.w_bound_mV * b2.mV,
                "n_sample": n_steps,
                "n_burnin": burn_in,
                "rate_reg": 0.0,
                "r_target": 0.0,
            },
        )
        syn.connect(i=np.repeat([0, 1], 3), j=np.tile([0, 1, 2], 2))
        syn.w = w0.ravel() * b2.mV
        syn.run_regularly(eq.three_factor_code(), dt=update_every * DT_MS * b2.ms, when="end")
        b2.Network(pre, post, syn).run(n_steps * DT_MS * b2.ms, namespace={})
        dw = np.asarray(syn.w[:] / b2.mV).reshape(2, 3) - w0
    sg = surrogate_reference(v, -52.0, 2.0, surrogate)
    expected = three_factor_reference(
        np.tile(x, (n_upd, 1)),
        np.tile(sg, (n_upd, 1)),
        np.tile(delta, (n_upd, 1)),
        eta_mV_per_s=50.0,
        dt_update_ms=update_every * DT_MS,
    )
    np.testing.assert_allclose(dw, expected, rtol=1e-7, atol=1e-12)
    # pinned by hand: dW[1, 0] = -eta * T * x_1 * sg(v_0) * delta_0, T = n_upd * update_every * 1 ms
    sg0 = 1 / (1 + 1.0 / 2.0) ** 2 if surrogate == "fast-sigmoid" else 0.0
    assert dw[1, 0] == pytest.approx(-50.0 * 1e-3 * n_upd * update_every * 1.0 * sg0 * 0.7, abs=1e-9)
    assert np.count_nonzero(np.abs(dw) > 1e-6) >= 2


def _le_config(loss: str) -> NetworkConfig:
    return NetworkConfig(
        rule="spiking-local",
        n_in=12,
        hidden=(5,),
        n_out=3,
        encoding="poisson",
        max_rate_hz=300.0,
        sim=SimParams(dt_ms=1.0, t_present_ms=10.0),
        params=LocalErrorParams(eta_mV_per_s=0.0, w_init_mV=6.0, loss=loss, beta=3.0, burn_in_ms=2.0),
    )


@pytest.mark.parametrize("loss", ["softmax", "mse"])
def test_local_error_readout_and_projection(loss):
    """yhat(step n) = M^T r(end of step n-1); delta(step n) = M e(n) with e = softmax(beta yhat) - y
    (cross-entropy) or yhat - target_on y (squared error)."""
    cfg = _le_config(loss)
    state = init_state(cfg, seed=3)
    M = state["M_h1"]
    rng = np.random.default_rng(0)
    stim = rng.uniform(0, 300, size=(2, cfg.n_in))
    labels = np.array([2.0, 0.0])
    with brian_device("numpy"):
        built = build_network(cfg, state, n_slots=2, stim_values=stim, label_values=labels)
        h1, ro = built.layers["h1"], built.readouts["h1"]
        mon_h = b2.StateMonitor(h1, ["r", "delta"], record=True, when="end")
        mon_ro = b2.StateMonitor(ro, ["yhat"], record=True, when="end")
        built.net.add(mon_h, mon_ro)
        b2.seed(1)
        built.net.run(built.duration, namespace={})
        r, delta, yhat = mon_h.r[:].T, mon_h.delta[:].T, mon_ro.yhat[:].T  # (steps, n)
    assert r.max() > 0.5, "the hidden layer must spike for this test to mean anything"
    steps = cfg.sim.steps_per_sample
    r_prev = np.vstack([np.zeros((1, r.shape[1])), r[:-1]])
    r_prev[::steps] = 0.0  # the sample-boundary reset zeroes r before the readout reads it
    np.testing.assert_allclose(yhat, r_prev @ M, rtol=1e-10, atol=1e-12)
    y = np.zeros_like(yhat)
    for k, lab in enumerate(labels):
        y[k * steps : (k + 1) * steps, int(lab)] = cfg.params.target_on
    if loss == "softmax":
        p = np.exp(3.0 * yhat)
        err = p / p.sum(axis=1, keepdims=True) - y / cfg.params.target_on
    else:
        err = yhat - y
    np.testing.assert_allclose(delta, err @ M.T, rtol=1e-10, atol=1e-12)


def _stdp_config(teacher_on: bool) -> NetworkConfig:
    params = STDPAssociationParams(
        hidden_lif=LIFParams(tau_m_ms=20.0, t_ref_ms=2.0, theta_plus_mV=0.05),
        input_stdp=STDPParams(eta_plus_mV=0.05, eta_minus_mV=0.01, w_max_mV=5.0, norm_total_mV=40.0, w_init_max_mV=1.0),
        hidden_stdp=STDPParams(
            eta_plus_mV=0.2, eta_minus_mV=0.05, w_max_mV=20.0, norm_total_mV=60.0, w_init_max_mV=1.0
        ),
        output_stdp=STDPParams(
            eta_plus_mV=0.2, eta_minus_mV=0.05, w_max_mV=30.0, norm_total_mV=120.0, w_init_max_mV=1.0
        ),
        inhibition_mV=1.0,
        output_inhibition_mV=0.5,
        teacher_on=teacher_on,
    )
    return NetworkConfig(
        rule="stdp-association",
        n_in=16,
        hidden=(8, 6),
        n_out=2,
        max_rate_hz=250.0,
        sim=SimParams(dt_ms=1.0, t_present_ms=20.0),
        params=params,
    )


@pytest.mark.parametrize("teacher_on", [pytest.param(False, id="teacher-off"), pytest.param(True, id="teacher-on")])
def test_association_needs_the_teacher(teacher_on):
    cfg = _stdp_config(teacher_on)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 1.0, size=(6, cfg.n_in))
    y = np.array([0, 1, 0, 1, 0, 1])
    with SpikingClassifier(cfg, seed=0, target="numpy", chunk_size=6) as clf:
        before = clf.weights()
        stats = clf.fit_epoch(x, y)
        after = clf.weights()
    assert stats.rates_hz["out"] > 0, "output neurons must fire, or 'no change' would be vacuous"
    assert not np.allclose(after["W_in_h1"], before["W_in_h1"]), "hidden STDP must still learn"
    out_changed = not np.array_equal(after["W_h2_out"], before["W_h2_out"])
    assert out_changed == teacher_on


def test_output_learning_rate_is_separate():
    """``eta_out_mV_per_s`` scales only the output projection: 0 freezes the output weights and leaves
    the hidden layers' learning bit-identical (nothing crosses layers); ``None`` is ``eta_mV_per_s``."""
    import dataclasses

    base = _le_config("softmax")
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 1, size=(4, base.n_in)), np.array([0, 1, 2, 1])
    states = {}
    for name, eta_out in (("none", None), ("same", 40.0), ("zero", 0.0)):
        params = dataclasses.replace(base.params, eta_mV_per_s=40.0, eta_out_mV_per_s=eta_out)
        cfg = dataclasses.replace(base, params=params)
        with SpikingClassifier(cfg, seed=4, target="numpy", chunk_size=4) as clf:
            w0 = {k: v.copy() for k, v in clf.state.items()}
            clf.fit_epoch(x, y)
            states[name] = clf.state
    assert not np.array_equal(states["none"]["W_in_h1"], w0["W_in_h1"])
    assert not np.array_equal(states["none"]["W_h1_out"], w0["W_h1_out"])
    for k in w0:
        np.testing.assert_array_equal(states["same"][k], states["none"][k], err_msg=k)
    np.testing.assert_array_equal(states["zero"]["W_h1_out"], w0["W_h1_out"])
    np.testing.assert_array_equal(states["zero"]["W_in_h1"], states["none"]["W_in_h1"])
    with pytest.raises(ValueError, match="eta_out_mV_per_s"):
        LocalErrorParams(eta_out_mV_per_s=-1.0)


@pytest.mark.parametrize("teacher_on", [pytest.param(False, id="teacher-off"), pytest.param(True, id="teacher-on")])
def test_skip_projection_associates_on_its_own(teacher_on):
    """``skip_stdp`` adds ``W_h1_out``: learnt only by the teacher-gated association, normalised to
    its own total, and invisible to the hidden layers (their weights are bit-identical to the same
    network's without the skip: nothing flows back from the output)."""
    import dataclasses

    base = _stdp_config(teacher_on)
    skip = STDPParams(eta_plus_mV=0.3, eta_minus_mV=0.05, w_max_mV=30.0, norm_total_mV=50.0, w_init_max_mV=1.0)
    cfg = dataclasses.replace(base, params=dataclasses.replace(base.params, skip_stdp=skip))
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 1.0, size=(6, cfg.n_in))
    y = np.array([0, 1, 0, 1, 0, 1])
    states = {}
    for name, c in (("plain", base), ("skip", cfg)):
        with SpikingClassifier(c, seed=0, target="numpy", chunk_size=6) as clf:
            w0 = clf.weights()
            stats = clf.fit_epoch(x, y)
            states[name] = clf.weights()
            with pytest.raises(RuntimeError, match="predict_counts"):
                clf.output_pathways()
            clf.predict_counts(x)
            paths = clf.output_pathways(y)
            drive = clf.last_out_drive.copy()
    assert stats.rates_hz["h1"] > 0 and stats.rates_hz["out"] > 0
    # per-pathway drives (hidden counts @ W) add up to the summed input Brian2 recorded at the output
    assert sorted(paths) == ["W_h1_out", "W_h2_out"]
    assert sum(p["drive_share"] for p in paths.values()) == pytest.approx(1.0)
    assert 0 < paths["W_h1_out"]["drive_share"] < 1 and 0 <= paths["W_h1_out"]["accuracy_alone"] <= 1
    after = states["skip"]
    counts_drive = clf.last_hidden_counts["h1"] @ after["W_h1_out"] + clf.last_hidden_counts["h2"] @ after["W_h2_out"]
    np.testing.assert_allclose(counts_drive, drive, rtol=1e-9, atol=1e-9)
    assert w0["W_h1_out"].shape == (8, 2)
    np.testing.assert_allclose(w0["W_h1_out"].sum(axis=0), 50.0, rtol=1e-12)  # init_state normalises it
    assert (not np.array_equal(after["W_h1_out"], w0["W_h1_out"])) == teacher_on
    if teacher_on:
        np.testing.assert_allclose(after["W_h1_out"].sum(axis=0), 50.0, rtol=1e-6)
    for k in ("W_in_h1", "W_h1_h2"):
        np.testing.assert_array_equal(after[k], states["plain"][k], err_msg=k)
