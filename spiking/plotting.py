"""Plots of spiking runs: spike rasters and weight matrices (matplotlib imported lazily).

Every function draws into ``ax`` (a new figure when ``ax is None``) and returns the axes, so
callers compose figures and decide where to save them.

Example
-------
>>> import numpy as np
>>> ax = plot_raster({"h1": (np.array([0, 3]), np.array([1.0, 2.5]))})
>>> ax.get_xlabel()
'time (ms)'
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["plot_raster", "plot_weights", "plot_receptive_fields"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4))
    return ax


def plot_raster(
    spikes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    t_sample_ms: float | None = None,
    ax=None,
):
    """Spike raster of several layers stacked vertically.

    Parameters
    ----------
    spikes : mapping layer name -> (neuron indices, spike times in ms)
        E.g. ``ChunkResult.raster`` (layers drawn bottom-up in the given order).
    t_sample_ms : float, optional
        Draw sample boundaries every ``t_sample_ms``.
    ax : matplotlib Axes, optional
    """
    ax = _axes(ax)
    offset = 0
    ticks, labels = [], []
    for k, (name, (idx, t)) in enumerate(spikes.items()):
        idx, t = np.asarray(idx), np.asarray(t)
        n = int(idx.max()) + 1 if idx.size else 1
        ax.plot(t, idx + offset, "|", markersize=2, color=f"C{k % 10}")
        ticks.append(offset + n / 2)
        labels.append(name)
        offset += n + 2
    if t_sample_ms:
        t_end = max((float(np.max(t)) for _, t in spikes.values() if len(t)), default=0.0)
        for b in np.arange(0.0, t_end + t_sample_ms, t_sample_ms):
            ax.axvline(b, color="0.8", lw=0.5, zorder=0)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels)
    ax.set_xlabel("time (ms)")
    ax.set_title("spike raster")
    return ax


def plot_weights(w: np.ndarray, *, title: str = "", ax=None):
    """Heat map of a weight matrix ``W[pre, post]`` (mV)."""
    ax = _axes(ax)
    w = np.asarray(w)
    im = ax.imshow(w.T, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xlabel("presynaptic neuron")
    ax.set_ylabel("postsynaptic neuron")
    ax.set_title(title or "weights (mV)")
    ax.figure.colorbar(im, ax=ax)
    return ax


def plot_receptive_fields(w: np.ndarray, image_shape: tuple[int, int], *, n_max: int = 100, ax=None):
    """Tile the incoming weights of up to ``n_max`` neurons as images (``W[pre, post]`` with
    ``pre`` = pixels of ``image_shape``)."""
    ax = _axes(ax)
    w = np.asarray(w)
    h, wd = image_shape
    if w.shape[0] != h * wd:
        raise ValueError(f"W has {w.shape[0]} presynaptic neurons, image_shape {image_shape} needs {h * wd}")
    n = min(n_max, w.shape[1])
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    canvas = np.full((rows * (h + 1), cols * (wd + 1)), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        img = w[:, k].reshape(h, wd)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (wd + 1) : c * (wd + 1) + wd] = img / (img.max() or 1.0)
    ax.imshow(canvas, cmap="hot", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"receptive fields of {n} neurons")
    return ax
