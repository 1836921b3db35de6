"""snntorch twin of the Brian2 spiking STDP / spiking-local classifiers (evaluation mode).

The Brian2 networks of :mod:`spiking.network` (both rules: ``stdp-association``, a reconstruction
of Gupta 2020, arXiv 2011.12012; ``spiking-local``, Mostafa, Ramesh & Cauwenberghs 2018, arXiv
1711.06756, in DECOLLE's spiking form, arXiv 1811.10766) are re-implemented here step by step in
torch, with plasticity off and the learned state frozen, so that

* given the same input spike trains, :class:`SpikingNetworkTwin` and Brian2 (``numpy`` target)
  emit the **same spikes** (checked neuron by neuron in ``tests/test_spiking_twin.py``), and
* the twin is batched, runs on any torch device, and is differentiable: the spike
  non-linearity uses snntorch's fast-sigmoid surrogate gradient (SuperSpike, Zenke & Ganguli
  2018, arXiv 1705.11146) and the Poisson encoder a straight-through estimator, so white-box
  attacks (FGSM with expectation over transformation) can be run on the spiking network itself.

Modules
-------
:mod:`~bridges.twin.weights`
    The spiking state in torch: :class:`LayerSpec`, validation (:func:`import_spiking_weights`,
    :func:`export_spiking_weights`), the rate-model approximation (:func:`to_rate_mlp`,
    :func:`rate_mlp_to_state`).
:mod:`~bridges.twin.dynamics`
    Pure step functions: Brian2's discrete-time semantics (:func:`membrane_constants`,
    :func:`refractory_steps`), the surrogate spike function, :class:`TwinDynamics` and the step
    loop :func:`simulate`.
:mod:`~bridges.twin.module`
    The ``nn.Module`` shells :class:`SpikingNetworkTwin` (built by :func:`build_twin`) and
    :class:`FlattenedInput` (the twin taking images).
:mod:`~bridges.twin.replay`
    The Brian2 replay harness (:func:`brian2_run_from_spikes`, :func:`brian2_numpy_input_spikes`)
    with which tests compare the twin's spikes with Brian2's.

``SpikingTwin`` is the deprecated old name of :class:`SpikingNetworkTwin`.

Example: see :mod:`bridges.twin.module`.
"""

from __future__ import annotations

from bridges.deprecation import renamed_attributes

from .dynamics import (
    SUMMATIONS,
    TwinDynamics,
    decay_step,
    excite_matmul,
    excite_sequential,
    inhibit_matmul,
    inhibit_sequential,
    membrane_constants,
    refractory_steps,
    simulate,
)
from .module import ENGINES, FlattenedInput, SpikingNetworkTwin, build_twin
from .rate_approx import LayerCalibration, RateApproximation, calibrate, fidelity, rate_approximation
from .replay import Brian2SpikeRun, brian2_numpy_input_spikes, brian2_run_from_spikes
from .weights import (
    WEIGHT_UNIT_MV,
    LayerSpec,
    export_spiking_weights,
    import_spiking_weights,
    rate_mlp_to_state,
    to_rate_mlp,
)

__all__ = [
    "LayerSpec",
    "SUMMATIONS",
    "WEIGHT_UNIT_MV",
    "import_spiking_weights",
    "export_spiking_weights",
    "membrane_constants",
    "refractory_steps",
    "decay_step",
    "inhibit_sequential",
    "inhibit_matmul",
    "excite_sequential",
    "excite_matmul",
    "SpikingNetworkTwin",
    "TwinDynamics",
    "simulate",
    "build_twin",
    "FlattenedInput",
    "to_rate_mlp",
    "rate_mlp_to_state",
    "ENGINES",
    "RateApproximation",
    "LayerCalibration",
    "rate_approximation",
    "calibrate",
    "fidelity",
    "Brian2SpikeRun",
    "brian2_run_from_spikes",
    "brian2_numpy_input_spikes",
]

#: Old names kept importable for one release (with a DeprecationWarning).
__getattr__ = renamed_attributes(__name__, {"SpikingTwin": ("SpikingNetworkTwin", SpikingNetworkTwin)})
