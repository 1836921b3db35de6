"""Rasters and weight maps: neuron indices on the axes, one row per neuron, integer ticks, no bars."""

from __future__ import annotations

import numpy as np
import pytest

from spiking.plotting import layer_sizes, pick_samples, plot_raster, plot_weights

SIZES = {"in": 16, "h1": 12, "out": 2}


def _spikes(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, n in SIZES.items():
        m = 6 * n
        out[name] = (rng.integers(0, n, m), rng.uniform(0.0, 300.0, m))
    out["out"] = (np.array([0, 1, 1]), np.array([10.0, 120.0, 250.0]))  # neuron 1 fires twice
    return out


@pytest.fixture(scope="module")
def raster():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot_raster(_spikes(), sizes=SIZES, t_sample_ms=100.0, sample_labels=["a", "b", "c"])
    FigureCanvasAgg(fig).draw()
    return fig


def test_raster_has_one_panel_per_layer_output_on_top(raster):
    assert [ax.get_ylabel() for ax in raster.axes] == ["out", "h1", "in"]
    assert raster.axes[-1].get_xlabel() == "time (ms)"


def test_each_output_neuron_has_its_own_row_with_integer_ticks(raster):
    out = raster.axes[0]
    assert list(out.get_yticks()) == [0.0, 1.0] and out.get_ylim() == (-0.5, 1.5)
    (segments,) = [c.get_segments() for c in out.collections if c.get_segments()]
    rows = sorted((s[0][1] + s[1][1]) / 2 for s in segments)  # each spike's bar is centred on its neuron
    assert rows == pytest.approx([0.0, 1.0, 1.0])
    assert all(abs(s[1][1] - s[0][1]) < 1.0 for s in segments)  # a bar stays inside its row


@pytest.mark.parametrize("panel", [0, 1, 2], ids=["out-2-neurons", "h1-12-neurons", "in-16-neurons"])
def test_raster_neuron_ticks_are_integers_inside_the_layer(raster, panel):
    ax = raster.axes[panel]
    n = SIZES[ax.get_ylabel()]
    ticks = [t for t in ax.get_yticks() if -0.5 <= t <= n - 0.5]
    assert ticks and all(float(t).is_integer() for t in ticks) and max(ticks) <= n - 1
    assert ax.get_ylim() == (-0.5, n - 0.5)


def test_raster_layer_labels_do_not_overlap(raster):
    r = raster.canvas.get_renderer()
    boxes = [ax.yaxis.label.get_window_extent(r) for ax in raster.axes]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_raster_writes_each_samples_label_above_its_window(raster):
    texts = [t.get_text() for t in raster.axes[0].texts]
    assert texts == ["label a", "label b", "label c"]


@pytest.mark.parametrize(
    "y,n,expected",
    [
        ([3, 3, 1, 0, 1, 2], 3, [3, 2, 5]),
        ([0, 0, 1, 1, 2, 2], 5, [0, 2, 4, 1, 3]),
        ([5, 5, 5], 2, [0, 1]),
    ],
    ids=["one-per-class-first", "then-second-of-each", "single-class"],
)
def test_pick_samples_covers_the_classes_first(y, n, expected):
    picked = pick_samples(y, n)
    assert picked.tolist() == expected
    assert len(set(np.asarray(y)[picked[: len(set(y))]].tolist())) == min(n, len(set(y)))


def test_pick_samples_rejects_a_bad_count():
    with pytest.raises(ValueError, match=r"n must lie in \[1, 3\]"):
        pick_samples([0, 1, 2], 4)


@pytest.mark.parametrize("shape", [(20, 3), (20, 2), (64, 100), (3, 40)], ids=["20x3", "20x2", "64x100", "3x40"])
def test_weight_map_has_integer_ticks_and_no_bars(shape):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    w = np.arange(np.prod(shape), dtype=float).reshape(shape)
    ax = plot_weights(w, title="W")
    FigureCanvasAgg(ax.figure).draw()
    n_pre, n_post = shape
    for ticks, n in ((ax.get_xticks(), n_pre), (ax.get_yticks(), n_post)):
        inside = [t for t in ticks if -0.5 <= t <= n - 0.5]
        assert inside and all(float(t).is_integer() for t in inside)
    if n_post <= 10:
        assert [int(t) for t in ax.get_yticks()] == list(range(n_post))  # one tick per output neuron
    bbox = ax.get_window_extent()
    ratio = bbox.height / bbox.width
    assert 1 / 6.5 <= ratio <= 6.5, ratio  # displayed at most ~6 times wider than high (or higher than wide)


def test_layer_sizes_read_from_weight_names():
    w = {"W_in_h1": np.zeros((4, 3)), "W_h1_out": np.zeros((3, 2)), "W_in_out": np.zeros((4, 2)), "theta_h1": 0}
    assert layer_sizes(w) == {"in": 4, "h1": 3, "out": 2}
