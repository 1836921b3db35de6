"""ANN-to-SNN conversion: normalise a ReLU MLP, run it as integrate-and-fire layers, map its weights.

Pipeline: a ReLU MLP trained by any rate-based rule -> :func:`normalise` (weights rescaled layer by
layer so that the chosen statistic of every layer's activation on training data equals the
threshold 1) -> simulated as integrate-and-fire layers with reset by subtraction, either in Brian2
(:func:`spiking.ifnet.simulate_if`) or in the batched snntorch twin (:class:`IFNetworkTwin`), which
implements exactly the discrete-time semantics documented in :mod:`spiking.ifnet`.

Modules
-------
:mod:`~bridges.ann2snn.normalise`
    :class:`ConvertedNet`, :func:`normalise`, :func:`mlp_layers`, :func:`poisson_spikes`.
:mod:`~bridges.ann2snn.twin`
    :class:`IFNetworkTwin`, the snntorch twin of the Brian2 integrate-and-fire network.
:mod:`~bridges.ann2snn.weights`
    Weight maps MLP <-> Brian2 IF network <-> snntorch IF network (bit-exact round trips).

``IFTwin`` is the deprecated old name of :class:`IFNetworkTwin`.

References
----------
Diehl et al. 2015, "Fast-classifying, high-accuracy spiking deep networks through weight and
threshold balancing", IJCNN (data-based normalisation, max statistic).
Rueckauer et al. 2017, "Conversion of Continuous-Valued Deep Networks to Efficient Event-Driven
Networks for Image Classification", Front. Neurosci. 11:682 (percentile statistic, biases, reset by
subtraction).

Example: see :mod:`bridges.ann2snn.twin`.
"""

from __future__ import annotations

from bridges.deprecation import renamed_attributes

from .normalise import NORMALISATIONS, ConvertedNet, mlp_layers, normalise, poisson_spikes
from .twin import IFNetworkTwin
from .weights import export_weights, from_brian2, from_snntorch, import_weights, to_brian2, to_snntorch

__all__ = [
    "ConvertedNet",
    "mlp_layers",
    "normalise",
    "poisson_spikes",
    "NORMALISATIONS",
    "IFNetworkTwin",
    "export_weights",
    "import_weights",
    "to_brian2",
    "from_brian2",
    "to_snntorch",
    "from_snntorch",
]

#: Old names kept importable for one release (with a DeprecationWarning).
__getattr__ = renamed_attributes(__name__, {"IFTwin": ("IFNetworkTwin", IFNetworkTwin)})
