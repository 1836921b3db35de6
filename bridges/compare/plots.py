"""Figures of a comparison: one colour per rule in every figure, markers for the gradient an attack used.

Every rule has a fixed colour (:data:`RULE_COLOURS`, BP always black), so the figures of a run, and of
different runs, can be read side by side. The line style tells the model family (rate: solid,
spiking: dashed) and the marker tells where the attack's gradient came from
(:data:`GRADIENT_MARKERS`: exact, surrogate, rate approximation, transfer, gradient-free, worst case).
Error bars are the 95% intervals of the summary (Wilson on the test samples for one seed, Student-t
over seeds otherwise); every figure has a dotted chance line and says in its caption what its bars are.

Functions that draw into one axes take ``ax=None`` and return the axes; multi-panel figures take
``fig=None`` and return the figure. Figures use constrained layout, so titles, captions and legends
stay inside the canvas. Matplotlib is imported lazily (``matplotlib.figure.Figure``, no pyplot state).

The summary read here is :func:`bridges.compare.results.summarise`'s: ``(rule, attack, method, source,
epsilon) -> {"mean", "lo", "hi", "interval", "n_seeds", "family", "gradient", ...}`` (fractions).

Example
-------
>>> s = {("bp", "whitebox", "fgsm", "", e): {"mean": m, "lo": m - 0.02, "hi": m + 0.02, "interval": "wilson",
...      "n_seeds": 1, "family": "rate", "gradient": "exact"} for e, m in ((0.0, 0.96), (0.1, 0.45))}
>>> ax = plot_accuracy_vs_epsilon(s, ("bp",), (0.0, 0.1), lambda k, v: True, "FGSM", chance=0.1)
>>> ax.lines[0].get_color() == RULE_COLOURS["bp"] == "#000000"
True
"""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

__all__ = [
    "FAMILY_LINESTYLES",
    "GRADIENT_LABELS",
    "GRADIENT_MARKERS",
    "RULE_COLOURS",
    "error_bar_caption",
    "figure_png",
    "new_figure",
    "clean_entry",
    "plot_accuracy_panels",
    "plot_accuracy_vs_epsilon",
    "plot_robust_vs_clean",
    "plot_robust_vs_clean_panels",
    "rule_colour",
]

#: rule -> colour, fixed: every rule of ``ratebased.available_rules()`` and ``spiking.available_rules()``
#: (a test checks that none is missing). BP, the reference, is black; the feedback-alignment family
#: shares blues and greens, target propagation purples and browns, the spiking rules red and cyan.
RULE_COLOURS: Mapping[str, str] = MappingProxyType(
    {
        "bp": "#000000",
        "fa": "#1f77b4",
        "dfa": "#ff7f0e",
        "usf": "#2ca02c",
        "frsf": "#98df8a",
        "brsf": "#bcbd22",
        "dtp": "#9467bd",
        "gait": "#8c564b",
        "local": "#e377c2",
        "stdp-association": "#d62728",
        "spiking-local": "#17becf",
    }
)
#: colours of rules registered after this table was written (a private rule), picked by a hash of the name
_SPARE_COLOURS = ("#7f7f7f", "#aec7e8", "#ffbb78", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5")

#: model family -> line style
FAMILY_LINESTYLES: Mapping[str, str] = MappingProxyType({"rate": "-", "spiking": "--"})
#: where an attack's gradient came from (the summary's ``gradient``) -> marker
GRADIENT_MARKERS: Mapping[str, str] = MappingProxyType(
    {"exact": "o", "surrogate": "s", "rate-approx": "D", "transfer": "^", "none": "X", "all": "*"}
)
GRADIENT_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "exact": "exact gradient (rate model, torch)",
        "surrogate": "surrogate gradient, EOT (spiking twin)",
        "rate-approx": "rate-approximation gradient (BPDA)",
        "transfer": "transfer (crafted on another model)",
        "none": "gradient-free (Square, scores only)",
        "all": "worst case per sample, all attacks",
    }
)
CHANCE_STYLE = {"color": "0.45", "ls": ":", "lw": 1.2}


def rule_colour(rule: str) -> str:
    """The colour of ``rule``: :data:`RULE_COLOURS`, or for an unlisted rule a spare colour chosen by a
    hash of its name (the same in every run).

    >>> rule_colour("bp"), rule_colour("my-rule") == rule_colour("my-rule")
    ('#000000', True)
    """
    if rule in RULE_COLOURS:
        return RULE_COLOURS[rule]
    h = int(hashlib.md5(rule.encode()).hexdigest()[:8], 16)
    return _SPARE_COLOURS[h % len(_SPARE_COLOURS)]


def new_figure(figsize=(6.4, 4.0)):
    """A matplotlib ``Figure`` with constrained layout (no pyplot state; save it with :func:`figure_png`)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def figure_png(fig, dpi: int = 120) -> bytes:
    """The figure as PNG bytes (layout applied: everything drawn lies inside the canvas)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _axes(ax, figsize=(6.4, 4.0)):
    return ax if ax is not None else new_figure(figsize).add_subplot()


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _yerr(v: Mapping) -> tuple[float, float]:
    """(below, above) the mean, in points; zero where the interval is undefined."""
    m, lo, hi = v["mean"], v.get("lo"), v.get("hi")
    return (100 * (m - lo) if _finite(lo) else 0.0, 100 * (hi - m) if _finite(hi) else 0.0)


def error_bar_caption(entries: Sequence[Mapping], chance: float | None = None) -> str:
    """What the error bars of a figure drawn from summary ``entries`` are, in one line."""
    methods = sorted({str(v.get("interval", "")) for v in entries} - {""})
    seeds = sorted({int(v.get("n_seeds", 1)) for v in entries})
    fams = {int(v.get("n_seeds", 1)): set() for v in entries}
    for v in entries:
        fams[int(v.get("n_seeds", 1))].add(str(v.get("family", "")))
    how = []
    for m in methods:
        if m.lower() == "wilson":
            how.append("Wilson score interval on the test samples (one seed)")
        else:
            how.append(f"Student-t interval of the mean ({m})" if "seed" in m else m)
    text = "Error bars: 95% intervals, " + ("; ".join(how) or "as in the report")
    if len(seeds) == 1 and seeds[0] > 1:
        text += f"; points are means over {seeds[0]} seeds"
    elif len(seeds) > 1:  # e.g. spiking models attacked on their first seed only
        parts = [f"{' and '.join(sorted(fams[n] - {''})) or 'models'}: {n} seed{'s' if n > 1 else ''}" for n in seeds]
        text += f"; points are means over the seeds attacked ({', '.join(parts)})"
    if chance is not None:
        text += f". Dotted line: chance ({100 * chance:.1f}%)"
    return text + "."


def _style(rule: str, v: Mapping) -> dict:
    return {
        "color": rule_colour(rule),
        "ls": FAMILY_LINESTYLES.get(v.get("family", "rate"), "-."),
        "marker": GRADIENT_MARKERS.get(v.get("gradient", ""), "."),
    }


def _lines(summary: Mapping, rules: Sequence[str], epsilons: Sequence[float], select: Callable) -> list:
    """``[(rule, attack key, [(eps, entry), ...]), ...]``: one line per rule and (attack, method, source)."""
    out = []
    eps_set = set(epsilons)
    for rule in rules:
        groups: dict[tuple, list] = {}
        for k, v in summary.items():
            if k[0] == rule and k[4] in eps_set and select(k, v):
                groups.setdefault(k[1:4], []).append((k[4], v))
        for attack, pts in sorted(groups.items()):
            out.append((rule, attack, sorted(pts, key=lambda p: p[0])))
    return out


def _draw_lines(ax, lines: list, epsilons: Sequence[float]) -> None:
    eps = sorted(set(epsilons))
    step = min((b - a for a, b in zip(eps, eps[1:])), default=0.1) or 0.1
    n = len(lines)
    for i, (rule, _, pts) in enumerate(lines):
        dodge = (i - (n - 1) / 2) * 0.12 * step / max(n, 1)  # small horizontal dodge so bars stay visible
        x = [e + dodge for e, _ in pts]
        y = [100 * v["mean"] for _, v in pts]
        below, above = zip(*(_yerr(v) for _, v in pts))
        ax.errorbar(
            x,
            y,
            yerr=[below, above],
            capsize=2,
            markersize=4,
            lw=1.2,
            elinewidth=0.8,
            gid=rule,  # the rule of the line, for tests and SVG readers
            **_style(rule, pts[0][1]),
        )


def _chance(ax, chance: float | None, vertical: bool = False) -> None:
    if chance is not None:
        ax.axhline(100 * chance, **CHANCE_STYLE)
        if vertical:
            ax.axvline(100 * chance, **CHANCE_STYLE)


def plot_accuracy_vs_epsilon(
    summary: Mapping,
    rules: Sequence[str],
    epsilons: Sequence[float],
    select: Callable,
    title: str = "",
    *,
    chance: float | None = None,
    legend: bool = True,
    ax=None,
):
    """Accuracy (%) against epsilon: one line per rule and attack of ``summary`` that ``select(key,
    entry)`` keeps; 95% intervals as error bars; colour by rule, line style by family, marker by
    gradient; a dotted chance line. Returns the axes."""
    ax = _axes(ax)
    _draw_lines(ax, _lines(summary, rules, epsilons, select), epsilons)
    _chance(ax, chance)
    ax.set_xlabel("epsilon (L-inf)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-3, 103)
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        handles = _legend_handles(summary, rules, select, chance)
        ax.legend(handles=handles, fontsize=6, loc="upper right")
    return ax


def _legend_handles(summary: Mapping, rules: Sequence[str], select: Callable, chance: float | None) -> list:
    from matplotlib.lines import Line2D

    kept = [(k, v) for k, v in summary.items() if k[0] in rules and select(k, v)]
    handles = []
    for rule in rules:
        fams = [v.get("family", "rate") for k, v in kept if k[0] == rule]
        if fams:
            handles.append(Line2D([], [], color=rule_colour(rule), ls=FAMILY_LINESTYLES.get(fams[0], "-."), label=rule))
    for g in GRADIENT_MARKERS:
        if any(v.get("gradient") == g for _, v in kept):
            handles.append(
                Line2D([], [], color="0.3", ls="", marker=GRADIENT_MARKERS[g], markersize=5, label=GRADIENT_LABELS[g])
            )
    if chance is not None:
        handles.append(Line2D([], [], label=f"chance ({100 * chance:.0f}%)", **CHANCE_STYLE))
    return handles


def plot_accuracy_panels(
    summary: Mapping,
    rules: Sequence[str],
    epsilons: Sequence[float],
    panels: Sequence[tuple[str, Callable]],
    *,
    chance: float | None = None,
    title: str = "",
    fig=None,
):
    """Small multiples: one panel per ``(panel title, select)`` of accuracy against epsilon (shared
    axes), one legend for the figure, a caption saying what the error bars are. Returns the figure."""
    n = len(panels)
    rows, cols = _grid(n)
    if fig is None:
        fig = new_figure((3.4 * cols + 2.6, 2.7 * rows + 0.9))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, (name, select) in zip(axes, panels):
        plot_accuracy_vs_epsilon(summary, rules, epsilons, select, name, chance=chance, legend=False, ax=ax)
    for ax in axes[n:]:
        ax.set_visible(False)
    _inner_labels(axes[:n], cols)

    def any_panel(k, v):
        return any(sel(k, v) for _, sel in panels)

    entries = [v for k, v in summary.items() if k[0] in rules and k[4] in set(epsilons) and any_panel(k, v)]
    fig.legend(handles=_legend_handles(summary, rules, any_panel, chance), loc="outside right upper", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, ha="left")  # left: clear of the legend at the upper right
    _caption(fig, error_bar_caption(entries, chance))
    return fig


def _caption(fig, text: str) -> None:
    """A caption under the panels, wrapped to the figure's width (constrained layout keeps it inside)."""
    width = max(int(fig.get_figwidth() * 16), 40)  # ~16 characters per inch at 7 pt
    fig.supxlabel(textwrap.fill(text, width), fontsize=7)


def _grid(n: int) -> tuple[int, int]:
    cols = min(max(n, 1), 2 if n == 4 else 3)
    return max(math.ceil(n / cols), 1), cols


def _inner_labels(axes, cols: int) -> None:
    """Axis labels on the outer panels only; tick labels on every panel (shared axes hide them)."""
    n = len(axes)
    for i, ax in enumerate(axes):
        ax.tick_params(labelbottom=True, labelleft=True)
        if i % cols:
            ax.set_ylabel("")
        if i + cols < n:
            ax.set_xlabel("")


def clean_entry(summary: Mapping, rule: str) -> dict | None:
    """The summary entry of ``rule``'s clean accuracy: epsilon 0 of its own attacks, the first found of
    white-box, surrogate, rate-approx, score, then any kind (the attack does nothing at epsilon 0, so
    every kind measures the same clean model; spiking kinds differ only by their Poisson draws)."""
    order = ("whitebox", "surrogate", "rate-approx", "score", "transfer")
    found = sorted(
        ((k, v) for k, v in summary.items() if k[0] == rule and k[4] == 0 and k[1] != "worst-case"),
        key=lambda kv: (order.index(kv[0][1]) if kv[0][1] in order else len(order), kv[0][2], kv[0][3]),
    )
    return found[0][1] if found else None


def plot_robust_vs_clean(
    summary: Mapping,
    rules: Sequence[str],
    epsilon: float,
    *,
    chance: float | None = None,
    legend: bool = True,
    ax=None,
):
    """Worst-case robust accuracy at ``epsilon`` (y) against clean accuracy (x), one point per rule with
    its 95% intervals on both axes; rate models circles, spiking models squares; chance lines and the
    diagonal (no loss). A reader compares robustness at matched clean accuracy. Returns the axes."""
    ax = _axes(ax, (4.5, 4.0))
    for rule in rules:
        clean = clean_entry(summary, rule)
        robust = summary.get((rule, "worst-case", "all", "", epsilon))
        if clean is None or robust is None:
            continue
        fam = robust.get("family", clean.get("family", "rate"))
        ax.errorbar(
            [100 * clean["mean"]],
            [100 * robust["mean"]],
            xerr=[[_yerr(clean)[0]], [_yerr(clean)[1]]],
            yerr=[[_yerr(robust)[0]], [_yerr(robust)[1]]],
            color=rule_colour(rule),
            marker="o" if fam == "rate" else "s",
            markersize=6,
            capsize=2,
            ls="",
            label=rule,
            gid=rule,
        )
    _chance(ax, chance, vertical=True)
    ax.plot([0, 100], [0, 100], color="0.8", lw=0.8, zorder=0)
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel("worst-case robust accuracy (%)")
    ax.set_title(f"epsilon {epsilon:g}", fontsize=9)
    if legend:
        ax.legend(fontsize=6, loc="upper left")
    return ax


def plot_robust_vs_clean_panels(
    summary: Mapping,
    rules: Sequence[str],
    epsilons: Sequence[float],
    *,
    chance: float | None = None,
    title: str = "",
    fig=None,
):
    """:func:`plot_robust_vs_clean` for each epsilon, side by side, with one legend and a caption."""
    from matplotlib.lines import Line2D

    eps = [e for e in epsilons if e > 0]
    rows, cols = _grid(len(eps))
    if fig is None:
        fig = new_figure((3.3 * cols + 2.0, 3.1 * rows + 0.9))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, e in zip(axes, eps):
        plot_robust_vs_clean(summary, rules, e, chance=chance, legend=False, ax=ax)
    for ax in axes[len(eps) :]:
        ax.set_visible(False)
    _inner_labels(axes[: len(eps)], cols)
    handles = []
    entries = []
    for rule in rules:
        pts = [summary[k] for k in summary if k[0] == rule and k[1] == "worst-case" and k[4] in eps]
        if pts and clean_entry(summary, rule) is not None:
            fam = pts[0].get("family", "rate")
            handles.append(
                Line2D(
                    [],
                    [],
                    color=rule_colour(rule),
                    marker="o" if fam == "rate" else "s",
                    ls="",
                    label=f"{rule} ({fam})",
                )
            )
            entries += pts + [clean_entry(summary, rule)]
    if chance is not None:
        handles.append(Line2D([], [], label=f"chance ({100 * chance:.0f}%)", **CHANCE_STYLE))
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, ha="left")  # left: clear of the legend at the upper right
    _caption(fig, error_bar_caption(entries, chance) + " Grey diagonal: no loss from the attack.")
    return fig
