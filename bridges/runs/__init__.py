"""The one training loop of each family, and the settings it starts from.

* :mod:`~bridges.runs.rate` - a rate-based (torch) run: :class:`RateRunConfig`, :func:`train_rate`;
* :mod:`~bridges.runs.spiking` - a spiking (Brian2) run: :func:`train_spiking_run`;
* :mod:`~bridges.runs.presets` - per-data-set and per-rule settings.

``scripts/train_rate.py``, ``scripts/train_spiking.py`` and the comparison all go through these.
Importing this package imports neither Brian2 nor the spiking side: a pure-torch run stays pure.
"""

from bridges.runs.presets import rate_preset, spiking_preset
from bridges.runs.rate import (
    RateRunConfig,
    RateRunResult,
    build_rate_model,
    load_rate_data,
    load_rate_model,
    save_rate_run,
    train_rate,
)
from bridges.runs.spiking import (
    SpikingRunResult,
    compile_spiking_run,
    load_spiking_model,
    network_config,
    params_overrides,
    train_spiking_model,
    train_spiking_run,
)

__all__ = [
    "RateRunConfig",
    "RateRunResult",
    "SpikingRunResult",
    "build_rate_model",
    "compile_spiking_run",
    "load_rate_data",
    "load_rate_model",
    "load_spiking_model",
    "network_config",
    "params_overrides",
    "rate_preset",
    "save_rate_run",
    "spiking_preset",
    "train_rate",
    "train_spiking_model",
    "train_spiking_run",
]
