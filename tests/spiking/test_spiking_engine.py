"""Chunked runs: determinism, resume, weight layout, and cpp_standalone == runtime.

The one ``cpp_standalone`` build of the default run is ``test_standalone_matches_runtime``
(a few seconds to compile); the spiking-local twin of it is marked slow.
"""

from __future__ import annotations

import os

import brian2 as b2
import numpy as np
import pytest

from spiking.backend import device as spk_device
from spiking.backend import engine
from spiking.backend.engine import StandaloneEngine
from spiking.config import NetworkConfig
from spiking.model import SpikingClassifier
from spiking.network import build_network
from spiking.params import LIFParams, SimParams, STDPParams
from spiking.rules.local_error import LocalErrorParams
from spiking.rules.stdp_association import STDPAssociationParams
from spiking.state import init_state, read_state


def _stdp_cfg(encoding: str = "poisson", hidden: tuple[int, ...] = (8, 6)) -> NetworkConfig:
    params = STDPAssociationParams(
        hidden_lif=LIFParams(tau_m_ms=20.0, t_ref_ms=2.0, theta_plus_mV=0.05, theta_target_hz=5.0),
        input_stdp=STDPParams(
            eta_plus_mV=0.05, eta_minus_mV=0.01, x_offset=0.2, w_max_mV=5.0, norm_total_mV=40.0, w_init_max_mV=1.0
        ),
        hidden_stdp=STDPParams(
            eta_plus_mV=0.2, eta_minus_mV=0.05, w_max_mV=20.0, norm_total_mV=60.0, w_init_max_mV=1.0
        ),
        output_stdp=STDPParams(
            eta_plus_mV=0.2, eta_minus_mV=0.05, w_max_mV=30.0, norm_total_mV=120.0, w_init_max_mV=1.0
        ),
        inhibition_mV=1.0,
        output_inhibition_mV=0.5,
    )
    return NetworkConfig(
        rule="stdp-association",
        n_in=16,
        hidden=hidden,
        n_out=2,
        encoding=encoding,
        max_rate_hz=250.0,
        sim=SimParams(dt_ms=1.0, t_present_ms=20.0),
        params=params,
    )


def _le_cfg(encoding: str = "poisson") -> NetworkConfig:
    return NetworkConfig(
        rule="spiking-local",
        n_in=16,
        hidden=(8, 6),
        n_out=2,
        encoding=encoding,
        max_rate_hz=250.0,
        sim=SimParams(dt_ms=1.0, t_present_ms=20.0),
        params=LocalErrorParams(eta_mV_per_s=200.0, w_init_mV=8.0, burn_in_ms=5.0),
    )


def _data(n: int = 8, n_in: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.uniform(0.0, 0.5, size=(n, n_in))
    x[y == 0, : n_in // 2] += 0.5  # class 0 lights the first half, class 1 the second
    x[y == 1, n_in // 2 :] += 0.5
    return x, y


def _train(cfg, seed, target="numpy", **kw):
    x, y = _data()
    with SpikingClassifier(cfg, seed=seed, target=target, chunk_size=4, **kw) as clf:
        stats = clf.fit_epoch(x, y)
        counts, rates = clf.predict_counts(x)
        return clf.state, counts, stats, rates


@pytest.mark.parametrize(
    "make_cfg", [pytest.param(_stdp_cfg, id="stdp-association"), pytest.param(_le_cfg, id="spiking-local")]
)
def test_same_seed_same_spikes_and_weights(make_cfg):
    cfg = make_cfg()
    s1, c1, st1, _ = _train(cfg, seed=7)
    s2, c2, st2, _ = _train(cfg, seed=7)
    s3, _, _, _ = _train(cfg, seed=8)
    assert st1.rates_hz["h1"] > 0 and c1.sum() > 0, "the network must spike for the comparison to mean anything"
    for name in s1:
        np.testing.assert_array_equal(s1[name], s2[name], err_msg=name)
    np.testing.assert_array_equal(c1, c2)
    assert st1.rates_hz == st2.rates_hz
    assert any(not np.array_equal(s1[k], s3[k]) for k in s1), "a different seed must give a different run"


def test_resume_from_a_chunk_is_bit_identical():
    cfg = _stdp_cfg()
    x, y = _data()
    with SpikingClassifier(cfg, seed=3, target="numpy", chunk_size=4) as clf:
        clf.fit_epoch(x, y)
        full = clf.state

    saved = {}

    class Interrupt(Exception):
        pass

    def stop_after_first(chunk, n_chunks, state, result):
        saved.update(state)
        raise Interrupt

    with SpikingClassifier(cfg, seed=3, target="numpy", chunk_size=4) as clf:
        with pytest.raises(Interrupt):
            clf.fit_epoch(x, y, on_chunk=stop_after_first)
    with SpikingClassifier(cfg, seed=3, target="numpy", chunk_size=4, state=saved) as clf:
        stats = clf.fit_epoch(x, y, start_chunk=1)
        resumed = clf.state
    assert stats.n_chunks == 1 and stats.n_samples == 4
    for name in full:
        np.testing.assert_array_equal(resumed[name], full[name], err_msg=name)


def test_weight_layout_is_pre_post_and_round_trips():
    cfg = _le_cfg()
    state = init_state(cfg, seed=0)
    assert state["W_in_h1"].shape == (16, 8) and state["W_h1_h2"].shape == (8, 6) and state["W_h2_out"].shape == (6, 2)
    with spk_device.brian_device("numpy"):
        built = build_network(cfg, state, n_slots=1, learning=False, n_copies=3)
        syn = built.synapses["W_in_h1"]
        i, j = np.asarray(syn.i[:]), np.asarray(syn.j[:])
        w = np.asarray(syn.w[:]) * 1e3  # V -> mV
        back = read_state(built)
    # synapse (i, j) of copy c carries W[i - 16 c, j - 8 c]
    copy = i // 16
    np.testing.assert_array_equal(copy, j // 8)
    np.testing.assert_allclose(w, state["W_in_h1"][i % 16, j % 8], rtol=1e-12)
    assert set(np.unique(copy)) == {0, 1, 2}
    for name in ("W_in_h1", "W_h1_h2", "W_h2_out"):
        np.testing.assert_allclose(back[name], state[name], rtol=1e-12, err_msg=name)


def test_evaluation_leaves_weights_untouched_and_copies_agree():
    """Frozen evaluation (deterministic latency input): 1 copy == 4 parallel copies, and
    predicting never changes the state."""
    cfg = _stdp_cfg(encoding="latency")
    x, y = _data(n=8)
    with SpikingClassifier(cfg, seed=1, target="numpy", chunk_size=4) as clf:
        clf.fit_epoch(x, y)
        state = {k: v.copy() for k, v in clf.state.items()}
        single, _ = clf.predict_counts(x)
        for k in state:
            np.testing.assert_array_equal(clf.state[k], state[k], err_msg=k)
    with SpikingClassifier(
        cfg, seed=1, target="numpy", chunk_size=4, eval_copies=4, eval_chunk_size=8, state=state
    ) as clf:
        parallel, _ = clf.predict_counts(x)
    assert single.sum() > 0
    np.testing.assert_array_equal(parallel, single)


def _compare_targets(cfg, tmp_path):
    x, y = _data()
    results = {}
    for target in ("cpp_standalone", "numpy"):
        with SpikingClassifier(cfg, seed=5, target=target, chunk_size=4, cache_dir=tmp_path) as clf:
            stats = clf.fit_epoch(x, y)  # two chunks: state carried through run_args
            counts, _ = clf.predict_counts(x)
            results[target] = (clf.state, counts, stats)
    (s_sa, c_sa, st_sa), (s_rt, c_rt, st_rt) = results["cpp_standalone"], results["numpy"]
    assert c_rt.sum() > 0 and st_rt.rates_hz["h1"] > 0
    for name in s_rt:
        np.testing.assert_allclose(s_sa[name], s_rt[name], rtol=0, atol=1e-9, err_msg=name)
        assert not np.array_equal(s_rt[name], init_state(cfg, 5)[name]) or name.startswith("M_")
    np.testing.assert_array_equal(c_sa, c_rt)
    for layer in st_rt.rates_hz:
        assert st_sa.rates_hz[layer] == pytest.approx(st_rt.rates_hz[layer], abs=1e-12)


@pytest.mark.standalone
def test_standalone_matches_runtime(tmp_path, quick_compile):
    """Deterministic (latency-coded) input: compiled binary re-run per chunk == numpy runtime.
    (One hidden layer keeps the C++ project small; the two-layer case is the same code.)"""
    _compare_targets(_stdp_cfg(encoding="latency", hidden=(8,)), tmp_path)


def _skip_cfg(encoding: str = "latency") -> NetworkConfig:
    """Two hidden layers and the skip projection h1 -> out (its weights and running sum ``wsum_h1``
    carried between chunks through ``run_args`` like every other projection's)."""
    import dataclasses

    cfg = _stdp_cfg(encoding=encoding)
    skip = STDPParams(eta_plus_mV=0.3, eta_minus_mV=0.05, w_max_mV=30.0, norm_total_mV=50.0, w_init_max_mV=1.0)
    return dataclasses.replace(cfg, params=dataclasses.replace(cfg.params, skip_stdp=skip))


@pytest.mark.slow
@pytest.mark.parametrize("make_cfg", [pytest.param(_stdp_cfg, id="chain"), pytest.param(_skip_cfg, id="skip-h1-out")])
@pytest.mark.standalone
def test_standalone_matches_runtime_two_layers(tmp_path, quick_compile, make_cfg):
    _compare_targets(make_cfg(encoding="latency"), tmp_path)


@pytest.mark.slow
@pytest.mark.standalone
def test_standalone_matches_runtime_local_error(tmp_path, quick_compile):
    _compare_targets(_le_cfg(encoding="latency"), tmp_path)


@pytest.mark.slow
@pytest.mark.standalone
def test_standalone_project_is_cached(tmp_path, quick_compile):
    """A second engine with the same config regenerates identical sources, so no code object is
    recompiled (only main.cpp may differ, in the order it initialises clocks) and the results
    are identical."""
    cfg = _stdp_cfg(encoding="latency", hidden=(8,))
    state = init_state(cfg, 0)
    stim = np.tile(np.arange(16.0) % 5, (2, 1))
    first = StandaloneEngine(cfg, n_slots=2, cache_dir=tmp_path)
    r1 = first.run(state, stim, np.array([0.0, 1.0]), 1)
    first.close()
    built = {p: p.stat().st_mtime_ns for p in (first.directory / "code_objects").glob("*.o")}
    second = StandaloneEngine(cfg, n_slots=2, cache_dir=tmp_path)
    r2 = second.run(state, stim, np.array([0.0, 1.0]), 1)
    second.close()
    assert first.directory == second.directory and len(built) > 10
    assert {p: p.stat().st_mtime_ns for p in built} == built
    for name in r1.state:
        np.testing.assert_array_equal(r1.state[name], r2.state[name])


_MAIN_A = """int main(int argc, char **argv)
{
        _array_clk_sample_timestep[0] = 0;
        _array_clk_sample_t[0] = 0.0;
        _array_defaultclock_timestep[0] = 0;
        _array_defaultclock_t[0] = 0.0;
        run_net();
}
"""


@pytest.mark.parametrize(
    "other, same",
    [
        (_MAIN_A, True),
        # the two clocks' resets in the other order (what Brian2's set iteration produces)
        (
            _MAIN_A.replace(
                """        _array_clk_sample_timestep[0] = 0;
        _array_clk_sample_t[0] = 0.0;
        _array_defaultclock_timestep[0] = 0;
        _array_defaultclock_t[0] = 0.0;
""",
                """        _array_defaultclock_timestep[0] = 0;
        _array_defaultclock_t[0] = 0.0;
        _array_clk_sample_timestep[0] = 0;
        _array_clk_sample_t[0] = 0.0;
""",
            ),
            True,
        ),
        (_MAIN_A.replace("_array_clk_sample_t[0] = 0.0;", "_array_clk_sample_t[0] = 0.5;"), False),
        (_MAIN_A.replace("run_net();", "run_other();"), False),
        (_MAIN_A + "// extra\n", False),
    ],
    ids=["identical", "clock-resets-reordered", "other-value", "other-code", "extra-line"],
)
def test_clock_reset_order_equivalence(other, same):
    assert engine.same_up_to_clock_reset_order(_MAIN_A, other) is same


def test_keep_equivalent_main_restores_bytes_and_mtime(tmp_path):
    prev = tmp_path / "main.cpp.compiled"
    prev.write_text(_MAIN_A)
    os.utime(prev, ns=(1_000_000_000, 1_000_000_000))
    main = tmp_path / "main.cpp"
    # a reset moved after the run: same lines, different meaning -> left alone (recompiled)
    moved = _MAIN_A.replace("        _array_defaultclock_t[0] = 0.0;\n", "").replace(
        "run_net();", "run_net();\n        _array_defaultclock_t[0] = 0.0;"
    )
    main.write_text(moved)
    assert engine.keep_equivalent_main(tmp_path) is False and main.read_text() == moved
    swapped = (
        _MAIN_A.replace("_array_clk_sample_timestep[0] = 0;", "@@")
        .replace("_array_defaultclock_timestep[0] = 0;", "_array_clk_sample_timestep[0] = 0;")
        .replace("@@", "_array_defaultclock_timestep[0] = 0;")
    )
    main.write_text(swapped)
    assert engine.keep_equivalent_main(tmp_path) is True
    assert main.read_text() == _MAIN_A and main.stat().st_mtime_ns == 1_000_000_000
    main.write_text(_MAIN_A.replace("run_net();", "run_other();"))
    assert engine.keep_equivalent_main(tmp_path) is False
    assert "run_other" in main.read_text()


@pytest.mark.slow
@pytest.mark.standalone
def test_standalone_readouts_come_from_the_run_not_the_build(tmp_path, quick_compile):
    """A cached project is shared by every model of a configuration (parallel workers, other
    seeds): the spiking-local readouts ``M`` must reach the binary through ``run_args`` like the
    weights. Running model B on a project built for model A == running B on its own build."""
    cfg = _le_cfg(encoding="latency")
    a, b = init_state(cfg, 0), init_state(cfg, 1)
    assert not np.array_equal(a["M_h1"], b["M_h1"])
    stim = np.tile(np.arange(16.0) % 5, (2, 1))
    labels = np.array([0.0, 1.0])
    eng = StandaloneEngine(cfg, n_slots=2, cache_dir=tmp_path)
    eng.run(a, stim, labels, 1)  # the build bakes A's readouts into static arrays
    on_a_build = eng.run(b, stim, labels, 1)  # same binary, B's state
    mixed = eng.run({**b, "M_h1": a["M_h1"], "M_h2": a["M_h2"]}, stim, labels, 1)
    eng.close()
    own = StandaloneEngine(cfg, n_slots=2, cache_dir=tmp_path / "own")
    on_own_build = own.run(b, stim, labels, 1)
    own.close()
    for name in on_own_build.state:
        np.testing.assert_array_equal(on_a_build.state[name], on_own_build.state[name], err_msg=name)
    # the readouts matter: B's weights with A's readouts learn something else
    assert not np.array_equal(mixed.state["W_in_h1"], on_own_build.state["W_in_h1"])


@pytest.mark.standalone
def test_compile_ahead_builds_what_every_seed_then_runs(tmp_path, quick_compile):
    """``SpikingClassifier.compile`` builds the project(s) training and evaluation use; a classifier of
    another seed then trains and evaluates on them without recompiling anything (the project does not
    depend on the seed or the weights)."""
    cfg = _stdp_cfg(encoding="latency", hidden=(8,))
    with SpikingClassifier(cfg, seed=0, target="cpp_standalone", chunk_size=4, cache_dir=tmp_path) as clf:
        dirs = clf.compile()
    assert len(dirs) == 1 and dirs[0].parent == tmp_path  # STDP evaluates on its training build
    built = {p: p.stat().st_mtime_ns for p in [dirs[0] / "main", *(dirs[0] / "code_objects").glob("*.o")]}
    assert len(built) > 10
    x, y = _data()
    with SpikingClassifier(cfg, seed=7, target="cpp_standalone", chunk_size=4, cache_dir=tmp_path) as clf:
        clf.fit_epoch(x, y)
        counts, _ = clf.predict_counts(x)
        assert clf._engine("train").directory == dirs[0] and clf._engine("eval").directory == dirs[0]
    assert counts.sum() > 0
    assert {p: p.stat().st_mtime_ns for p in built} == built
    # runtime targets compile as they run: nothing to build ahead
    with SpikingClassifier(cfg, seed=0, target="numpy", chunk_size=4) as clf:
        assert clf.compile() == []


@pytest.mark.standalone
def test_parked_build_serves_the_next_engine_of_the_same_project(tmp_path, quick_compile):
    """Inside keep_builds, a closed standalone engine leaves its build on the device; the next engine
    of the same project adopts it (no new build) and gives exactly what a fresh build gives, because
    every run sets the whole state through run_args. Leaving the context resets the device."""
    from brian2.devices.device import runtime_device

    cfg = _stdp_cfg(encoding="latency", hidden=(8,))
    x, _ = _data()
    states = {s: init_state(cfg, s) for s in (1, 2)}

    def run(state):
        with SpikingClassifier(
            cfg, seed=3, target="cpp_standalone", chunk_size=4, cache_dir=tmp_path, state=state
        ) as clf:
            counts, _ = clf.predict_counts(x)
            return counts, clf._engine("eval")

    fresh = {s: run(st)[0] for s, st in states.items()}  # each one its own build
    assert not np.array_equal(fresh[1], fresh[2])  # the two states give different outputs
    with engine.keep_builds():
        c1, e1 = run(states[1])
        assert e1.build_s > 0 and spk_device.device_owner() is e1 and e1._parked
        c2, e2 = run(states[2])
        c1b, e3 = run(states[1])
        assert e2.build_s == 0.0 and e3.build_s == 0.0 and e1._built is None and e2._built is None
        np.testing.assert_array_equal(c1, fresh[1])
        np.testing.assert_array_equal(c2, fresh[2])
        np.testing.assert_array_equal(c1b, fresh[1])
        # anything else that needs the device (here a runtime run) releases the parked build
        with SpikingClassifier(cfg, seed=3, target="numpy", chunk_size=4, state=states[1]) as clf:
            np.testing.assert_array_equal(clf.predict_counts(x)[0], fresh[1])
        assert e3._built is None and not e3._parked
        c1c, e4 = run(states[1])
        assert e4.build_s > 0  # built again
    assert b2.get_device() is runtime_device and spk_device.device_owner() is None and e4._built is None
