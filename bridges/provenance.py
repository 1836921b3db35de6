"""Reproducibility records: one seed for every random generator, and the versions behind a result.

Every result the project writes records its seed, its configuration and :func:`versions`. Neither
function imports Brian2: reading a version uses ``importlib.metadata``, and Brian2 is seeded only
when the process has already imported it. A pure-torch run therefore never imports Brian2, whose
import installs signal handlers.

Examples
--------
>>> seed_everything(0)
>>> sorted(k for k in versions() if k in ("brian2", "torch"))
['brian2', 'torch']
"""

from __future__ import annotations

import platform
import random
import sys

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
    """Seed Python, numpy, torch and (when already imported) Brian2 from one integer.

    Parameters
    ----------
    seed : int
        Non-negative seed.

    Notes
    -----
    Brian2 is seeded (``brian2.seed``) only if ``brian2`` is in ``sys.modules``: importing it here
    would install its signal handlers in pure-torch runs. Spiking code does not depend on this
    global seed: every simulation seeds Brian2's generators itself (``spiking.chunk_seed``, per
    chunk), so a Brian2 imported after this call gives the same results.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    import torch

    torch.manual_seed(seed)
    brian2 = sys.modules.get("brian2")
    if brian2 is not None:
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
