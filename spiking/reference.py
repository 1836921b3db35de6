"""Small numpy references of the learning rules, written independently of Brian2.

They follow the discrete-time semantics of :func:`spiking.equations.lif_update_semantics` and
are what the tests compare the Brian2 simulations against; a twin in another framework can
use them the same way.

Example
-------
>>> from spiking.params import STDPParams
>>> p = STDPParams(eta_plus_mV=0.1, eta_minus_mV=0.05, w_max_mV=1.0)
>>> w = stdp_reference([2], [5], n_steps=10, dt_ms=1.0, tau_pre_ms=20.0, tau_post_ms=20.0,
...                    stdp=p, w0_mV=0.5)
>>> round(float(w), 6)   # pre at step 2, post at step 5: potentiation by 0.1 * exp(-3/20)
0.586071
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .params import STDPParams

__all__ = ["stdp_reference", "surrogate_reference", "three_factor_reference"]


def stdp_reference(
    pre_steps: Iterable[int],
    post_steps: Iterable[int],
    *,
    n_steps: int,
    dt_ms: float,
    tau_pre_ms: float,
    tau_post_ms: float,
    stdp: STDPParams,
    w0_mV: float,
) -> float:
    """Weight (mV) after ``n_steps`` of pair-based trace STDP for one synapse.

    Per step ``n``: both traces decay by ``exp(-dt / tau)``; a presynaptic spike at ``n``
    depresses ``w <- clip(w - eta_minus * y, w_min, w_max)``; then a postsynaptic spike at ``n``
    potentiates ``w <- clip(w + eta_plus * (x - x_offset), w_min, w_max)``; then the traces of
    the neurons that spiked grow by 1 (so simultaneous spikes do not see each other).

    Parameters
    ----------
    pre_steps, post_steps : iterables of int
        Steps at which the pre/postsynaptic neuron spikes.
    n_steps : int
    dt_ms, tau_pre_ms, tau_post_ms : float
    stdp : STDPParams
    w0_mV : float
        Initial weight.
    """
    pre, post = set(int(s) for s in pre_steps), set(int(s) for s in post_steps)
    dx, dy = np.exp(-dt_ms / tau_pre_ms), np.exp(-dt_ms / tau_post_ms)
    x = y = 0.0
    w = float(w0_mV)
    for n in range(int(n_steps)):
        x *= dx
        y *= dy
        if n in pre:
            w = float(np.clip(w - stdp.eta_minus_mV * y, stdp.w_min_mV, stdp.w_max_mV))
        if n in post:
            w = float(np.clip(w + stdp.eta_plus_mV * (x - stdp.x_offset), stdp.w_min_mV, stdp.w_max_mV))
        if n in pre:
            x += 1.0
        if n in post:
            y += 1.0
    return w


def surrogate_reference(v_mV: np.ndarray, v_thresh_mV: float, width_mV: float, name: str) -> np.ndarray:
    """Surrogate derivative ``sigma'(v)`` (see :data:`spiking.params.SURROGATES`)."""
    u = (np.asarray(v_mV, dtype=np.float64) - v_thresh_mV) / width_mV
    if name == "box":
        return (np.abs(u) < 0.5).astype(np.float64)
    if name == "fast-sigmoid":
        return 1.0 / (1.0 + np.abs(u)) ** 2
    if name == "straight-through":
        return np.ones_like(u)
    raise ValueError(f"unknown surrogate {name!r}; choose 'box', 'fast-sigmoid' or 'straight-through'")


def three_factor_reference(
    x_pre: np.ndarray, sg_post: np.ndarray, delta_post: np.ndarray, *, eta_mV_per_s: float, dt_update_ms: float
) -> np.ndarray:
    """Summed three-factor update ``dW[i, j] = -eta * dt * sum_t x_i(t) sg_j(t) delta_j(t)`` (mV).

    Parameters
    ----------
    x_pre : array (T, n_pre)
        Presynaptic traces at the update times.
    sg_post, delta_post : arrays (T, n_post)
        Surrogate derivative and projected local error at the same times.
    eta_mV_per_s, dt_update_ms : float
    """
    x = np.atleast_2d(np.asarray(x_pre, dtype=np.float64))
    g = np.atleast_2d(np.asarray(sg_post, dtype=np.float64) * np.asarray(delta_post, dtype=np.float64))
    if x.shape[0] != g.shape[0]:
        raise ValueError(f"x_pre has {x.shape[0]} time points but sg_post/delta_post have {g.shape[0]}")
    return -eta_mV_per_s * (dt_update_ms * 1e-3) * x.T @ g
