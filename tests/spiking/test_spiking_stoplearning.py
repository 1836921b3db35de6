"""Stop-learning gates of the association (``STDPParams.hold_gate_mV``, ``ltp_stop_trace``) and
the named presets of ``spiking.presets``: Brian2 against hand-computed weights."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from spiking import equations as eq
from spiking.backend.device import brian_device
from spiking.params import LIFParams, STDPParams
from spiking.presets import PRESETS, preset_params

DT_MS = 1.0
TAU_PRE, TAU_POST = 20.0, 10.0
N_STEPS = 30


def _run(
    stdp: STDPParams, *, pre_steps, post_steps, v0_mV, hold_mV, hold_gate: bool, ltp_stop: bool, w0_mV: float = 0.5
) -> np.ndarray:
    """One-to-one synapses ``k -> k``; pre and post spikes are forced at the given steps; the post
    membranes start at ``v0_mV`` and (tau_m = 1e9 ms) keep it apart from synaptic input."""
    n = len(v0_mV)
    flags = [np.zeros((N_STEPS, n)), np.zeros((N_STEPS, n))]
    for k in range(n):
        flags[0][pre_steps[k], k] = 1
        flags[1][post_steps[k], k] = 1
    traces = {"xtr": "tau_pre", "ytr": "tau_post"}
    lif = LIFParams(tau_m_ms=1e9, t_ref_ms=0.0)
    with brian_device("numpy"):
        clock = b2.Clock(dt=DT_MS * b2.ms)
        ns = {**lif.to_namespace(), "tau_pre": TAU_PRE * b2.ms, "tau_post": TAU_POST * b2.ms}
        groups = []
        for f, teacher in zip(flags, (False, True)):
            g = b2.NeuronGroup(
                n,
                eq.lif_equations(adaptive=False, teacher=teacher, traces=traces),
                threshold="spk(t, i) > 0.5",
                reset=eq.lif_reset(adaptive=False, traces=traces),
                refractory="t_ref",
                method="exact",
                clock=clock,
                namespace={**ns, "spk": b2.TimedArray(f, dt=DT_MS * b2.ms)},
            )
            g.learn = 1
            g.v = lif.v_rest_mV * b2.mV
            groups.append(g)
        groups[1].v = np.asarray(v0_mV) * b2.mV
        groups[1].hold = np.asarray(hold_mV) * b2.mV
        code = eq.stdp_synapse_code(wsum_name=None, hold=True, hold_gate=hold_gate, ltp_stop=ltp_stop)
        syn_ns = stdp.to_namespace()
        syn_ns["v_gate"] = (lif.v_thresh_mV + (stdp.hold_gate_mV or 0.0)) * b2.mV
        syn = b2.Synapses(
            *groups, model=code["model"], on_pre=code["on_pre"], on_post=code["on_post"], clock=clock, namespace=syn_ns
        )
        syn.connect(j="i")
        syn.w = w0_mV * b2.mV
        b2.Network(*groups, syn).run(N_STEPS * DT_MS * b2.ms, namespace={})
        return np.asarray(syn.w[:] / b2.mV)


@pytest.mark.parametrize("gated", [pytest.param(False, id="ungated"), pytest.param(True, id="gated")])
def test_hold_depression_only_while_the_held_neuron_would_fire(gated):
    # v_thresh = -52 mV, gate at -57 mV. Neuron 0: held, above the gate (would fire);
    # neuron 1: held, below it (already silent for this input); neuron 2: not held.
    stdp = STDPParams(eta_plus_mV=0.1, eta_minus_mV=0.05, eta_hold_mV=0.2, w_max_mV=5.0, hold_gate_mV=-5.0)
    w = _run(
        stdp,
        pre_steps=[[5]] * 3,
        post_steps=[[]] * 3,
        v0_mV=[-54.0, -60.0, -54.0],
        hold_mV=[1000.0, 1000.0, 0.0],
        hold_gate=gated,
        ltp_stop=False,
    )
    # no post spike: ytr = 0, so only the hold term can act on a pre spike
    expected = [0.5 - 0.2, 0.5 if gated else 0.5 - 0.2, 0.5]
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("stop", [pytest.param(None, id="no-stop"), pytest.param(1.0, id="stop-at-1")])
def test_ltp_stops_above_the_post_trace_ceiling(stop):
    # one pre spike at step 2, a post burst every 2 steps from step 6: ytr before each post spike
    # is 0, e^-0.2, (1 + e^-0.2) e^-0.2 = 1.49, ... so with a ceiling of 1 only the first two
    # post spikes potentiate
    stdp = STDPParams(eta_plus_mV=0.1, eta_minus_mV=0.0, w_max_mV=5.0, ltp_stop_trace=stop)
    post = [6, 8, 10, 12, 14]
    w = _run(
        stdp,
        pre_steps=[[2]],
        post_steps=[post],
        v0_mV=[-65.0],
        hold_mV=[0.0],
        hold_gate=False,
        ltp_stop=stop is not None,
    )
    y, x_at = 0.0, []
    for k, s in enumerate(post):
        if k:
            y = (y + 1.0) * np.exp(-(s - post[k - 1]) * DT_MS / TAU_POST)
        if stop is None or y < stop:
            x_at.append(np.exp(-(s - 2) * DT_MS / TAU_PRE))
    assert len(x_at) == (5 if stop is None else 2)
    np.testing.assert_allclose(w, [0.5 + 0.1 * sum(x_at)], rtol=0, atol=1e-9)


def test_presets_apply_to_the_rule_defaults():
    for name, spec in PRESETS.items():
        p = preset_params(name)
        assert type(p).__name__ == (
            "STDPAssociationParams" if spec["rule"] == "stdp-association" else "LocalErrorParams"
        ), name
    p = preset_params("stdp-gated")
    assert p.output_stdp.hold_gate_mV == 0.0 and p.output_stdp.ltp_stop_trace == 1.0
    assert p.output_stdp.eta_hold_mV == 1.0  # untouched fields keep the defaults
    with pytest.raises(ValueError, match="unknown preset"):
        preset_params("no-such-preset")


def test_stop_learning_params_validated():
    with pytest.raises(ValueError, match="ltp_stop_trace"):
        STDPParams(ltp_stop_trace=0.0)
    with pytest.raises(ValueError, match="hold_gate_mV"):
        STDPParams(hold_gate_mV=float("nan"))
