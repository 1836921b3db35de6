"""Encoders from features in [0, 1] to what the input group of the network consumes (numpy only).

* :func:`poisson_rates` - rate code: feature ``x`` -> Poisson rate ``x * max_rate_hz``.
* :func:`latency_steps` - latency code: stronger features spike earlier, once per sample.
* :func:`population_code` - Gaussian receptive fields that turn a few real-valued features
  (e.g. IRIS's 4) into many inputs in [0, 1] (Bohte, Kok & La Poutre 2002).

Every function validates its input and names the fix in the error.

Example
-------
>>> import numpy as np
>>> poisson_rates(np.array([[0.0, 0.5, 1.0]]), max_rate_hz=100.0)
array([[  0.,  50., 100.]])
>>> latency_steps(np.array([[0.0, 0.5, 1.0]]), n_present=11)
array([[-1,  5,  0]])
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_features", "check_rates", "poisson_rates", "latency_steps", "population_code"]


def _n_features(x: np.ndarray) -> int:
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"features must have shape (N, n_features) or (N, C, H, W); got shape {x.shape}")
    return int(np.prod(x.shape[1:]))


def as_features(x: np.ndarray, n_in: int, *, name: str = "x") -> np.ndarray:
    """Flatten samples to ``(N, n_in)`` float64 features in [0, 1], with clear errors.

    Parameters
    ----------
    x : array, shape (N, n_in) or (N, ...) with ``prod(...) == n_in`` (e.g. (N, 1, 28, 28))
    n_in : int
        Number of input neurons of the network.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (N, {n_in}) or (N, C, H, W); got shape {x.shape}")
    n_feat = int(np.prod(x.shape[1:]))
    if n_feat != n_in:
        raise ValueError(
            f"{name} has {n_feat} features per sample (shape {x.shape}) but the network has n_in={n_in} "
            f"inputs; resize the images/features to {n_in} values or build the network with n_in={n_feat}"
        )
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers, got dtype {x.dtype}")
    flat = x.reshape(len(x), n_in).astype(np.float64)
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"{name} contains NaN or inf; clean the data first")
    lo, hi = (float(flat.min()), float(flat.max())) if flat.size else (0.0, 0.0)
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1] (got min {lo:.4g}, max {hi:.4g}); scale it, e.g. x / 255 for "
            "8-bit images or min-max scaling for tabular data"
        )
    return flat


def check_rates(
    rates: np.ndarray, n_in: int, *, max_rate_hz: float | None = None, dt_ms: float | None = None
) -> np.ndarray:
    """Validate Poisson rates ``(N, n_in)`` in Hz: finite, non-negative, at most one spike per step."""
    rates = np.asarray(rates, dtype=np.float64)
    if rates.ndim != 2 or rates.shape[1] != n_in:
        raise ValueError(f"rates must have shape (N, {n_in}) in Hz, got {rates.shape}")
    if not np.all(np.isfinite(rates)):
        raise ValueError("rates contain NaN or inf; clean the data first")
    if rates.size and rates.min() < 0:
        raise ValueError(
            f"rates must be >= 0 Hz (got min {rates.min():.4g}); negative firing rates do not exist - "
            "shift/scale the features to [0, 1] before poisson_rates"
        )
    if dt_ms is not None and rates.size and rates.max() * dt_ms * 1e-3 > 1.0:
        raise ValueError(
            f"rate {rates.max():.4g} Hz means more than one spike per dt={dt_ms} ms; lower max_rate_hz or dt"
        )
    return rates


def poisson_rates(x: np.ndarray, max_rate_hz: float, total_rate_hz: float | None = None) -> np.ndarray:
    """Rate code: ``rate = x * max_rate_hz`` for features ``x`` in [0, 1].

    With ``total_rate_hz`` each sample is instead scaled so that its rates sum to
    ``total_rate_hz`` (intensity normalisation: a thin "1" drives the network as much as a bold
    "0"), then clipped to ``max_rate_hz``; an all-zero sample stays silent.

    Parameters
    ----------
    x : array, shape (N, n_features) in [0, 1]
    max_rate_hz : float
        Rate of a feature equal to 1 (> 0), and the cap of every rate.
    total_rate_hz : float, optional
        Summed rate of every sample (> 0).

    Returns
    -------
    rates : ndarray, shape (N, n_features), Hz
    """
    if not (np.isfinite(max_rate_hz) and max_rate_hz > 0):
        raise ValueError(f"max_rate_hz must be a positive finite number, got {max_rate_hz!r}")
    feats = as_features(x, _n_features(x))
    if total_rate_hz is None:
        return feats * float(max_rate_hz)
    if not (np.isfinite(total_rate_hz) and total_rate_hz > 0):
        raise ValueError(f"total_rate_hz must be a positive finite number or None, got {total_rate_hz!r}")
    sums = feats.sum(axis=1, keepdims=True)
    scale = np.divide(float(total_rate_hz), sums, out=np.zeros_like(sums), where=sums > 0)
    return np.minimum(feats * scale, float(max_rate_hz))


def latency_steps(x: np.ndarray, n_present: int, *, threshold: float = 0.0) -> np.ndarray:
    """Latency code: a feature ``x > threshold`` spikes once at step
    ``round((1 - x) * (n_present - 1))`` of its sample (1 -> first step); others never (``-1``).

    Parameters
    ----------
    x : array, shape (N, n_features) in [0, 1]
    n_present : int
        Number of steps the stimulus is on.
    threshold : float
        Features at or below it do not spike.

    Returns
    -------
    steps : ndarray of int64, shape (N, n_features)
    """
    if not (isinstance(n_present, (int, np.integer)) and n_present >= 1):
        raise ValueError(f"n_present must be a positive int, got {n_present!r}")
    feats = as_features(x, _n_features(x))
    steps = np.rint((1.0 - feats) * (n_present - 1)).astype(np.int64)
    steps[feats <= threshold] = -1
    return steps


def population_code(
    x: np.ndarray,
    n_per_feature: int = 16,
    *,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
    width: float = 1.5,
) -> np.ndarray:
    """Gaussian receptive fields: each real feature becomes ``n_per_feature`` inputs in [0, 1].

    Centres are evenly spaced over ``[lo, hi]`` per feature (default: the data's min/max, pass
    the training set's to encode a test set identically); the Gaussian's standard deviation is
    ``(hi - lo) / (width * (n_per_feature - 2))`` (Bohte, Kok & La Poutre 2002).

    Parameters
    ----------
    x : array, shape (N, F)
    n_per_feature : int (>= 3)
    lo, hi : arrays of shape (F,), optional
    width : float

    Returns
    -------
    codes : ndarray, shape (N, F * n_per_feature), values in [0, 1]
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"population_code expects (N, F) features, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or inf; clean the data first")
    if n_per_feature < 3:
        raise ValueError(f"n_per_feature must be >= 3, got {n_per_feature}")
    lo = x.min(axis=0) if lo is None else np.asarray(lo, dtype=np.float64)
    hi = x.max(axis=0) if hi is None else np.asarray(hi, dtype=np.float64)
    if lo.shape != (x.shape[1],) or hi.shape != (x.shape[1],):
        raise ValueError(f"lo and hi must have shape ({x.shape[1]},)")
    span = np.where(hi > lo, hi - lo, 1.0)
    centres = lo[:, None] + span[:, None] * np.linspace(0.0, 1.0, n_per_feature)[None, :]
    sigma = span / (width * (n_per_feature - 2))
    z = (x[:, :, None] - centres[None]) / sigma[None, :, None]
    return np.exp(-0.5 * z**2).reshape(len(x), -1)
