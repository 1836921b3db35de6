"""Which torch device a run uses.

Examples
--------
>>> resolve_device("cpu")
device(type='cpu')
>>> resolve_device("auto").type in ("cpu", "cuda", "mps")
True
"""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; anything else is passed to ``torch.device``.

    Raises
    ------
    ValueError
        A CUDA device was named but CUDA is not available.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but CUDA is not available; use --device auto or cpu")
    return dev
