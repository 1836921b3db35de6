"""Brian2's exact integration behind a persistent cache: same code as Brian2, computed once."""

import brian2 as b2
import pytest
from brian2.stateupdaters.exact import exact as brian_exact

from spiking import equations as eq
from spiking.backend.cache import CachedExactIntegration, _read, integration_key

LIF = eq.lif_equations(adaptive=True, teacher=True, traces={"xtr": "tau_pre", "ytr": "tau_post"})


def _group(eqs, method="exact", **kw):
    return b2.NeuronGroup(3, eqs, method=method, namespace=kw or None)


@pytest.mark.parametrize(
    "eqs",
    [LIF, "dv/dt = (v0 - v) / tau + I / tau : volt\nI : volt\ndx/dt = -x / (5*ms) : 1"],
    ids=["package-lif", "coupled-input"],
)
def test_cached_integration_equals_brian2_exact_and_is_read_back(tmp_path, eqs, monkeypatch):
    g = _group(eqs)
    want = brian_exact(g.equations, g.variables)
    cached = CachedExactIntegration(tmp_path)
    assert cached(g.equations, g.variables) == want
    files = list(tmp_path.glob("exact-*.txt"))
    assert len(files) == 1
    # a second process (a fresh instance) reads the file and never calls sympy
    monkeypatch.setattr("spiking.backend.cache.exact", lambda *a, **k: pytest.fail("recomputed a cached result"))
    assert CachedExactIntegration(tmp_path)(g.equations, g.variables) == want


def test_truncated_cache_file_is_recomputed(tmp_path):
    g = _group("dv/dt = -v / (10*ms) : volt")
    cached = CachedExactIntegration(tmp_path)
    code = cached(g.equations, g.variables)
    (path,) = tmp_path.glob("exact-*.txt")
    path.write_text(code[: len(code) // 2])  # e.g. a disk that filled up mid-write
    assert cached(g.equations, g.variables) == code
    assert path.read_text().endswith("\n# end\n")


def test_key_separates_what_the_result_depends_on():
    a = _group("dv/dt = -v / tau : volt\ntau : second")  # tau per neuron
    b = _group("dv/dt = -v / tau : volt\ntau : second (shared)")
    c = _group("dv/dt = -v / tau : volt\ntau : second")
    assert integration_key(a.equations, a.variables, None) != integration_key(b.equations, b.variables, None)
    assert integration_key(a.equations, a.variables, None) == integration_key(c.equations, c.variables, None)
    assert integration_key(a.equations, a.variables, None) != integration_key(
        a.equations, a.variables, {"simplify": False}
    )


def test_network_groups_use_the_cached_integration(tmp_path, monkeypatch, fresh_brian_integration_memo):
    """The groups of a package network run the cached integration results."""

    from spiking.backend import device as spk_device
    from spiking.backend.cache import EXACT
    from spiking.config import NetworkConfig
    from spiking.network import build_network
    from spiking.state import init_state

    monkeypatch.setenv("BIOPLAUSIBLE_BRIAN_CACHE", str(tmp_path))
    cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
    with spk_device.brian_device("numpy"):
        built = build_network(cfg, init_state(cfg, seed=0), n_slots=1)
        groups = [built.inp, *built.layers.values()]
        assert all(g.method_choice is EXACT for g in groups)
        built.net.run(1 * b2.ms)
        # what the groups run: the cached result, after Brian2's refractoriness line
        run_code = [
            g.state_updater.abstract_code.removeprefix(
                "not_refractory = timestep(t - lastspike, dt) >= timestep(t_ref, dt)\n"
            )
            for g in groups
        ]
    cached = {_read(p) for p in (tmp_path / "integration").glob("exact-*.txt")}
    assert len(cached) == 3 and set(run_code) == cached


def test_file_lock_non_blocking_and_run_args_cleanup(tmp_path):
    """A busy project lock makes a non-blocking attempt fail at once, and the run_args clean-up then
    leaves every file in place; once the lock is free it removes exactly the run_args files."""
    from spiking.backend.cache import file_lock
    from spiking.backend.engine import remove_run_args_files

    arrays = tmp_path / "static_arrays"
    arrays.mkdir()
    for name in ("init_a_1.dat", "init_b_2.dat", "_static_array_keep.dat"):
        (arrays / name).write_bytes(b"x")
    with file_lock(tmp_path / ".build.lock", shared=True):  # another process running the binary
        with pytest.raises(BlockingIOError):
            with file_lock(tmp_path / ".build.lock", blocking=False):
                pass
        assert remove_run_args_files(tmp_path) == 0
        assert len(list(arrays.iterdir())) == 3
    assert remove_run_args_files(tmp_path) == 2
    assert [p.name for p in arrays.iterdir()] == ["_static_array_keep.dat"]
