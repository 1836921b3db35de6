"""Weights of the spiking STDP / spiking-local networks in torch: validation, layer specs, rate MLP.

The state of a network of :mod:`spiking.network` is ``W_<pre>_<post>`` in mV with layout
``W[pre, post]``, ``theta_<layer>`` in mV, ``M_<layer>`` (dimensionless readouts, spiking-local
rule); :func:`import_spiking_weights` validates it (Brian2 ``Quantity`` values are accepted when
their dimension is right) and describes every layer as a :class:`LayerSpec`;
:func:`export_spiking_weights` is its exact inverse. :func:`to_rate_mlp` turns a state into a
``ratebased.MLP`` with ``weight = W.T / (1 mV)``, zero biases: a rate-model **approximation** of
the spiking network (it ignores thresholds, leak, refractoriness and inhibition), useful for
transfer attacks and comparisons, not a conversion; :func:`rate_mlp_to_state` is its inverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import brian2 as b2
import numpy as np
import torch
from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions

from ratebased.models import MLP
from spiking.config import NetworkConfig
from spiking.params import LIFParams
from spiking.state import init_state_shapes, projection_names, skip_projections

__all__ = [
    "LayerSpec",
    "WEIGHT_UNIT_MV",
    "import_spiking_weights",
    "export_spiking_weights",
    "to_rate_mlp",
    "rate_mlp_to_state",
]

#: The documented unit of every weight/threshold in a spiking state: numbers are millivolts.
#: The rate model's dimensionless weight is ``W / (WEIGHT_UNIT_MV mV)``.
WEIGHT_UNIT_MV = 1.0


# ----------------------------------------------------------------------------- layer description
@dataclass(frozen=True, eq=False)
class LayerSpec:
    """One spiking layer of a Brian2 classifier, as the twin needs it (numpy, float64, mV).

    Attributes
    ----------
    name, pre : str
        Layer name (``h1``.. ``out``) and the name of the layer feeding it (``in``, ``h1``, ...).
    weight_mV : ndarray (n_pre, n)
        Feed-forward weights ``W[pre, post]`` in mV (PSP jump per spike).
    theta_mV : ndarray (n,)
        Frozen adaptive threshold (zeros without adaptation).
    adaptive : bool
        Whether the state carries ``theta_<name>`` (the layer's LIF adapts).
    lif : LIFParams
    inhibition_mV : float
        Lateral inhibition per spike of another neuron of the layer (0: none).
    teacher_form : bool
        The membrane equation carries the teacher drive (STDP rule's output layer), which changes
        Brian2's generated arithmetic (see :func:`membrane_constants`).
    readout : ndarray (n, n_out) or None
        Fixed random readout ``M_<name>`` (spiking-local hidden layers); unused in evaluation, kept
        so that ``state -> twin -> state`` is complete.
    skips : tuple of (str, ndarray (n_skip_pre, n))
        Further incoming projections that skip layers (``("h1", W_h1_out)`` for an STDP network
        with ``skip_stdp``), weights in mV.
    """

    name: str
    pre: str
    weight_mV: np.ndarray
    theta_mV: np.ndarray
    adaptive: bool
    lif: LIFParams
    inhibition_mV: float
    teacher_form: bool
    readout: np.ndarray | None = None
    skips: tuple[tuple[str, np.ndarray], ...] = ()

    @property
    def n(self) -> int:
        return int(self.weight_mV.shape[1])

    @property
    def n_pre(self) -> int:
        return int(self.weight_mV.shape[0])

    @property
    def weight_name(self) -> str:
        return f"W_{self.pre}_{self.name}"


def _to_float_array(value, name: str, *, volt: bool) -> np.ndarray:
    """numpy float64 copy of a state entry; Brian2 quantities must have the right dimension."""
    if isinstance(value, b2.Quantity):
        dim = get_dimensions(value)
        if volt:
            if dim != b2.volt.dim:
                raise ValueError(
                    f"state[{name!r}] is a Brian2 quantity with dimension {dim}, but it is a potential: pass "
                    f"volts (e.g. w * mV) or plain numbers in mV"
                )
            arr = np.asarray(value / b2.mV, dtype=np.float64)
        else:
            if dim is not DIMENSIONLESS:
                raise ValueError(
                    f"state[{name!r}] is a Brian2 quantity with dimension {dim}, but it is dimensionless; "
                    "divide by its unit first"
                )
            arr = np.asarray(value, dtype=np.float64)
    else:
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"state[{name!r}] must be a numeric array, got {type(value).__name__}") from err
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"state[{name!r}] contains NaN or inf; the network state is corrupt")
    return np.array(arr, dtype=np.float64, copy=True)


def import_spiking_weights(config: NetworkConfig, state: Mapping[str, object]) -> dict[str, LayerSpec]:
    """Validate a spiking state and describe every layer (input to output) for torch.

    Parameters
    ----------
    config : NetworkConfig
    state : mapping
        ``W_<pre>_<post>`` ``(n_pre, n_post)``, ``theta_<layer>`` ``(n,)`` (numbers in mV, or Brian2
        quantities with dimension volt) and ``M_<layer>`` ``(n, n_out)`` (dimensionless), exactly the
        keys of :func:`spiking.network.init_state` for ``config``.

    Returns
    -------
    dict name -> LayerSpec, ordered ``h1, ..., out`` (copies; the caller's arrays are not aliased).

    Raises
    ------
    ValueError
        Missing or unexpected keys, wrong shapes, NaN/inf, a quantity with the wrong dimension.

    Example
    -------
    >>> from spiking import NetworkConfig, init_state
    >>> cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
    >>> layers = import_spiking_weights(cfg, init_state(cfg, seed=0))
    >>> [(k, v.weight_mV.shape, v.teacher_form) for k, v in layers.items()]
    [('h1', (4, 3), False), ('out', (3, 2), True)]
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a spiking.NetworkConfig, got {type(config).__name__}")
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict of arrays (see spiking.network.init_state), got {type(state).__name__}")
    expected = init_state_shapes(config)
    skips = skip_projections(config)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(
            f"state does not match the config (rule {config.rule!r}, layers {config.layer_sizes}): missing "
            f"{missing}, unexpected {extra}; expected keys {sorted(expected)} (make one with "
            "spiking.network.init_state(config, seed) or load the state saved with this config)"
        )
    arrays = {}
    for name, shape in expected.items():
        arr = _to_float_array(state[name], name, volt=not name.startswith("M_"))
        if arr.shape != shape:
            raise ValueError(
                f"state[{name!r}] has shape {arr.shape}, expected {shape} (layout W[pre, post], M[neuron, class])"
            )
        arrays[name] = arr
    kinds = config.rule_spec.layer_kinds(config)  # (LIF params, inhibition mV, teacher form) per layer
    layers: dict[str, LayerSpec] = {}
    for (pre, post), (lif, inh, teacher) in zip(projection_names(config), kinds):
        n = arrays[f"W_{pre}_{post}"].shape[1]
        theta_key = f"theta_{post}"
        layers[post] = LayerSpec(
            name=post,
            pre=pre,
            weight_mV=arrays[f"W_{pre}_{post}"],
            theta_mV=arrays.get(theta_key, np.zeros(n)),
            adaptive=theta_key in arrays,
            lif=lif,
            inhibition_mV=inh,
            teacher_form=teacher,
            readout=arrays.get(f"M_{post}"),
            skips=tuple((a, arrays[f"W_{a}_{b}"]) for a, b in skips if b == post),
        )
    return layers


def export_spiking_weights(layers: Mapping[str, LayerSpec]) -> dict[str, np.ndarray]:
    """Inverse of :func:`import_spiking_weights`: the state dict (float64 copies, mV)."""
    state: dict[str, np.ndarray] = {}
    for spec in layers.values():
        state[spec.weight_name] = np.array(spec.weight_mV, dtype=np.float64, copy=True)
        if spec.adaptive:
            state[f"theta_{spec.name}"] = np.array(spec.theta_mV, dtype=np.float64, copy=True)
        if spec.readout is not None:
            state[f"M_{spec.name}"] = np.array(spec.readout, dtype=np.float64, copy=True)
        for pre, w in spec.skips:
            state[f"W_{pre}_{spec.name}"] = np.array(w, dtype=np.float64, copy=True)
    return state


# ----------------------------------------------------------------------------- rate model
def _refuse_skips(config: NetworkConfig) -> None:
    if skip_projections(config):
        raise ValueError(
            f"the spiking network has skip projections {skip_projections(config)} (skip_stdp) that "
            "ratebased.MLP cannot express; use the SpikingNetworkTwin (build_twin) for this network"
        )


def to_rate_mlp(
    config: NetworkConfig, state: Mapping[str, object], *, activation: str = "relu", dtype: torch.dtype = torch.float64
) -> MLP:
    """A ``ratebased.MLP`` with the spiking network's topology and learned weights.

    ``layers[k].weight = W_k.T / (1 mV)`` (shape ``(n_post, n_pre)``, dimensionless), biases zero,
    no skip connections. This is an **approximation** of the spiking dynamics: a unit's output is
    ``f(sum_i W_ij h_i)``, ignoring the threshold, leak, refractoriness, adaptive thresholds and
    lateral inhibition; use it for transfer attacks and weight analyses, and the
    :class:`~bridges.twin.SpikingNetworkTwin` for the spiking behaviour. Exact inverse:
    :func:`rate_mlp_to_state` (in float64).

    Example
    -------
    >>> from spiking import NetworkConfig, init_state
    >>> cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(3,), n_out=2)
    >>> mlp = to_rate_mlp(cfg, init_state(cfg, seed=0))
    >>> [tuple(l.weight.shape) for l in mlp.layers]
    [(3, 4), (2, 3)]
    """
    layers = import_spiking_weights(config, state)
    _refuse_skips(config)
    mlp = MLP(config.n_in, config.hidden, config.n_out, activation=activation, skip=False, bias=True).to(dtype)
    with torch.no_grad():
        for lin, spec in zip(mlp.layers, layers.values()):
            lin.weight.copy_(torch.as_tensor(spec.weight_mV.T / WEIGHT_UNIT_MV, dtype=dtype))
            lin.bias.zero_()
    return mlp


def rate_mlp_to_state(
    config: NetworkConfig, model: MLP, base_state: Mapping[str, object] | None = None
) -> dict[str, np.ndarray]:
    """Weights of a rate MLP back into a spiking state (``W = weight.T * 1 mV``, float64 numpy).

    Thresholds and readouts (``theta_*``, ``M_*``) come from ``base_state`` (required when the
    config has them). Raises if the topology differs, a bias is non-zero (the spiking network
    has no bias) or a weight is NaN/inf.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a ratebased.MLP, got {type(model).__name__}")
    _refuse_skips(config)
    projs = projection_names(config)
    if model.skip or len(model.layers) != len(projs):
        raise ValueError(
            f"the model has {len(model.layers)} layers (skip={model.skip}) but the spiking network has "
            f"{len(projs)} projections and no skip connections"
        )
    state: dict[str, np.ndarray] = {}
    for (pre, post), lin in zip(projs, model.layers):
        w = lin.weight.detach().cpu().double().numpy()
        if lin.bias is not None and bool(torch.any(lin.bias != 0)):
            raise ValueError(
                f"layer {pre}->{post} has non-zero biases; the spiking network has none (train with "
                "bias=False or zero them)"
            )
        state[f"W_{pre}_{post}"] = np.array(w.T * WEIGHT_UNIT_MV, dtype=np.float64)
    others = sorted(set(init_state_shapes(config)) - set(state))
    if others:
        if base_state is None:
            raise ValueError(f"the config also needs {others}; pass base_state (e.g. the state the MLP came from)")
        for key in others:
            if key not in base_state:
                raise ValueError(f"base_state lacks {key!r}")
            state[key] = np.array(base_state[key], dtype=np.float64, copy=True)
    import_spiking_weights(config, state)  # full validation (shapes, finiteness)
    return state
