"""Plots of spiking runs: spike rasters and weight matrices (matplotlib imported lazily).

Single-axes functions draw into ``ax`` (a new figure when ``ax is None``) and return the axes; the
raster, one panel per layer, draws into ``fig`` and returns the figure. Callers compose figures and
decide where to save them. New figures use constrained layout, so labels stay inside the canvas.

Example
-------
>>> import numpy as np
>>> fig = plot_raster({"h1": (np.array([0, 3]), np.array([1.0, 2.5])), "out": (np.array([1]), np.array([2.0]))},
...                   sizes={"h1": 4, "out": 2})
>>> [ax.get_ylabel() for ax in fig.axes], fig.axes[0].get_yticks().tolist()
(['out', 'h1'], [0, 1])
>>> pick_samples([3, 3, 1, 0, 1, 2], 3).tolist()  # the first sample of classes 0, 1, 2
[3, 2, 5]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["layer_sizes", "pick_samples", "plot_raster", "plot_receptive_fields", "plot_weights"]

#: a layer with at most this many neurons gets a tick (and a labelled row) for every neuron
_TICK_EVERY_NEURON = 10


def _new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _axes(ax, figsize=(8, 4)):
    return ax if ax is not None else _new_figure(figsize).add_subplot()


def pick_samples(y: Sequence[int], n: int) -> np.ndarray:
    """Indices of ``n`` samples covering as many classes as possible: the first sample of each class
    (classes in increasing order), then the second of each, and so on (deterministic).

    Raises
    ------
    ValueError
        ``n`` < 1 or more samples asked for than ``y`` holds.
    """
    y = np.asarray(y)
    if n < 1 or n > len(y):
        raise ValueError(f"n must lie in [1, {len(y)}] (the number of labels), got {n}")
    per_class = [np.flatnonzero(y == c) for c in np.unique(y)]
    out: list[int] = []
    rank = 0
    while len(out) < n:
        out += [int(idx[rank]) for idx in per_class if rank < len(idx)][: n - len(out)]
        rank += 1
    return np.asarray(out, dtype=np.int64)


def layer_sizes(weights: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Neurons per layer from weight matrices named ``W_<pre>_<post>`` with shape ``(pre, post)``.

    >>> layer_sizes({"W_in_h1": np.zeros((4, 3)), "W_h1_out": np.zeros((3, 2))})
    {'in': 4, 'h1': 3, 'out': 2}
    """
    sizes: dict[str, int] = {}
    for name, w in weights.items():
        parts = name.split("_")
        if len(parts) == 3 and parts[0] == "W":
            sizes.setdefault(parts[1], int(np.shape(w)[0]))
            sizes.setdefault(parts[2], int(np.shape(w)[1]))
    return sizes


def _integer_ticks(axis, n: int) -> None:
    from matplotlib.ticker import MaxNLocator

    if n <= _TICK_EVERY_NEURON:
        axis.set_ticks(range(n))
    else:
        axis.set_major_locator(MaxNLocator(nbins=6, integer=True))


def plot_raster(
    spikes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    sizes: Mapping[str, int] | None = None,
    t_sample_ms: float | None = None,
    sample_labels: Sequence | None = None,
    fig=None,
):
    """Spike raster, one panel per layer (the first layer of ``spikes`` at the bottom), neuron indices
    on each panel's y axis and every neuron on its own row.

    Parameters
    ----------
    spikes : mapping layer name -> (neuron indices, spike times in ms)
        E.g. ``SpikingClassifier.raster``.
    sizes : mapping layer name -> number of neurons, optional
        Rows of each panel (silent neurons keep their row); default: the largest index seen + 1.
    t_sample_ms : float, optional
        Draw sample boundaries every ``t_sample_ms``.
    sample_labels : sequence, optional
        The label of each sample, written above its time window (needs ``t_sample_ms``).
    fig : matplotlib Figure, optional

    Returns
    -------
    The figure (its axes top-down: last layer first).
    """
    names = list(spikes)[::-1]  # last layer (the output) on top
    n = {k: int((sizes or {}).get(k) or (int(np.max(spikes[k][0])) + 1 if len(spikes[k][0]) else 1)) for k in names}
    if fig is None:
        fig = _new_figure((9, 1.2 + 0.9 * len(names) + 0.02 * sum(min(v, 100) for v in n.values())))
    ratios = [max(2.5, min(float(v), 100.0) ** 0.5) for v in (n[k] for k in names)]
    axes = np.atleast_1d(fig.subplots(len(names), 1, sharex=True, height_ratios=ratios))
    t_end = max((float(np.max(t)) for _, t in spikes.values() if len(t)), default=0.0)
    for k, (ax, name) in enumerate(zip(axes, names)):
        idx, t = (np.asarray(a) for a in spikes[name])
        colour = f"C{(len(names) - 1 - k) % 10}"
        ax.vlines(t, idx - 0.4, idx + 0.4, color=colour, lw=0.8)
        ax.set_ylim(-0.5, n[name] - 0.5)
        _integer_ticks(ax.yaxis, n[name])
        ax.tick_params(axis="y", labelsize=7 if n[name] <= _TICK_EVERY_NEURON else 8)
        ax.set_ylabel(name)
        if t_sample_ms:
            for b in np.arange(0.0, t_end + t_sample_ms, t_sample_ms):
                ax.axvline(b, color="0.75", lw=0.6, zorder=0)
    if t_sample_ms and sample_labels is not None:
        top = axes[0]
        for i, lab in enumerate(sample_labels):
            top.annotate(
                f"label {lab}",
                xy=((i + 0.5) * t_sample_ms, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
            )
    axes[-1].set_xlabel("time (ms)")
    fig.supylabel("neuron index", fontsize=9)
    return fig


def plot_weights(w: np.ndarray, *, title: str = "", max_ratio: float = 6.0, ax=None):
    """Heat map of a weight matrix ``W[pre, post]`` (mV): postsynaptic neurons on y, presynaptic on x,
    integer neuron ticks; a matrix of few rows (or columns) is shown at most ``max_ratio`` times wider
    than high (or higher than wide) instead of being stretched into bars."""
    ax = _axes(ax, (6, 4))
    w = np.asarray(w)
    rows, cols = w.shape[1], w.shape[0]
    r = rows / cols
    aspect = min(max(r, 1.0 / max_ratio), max_ratio) / r  # pixel height / width: displayed ratio clamped
    im = ax.imshow(w.T, aspect=aspect, cmap="viridis", interpolation="nearest")
    _integer_ticks(ax.xaxis, cols)
    _integer_ticks(ax.yaxis, rows)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("presynaptic neuron")
    ax.set_ylabel("postsynaptic neuron")
    ax.set_title(title or "weights (mV)", fontsize=9)
    shown = rows * aspect / cols  # displayed height / width
    cax = ax.inset_axes([1.03, 0.0, min(0.04 * max(1.0, shown), 0.3), 1.0])  # a colour bar as high as the map
    ax.figure.colorbar(im, cax=cax)
    return ax


def plot_receptive_fields(w: np.ndarray, image_shape: tuple[int, int], *, n_max: int = 100, ax=None):
    """Tile the incoming weights of up to ``n_max`` neurons as images (``W[pre, post]`` with
    ``pre`` = pixels of ``image_shape``)."""
    ax = _axes(ax, (8, 8))
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
