"""The numpy state of a spiking network: layer and projection names, initial state, shapes,
normalisation, and reading it back from a built network.

The state of a network is a dict of numpy arrays with a fixed naming scheme:

* ``W_<pre>_<post>`` - weights, **layout ``W[pre, post]``**, in mV (e.g. ``W_in_h1`` has
  shape ``(n_in, n_h1)``); layers are named ``in``, ``h1``, ``h2``, ..., ``out``.
* ``theta_<layer>`` - adaptive thresholds in mV (STDP rule, layers with adaptation).
* ``M_<layer>`` - fixed random readout of a hidden layer, layout ``M[neuron, class]``
  (spiking-local rule).

What differs between rules (initial weights, extra arrays, skip projections, normalisation) is
asked of the config's rule (:class:`spiking.rules.RuleSpec`); nothing here names a rule.

Example
-------
>>> from spiking.config import NetworkConfig
>>> cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(3,), n_out=2)
>>> sorted(init_state(cfg, seed=0))
['M_h1', 'W_h1_out', 'W_in_h1']
>>> init_state_shapes(cfg)["M_h1"]
(3, 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .config import NetworkConfig
    from .network import BuiltNetwork

__all__ = [
    "layer_names",
    "projection_names",
    "skip_projections",
    "all_projections",
    "layer_size_map",
    "init_state",
    "init_state_shapes",
    "normalise_state",
    "check_state",
    "read_state",
]


def layer_names(cfg: NetworkConfig) -> list[str]:
    """Names of the spiking layers: ``h1..hL`` then ``out``."""
    return [f"h{k + 1}" for k in range(len(cfg.hidden))] + ["out"]


def projection_names(cfg: NetworkConfig) -> list[tuple[str, str]]:
    """Feed-forward projections as (pre, post) layer-name pairs, input first."""
    names = ["in", *layer_names(cfg)]
    return list(zip(names[:-1], names[1:]))


def skip_projections(cfg: NetworkConfig) -> list[tuple[str, str]]:
    """Projections that skip layers, as the rule builds them (``RuleSpec.skip_projections``):
    ``[("h1", "out")]`` for the STDP rule with ``params.skip_stdp`` set (two or more hidden
    layers), else ``[]``."""
    return list(cfg.rule_spec.skip_projections(cfg))


def all_projections(cfg: NetworkConfig) -> list[tuple[str, str]]:
    """Every projection that carries weights: the feed-forward chain, then the skips."""
    return projection_names(cfg) + skip_projections(cfg)


def layer_size_map(cfg: NetworkConfig) -> dict[str, int]:
    """Layer name -> number of neurons, input included (``{"in": n_in, "h1": ..., "out": n_out}``)."""
    return {"in": cfg.n_in, **dict(zip(layer_names(cfg), cfg.layer_sizes))}


def init_state(cfg: NetworkConfig, seed: int) -> dict[str, np.ndarray]:
    """Initial weights (and readouts/thresholds) from a numpy Generator seeded with ``seed``.

    The weights of every projection are drawn first, in :func:`all_projections` order
    (``RuleSpec.init_weights``), then the rule's further arrays (``RuleSpec.init_extra_state``),
    then normalisation (:func:`normalise_state`). STDP rule: ``W ~ U(0, w_init_max_mV)`` then
    normalised to ``norm_total_mV`` per post neuron; ``theta = 0``. Local-error rule:
    ``W ~ U(-a, a)`` with ``a = w_init_mV * sqrt(100 / n_pre)``, readouts ``M ~ U(-s, s)`` with
    ``s = readout_scale / sqrt(n_layer)`` (DECOLLE's scaling).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E1F]))
    spec = cfg.rule_spec
    sizes = layer_size_map(cfg)
    state: dict[str, np.ndarray] = {}
    for pre, post in all_projections(cfg):
        state[f"W_{pre}_{post}"] = spec.init_weights(cfg, pre, post, (sizes[pre], sizes[post]), rng)
    state.update(spec.init_extra_state(cfg, rng))
    return normalise_state(cfg, state)


def init_state_shapes(cfg: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """Expected shape of every state array of ``cfg``."""
    sizes = layer_size_map(cfg)
    shapes: dict[str, tuple[int, ...]] = {f"W_{a}_{b}": (sizes[a], sizes[b]) for a, b in all_projections(cfg)}
    shapes.update(cfg.rule_spec.extra_state_shapes(cfg))
    return shapes


def normalise_state(
    cfg: NetworkConfig, state: dict[str, np.ndarray], previous: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Apply the multiplicative normalisation of the rule's normalised projections
    (``RuleSpec.norm_total_mV``; same formula as in the network) to a copy of ``state``:
    ``W[:, j] *= total / sum(W[:, j])``. Rules without normalisation get an unchanged copy.

    With ``previous``, projections whose weights are bit-identical to it (nothing learned) are
    left untouched, as the network itself does.
    """
    out = dict(state)
    spec = cfg.rule_spec
    for pre, post in all_projections(cfg):
        total = spec.norm_total_mV(cfg, pre, post)
        name = f"W_{pre}_{post}"
        if total is None or (previous is not None and np.array_equal(previous[name], out[name])):
            continue
        w = out[name]
        s = np.clip(w.sum(axis=0), 1e-6, 1e12)  # mV; same clip as in the network (1e-9 V)
        out[name] = w * (total / s)[None, :]
    return out


def check_state(cfg: NetworkConfig, state: dict[str, np.ndarray]) -> None:
    """Raise ``ValueError`` unless ``state`` has every array of ``cfg`` with the right shape, finite."""
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


def read_state(built: BuiltNetwork) -> dict[str, np.ndarray]:
    """Carried state of copy 0 as numpy arrays (``W[pre, post]`` in mV, ``theta`` in mV)."""
    sizes = layer_size_map(built.cfg)
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
