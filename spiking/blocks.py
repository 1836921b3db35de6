"""Building blocks of the Brian2 networks, shared by the rule builders of :mod:`spiking.rules`.

A rule's builder (``RuleSpec.build``) receives a :class:`BuildContext` that already holds the
input group, adds its layers with :func:`neuron_layer`, its projections with :func:`feedforward`
and :func:`lateral_inhibition` (plus whatever is its own, e.g. the spiking-local readouts), and
registers every object in the context; :func:`spiking.network.build_network` then adds the
monitors and makes the ``Network``. This module makes Brian2 objects and nothing else: no
device handling, no chunking (see :mod:`spiking.backend`).

``n_copies`` (``ctx.K``) independent copies of the network (shared initial weights; no
connection between copies) process ``n_copies`` samples side by side, for evaluation.

Example
-------
>>> i, j = dense_indices(2, 3)
>>> list(zip(i.tolist(), j.tolist()))[:4]
[(0, 0), (0, 1), (0, 2), (1, 0)]
>>> [(int(a), int(b)) for a, b in zip(*lateral_indices(3))]
[(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import brian2 as b2
import numpy as np

from . import equations as eq
from .backend.cache import EXACT
from .params import LIFParams

if TYPE_CHECKING:
    from .config import NetworkConfig

__all__ = [
    "BuildContext",
    "PLAIN_SYNAPSE",
    "dense_indices",
    "lateral_indices",
    "input_layer",
    "neuron_layer",
    "feedforward",
    "lateral_inhibition",
]


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
class BuildContext:
    """What a rule builder works with while one network is built (see :func:`spiking.network.build_network`).

    Attributes
    ----------
    cfg : NetworkConfig
    state : dict of numpy arrays
        Initial state (weights ``W[pre, post]`` in mV, thresholds, readouts), copied into every copy.
    K : int
        Number of parallel copies.
    learning : bool
        Whether the plasticity machinery is built.
    clock, sample_clock : brian2.Clock
        The integration clock and the clock ticking once per sample slot.
    label : brian2.TimedArray or None
        Labels per slot (learning builds with ``stimulus="timed"``).
    label_expr : str or None
        Expression of the current label (``"label(t)"`` or ``"label_in"``); None: no labels (frozen build).
    groups, synapses : dict
        Neuron groups by layer name (``in``, ``h1``, ..., ``out``) and synapses by name
        (``W_<pre>_<post>`` for weights); builders add to them.
    objects : list
        Further Brian2 objects of the network (e.g. readout groups ``ro_<layer>``).
    wsum : dict
        ``W_*`` name -> view of the post group's running sum of incoming weights (normalised projections).
    """

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


def _lif_namespace(lif: LIFParams, extra: dict | None = None) -> dict:
    ns = lif.to_namespace()
    if extra:
        ns.update(extra)
    return ns


def input_layer(ctx: BuildContext, stim: b2.TimedArray, stimulus: str) -> b2.NeuronGroup:
    """The input group ``inp`` (Poisson or latency encoding of ``stim``) with its presynaptic trace
    ``xtr`` (time constant ``cfg.params.tau_pre_ms``), reset at every sample start; stored as
    ``ctx.groups["in"]``."""
    cfg, sim = ctx.cfg, ctx.cfg.sim
    inp = b2.NeuronGroup(
        ctx.K * cfg.n_in,
        eq.input_equations(cfg.encoding, stimulus),
        threshold=eq.input_threshold(cfg.encoding, stimulus),
        reset="xtr += 1",
        method=EXACT,
        clock=ctx.clock,
        name="inp",
        namespace={
            "tau_pre": cfg.params.tau_pre_ms * b2.ms,
            "stim": stim,
            "n_sample": sim.steps_per_sample,
            "n_present": sim.steps_present,
        },
    )
    inp.run_regularly("xtr = 0", clock=ctx.sample_clock, when="start", order=0, name="inp_sample_start")
    ctx.groups["in"] = inp
    return inp


def neuron_layer(
    ctx: BuildContext,
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
    """A LIF layer of ``n`` neurons per copy (equations of :func:`spiking.equations.lif_equations`),
    with its sample-start reset; the output layer (``name == "out"``) also sums its input in
    ``drive``. Stored as ``ctx.groups[name]``.

    Parameters
    ----------
    traces : dict
        Trace variable -> time-constant name in the namespace (e.g. ``{"xtr": "tau_pre"}``).
    teacher : bool
        Add the teacher terms (label neuron driven, others held back).
    extra_eqs, extra_ns :
        Further equation lines and namespace entries.
    learn_expr : str
        Value of the ``learn`` gate at each sample start.
    normalised : tuple of str
        Pre-layer names whose incoming weights are normalised at each sample start.
    """
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
        group.namespace["theta_drop"] = (
            lif.theta_plus_mV * lif.theta_target_hz * ctx.cfg.sim.t_present_ms * 1e-3 * b2.mV
        )
    group.run_regularly(
        eq.sample_start_code(
            traces=traces,
            learn_expr=learn_expr,
            teacher=teacher,
            has_label=ctx.label_expr is not None,
            normalised=normalised,
            homeostasis=homeostasis,
            label_expr=ctx.label_expr or "label(t)",
            drive=drive,
        ),
        clock=ctx.sample_clock,
        when="start",
        order=0,
        name=f"{name}_sample_start",
    )
    ctx.groups[name] = group
    return group


def feedforward(ctx: BuildContext, pre: str, post: str, model: dict[str, str], ns: dict) -> b2.Synapses:
    """All-to-all synapses ``syn_<pre>_<post>`` within each copy, weights from ``state["W_<pre>_<post>"]``
    (mV); ``model`` gives ``model`` / ``on_pre`` / ``on_post`` code (e.g. :data:`PLAIN_SYNAPSE`).
    Stored as ``ctx.synapses["W_<pre>_<post>"]``."""
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


def lateral_inhibition(ctx: BuildContext, name: str, w_inh_mV: float, v_floor_mV: float) -> None:
    """Every spike of layer ``name`` lowers ``v`` of the other neurons of its layer (and copy) by
    ``w_inh_mV``, floored at ``v_floor_mV``. Stored as ``ctx.synapses["inh_<name>"]``."""
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


#: Synapse code of a projection without plasticity (a frozen build, or a learning rule whose
#: update runs elsewhere): a spike adds ``w`` to the post membrane unless it is refractory.
PLAIN_SYNAPSE = {"model": "w : volt", "on_pre": "v_post += w * int(not_refractory_post)"}
