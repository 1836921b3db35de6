"""Brian2 replay harness: run the Brian2 network on given input spikes, replay Brian2's own draws.

Brian2 draws its Poisson input spikes inside the network (``rand() < rate * dt`` per input and
step), so the twin (:class:`bridges.twin.SpikingNetworkTwin`) cannot see those draws. To compare
both spike for spike (``tests/test_spiking_twin.py``), :func:`brian2_run_from_spikes` drives the
project's own :func:`spiking.network.build_network` with **given** spike trains, which
:meth:`~bridges.twin.SpikingNetworkTwin.run_spikes` then runs on the twin; and
:func:`brian2_numpy_input_spikes` replays the draws Brian2's ``numpy`` target made in a run, so
the twin can be run on exactly the spikes a Brian2 evaluation saw.

Example
-------
>>> from spiking import NetworkConfig, SimParams
>>> cfg = NetworkConfig(rule="spiking-local", n_in=3, hidden=(2,), n_out=2,
...                     sim=SimParams(dt_ms=1.0, t_present_ms=20.0))
>>> stim = np.full((2, 3), 100.0)                  # two samples, 100 Hz on every input
>>> spikes = brian2_numpy_input_spikes(cfg, stim, rng_seed=0)
>>> spikes.shape, bool(np.isin(spikes, (0, 1)).all())
((2, 20, 3), True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import brian2 as b2
import numpy as np

from spiking.config import NetworkConfig
from spiking.state import layer_names

from .dynamics import _MS
from .weights import export_spiking_weights, import_spiking_weights

__all__ = ["Brian2SpikeRun", "brian2_run_from_spikes", "brian2_numpy_input_spikes"]


@dataclass
class Brian2SpikeRun:
    """What :func:`brian2_run_from_spikes` returns.

    Attributes
    ----------
    counts : dict layer -> int64 array (N, n_layer)
        Spikes per sample and neuron.
    v_volt : dict layer -> float64 array (N, steps_per_sample, n_layer), or None
        Membrane potential (volts) at the end of every step (after resets), when recorded.
    """

    counts: dict[str, np.ndarray]
    v_volt: dict[str, np.ndarray] | None = None


def brian2_run_from_spikes(
    config: NetworkConfig,
    state: Mapping[str, object],
    input_spikes: np.ndarray,
    *,
    n_copies: int = 1,
    target: str = "numpy",
    record_v: bool = False,
) -> Brian2SpikeRun:
    """Run the project's Brian2 network (evaluation build of :func:`spiking.network.build_network`)
    on **given** input spike trains.

    The network is built unchanged; only its stimulus ``TimedArray`` is replaced, before the
    run, by a per-step one holding ``0`` or ``2 / dt`` Hz, so that the input threshold
    ``rand() < rate * dt`` fires exactly where ``input_spikes`` is 1 (``rand() < 2``). A latency
    config is driven through the same Poisson input group (nothing else in an evaluation build
    depends on the encoding). Sample ``s * n_copies + c`` runs in slot ``s``, copy ``c``.

    Parameters
    ----------
    config, state : as for :func:`bridges.twin.build_twin`
    input_spikes : array (N, steps_present, n_in) of 0/1, ``N`` a multiple of ``n_copies``
    n_copies : int
        Parallel copies per slot (``spiking.network``'s evaluation layout).
    target : {"numpy", "cython"}
        Runtime targets only (``numpy`` is the one the twin matches bit for bit).
    record_v : bool
        Also record every membrane potential at every step (small networks only).

    Returns
    -------
    Brian2SpikeRun
    """
    from spiking.backend.device import brian_device
    from spiking.network import build_network

    if target not in ("numpy", "cython"):
        raise ValueError(f"target must be 'numpy' or 'cython' (runtime), got {target!r}")
    plain_state = export_spiking_weights(import_spiking_weights(config, state))
    sim = config.sim
    x = np.asarray(input_spikes)
    P, T, n_in = sim.steps_present, sim.steps_per_sample, config.n_in
    if x.ndim != 3 or x.shape[1:] != (P, n_in):
        raise ValueError(f"input_spikes must have shape (N, steps_present={P}, n_in={n_in}), got {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise ValueError("input_spikes must hold only 0 and 1")
    K = int(n_copies)
    if K < 1 or len(x) == 0 or len(x) % K:
        raise ValueError(f"the number of samples ({len(x)}) must be a positive multiple of n_copies ({n_copies})")
    S = len(x) // K
    dt = float(np.float64(sim.dt_ms) * _MS)
    values = np.zeros((S, T, K * n_in))
    values[:, :P, :] = x.reshape(S, K, P, n_in).transpose(0, 2, 1, 3).reshape(S, P, K * n_in) * (2.0 / dt)
    cfg = dataclasses.replace(config, encoding="poisson")
    with brian_device(target):
        built = build_network(cfg, plain_state, n_slots=S, n_copies=K, learning=False)
        if "stim" not in built.inp.namespace:
            raise RuntimeError(
                "spiking.network's input group no longer reads its stimulus from a TimedArray named "
                "'stim'; update brian2_run_from_spikes"
            )
        built.inp.namespace["stim"] = b2.TimedArray(
            values.reshape(S * T, K * n_in) * b2.Hz, dt=sim.dt_ms * b2.ms, name="stim_given_spikes"
        )
        vmons = {}
        if record_v:
            vmons = {
                name: b2.StateMonitor(g, "v", record=True, when="end", name=f"twin_v_{name}")
                for name, g in built.layers.items()
            }
            built.net.add(*vmons.values())
        built.net.run(built.duration, namespace={})
        mons = {**built.count_mons, "out": built.out_mon}
        counts, traces = {}, {}
        for name in layer_names(config):
            mon = mons[name]
            n = len(mon.source) // K
            i = np.asarray(mon.i[:], dtype=np.int64)
            step = np.rint(np.asarray(mon.t[:] / b2.ms, dtype=np.float64) / sim.dt_ms).astype(np.int64)
            c = np.zeros((S * K, n), dtype=np.int64)
            np.add.at(c, ((step // T) * K + i // n, i % n), 1)
            counts[name] = c
            if record_v:
                v = np.asarray(vmons[name].v_, dtype=np.float64)  # (K * n, S * T), volts
                traces[name] = v.reshape(K, n, S, T).transpose(2, 0, 3, 1).reshape(S * K, T, n).copy()
    return Brian2SpikeRun(counts=counts, v_volt=traces if record_v else None)


def brian2_numpy_input_spikes(
    config: NetworkConfig, stim: np.ndarray, *, rng_seed: int, n_copies: int = 1
) -> np.ndarray:
    """The input spike trains Brian2's ``numpy`` target draws inside one run of the network.

    In runtime ``numpy`` mode, after ``brian2.seed(rng_seed)`` (what
    :class:`spiking.backend.engine.RuntimeEngine` does before each chunk), the input group's threshold
    ``rand() < stim * dt`` draws ``numpy.random.rand(n_copies * n_in)`` once per step, in every
    step of the run (also while the stimulus is off). This replays those draws, so the twin can be
    run on exactly the spikes a Brian2 evaluation saw. Other targets use other generators:
    there, drive both with given trains (:func:`brian2_run_from_spikes`).

    Parameters
    ----------
    config : NetworkConfig
    stim : array (n_slots * n_copies, n_in)
        The chunk's stimulus in sample order (Poisson rates in Hz, as
        ``SpikingClassifier.encode``; latency configs: spike steps, no randomness involved).
    rng_seed : int
        The chunk's Brian2 seed (``spiking.model.chunk_seed``).
    n_copies : int

    Returns
    -------
    ndarray (n_slots * n_copies, steps_present, n_in) of 0/1
    """
    sim = config.sim
    stim = np.asarray(stim, dtype=np.float64)
    n_in, K = config.n_in, int(n_copies)
    if stim.ndim != 2 or stim.shape[1] != n_in or len(stim) == 0 or len(stim) % K:
        raise ValueError(f"stim must have shape (n_slots * n_copies, {n_in}) with n_copies={K}, got {stim.shape}")
    P, T, S = sim.steps_present, sim.steps_per_sample, len(stim) // K
    out = np.zeros((S * K, P, n_in))
    if config.encoding == "latency":
        for t in range(P):
            out[:, t, :] = stim == t
        return out
    dt = np.float64(sim.dt_ms) * np.float64(_MS)
    rs = np.random.RandomState(int(rng_seed))
    by_slot = stim.reshape(S, K * n_in)
    for step in range(S * T):
        u = rs.rand(K * n_in)
        s, t = divmod(step, T)
        if t < P:
            fired = (by_slot[s] > 0) & (u < dt * by_slot[s])
            out[s * K : (s + 1) * K, t, :] = fired.reshape(K, n_in)
    return out
