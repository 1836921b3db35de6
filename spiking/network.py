"""Construction of the Brian2 network of a config, from its rule and a numpy state.

:func:`build_network` makes the input group and the monitors, and asks the config's rule
(:class:`spiking.rules.RuleSpec`, ``build``) for its layers and projections, which it assembles
from :mod:`spiking.blocks`. This module makes Brian2 objects and nothing else: no device
handling, no chunking (see :mod:`spiking.backend`). The numpy state (``W_<pre>_<post>`` in mV,
layout ``W[pre, post]``; ``theta_<layer>``; ``M_<layer>``) is described in :mod:`spiking.state`.

``n_copies`` independent copies of the network (shared initial weights; no connection
between copies) process ``n_copies`` samples side by side, for evaluation.

Example
-------
>>> from spiking.config import NetworkConfig
>>> from spiking.state import init_state
>>> from spiking.backend import brian_device
>>> cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(3,), n_out=2)
>>> with brian_device("numpy"):
...     built = build_network(cfg, init_state(cfg, seed=0), n_slots=2, learning=False)
...     built.net.run(built.duration, namespace={})
...     sorted(built.layers), sorted(built.synapses), int(built.out_mon.num_spikes)
(['h1', 'out'], ['W_h1_out', 'W_in_h1'], 0)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import brian2 as b2
import numpy as np

from . import equations as eq
from .blocks import BuildContext, input_layer
from .state import check_state

if TYPE_CHECKING:
    from .config import NetworkConfig

__all__ = ["BuiltNetwork", "build_network", "set_sample"]


@dataclass
class BuiltNetwork:
    """Handles to the Brian2 objects of one network (see :func:`build_network`)."""

    cfg: NetworkConfig
    net: b2.Network
    n_slots: int
    n_copies: int
    learning: bool
    inp: b2.NeuronGroup
    layers: dict[str, b2.NeuronGroup]
    synapses: dict[str, b2.Synapses]
    stim: b2.TimedArray
    label: b2.TimedArray | None
    out_mon: b2.SpikeMonitor
    drive_mon: b2.StateMonitor
    count_mons: dict[str, b2.SpikeMonitor]
    raster_mons: dict[str, b2.SpikeMonitor] = field(default_factory=dict)
    #: ``W_*`` name -> view of the post group's running sum of incoming weights (normalised
    #: projections of the STDP rule); it must equal ``W.sum(0)`` at the start of every run.
    wsum: dict[str, b2.VariableView] = field(default_factory=dict)
    #: hidden-layer name -> fixed random readout group (spiking-local rule, learning builds)
    readouts: dict[str, b2.NeuronGroup] = field(default_factory=dict)

    def fixed_views(self) -> dict[str, tuple[b2.VariableView, str, bool]]:
        """Fixed per-model arrays that are not learnt but differ between models of one
        configuration (the spiking-local readouts ``M``): synapse name -> (view of its ``m``, state
        name, transposed). A cached standalone project is shared by every model of its
        configuration, so these must be set per run (``run_args``) like the weights, not baked
        into the build's static arrays."""
        views = {}
        for lname in self.readouts:
            fwd = self.net[f"rof_{lname}"]
            back = self.net[f"rob_{lname}"]
            views[f"rof_{lname}"] = (fwd.m, f"M_{lname}", False)
            views[f"rob_{lname}"] = (back.m, f"M_{lname}", True)
        return views

    def state_views(self) -> dict[str, tuple[b2.VariableView, float]]:
        """State name -> (Brian2 variable view, scale to numpy units) for every carried array."""
        views: dict[str, tuple[b2.VariableView, float]] = {}
        for name, syn in self.synapses.items():
            views[name] = (syn.w, float(b2.mV))
        for lname, group in self.layers.items():
            if "theta" in group.variables:
                views[f"theta_{lname}"] = (group.theta, float(b2.mV))
        return views

    @property
    def duration(self) -> b2.Quantity:
        return self.n_slots * self.cfg.sim.t_sample_ms * b2.ms


def build_network(
    cfg: NetworkConfig,
    state: dict[str, np.ndarray],
    *,
    n_slots: int,
    n_copies: int = 1,
    learning: bool = True,
    record: bool = False,
    stim_values: np.ndarray | None = None,
    label_values: np.ndarray | None = None,
    stimulus: str = "timed",
) -> BuiltNetwork:
    """Create the Brian2 network of ``cfg.rule`` for ``n_slots`` sample slots: the input group,
    then the rule's layers and projections (``RuleSpec.build``), then the monitors.

    Parameters
    ----------
    cfg : NetworkConfig
    state : dict of numpy arrays
        Weights etc. (see module doc); copied into every copy.
    n_slots : int
        Number of sample slots in one run; each slot shows ``n_copies`` samples in parallel.
    n_copies : int
        Parallel copies (evaluation); must be 1 when ``learning``.
    learning : bool
        Build the plasticity machinery (label TimedArray, learning rules, readouts). Without
        it the network is frozen and cheaper.
    record : bool
        Also record all spikes of every layer (for rasters).
    stim_values : array (n_slots, n_copies * n_in), optional
        Poisson rates in Hz, or latency steps; zeros if omitted (set later through ``run_args``).
    label_values : array (n_slots,), optional
        Labels per slot (``-1``: no learning in that slot).
    stimulus : str
        ``"timed"`` (default): stimuli and labels of all slots come from TimedArrays, so one
        ``run()`` covers the whole chunk. ``"variable"``: the input group reads the variable
        ``stim_var`` and the layers the shared variable ``label_in``, which the caller sets
        before every one-sample ``run()`` (the naive protocol, see ``scripts/bench_spiking.py``).

    Returns
    -------
    BuiltNetwork
    """
    if n_slots < 1:
        raise ValueError(f"n_slots must be >= 1, got {n_slots}")
    if learning and n_copies != 1:
        raise ValueError("parallel copies are for evaluation only; use n_copies=1 when learning")
    check_state(cfg, state)
    if stimulus not in eq.STIMULUS_SOURCES:
        raise ValueError(f"unknown stimulus {stimulus!r}; choose one of {list(eq.STIMULUS_SOURCES)}")
    sim = cfg.sim
    clock = b2.Clock(dt=sim.dt_ms * b2.ms, name="clk")
    sample_clock = b2.Clock(dt=sim.t_sample_ms * b2.ms, name="clk_sample")
    K = n_copies
    n_in = cfg.n_in
    if stim_values is None:
        stim_values = np.zeros((n_slots, K * n_in)) if cfg.encoding == "poisson" else -np.ones((n_slots, K * n_in))
    stim_values = np.asarray(stim_values, dtype=np.float64)
    if stim_values.shape != (n_slots, K * n_in):
        raise ValueError(f"stim_values must have shape {(n_slots, K * n_in)}, got {stim_values.shape}")
    unit = b2.Hz if cfg.encoding == "poisson" else 1
    stim = b2.TimedArray(stim_values * unit, dt=sim.t_sample_ms * b2.ms, name="stim")
    label = None
    if learning:
        if label_values is None:
            label_values = -np.ones(n_slots)
        label_values = np.asarray(label_values, dtype=np.float64)
        if label_values.shape != (n_slots,):
            raise ValueError(f"label_values must have shape ({n_slots},), got {label_values.shape}")
        label = b2.TimedArray(label_values, dt=sim.t_sample_ms * b2.ms, name="label")
    label_expr = None if not learning else ("label(t)" if stimulus == "timed" else "label_in")

    ctx = BuildContext(
        cfg=cfg,
        state=state,
        K=K,
        learning=learning,
        clock=clock,
        sample_clock=sample_clock,
        label=label,
        label_expr=label_expr,
    )
    inp = input_layer(ctx, stim, stimulus)
    cfg.rule_spec.build(ctx)

    out = ctx.groups["out"]
    out_mon = b2.SpikeMonitor(out, record=True, name="mon_out")
    # summed input of the previous sample, read just before the sample-start reset
    drive_mon = b2.StateMonitor(out, "drive", record=True, clock=sample_clock, when="start", order=-1, name="mon_drive")
    count_mons = {
        name: b2.SpikeMonitor(g, record=True, name=f"cnt_{name}")
        for name, g in ctx.groups.items()
        if name not in ("in", "out")
    }
    raster = {}
    if record:
        raster = {name: b2.SpikeMonitor(g, record=True, name=f"ras_{name}") for name, g in ctx.groups.items()}
    objs = [
        *ctx.objects,
        *ctx.groups.values(),
        *ctx.synapses.values(),
        out_mon,
        drive_mon,
        *count_mons.values(),
        *raster.values(),
    ]
    net = b2.Network(*objs)
    return BuiltNetwork(
        cfg=cfg,
        net=net,
        n_slots=n_slots,
        n_copies=K,
        learning=learning,
        inp=inp,
        layers={k: v for k, v in ctx.groups.items() if k != "in"},
        synapses={k: v for k, v in ctx.synapses.items() if k.startswith("W_")},
        stim=stim,
        label=label,
        out_mon=out_mon,
        drive_mon=drive_mon,
        count_mons=count_mons,
        raster_mons=raster,
        wsum=ctx.wsum,
        readouts={g.name[3:]: g for g in ctx.objects if g.name.startswith("ro_")},
    )


def set_sample(built: BuiltNetwork, stim_row: np.ndarray, label: float = -1.0) -> None:
    """Naive protocol (``stimulus="variable"``): set the stimulus (rates in Hz or latency steps,
    shape ``(n_copies * n_in,)``) and label of the next one-sample ``run()``."""
    unit = b2.Hz if built.cfg.encoding == "poisson" else 1
    built.inp.stim_var = np.asarray(stim_row, dtype=np.float64) * unit
    for group in [*built.layers.values(), *built.readouts.values()]:
        if "label_in" in group.variables:
            group.label_in = float(label)


def __getattr__(name: str) -> Any:
    # deprecated for one release: the rules' builders are registered in spiking.rules
    if name == "RULE_BUILDERS":
        from .rules import RULES

        warnings.warn(
            "spiking.network.RULE_BUILDERS is deprecated; use spiking.rules.get_rule(name).build",
            DeprecationWarning,
            stacklevel=2,
        )
        return {rule: spec.build for rule, spec in RULES.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
