"""Pure builders of Brian2 equation strings and namespaces (no Brian2 objects are made here).

The network builder (:mod:`spiking.network`) glues these strings into ``NeuronGroup`` and
``Synapses`` objects. Keeping them pure makes the dynamics inspectable and testable, and lets
a non-Brian2 twin (snntorch, numpy) replicate them step by step: see
:func:`lif_update_semantics` for the exact discrete-time semantics.

Variable names shared by all groups
-----------------------------------
``v`` (volt)       membrane potential
``xtr`` (1)        presynaptic trace, ``+1`` per spike, decays with ``tau_pre``
``ytr`` (1)        postsynaptic trace, ``+1`` per spike, decays with ``tau_post``
``r`` (1)          filtered spikes read by the spiking-local readout, decays with ``tau_r``
``theta`` (volt)   adaptive threshold (only with ``LIFParams.theta_plus_mV > 0``)
``I_teach`` (volt) teacher drive added to the resting level (output of the STDP rule)
``hold`` (volt)    teacher hold-back: threshold raise of the non-label outputs while learning
``learn`` (shared) 1 while the current sample is a learning sample, else 0
``label_now`` (shared) label of the current sample (-1: none)

Example
-------
>>> print(lif_equations(adaptive=False, teacher=False, traces={"xtr": "tau_pre"}))
dv/dt = (v_rest - v) / tau_m : volt (unless refractory)
dxtr/dt = -xtr / tau_pre : 1
learn : 1 (shared)
label_now : 1 (shared)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .params import SURROGATES

__all__ = [
    "lif_equations",
    "lif_threshold",
    "lif_reset",
    "sample_start_code",
    "normalisation_synapse_code",
    "input_equations",
    "input_threshold",
    "stdp_synapse_code",
    "inhibition_synapse_code",
    "local_error_hidden_extra",
    "local_error_output_extra",
    "readout_equations",
    "softmax_sum_code",
    "LOSSES",
    "three_factor_code",
    "lif_update_semantics",
]


def lif_equations(
    *,
    adaptive: bool,
    teacher: bool,
    traces: Mapping[str, str],
    extra: str = "",
) -> str:
    """Equations of a delta-synapse LIF group.

    Parameters
    ----------
    adaptive : bool
        Add the adaptive threshold ``theta`` (decays only while ``learn == 1``).
    teacher : bool
        Add the teacher drive ``I_teach`` (raises the resting level) and the hold-back ``hold``
        (raises the threshold, see :func:`lif_threshold`).
    traces : mapping
        Trace variable name -> time-constant name in the namespace, e.g.
        ``{"xtr": "tau_pre", "ytr": "tau_post"}``.
    extra : str
        Further equation lines (rule-specific).
    """
    drive = "(v_rest + I_teach - v)" if teacher else "(v_rest - v)"
    lines = [f"dv/dt = {drive} / tau_m : volt (unless refractory)"]
    for name, tau in traces.items():
        lines.append(f"d{name}/dt = -{name} / {tau} : 1")
    if adaptive:
        lines.append("dtheta/dt = -learn * theta / tau_theta : volt")
    if teacher:
        lines.append("I_teach : volt")
        lines.append("hold : volt")
    lines.append("learn : 1 (shared)")
    lines.append("label_now : 1 (shared)")
    if extra:
        lines.extend(line.strip() for line in extra.strip().splitlines() if line.strip())
    return "\n".join(lines)


def lif_threshold(*, adaptive: bool, teacher: bool = False) -> str:
    """Spike condition (``not_refractory`` is added by Brian2)."""
    cond = "v > v_thresh + theta" if adaptive else "v > v_thresh"
    return cond + " + hold" if teacher else cond


def lif_reset(*, adaptive: bool, traces: Mapping[str, str]) -> str:
    """Reset after a spike: ``v`` to ``v_reset``, every trace ``+1``, ``theta += theta_plus``
    while learning."""
    lines = ["v = v_reset"]
    lines += [f"{name} += 1" for name in traces]
    if adaptive:
        lines.append("theta += learn * theta_plus")
    return "\n".join(lines)


def sample_start_code(
    *,
    traces: Mapping[str, str],
    learn_expr: str,
    teacher: bool,
    has_label: bool,
    normalised: Sequence[str] = (),
    homeostasis: bool = False,
    label_expr: str = "label(t)",
    drive: bool = False,
) -> str:
    """Code run by a layer on the first step of every sample (``run_regularly``, ``when='start'``).

    In order: remember ``learn`` of the sample that just ended (``learn_prev``); set
    ``label_now`` and ``learn`` of the new sample (from the ``label`` TimedArray when
    ``has_label``, else no learning); for every normalised projection ``p`` compute the factor
    ``norm_p = 1 + learn_prev * (total_p / wsum_p - 1)`` and rescale the running sum ``wsum_p``
    (the synapses then multiply ``w`` by ``norm_p``, see :func:`normalisation_synapse_code`);
    target-rate homeostasis ``theta <- max(theta - learn_prev * theta_drop, theta_min)``; reset
    membrane, traces and refractoriness; set the teacher drive.

    Parameters
    ----------
    traces : mapping of trace names (reset to 0)
    learn_expr : str
        Expression of ``learn`` given ``label_now``.
    teacher : bool
        Set ``I_teach`` and ``hold`` (output layer of the STDP rule).
    has_label : bool
        Whether labels exist (learning builds).
    normalised : sequence of str
        Names ``p`` of the normalised incoming projections (variables ``wsum_p``, ``norm_p``,
        constant ``total_p``).
    homeostasis : bool
        Apply target-rate homeostasis (constant ``theta_drop``).
    label_expr : str
        Where the label comes from: the ``label`` TimedArray (``"label(t)"``) or a shared
        variable set from Python between runs (``"label_in"``, see :func:`input_threshold`).
    drive : bool
        Reset ``drive`` (output layer: summed synaptic input of the sample, the tie-breaker of
        the prediction).
    """
    lines = ["learn_prev = learn"]
    if has_label:
        lines += [f"label_now = {label_expr}", f"learn = {learn_expr}"]
    else:
        lines += ["label_now = -1", "learn = 0"]
    for p in normalised:
        lines.append(f"norm_{p} = 1 + learn_prev * (total_{p} / clip(wsum_{p}, 1e-9 * volt, 1e9 * volt) - 1)")
        lines.append(f"wsum_{p} = wsum_{p} * norm_{p}")
    if homeostasis:
        lines.append("theta = clip(theta - learn_prev * theta_drop, theta_min, 1 * volt)")
    # refractoriness first: every write to v is conditional on not_refractory (``unless refractory``)
    lines += ["lastspike = -1e4 * second", "not_refractory = True", "v = v_rest"]
    lines += [f"{name} = 0" for name in traces]
    if drive:
        lines.append("drive = 0 * volt")
    if teacher:
        lines.append("I_teach = learn * teacher_exc * int(i == label_now)")
        lines.append("hold = learn * teacher_inh * int(i != label_now)")
    return "\n".join(lines)


def normalisation_synapse_code(projection: str) -> str:
    """Synapse side of the normalisation (runs right after :func:`sample_start_code` of the
    post layer): ``w <- w * norm_post``. Normalised weights are not clipped to ``w_max``."""
    return f"w = w * norm_{projection}_post"


STIMULUS_SOURCES = ("timed", "variable")


def input_equations(encoding: str = "poisson", source: str = "timed") -> str:
    """Input group: presynaptic trace and the per-run RNG seed slot (set via ``run_args``);
    with ``source="variable"`` also the per-neuron stimulus ``stim_var`` set from Python."""
    lines = ["dxtr/dt = -xtr / tau_pre : 1", "rng_seed : integer (shared)"]
    if source == "variable":
        lines.append("stim_var : hertz" if encoding == "poisson" else "stim_var : 1")
    return "\n".join(lines)


def input_threshold(encoding: str, source: str = "timed") -> str:
    """Spike condition of the input group for an encoding.

    ``poisson``: while the stimulus is on (first ``n_present`` steps of each sample), neuron
    ``i`` spikes in a step with probability ``rate * dt`` (rate in Hz).
    ``latency``: neuron ``i`` spikes once, at step ``lat`` of the sample (``-1``: never).
    The stimulus is ``stim(t, i)`` (a TimedArray with one row per sample, ``source="timed"``)
    or the variable ``stim_var`` set from Python between runs (``source="variable"``, the
    naive one-``run()``-per-sample protocol). The ``rand()`` call comes last so that silent
    inputs cost no random number.
    """
    if source not in STIMULUS_SOURCES:
        raise ValueError(f"unknown stimulus source {source!r}; choose one of {list(STIMULUS_SOURCES)}")
    s = "stim(t, i)" if source == "timed" else "stim_var"
    if encoding == "poisson":
        return f"(timestep(t, dt) % n_sample) < n_present and {s} > 0 * Hz and rand() < {s} * dt"
    if encoding == "latency":
        return f"(timestep(t, dt) % n_sample) == {s}"
    raise ValueError(f"unknown encoding {encoding!r}; choose 'poisson' or 'latency'")


def stdp_synapse_code(
    *, wsum_name: str | None, hold: bool = False, hold_gate: bool = False, ltp_stop: bool = False
) -> dict[str, str]:
    """Pair-based trace STDP with bounds; the weight is also the PSP amplitude (delta synapse).

    On a presynaptic spike: ``v_post += w`` (if the target is not refractory), then
    ``w <- clip(w - eta_minus * ytr_post, w_min, w_max)``. On a postsynaptic spike:
    ``w <- clip(w + eta_plus * (xtr_pre - x_offset), w_min, w_max)``. Both only when
    ``learn_post == 1`` (written as ``w + learn * (clip(...) - w)`` so that a non-learning
    sample leaves ``w`` bit-identical). When ``wsum_name`` is given, the change is added to
    that post variable, which tracks the sum of incoming weights for normalisation. With
    ``hold`` (output of the STDP rule) a presynaptic spike onto a neuron the teacher holds back
    (``hold_post > 0``) is also depressed by ``eta_hold``; with ``hold_gate`` only while
    ``v_post > v_gate`` (stop learning: the held neuron would fire without the hold-back).
    With ``ltp_stop`` potentiation needs ``ytr_post < y_stop``.
    """
    track = f"\n{wsum_name}_post += w_new - w" if wsum_name else ""
    gate = " * int(v_post > v_gate)" if hold_gate else ""
    held = f" - eta_hold * int(hold_post > 0 * volt){gate}" if hold else ""
    stop = " * int(ytr_post < y_stop)" if ltp_stop else ""
    on_pre = (
        "v_post += w * int(not_refractory_post)\n"
        f"w_new = w + learn_post * (clip(w - eta_minus * ytr_post{held}, w_min, w_max) - w)"
        f"{track}\nw = w_new"
    )
    on_post = (
        f"w_new = w + learn_post * (clip(w + eta_plus * (xtr_pre - x_offset){stop}, w_min, w_max) - w)"
        f"{track}\nw = w_new"
    )
    return {"model": "w : volt", "on_pre": on_pre, "on_post": on_post}


def inhibition_synapse_code() -> dict[str, str]:
    """Static lateral inhibition: a spike lowers ``v`` of the other neurons by ``w_inh``
    (bounded below by ``v_floor``)."""
    return {"model": "", "on_pre": "v_post = clip(v_post - w_inh, v_floor, 1 * volt)"}


def local_error_hidden_extra(surrogate: str) -> str:
    """Extra lines of a spiking-local hidden layer: projected error ``delta`` (summed from the
    readout) and surrogate derivative ``sg``."""
    return f"delta : 1\nsg = {SURROGATES[surrogate]} : 1"


LOSSES = ("softmax", "mse")


def _error(score: str, loss: str) -> str:
    """Derivative of the local loss w.r.t. the score of class ``i``: softmax cross-entropy
    ``softmax(beta * score)_i - y_i`` (``zsum`` = sum over classes of ``exp(beta * score)``, a
    summed variable) or squared error ``score_i - target_on * y_i``."""
    if loss == "softmax":
        return f"exp(beta * {score}) / zsum - int(i == label_now)"
    if loss == "mse":
        return f"{score} - target_on * int(i == label_now)"
    raise ValueError(f"unknown local loss {loss!r}; choose one of {list(LOSSES)}")


def local_error_output_extra(surrogate: str, loss: str = "mse") -> str:
    """Extra lines of the spiking-local output layer (identity readout, score = own ``r``):
    ``delta = dloss/dr`` and the surrogate ``sg``."""
    lines = [f"delta = {_error('r', loss)} : 1", f"sg = {SURROGATES[surrogate]} : 1"]
    if loss == "softmax":
        lines.append("zsum : 1")
    return "\n".join(lines)


def readout_equations(loss: str = "mse") -> str:
    """Fixed random readout of a hidden layer: ``yhat = M r`` (summed) and
    ``err = dloss/dyhat`` (see :func:`_error`)."""
    lines = ["yhat : 1", f"err = {_error('yhat', loss)} : 1", "label_now : 1 (shared)"]
    if loss == "softmax":
        lines.append("zsum : 1")
    return "\n".join(lines)


def softmax_sum_code(score: str) -> str:
    """Model of the all-to-all synapses of a readout (or output) group onto itself that compute
    the softmax normaliser ``zsum = sum_k exp(beta * score_k)``."""
    return f"zsum_post = exp(beta * {score}_pre) : 1 (summed)"


def three_factor_code() -> str:
    """Three-factor update of a spiking-local projection (a ``run_regularly`` every
    ``update_every`` steps, ``when='end'``), after the burn-in of each sample::

        w <- clip(w - learn * eta * dt_update * xtr_pre * sg_post
                  * (delta_post + rate_reg * (r_post - r_target)), -w_bound, w_bound)
    """
    return (
        "w = clip(w - learn_post * int(timestep(t, dt) % n_sample >= n_burnin) * eta * dt_update"
        " * xtr_pre * sg_post * (delta_post + rate_reg * (r_post - r_target)), -w_bound, w_bound)"
    )


def lif_update_semantics() -> str:
    """Exact discrete-time semantics of every spiking group, for twins (snntorch, numpy).

    Returns this docstring. Time step ``dt``; step ``n`` covers ``t_n = n dt``. A sample
    occupies ``n_sample = (t_present + t_rest) / dt`` steps; sample ``k`` starts at step
    ``k n_sample``. Within each step Brian2 runs, in this order:

    1. **start** (only on the first step of sample ``k``), per layer (:func:`sample_start_code`):
       with ``learn_prev`` the ``learn`` flag of the sample that just ended (0 at the start of a
       run): ``label_now = label[k]``; ``learn = [label_now >= 0]`` (output layer of the STDP
       rule: ``teacher_on * [label_now >= 0]``); each normalised projection gets the factor
       ``norm = 1 + learn_prev * (total / wsum - 1)`` with ``wsum`` the sum of the post
       neuron's incoming weights, and then ``w *= norm`` on its synapses; homeostasis
       ``theta <- max(theta - learn_prev * theta_plus * theta_target_hz * t_present, theta_min)``;
       refractoriness cleared, then ``v = v_rest``, all traces ``= 0``, output ``drive = 0``;
       teacher drive
       ``I_teach = learn * teacher_exc * [i == label_now]`` and hold-back
       ``hold = learn * teacher_inh * [i != label_now]``.
    2. **groups** (state update, exact integration of the linear ODEs over one step):
       ``v <- v_inf + (v - v_inf) * exp(-dt / tau_m)`` with ``v_inf = v_rest + I_teach``, only if
       not refractory (a refractory ``v`` is frozen);
       every trace ``x <- x * exp(-dt / tau_x)``;
       ``theta <- theta * exp(-learn * dt / tau_theta)``.
       Local-error rule: first the readouts ``yhat = M r`` and ``delta = M^T (yhat - y)`` are
       recomputed from the values at the start of this step.
    3. **thresholds**: a neuron spikes if ``v > v_thresh + theta + hold`` and it is not
       refractory (``theta`` only with adaptation, ``hold`` only in the teacher's output layer).
       It is refractory on the ``round(t_ref / dt) - 1`` steps after a spike step
       (``not_refractory = timestep(t - t_spike) >= timestep(t_ref)``). While refractory
       *every* write to ``v`` is skipped (Brian2's ``unless refractory`` makes them conditional):
       the state update, synaptic input and lateral inhibition, so ``v`` stays at ``v_reset``.
       Poisson input: spikes if the stimulus is
       on and ``u < rate * dt`` with ``u ~ U(0, 1)``; latency input: spikes at its latency step.
    4. **synapses** (spikes of this step, no delay; presynaptic pathways before
       postsynaptic ones): excitatory ``v_j += w_ij`` for each presynaptic spike, if ``j`` is
       not refractory (this includes ``j`` having spiked in this very step); output layer:
       ``drive_j += w_ij`` (always); lateral inhibition ``v_j <- max(v_j - w_inh, v_floor)`` for
       the other, non-refractory neurons of the layer;
       STDP (pre spike): ``w -= eta_minus * ytr_post`` (output of the STDP rule: also
       ``- eta_hold`` if the teacher holds the post neuron back, with ``hold_gate_mV`` only
       if ``v_post > v_thresh + hold_gate_mV`` after this spike's input); (post spike):
       ``w += eta_plus * (xtr_pre - x_offset)`` (with ``ltp_stop_trace`` only if
       ``ytr_post < ltp_stop_trace``), each clipped to ``[w_min, w_max]``, with the
       traces as they were before this step's increments.
    5. **resets**: for neurons that spiked: ``v = v_reset``; every trace ``+= 1``;
       ``theta += learn * theta_plus``. (Inputs: ``xtr += 1``.)
    6. **end**: monitors record (the output ``drive`` of a sample is read on the first step of
       the next sample, before its reset); spiking-local weight update
       ``w -= learn * eta * dt_update * xtr_pre * sg(v_post) * (delta_post + rate_reg * (r_post -
       r_target))``, clipped to
       ``[-w_bound, w_bound]``, on every ``update_every``-th step whose index within the sample
       is ``>= burn_in / dt``.

    Units: ``v``, ``w``, ``theta`` in volts (configs in mV); traces dimensionless.
    Weight layout everywhere outside Brian2: ``W[pre, post]`` (numpy, mV).
    """
    return lif_update_semantics.__doc__ or ""
