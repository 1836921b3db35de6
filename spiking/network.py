"""Construction of the Brian2 network of either rule, from a config and a numpy state.

This module makes Brian2 objects and nothing else: no device handling (see
:mod:`spiking.device`), no chunking (see :mod:`spiking.engine`). The state of a network is a
dict of numpy arrays with a fixed naming scheme:

* ``W_<pre>_<post>`` - weights, **layout ``W[pre, post]``**, in mV (e.g. ``W_in_h1`` has
  shape ``(n_in, n_h1)``); layers are named ``in``, ``h1``, ``h2``, ..., ``out``.
* ``theta_<layer>`` - adaptive thresholds in mV (STDP rule, layers with adaptation).
* ``M_<layer>`` - fixed random readout of a hidden layer, layout ``M[neuron, class]``
  (local-error rule).

``n_copies`` independent copies of the network (shared initial weights; no connection
between copies) process ``n_copies`` samples side by side, for evaluation.

Example
-------
>>> from spiking.params import NetworkConfig
>>> cfg = NetworkConfig(rule="local-error", n_in=4, hidden=(3,), n_out=2)
>>> sorted(init_state(cfg, seed=0))
['M_h1', 'W_h1_out', 'W_in_h1']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import brian2 as b2
import numpy as np

from . import equations as eq
from .cache import EXACT
from .params import LIFParams, NetworkConfig, STDPParams

__all__ = [
    "layer_names",
    "projection_names",
    "skip_projections",
    "all_projections",
    "init_state",
    "normalise_state",
    "dense_indices",
    "lateral_indices",
    "BuiltNetwork",
    "build_network",
    "read_state",
    "set_sample",
    "RULE_BUILDERS",
]


def layer_names(cfg: NetworkConfig) -> list[str]:
    """Names of the spiking layers: ``h1..hL`` then ``out``."""
    return [f"h{k + 1}" for k in range(len(cfg.hidden))] + ["out"]


def projection_names(cfg: NetworkConfig) -> list[tuple[str, str]]:
    """Feed-forward projections as (pre, post) layer-name pairs, input first."""
    names = ["in", *layer_names(cfg)]
    return list(zip(names[:-1], names[1:]))


def skip_projections(cfg: NetworkConfig) -> list[tuple[str, str]]:
    """Projections that skip layers: ``[("h1", "out")]`` for the STDP rule with
    ``params.skip_stdp`` set (two or more hidden layers), else ``[]``."""
    if cfg.rule == "stdp-association" and cfg.params.skip_stdp is not None:
        return [("h1", "out")]
    return []


def all_projections(cfg: NetworkConfig) -> list[tuple[str, str]]:
    """Every projection that carries weights: the feed-forward chain, then the skips."""
    return projection_names(cfg) + skip_projections(cfg)


def _sizes(cfg: NetworkConfig) -> dict[str, int]:
    return {"in": cfg.n_in, **dict(zip(layer_names(cfg), cfg.layer_sizes))}


def _stdp_of(cfg: NetworkConfig, pre: str, post: str) -> STDPParams:
    """Plasticity parameters of projection ``pre -> post`` (STDP rule)."""
    p = cfg.params
    if pre == "in":
        return p.input_stdp
    if post != "out":
        return p.hidden_stdp
    return p.output_stdp if pre == f"h{len(cfg.hidden)}" else p.skip_stdp


def init_state(cfg: NetworkConfig, seed: int) -> dict[str, np.ndarray]:
    """Initial weights (and readouts/thresholds) from a numpy Generator seeded with ``seed``.

    STDP rule: ``W ~ U(0, w_init_max_mV)`` then normalised to ``norm_total_mV`` per post neuron;
    ``theta = 0``. Local-error rule: ``W ~ U(-a, a)`` with ``a = w_init_mV * sqrt(100 / n_pre)``,
    readouts ``M ~ U(-s, s)`` with ``s = readout_scale / sqrt(n_layer)`` (DECOLLE's scaling).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E1F]))
    sizes = _sizes(cfg)
    state: dict[str, np.ndarray] = {}
    for pre, post in all_projections(cfg):
        shape = (sizes[pre], sizes[post])
        if cfg.rule == "stdp-association":
            sp = _stdp_of(cfg, pre, post)
            state[f"W_{pre}_{post}"] = rng.uniform(0.0, sp.w_init_max_mV, size=shape)
        else:
            a = cfg.params.w_init_mV * np.sqrt(100.0 / sizes[pre])
            state[f"W_{pre}_{post}"] = rng.uniform(-a, a, size=shape)
    if cfg.rule == "stdp-association":
        for name, n in zip(layer_names(cfg), cfg.layer_sizes):
            lif = cfg.params.output_lif if name == "out" else cfg.params.hidden_lif
            if lif.adaptive:
                state[f"theta_{name}"] = np.zeros(n)
        state = normalise_state(cfg, state)
    else:
        for name, n in zip(layer_names(cfg)[:-1], cfg.hidden):
            s = cfg.params.readout_scale / np.sqrt(n)
            state[f"M_{name}"] = rng.uniform(-s, s, size=(n, cfg.n_out))
    return state


def normalise_state(
    cfg: NetworkConfig, state: dict[str, np.ndarray], previous: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Apply the STDP rule's multiplicative normalisation (same formula as in the network) to a
    copy of ``state``: ``W[:, j] *= total / sum(W[:, j])`` for normalised projections.

    With ``previous``, projections whose weights are bit-identical to it (nothing learned) are
    left untouched, as the network itself does.
    """
    out = dict(state)
    if cfg.rule != "stdp-association":
        return out
    for pre, post in all_projections(cfg):
        total = _stdp_of(cfg, pre, post).norm_total_mV
        name = f"W_{pre}_{post}"
        if total is None or (previous is not None and np.array_equal(previous[name], out[name])):
            continue
        w = out[name]
        s = np.clip(w.sum(axis=0), 1e-6, 1e12)  # mV; same clip as in the network (1e-9 V)
        out[name] = w * (total / s)[None, :]
    return out


def dense_indices(n_pre: int, n_post: int, n_copies: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All-to-all synapse indices within each copy, pre-major (matches ``W[pre, post].ravel()``)."""
    i = np.repeat(np.arange(n_pre), n_post)
    j = np.tile(np.arange(n_post), n_pre)
    offs = np.arange(n_copies)
    return (
        (i[None, :] + offs[:, None] * n_pre).ravel().astype(np.int32),
        (j[None, :] + offs[:, None] * n_post).ravel().astype(np.int32),
    )


def lateral_indices(n: int, n_copies: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``i != j`` within a layer, within each copy."""
    i, j = dense_indices(n, n, n_copies)
    keep = i != j
    return i[keep], j[keep]


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
    #: hidden-layer name -> fixed random readout group (local-error rule, learning builds)
    readouts: dict[str, b2.NeuronGroup] = field(default_factory=dict)

    def fixed_views(self) -> dict[str, tuple[b2.VariableView, str, bool]]:
        """Fixed per-model arrays that are not learnt but differ between models of one
        configuration (the local-error readouts ``M``): synapse name -> (view of its ``m``, state
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


def _lif_namespace(lif: LIFParams, extra: dict | None = None) -> dict:
    ns = lif.to_namespace()
    if extra:
        ns.update(extra)
    return ns


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
    """Create the Brian2 network of ``cfg.rule`` for ``n_slots`` sample slots.

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
    _check_state(cfg, state)
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

    ctx = _Ctx(cfg=cfg, state=state, K=K, learning=learning, clock=clock, sample_clock=sample_clock, label=label,
               label_expr=label_expr)
    inp = b2.NeuronGroup(
        K * n_in,
        eq.input_equations(cfg.encoding, stimulus),
        threshold=eq.input_threshold(cfg.encoding, stimulus),
        reset="xtr += 1",
        method=EXACT,
        clock=clock,
        name="inp",
        namespace={
            "tau_pre": cfg.params.tau_pre_ms * b2.ms,
            "stim": stim,
            "n_sample": sim.steps_per_sample,
            "n_present": sim.steps_present,
        },
    )
    inp.run_regularly("xtr = 0", clock=sample_clock, when="start", order=0, name="inp_sample_start")
    ctx.groups["in"] = inp
    RULE_BUILDERS[cfg.rule](ctx)

    out = ctx.groups["out"]
    out_mon = b2.SpikeMonitor(out, record=True, name="mon_out")
    # summed input of the previous sample, read just before the sample-start reset
    drive_mon = b2.StateMonitor(out, "drive", record=True, clock=sample_clock, when="start", order=-1,
                                name="mon_drive")
    count_mons = {
        name: b2.SpikeMonitor(g, record=True, name=f"cnt_{name}")
        for name, g in ctx.groups.items()
        if name not in ("in", "out")
    }
    raster = {}
    if record:
        raster = {name: b2.SpikeMonitor(g, record=True, name=f"ras_{name}") for name, g in ctx.groups.items()}
    objs = [*ctx.objects, *ctx.groups.values(), *ctx.synapses.values(), out_mon, drive_mon, *count_mons.values(),
            *raster.values()]
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


def read_state(built: BuiltNetwork) -> dict[str, np.ndarray]:
    """Carried state of copy 0 as numpy arrays (``W[pre, post]`` in mV, ``theta`` in mV)."""
    sizes = _sizes(built.cfg)
    out: dict[str, np.ndarray] = {}
    for name, (view, scale) in built.state_views().items():
        vals = np.asarray(view[:], dtype=np.float64) / scale
        if name.startswith("W_"):
            _, pre, post = name.split("_")
            n = sizes[pre] * sizes[post]
            out[name] = vals[:n].reshape(sizes[pre], sizes[post]).copy()
        else:
            out[name] = vals[: sizes[name.split("_", 1)[1]]].copy()
    return out


def _check_state(cfg: NetworkConfig, state: dict[str, np.ndarray]) -> None:
    expected = init_state_shapes(cfg)
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(f"state is missing {missing}; make one with init_state(cfg, seed)")
    for name, shape in expected.items():
        arr = np.asarray(state[name])
        if arr.shape != shape:
            raise ValueError(f"state[{name!r}] has shape {arr.shape}, expected {shape} (layout W[pre, post])")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"state[{name!r}] contains NaN or inf")


def init_state_shapes(cfg: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """Expected shape of every state array of ``cfg``."""
    sizes = _sizes(cfg)
    shapes: dict[str, tuple[int, ...]] = {f"W_{a}_{b}": (sizes[a], sizes[b]) for a, b in all_projections(cfg)}
    if cfg.rule == "stdp-association":
        for name in layer_names(cfg):
            lif = cfg.params.output_lif if name == "out" else cfg.params.hidden_lif
            if lif.adaptive:
                shapes[f"theta_{name}"] = (sizes[name],)
    else:
        for name in layer_names(cfg)[:-1]:
            shapes[f"M_{name}"] = (sizes[name], cfg.n_out)
    return shapes


@dataclass
class _Ctx:
    cfg: NetworkConfig
    state: dict[str, np.ndarray]
    K: int
    learning: bool
    clock: b2.Clock
    sample_clock: b2.Clock
    label: b2.TimedArray | None
    label_expr: str | None  # None: no labels (frozen build)
    groups: dict[str, b2.NeuronGroup] = field(default_factory=dict)
    synapses: dict[str, b2.Synapses] = field(default_factory=dict)
    objects: list = field(default_factory=list)
    wsum: dict[str, b2.VariableView] = field(default_factory=dict)


def _layer(
    ctx: _Ctx,
    name: str,
    n: int,
    lif: LIFParams,
    *,
    traces: dict[str, str],
    teacher: bool = False,
    extra_eqs: str = "",
    extra_ns: dict | None = None,
    learn_expr: str = "int(label_now >= 0)",
    normalised: tuple[str, ...] = (),
) -> b2.NeuronGroup:
    drive = name == "out"
    if drive:
        extra_eqs = f"{extra_eqs}\ndrive : volt"
    ns = _lif_namespace(lif, extra_ns)
    if ctx.label is not None:
        ns["label"] = ctx.label
    if ctx.label_expr == "label_in":
        extra_eqs = f"{extra_eqs}\nlabel_in : 1 (shared)"
    adaptive = lif.adaptive
    group = b2.NeuronGroup(
        ctx.K * n,
        eq.lif_equations(adaptive=adaptive, teacher=teacher, traces=traces, extra=extra_eqs),
        threshold=eq.lif_threshold(adaptive=adaptive, teacher=teacher),
        reset=eq.lif_reset(adaptive=adaptive, traces=traces),
        refractory="t_ref",
        method=EXACT,
        clock=ctx.clock,
        name=name,
        namespace=ns,
    )
    group.v = lif.v_rest_mV * b2.mV
    homeostasis = adaptive and ctx.learning and lif.theta_target_hz > 0
    if adaptive:
        group.theta = np.tile(ctx.state[f"theta_{name}"], ctx.K) * b2.mV
    if homeostasis:
        group.namespace["theta_drop"] = lif.theta_plus_mV * lif.theta_target_hz * ctx.cfg.sim.t_present_ms * 1e-3 * b2.mV
    group.run_regularly(
        eq.sample_start_code(traces=traces, learn_expr=learn_expr, teacher=teacher,
                             has_label=ctx.label_expr is not None, normalised=normalised, homeostasis=homeostasis,
                             label_expr=ctx.label_expr or "label(t)", drive=drive),
        clock=ctx.sample_clock,
        when="start",
        order=0,
        name=f"{name}_sample_start",
    )
    ctx.groups[name] = group
    return group


def _feedforward(ctx: _Ctx, pre: str, post: str, model: dict[str, str], ns: dict) -> b2.Synapses:
    src, tgt = ctx.groups[pre], ctx.groups[post]
    n_pre, n_post = len(src) // ctx.K, len(tgt) // ctx.K
    on_pre = model["on_pre"] + ("\ndrive_post += w" if post == "out" else "")
    syn = b2.Synapses(
        src,
        tgt,
        model=model.get("model", "w : volt"),
        on_pre=on_pre,
        on_post=model.get("on_post"),
        method=EXACT,
        clock=ctx.clock,
        name=f"syn_{pre}_{post}",
        namespace=ns,
    )
    i, j = dense_indices(n_pre, n_post, ctx.K)
    syn.connect(i=i, j=j)
    syn.w = np.tile(ctx.state[f"W_{pre}_{post}"].ravel(), ctx.K) * b2.mV
    ctx.synapses[f"W_{pre}_{post}"] = syn
    return syn


def _lateral(ctx: _Ctx, name: str, w_inh_mV: float, v_floor_mV: float) -> None:
    group = ctx.groups[name]
    syn = b2.Synapses(
        group,
        group,
        on_pre=eq.inhibition_synapse_code()["on_pre"],
        clock=ctx.clock,
        name=f"inh_{name}",
        namespace={"w_inh": w_inh_mV * b2.mV, "v_floor": v_floor_mV * b2.mV},
    )
    i, j = lateral_indices(len(group) // ctx.K, ctx.K)
    syn.connect(i=i, j=j)
    ctx.synapses[f"inh_{name}"] = syn


_PLAIN = {"model": "w : volt", "on_pre": "v_post += w * int(not_refractory_post)"}


def _build_stdp(ctx: _Ctx) -> None:
    """STDP / neuronal association (reconstruction of Gupta 2020, arXiv 2011.12012)."""
    cfg, p = ctx.cfg, ctx.cfg.params
    names = layer_names(cfg)
    projs = projection_names(cfg)
    traces = {"xtr": "tau_pre", "ytr": "tau_post"}
    tau_ns = {"tau_pre": p.tau_pre_ms * b2.ms, "tau_post": p.tau_post_ms * b2.ms}
    skips = skip_projections(cfg)
    for k, (name, n) in enumerate(zip(names, cfg.layer_sizes)):
        is_out = name == "out"
        lif = p.output_lif if is_out else p.hidden_lif
        # incoming projections: the chain's, then any skip into this layer (W_h1_out)
        pres = [projs[k][0]] + [a for a, b in skips if b == name]
        normed = [q for q in pres if ctx.learning and _stdp_of(cfg, q, name).norm_total_mV is not None]
        extra = "\n".join(f"wsum_{q} : volt\nnorm_{q} : 1" for q in normed)
        ns = dict(tau_ns)
        for q in normed:
            ns[f"total_{q}"] = _stdp_of(cfg, q, name).norm_total_mV * b2.mV
        if is_out:
            ns.update(teacher_exc=p.teacher_exc_mV * b2.mV, teacher_inh=p.teacher_inh_mV * b2.mV)
        group = _layer(
            ctx,
            name,
            n,
            lif,
            traces=traces,
            teacher=is_out,
            extra_eqs=extra,
            extra_ns=ns,
            learn_expr=f"{float(p.teacher_on)!r} * int(label_now >= 0)" if is_out else "int(label_now >= 0)",
            normalised=tuple(normed),
        )
        for pre in pres:
            sp = _stdp_of(cfg, pre, name)
            norm = pre in normed
            wsum = f"wsum_{pre}"
            gated = is_out and sp.hold_gate_mV is not None
            stop = is_out and sp.ltp_stop_trace is not None
            code = (eq.stdp_synapse_code(wsum_name=wsum if norm else None, hold=is_out, hold_gate=gated,
                                         ltp_stop=stop) if ctx.learning else _PLAIN)
            syn_ns = sp.to_namespace()
            if gated:
                syn_ns["v_gate"] = (lif.v_thresh_mV + sp.hold_gate_mV) * b2.mV
            syn = _feedforward(ctx, pre, name, code, syn_ns)
            if norm:
                setattr(group, wsum, ctx.state[f"W_{pre}_{name}"].sum(axis=0) * b2.mV)
                ctx.wsum[f"W_{pre}_{name}"] = getattr(group, wsum)
                syn.run_regularly(eq.normalisation_synapse_code(pre), clock=ctx.sample_clock, when="start", order=1,
                                  name=f"syn_{pre}_{name}_norm")
        inh = p.output_inhibition_mV if is_out else p.inhibition_mV
        if inh > 0:
            _lateral(ctx, name, inh, lif.v_floor_mV)


def _build_local_error(ctx: _Ctx) -> None:
    """Spiking local errors (Mostafa et al. 2018, arXiv 1711.06756; DECOLLE, arXiv 1811.10766)."""
    cfg, p = ctx.cfg, ctx.cfg.params
    names = layer_names(cfg)
    projs = projection_names(cfg)
    base_ns = {
        "tau_pre": p.tau_pre_ms * b2.ms,
        "tau_r": p.tau_r_ms * b2.ms,
        "sg_width": p.sg_width_mV * b2.mV,
        "target_on": p.target_on,
        "beta": p.beta,
    }
    syn_ns = {
        "dt_update": p.update_every * cfg.sim.dt_ms * b2.ms,
        "w_bound": p.w_bound_mV * b2.mV,
        "n_sample": cfg.sim.steps_per_sample,
        "n_burnin": int(round(p.burn_in_ms / cfg.sim.dt_ms)),
        "rate_reg": p.rate_reg,
        "r_target": p.r_target,
    }
    update_clock = b2.Clock(dt=p.update_every * cfg.sim.dt_ms * b2.ms, name="clk_update")
    for k, (name, n) in enumerate(zip(names, cfg.layer_sizes)):
        is_out = name == "out"
        traces = {"r": "tau_r"} if is_out else {"xtr": "tau_pre", "r": "tau_r"}
        extra = (eq.local_error_output_extra(p.output_surrogate, p.output_loss) if is_out
                 else eq.local_error_hidden_extra(p.surrogate))
        group = _layer(ctx, name, n, p.lif, traces=traces, extra_eqs=extra, extra_ns=base_ns)
        if is_out and p.output_loss == "softmax" and ctx.learning:
            _softmax_sum(ctx, group, "r", f"zs_{name}")
        pre = projs[k][0]
        # the update reads sg_post / delta_post, subexpressions of the post group's namespace
        eta = p.eta_out_mV_per_s if is_out and p.eta_out_mV_per_s is not None else p.eta_mV_per_s
        syn = _feedforward(ctx, pre, name, _PLAIN,
                           {**p.lif.to_namespace(), **base_ns, **syn_ns, "eta": eta * b2.mV / b2.second})
        if ctx.learning:
            syn.run_regularly(eq.three_factor_code(), clock=update_clock, when="end", name=f"syn_{pre}_{name}_3f")
            if not is_out:
                _readout(ctx, name, n)


def _readout(ctx: _Ctx, name: str, n: int) -> None:
    cfg = ctx.cfg
    layer = ctx.groups[name]
    M = ctx.state[f"M_{name}"]
    # order -2: the readout's summed ``yhat`` (order -3) is computed before the layer's summed
    # ``delta`` (order -1), so within a step delta = M (yhat - y) uses this step's yhat
    p = cfg.params
    ro = b2.NeuronGroup(
        cfg.n_out,
        eq.readout_equations(p.loss) + ("\nlabel_in : 1 (shared)" if ctx.label_expr == "label_in" else ""),
        clock=ctx.clock,
        order=-2,
        name=f"ro_{name}",
        namespace={"target_on": p.target_on, "label": ctx.label, "beta": p.beta},
    )
    ro.run_regularly(f"label_now = {ctx.label_expr}", clock=ctx.sample_clock, when="start", order=0,
                     name=f"ro_{name}_reset")
    fwd = b2.Synapses(layer, ro, model="m : 1\nyhat_post = m * r_pre : 1 (summed)", clock=ctx.clock, name=f"rof_{name}")
    i, j = dense_indices(n, cfg.n_out)
    fwd.connect(i=i, j=j)
    fwd.m = M.ravel()
    if p.loss == "softmax":  # named between rof and rob: runs after yhat, before delta
        _softmax_sum(ctx, ro, "yhat", f"rog_{name}")
    back = b2.Synapses(ro, layer, model="m : 1\ndelta_post = m * err_pre : 1 (summed)", clock=ctx.clock,
                       name=f"rob_{name}", namespace={"target_on": p.target_on, "beta": p.beta})
    i, j = dense_indices(cfg.n_out, n)
    back.connect(i=i, j=j)
    back.m = M.T.ravel()
    ctx.objects.append(ro)
    ctx.synapses[f"rof_{name}"] = fwd
    ctx.synapses[f"rob_{name}"] = back


def _softmax_sum(ctx: _Ctx, group: b2.NeuronGroup, score: str, name: str) -> None:
    """All-to-all synapses of ``group`` onto itself computing ``zsum = sum_k exp(beta score_k)``."""
    syn = b2.Synapses(group, group, model=eq.softmax_sum_code(score), clock=ctx.clock, name=name,
                      namespace={"beta": ctx.cfg.params.beta})
    i, j = dense_indices(len(group), len(group))
    syn.connect(i=i, j=j)
    ctx.synapses[name] = syn


#: Rule name -> function adding the rule's layers and synapses to a build context.
RULE_BUILDERS: dict[str, Callable[[_Ctx], None]] = {
    "stdp-association": _build_stdp,
    "local-error": _build_local_error,
}
