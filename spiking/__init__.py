"""Spiking side of bioplausible (Brian2): LIF networks with two local learning rules.

* ``stdp-association`` - STDP / neuronal association, a reconstruction of Gupta 2020
  ("A more biologically plausible local learning rule for ANNs", arXiv 2011.12012): trace STDP
  with bounds, normalisation, adaptive thresholds and lateral inhibition in the hidden layers,
  association with the label at the output through a teacher; no error anywhere.
* ``spiking-local`` - spiking local errors (Mostafa, Ramesh & Cauwenberghs 2018, arXiv
  1711.06756; spiking form as DECOLLE, Kaiser, Mostafa & Neftci 2020, arXiv 1811.10766):
  fixed random readout per layer, three-factor update, nothing crosses layers.

Each rule is one module of :mod:`spiking.rules`, registered in :data:`RULES` (a registry of
:class:`RuleSpec`; iterating it gives the rule names, :func:`available_rules` returns them):
its parameters, network builder, run defaults and checks live there, and nothing else compares
a rule name. Training and evaluation run in Brian2's ``cpp_standalone`` mode, compiled once and
re-run per chunk of samples with ``run_args`` (``cython``/``numpy`` runtime as fallback; see
:mod:`spiking.backend`). This package takes numpy arrays and never imports ``ratebased`` or
``bridges``.

Weights are exposed as numpy ``W[pre, post]`` in mV; the discrete-time dynamics a twin must
replicate are in :func:`lif_update_semantics`.

Example
-------
>>> import numpy as np
>>> from spiking import NetworkConfig, SimParams, SpikingClassifier
>>> cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(6, 6), n_out=2,
...                     sim=SimParams(dt_ms=1.0, t_present_ms=20.0))
>>> x = np.random.default_rng(0).uniform(size=(4, 4)); y = np.array([0, 1, 0, 1])
>>> with SpikingClassifier(cfg, seed=0, target="numpy", chunk_size=4) as clf:
...     _ = clf.fit_epoch(x, y)
...     sorted(clf.weights())
['W_h1_h2', 'W_h2_out', 'W_in_h1']
"""

from .backend.device import TARGETS, brian_device, has_cpp_compiler, reset_device, resolve_target
from .config import NetworkConfig, config_from_dict, config_to_dict
from .encoders import as_features, check_rates, latency_steps, poisson_rates, population_code
from .equations import lif_update_semantics
from .model import EpochStats, SpikingClassifier, chunk_seed, predict_from_counts
from .network import build_network
from .params import ENCODINGS, SURROGATES, LIFParams, SimParams, STDPParams, replace_params
from .reference import stdp_reference, surrogate_reference, three_factor_reference
from .rules import RULES, RuleSpec, available_rules, get_rule, register_rule
from .rules.local_error import LocalErrorParams
from .rules.stdp_association import STDPAssociationParams
from .state import all_projections, init_state, layer_names, projection_names, read_state, skip_projections

__all__ = [
    "RULES",
    "TARGETS",
    "ENCODINGS",
    "SURROGATES",
    "RuleSpec",
    "get_rule",
    "register_rule",
    "available_rules",
    "LIFParams",
    "SimParams",
    "STDPParams",
    "STDPAssociationParams",
    "LocalErrorParams",
    "NetworkConfig",
    "config_to_dict",
    "config_from_dict",
    "replace_params",
    "SpikingClassifier",
    "EpochStats",
    "predict_from_counts",
    "chunk_seed",
    "as_features",
    "check_rates",
    "poisson_rates",
    "latency_steps",
    "population_code",
    "brian_device",
    "resolve_target",
    "reset_device",
    "has_cpp_compiler",
    "build_network",
    "init_state",
    "read_state",
    "layer_names",
    "projection_names",
    "skip_projections",
    "all_projections",
    "lif_update_semantics",
    "stdp_reference",
    "surrogate_reference",
    "three_factor_reference",
]
