"""What every attack shares: input checks with a suggested fix, eval mode, seeded randomness.

The checks raise ``ValueError``/``TypeError`` naming the bad argument and how to fix it. The two
context managers carry the attacks' guarantees: :func:`_eval_mode` switches models to eval mode and
restores every submodule's ``training`` flag, :func:`_seeded_rng` seeds torch's global RNG inside a
fork so the caller's RNG state is left alone.

Examples
--------
>>> _check_range((0, 1))
(0.0, 1.0)
>>> _check_epsilon(2.0, 0.0, 1.0)
Traceback (most recent call last):
...
ValueError: epsilon=2.0 is larger than the input range width 1.0 (input_range=(0.0, 1.0)); ...
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator, Sequence

import torch

_RANGE_TOL = 1e-6


def _check_range(input_range: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in input_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"input_range must be a pair (lo, hi) of numbers, got {input_range!r}; e.g. input_range=(0.0, 1.0)"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise ValueError(
            f"input_range must be finite with lo < hi, got ({lo}, {hi}); "
            f"pass the valid pixel range of your data, e.g. (0.0, 1.0)"
        )
    return lo, hi


def _check_epsilon(epsilon: float, lo: float, hi: float) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
        raise ValueError(f"epsilon must be a real number, got {epsilon!r} ({type(epsilon).__name__})")
    eps = float(epsilon)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(
            f"epsilon must be finite and >= 0, got {epsilon}; it is the L-inf radius in input "
            f"units, e.g. 0.1 for inputs in [0, 1]"
        )
    if eps > hi - lo:
        raise ValueError(
            f"epsilon={eps} is larger than the input range width {hi - lo} "
            f"(input_range=({lo}, {hi})); use epsilon <= {hi - lo}, or pass the input_range "
            f"your data really uses (epsilon is in input units, e.g. 8/255 for [0, 1] images)"
        )
    return eps


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_x(x: torch.Tensor, lo: float, hi: float) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"x must be a torch.Tensor of shape (N, ...), got {type(x).__name__}; "
            f"convert with torch.as_tensor(x, dtype=torch.float32)"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"x must be a floating-point tensor, got dtype {x.dtype}; convert and rescale, e.g. "
            f"x.float() / 255 for uint8 images"
        )
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"x contains {bad} NaN/inf value(s); clean or drop those samples before attacking")
    x_min, x_max = float(x.min()), float(x.max())
    if x_min < lo - _RANGE_TOL or x_max > hi + _RANGE_TOL:
        raise ValueError(
            f"x has values in [{x_min:.6g}, {x_max:.6g}] but input_range is ({lo:g}, {hi:g}); "
            f"rescale x into input_range (e.g. x / 255 for 8-bit pixels) or pass "
            f"input_range=(lo, hi) matching your data"
        )


def _check_y(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise TypeError(
            f"y must be a torch.Tensor of integer class labels, got {type(y).__name__}; "
            f"use torch.as_tensor(y, dtype=torch.long)"
        )
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(
            f"y must hold integer class labels, got dtype {y.dtype}; "
            f"convert with y.long() (one-hot targets: y.argmax(1))"
        )
    if y.shape != (x.shape[0],):
        raise ValueError(
            f"y must have shape (N,) = ({x.shape[0]},) to match x of shape {tuple(x.shape)}, "
            f"got {tuple(y.shape)}; pass one integer label per sample (one-hot: y.argmax(1))"
        )
    return y.to(device=x.device, dtype=torch.long)


def _check_logits(logits: object, y: torch.Tensor) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(
            f"the model must return a logits tensor of shape (N, C), got {type(logits).__name__}; "
            f"wrap models returning tuples, e.g. lambda x: net(x)[0]"
        )
    if logits.ndim != 2 or logits.shape[0] != y.shape[0]:
        raise ValueError(
            f"the model must return logits of shape (N, C) = ({y.shape[0]}, C), got "
            f"{tuple(logits.shape)}; wrap it so it returns one row of class scores per sample"
        )
    n_classes = logits.shape[1]
    if bool(((y < 0) | (y >= n_classes)).any()):
        raise ValueError(
            f"labels y must lie in [0, {n_classes - 1}] for a model with {n_classes} outputs, "
            f"got range [{int(y.min())}, {int(y.max())}]"
        )
    return logits


@contextlib.contextmanager
def _eval_mode(*models: object) -> Iterator[None]:
    """Put every ``nn.Module`` among ``models`` in eval mode; restore each submodule's flag on exit."""
    saved = [(m, m.training) for model in models if isinstance(model, torch.nn.Module) for m in model.modules()]
    try:
        for m, _ in saved:
            m.training = False
        yield
    finally:
        for m, flag in saved:
            m.training = flag


@contextlib.contextmanager
def _seeded_rng(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (CPU, and CUDA when attacking there) inside a fork; restore it on exit."""
    if seed is None:
        yield
        return
    cuda_devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.random.default_generator.manual_seed(seed)
        if cuda_devices:
            torch.cuda.manual_seed_all(seed)
        yield


def _check_inputs(
    x: torch.Tensor, y: torch.Tensor, epsilon: float, input_range: Sequence[float]
) -> tuple[float, float, float, torch.Tensor]:
    """The checks every attack starts with: the input range, epsilon, ``x`` inside the range and the
    labels; returns ``(lo, hi, eps, y)``."""
    lo, hi = _check_range(input_range)
    eps = _check_epsilon(epsilon, lo, hi)
    _check_x(x, lo, hi)
    return lo, hi, eps, _check_y(y, x)


def _check_seed(seed: int | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    return int(seed)
