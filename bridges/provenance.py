"""Reproducibility records: one seed for every random generator, and the versions behind a result.

Every result the project writes records its seed, its configuration and :func:`versions`. Reading a
version never imports the package (``importlib.metadata``): a pure-torch run does not import Brian2,
whose import installs signal handlers.

Examples
--------
>>> seed_everything(0)
>>> sorted(k for k in versions() if k in ("brian2", "torch"))
['brian2', 'torch']
"""

from __future__ import annotations

import platform
import random

import numpy as np

__all__ = ["seed_everything", "versions"]

#: recorded name -> distribution name
_DISTRIBUTIONS = {
    "numpy": "numpy",
    "torch": "torch",
    "brian2": "brian2",
    "snntorch": "snntorch",
    "sklearn": "scikit-learn",
    "bioplausible": "bioplausible",
}


def seed_everything(seed: int) -> None:
    """Seed Python, numpy, torch and Brian2 (``brian2.seed``) from one integer.

    Parameters
    ----------
    seed : int
        Non-negative seed. Brian2 is seeded when it is installed; a run whose code never imports it
        (pure torch) pays the import only here, where the seed needs it.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    import torch

    torch.manual_seed(seed)
    try:
        import brian2
    except ImportError:  # pragma: no cover - brian2 is a hard dependency
        return
    brian2.seed(seed % 2**32)


def versions() -> dict[str, str]:
    """Versions of Python and the scientific stack, recorded in every result row (read from the
    installed distributions' metadata; nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name, dist in _DISTRIBUTIONS.items():
        try:
            out[name] = version(dist)
        except PackageNotFoundError:
            out[name] = "uninstalled" if name == "bioplausible" else "not installed"
    return out
