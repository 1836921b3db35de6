"""Integrate-and-fire networks for converted ANNs, simulated in Brian2.

A converted multilayer perceptron (see ``bridges.conversion``) runs as layers of non-leaky
integrate-and-fire neurons with reset by subtraction (Rueckauer et al. 2017, "Conversion of
Continuous-Valued Deep Networks to Efficient Event-Driven Networks for Image Classification",
Front. Neurosci.; Diehl et al. 2015, "Fast-classifying, high-accuracy spiking deep networks through
weight and threshold balancing", IJCNN). Everything is dimensionless and counted in time steps.

Exact discrete-time semantics (the snntorch twin in ``bridges.twin`` implements the same)
-------------------------------------------------------------------------------------------
For every sample, all state starts at zero. At step ``t = 0 .. T-1`` and layer ``l = 1 .. L``::

    I_l(t)   = b_l + W_l s_{l-1}(t-1)          (s_{l-1}(-1) = 0: one step of synaptic delay per layer)
    I_1(t)   = c                               ("current" input: a constant current c = W_1 x + b_1, given)
          or = b_1 + W_1 s_0(t-1)              ("spikes" input: given input spike trains s_0)
    v_l(t)   = v_l(t-1) + I_l(t) - theta * r_l(t-1)
    s_l(t)   = [v_l(t) > theta]                (strictly greater, as snntorch's Heaviside)
    r_l(t)   = s_l(t)                          (reset by subtraction, applied with the next input)

with ``theta = 1``. The prediction is the output neuron with the most spikes (lowest index on ties).
In Brian2: spikes of step ``t`` are delivered by ``Synapses`` (``on_pre: I_in_post += w``) after the
threshold of step ``t``, and read by the update of step ``t+1``; a ``run_regularly`` operation in the
``before_thresholds`` slot computes ``v``; another one at the ``start`` of every sample zeroes the
state. Brian2 adds synaptic inputs one spike at a time while a matrix product sums them in another
order, so membrane values can differ in the last bits (float64, ~1e-16 relative): a spike can only
differ when ``v`` lies within that distance of the threshold. The first layer's current is taken as
given (not recomputed here) so that both simulators start from the same bits: data-based
normalisation puts the largest activation exactly on the threshold, where one ulp decides a spike.

Example
-------
>>> import numpy as np
>>> W = [np.array([[0.6, 0.2]]), np.array([[1.0]])]; b = [np.zeros(1), np.zeros(1)]
>>> res = simulate_if(W, b, np.array([[0.8]]), steps=10, target="numpy")   # current W_1 x + b_1 = 0.8
>>> [c.tolist() for c in res.counts]   # 8 spikes in layer 1; layer 2 (weight 1, v > 1) fires 6
[[[8]], [[6]]]
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import brian2 as b2
import numpy as np

from .backend.device import brian_device

__all__ = [
    "IFResult",
    "BuiltIF",
    "simulate_if",
    "build_if_network",
    "read_if_weights",
    "check_if_network",
    "INPUT_MODES",
    "IF_PHASES",
]

log = logging.getLogger(__name__)

INPUT_MODES = ("current", "spikes")

#: The phases of :func:`simulate_if`, in order, as reported to its ``on_phase`` callback: the
#: standalone target compiles a C++ project before simulating; runtime targets (``cython``,
#: ``numpy``) compile or interpret code objects while they simulate.
IF_PHASES = {"cpp_standalone": ("build", "compile", "simulate", "read"), "runtime": ("build", "simulate", "read")}


@dataclass
class IFResult:
    """Spike counts of every layer, per sample: ``counts[l]`` has shape ``(N, n_l)``.

    ``output_spikes`` holds the output layer's spikes as ``(sample, step, neuron)`` index arrays,
    so that counts after fewer steps can be read from one run (:meth:`output_counts_at`).
    """

    counts: list[np.ndarray]
    steps: int
    target: str
    output_spikes: tuple = ()
    wall_s: float = 0.0

    @property
    def predictions(self) -> np.ndarray:
        return self.counts[-1].argmax(1)

    def output_counts_at(self, steps: int) -> np.ndarray:
        """Output counts ``(N, n_out)`` over the first ``steps`` steps of every sample."""
        if not 1 <= steps <= self.steps:
            raise ValueError(f"steps must lie in [1, {self.steps}], got {steps}")
        sample, step, neuron = self.output_spikes
        keep = step < steps
        c = np.zeros_like(self.counts[-1])
        np.add.at(c, (sample[keep], neuron[keep]), 1)
        return c


def check_if_network(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> None:
    """Validate shapes and values; errors name the layer and the fix."""
    if len(weights) == 0 or len(weights) != len(biases):
        raise ValueError(
            f"need one bias per weight matrix and at least one layer; got {len(weights)} "
            f"weights and {len(biases)} biases"
        )
    for l, (w, b) in enumerate(zip(weights, biases)):
        w, b = np.asarray(w), np.asarray(b)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ValueError(f"layer {l}: weight must be (n_out, n_in) and bias (n_out,); got {w.shape} and {b.shape}")
        if l and w.shape[1] != np.asarray(weights[l - 1]).shape[0]:
            raise ValueError(
                f"layer {l}: weight expects {w.shape[1]} inputs but layer {l - 1} has "
                f"{np.asarray(weights[l - 1]).shape[0]} neurons"
            )
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError(f"layer {l}: weights or biases contain NaN or inf")


def _check_inputs(inputs: np.ndarray, mode: str, n_in: int, n_first: int, steps: int) -> np.ndarray:
    if mode not in INPUT_MODES:
        raise ValueError(f"unknown input mode {mode!r}; valid: {', '.join(INPUT_MODES)}")
    x = np.asarray(inputs)
    if mode == "current":
        if x.ndim != 2 or x.shape[1] != n_first:
            raise ValueError(
                f"'current' input is the first layer's current W_1 x + b_1 of shape (N, {n_first}); got {x.shape}"
            )
        if not np.isfinite(x).all():
            raise ValueError("input contains NaN or inf")
        return x.astype(np.float64)
    if x.ndim != 3 or x.shape[1] != steps or x.shape[2] != n_in:
        raise ValueError(f"'spikes' input must be a 0/1 array of shape (N, steps={steps}, {n_in}); got {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise ValueError("'spikes' input must hold only 0 and 1")
    return x.astype(bool)


def simulate_if(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    inputs: np.ndarray,
    *,
    steps: int,
    mode: str = "current",
    target: str = "cpp_standalone",
    threshold: float = 1.0,
    directory: str | None = None,
    on_phase: Callable[[str, int, int], None] | None = None,
) -> IFResult:
    """Run a converted IF network on ``N`` samples, one after the other, in one Brian2 run.

    Parameters
    ----------
    weights, biases : sequences of arrays, shapes ``(n_l, n_{l-1})`` and ``(n_l,)`` (float64 used)
    inputs : array
        ``"current"``: ``(N, n_1)`` constant first-layer currents ``W_1 x + b_1`` (computed by the
        caller, e.g. ``bridges.conversion.IFTwin.first_current``); ``"spikes"``: ``(N, steps, n_0)``
        0/1 input spike trains.
    steps : int
        Time steps per sample.
    target : {"cpp_standalone", "cython", "numpy"}
    threshold : float
        ``theta`` (1 after normalisation).
    directory : str, optional
        cpp_standalone project directory (a temporary one by default).
    on_phase : callable, optional
        ``on_phase(phase, index, n_phases)`` as each phase starts (``index`` counts from 0): the
        phases of ``target`` in :data:`IF_PHASES` (``cpp_standalone``: build the objects, compile
        the C++ project, simulate, read the spikes). Every phase is also logged at INFO level.

    Returns
    -------
    IFResult
    """
    check_if_network(weights, biases)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    W = [np.asarray(w, dtype=np.float64) for w in weights]
    B = [np.asarray(b, dtype=np.float64) for b in biases]
    x = _check_inputs(inputs, mode, W[0].shape[1], W[0].shape[0], steps)
    n = x.shape[0]
    tmp = None
    if directory is None and target == "cpp_standalone":
        tmp = tempfile.TemporaryDirectory(prefix="bioplausible-if-")
        directory = tmp.name
    t0 = time.perf_counter()
    try:
        with brian_device(target, directory) as tgt:
            counts, out_spikes = _run(W, B, x, mode, steps, n, threshold, tgt, directory, on_phase)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return IFResult(counts=counts, steps=steps, target=tgt, output_spikes=out_spikes, wall_s=time.perf_counter() - t0)


@dataclass
class BuiltIF:
    """The Brian2 objects of an IF network (not yet run).

    They belong to ``network``: run that network (or read the weights back and drop it); adding
    the objects to another ``Network`` is refused by Brian2.
    """

    network: b2.Network
    groups: list
    synapses: list
    monitors: list
    namespace: dict
    n_inputs: int


def build_if_network(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    *,
    mode: str = "current",
    steps: int = 1,
    inputs: np.ndarray | None = None,
    threshold: float = 1.0,
) -> BuiltIF:
    """Build (in the active Brian2 device) the IF network of ``weights``/``biases``.

    ``inputs`` (as in :func:`simulate_if`) may be ``None`` to build the topology only, e.g. to
    carry weights into Brian2 and read them back (:func:`read_if_weights`).
    """
    check_if_network(weights, biases)
    W = [np.asarray(w, dtype=np.float64) for w in weights]
    B = [np.asarray(b, dtype=np.float64) for b in biases]
    dt = b2.defaultclock.dt
    sample_T = steps * dt
    ns = {"theta": float(threshold)}
    groups, syns, extra = [], [], []
    for l, (w, b) in enumerate(zip(W, B)):
        first_current = l == 0 and mode == "current"
        eqs = "v : 1\nr : 1\nI_in : 1\nb : 1\n" + ("I_ext = cur(t, i) : 1\n" if first_current else "")
        g = b2.NeuronGroup(w.shape[0], eqs, threshold="v > theta", reset="r = 1", namespace=ns, name=f"if_layer{l}")
        g.b = b
        drive = "I_ext" if first_current else "(I_in + b)"
        g.run_regularly(f"v = v + {drive} - theta * r\nr = 0\nI_in = 0", when="before_thresholds", name=f"if_update{l}")
        g.run_regularly("v = 0\nr = 0\nI_in = 0", dt=sample_T, when="start", name=f"if_sample_reset{l}")
        groups.append(g)
    if mode == "current":
        cur = np.zeros((1, W[0].shape[0])) if inputs is None else inputs
        ns["cur"] = b2.TimedArray(cur, dt=sample_T, name="cur")
        pre_groups = [None] + groups[:-1]
    else:
        if inputs is None:
            n_idx, times = np.array([], dtype=np.int64), np.array([]) * dt
        else:
            s_idx, t_idx, n_idx = np.nonzero(inputs)
            times = (s_idx * steps + t_idx) * dt
        gen = b2.SpikeGeneratorGroup(W[0].shape[1], n_idx.astype(np.int64), times, name="if_input")
        extra.append(gen)
        pre_groups = [gen] + groups[:-1]
    for l, (pre, post) in enumerate(zip(pre_groups, groups)):
        if pre is None:
            continue
        w = W[l]
        syn = b2.Synapses(pre, post, "w : 1", on_pre="I_in_post += w", name=f"if_syn{l}")
        post_i, pre_i = np.nonzero(np.ones_like(w, dtype=bool))
        syn.connect(i=pre_i, j=post_i)
        syn.w = w[post_i, pre_i]
        syns.append(syn)
    mons = [b2.SpikeMonitor(g, name=f"if_mon{l}") for l, g in enumerate(groups)]
    net = b2.Network(*groups, *extra, *syns, *mons)
    for obj in net.objects:
        # The objects belong to this network whether or not it ever runs (a weights-only build is
        # read back and discarded): recorded as Brian2's Network.before_run would, so that deleting
        # them unrun does not log "getting deleted, but was never included in a network"
        obj._network = net.id
    return BuiltIF(net, groups, syns, mons, ns, W[0].shape[1])


def read_if_weights(
    built: BuiltIF, first_weight: np.ndarray | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Dense ``(n_out, n_in)`` weights and biases read back from the Brian2 objects.

    In ``"current"`` mode the first layer has no Brian2 synapses (its current is given); pass its
    weight as ``first_weight`` to get it back unchanged.
    """
    weights = [] if first_weight is None else [np.asarray(first_weight, dtype=np.float64)]
    for syn in built.synapses:
        w = np.zeros((syn.target.N, syn.source.N))
        w[np.asarray(syn.j[:]), np.asarray(syn.i[:])] = np.asarray(syn.w[:])
        weights.append(w)
    biases = [np.asarray(g.b[:], dtype=np.float64).copy() for g in built.groups]
    if len(weights) != len(biases):
        raise ValueError("this network takes a constant first-layer current: pass first_weight to read_if_weights")
    return weights, biases


def _run(W, B, x, mode, steps, n, theta, target, directory, on_phase=None):
    phases = IF_PHASES["cpp_standalone" if target == "cpp_standalone" else "runtime"]

    def phase(name: str) -> None:
        i = phases.index(name)
        log.info("Brian2 IF network (%s), phase %d/%d: %s", target, i + 1, len(phases), name)
        if on_phase is not None:
            on_phase(name, i, len(phases))

    phase("build")
    b2.defaultclock.dt = 1 * b2.ms
    dt = b2.defaultclock.dt
    built = build_if_network(W, B, mode=mode, steps=steps, inputs=x, threshold=theta)
    if target == "cpp_standalone":
        built.network.run(n * steps * dt, namespace=built.namespace)  # generates the code only
        phase("compile")
        b2.device.build(directory=directory, compile=True, run=False)
        phase("simulate")
        b2.device.run(directory=directory)
    else:
        phase("simulate")
        built.network.run(n * steps * dt, namespace=built.namespace)
    phase("read")
    counts = []
    for mon, w in zip(built.monitors, W):
        step = np.rint(np.asarray(mon.t / dt)).astype(np.int64)
        idx = np.asarray(mon.i, dtype=np.int64)
        c = np.zeros((n, w.shape[0]), dtype=np.int64)
        np.add.at(c, (step // steps, idx), 1)
        counts.append(c)
    return counts, (step // steps, step % steps, idx)
