"""What a comparison found, in words generated from its numbers; each model's settings; chance level.

The summary of :func:`bridges.compare.results.summarise` (``(rule, attack, method, source, epsilon) ->
{"mean", "lo", "hi", "interval", "n_seeds", "per_seed", "family", "gradient", ...}``, fractions) and
the verdicts of :func:`bridges.compare.verdicts.verdicts` become:

* :func:`summary_lines` - the report's opening paragraph: which rules keep the most accuracy at each
  epsilon under the per-sample worst case (Croce & Hein 2020, "Reliable evaluation of adversarial
  robustness with an ensemble of diverse parameter-free attacks", arXiv 2003.01690) and by how much
  against BP, which verdicts are masked or inconclusive, which models are near chance;
* :func:`near_chance` - the near-chance test (below);
* :func:`model_settings` - architecture, epochs, preset, simulator and target, time grid and samples
  evaluated of each rule, read from the rows' configs.

Every accuracy is written by :func:`fmt_acc` (``"mean [lo, hi]"`` in %), the one formatter of the
report's tables too, so the summary's numbers are the tables' numbers.

Near chance
-----------
Chance is ``1 / n_classes`` (the accuracy of a constant or random guess on balanced classes). A model
is **near chance** when the lower end of the 95% interval of its clean accuracy lies below
``chance + margin`` (``margin`` = :data:`NEAR_CHANCE_MARGIN`, 5 points): the numbers cannot rule out
that the model is within ``margin`` of guessing, so its robustness figures mean little (an attack
cannot lower an accuracy that is already at chance, and a flat curve reads as "robust"). When the
interval is undefined (one seed without an interval) the mean is used instead of the lower end.

Example
-------
>>> s = {("bp", "whitebox", "fgsm", "", 0.0): {"mean": 0.96, "lo": 0.94, "hi": 0.98},
...      ("x", "surrogate", "fgsm", "", 0.0): {"mean": 0.17, "lo": 0.0, "hi": 0.35}}
>>> {r: v["near"] for r, v in near_chance(s, ("bp", "x"), chance=0.1).items()}
{'bp': False, 'x': True}
>>> fmt_acc({"mean": 0.9634, "lo": 0.9512, "hi": 0.9756})
'96.3 [95.1, 97.6]'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from bridges.compare.plots import clean_entry

__all__ = [
    "NEAR_CHANCE_MARGIN",
    "TWIN_ALPHA",
    "agreement_rows",
    "budget_rows",
    "evidence_cell",
    "kind_key",
    "markdown_table",
    "method_key",
    "stdp_claim",
    "chance_level",
    "fmt_acc",
    "fmt_points",
    "model_settings",
    "near_chance",
    "paired_difference",
    "split_epsilons",
    "summary_lines",
]

#: twin and Brian2 count as disagreeing on an evaluation's accuracy when the two-sided McNemar test of
#: their per-sample correctness falls below this (independent Poisson draws make some disagreement
#: expected; this level flags about one evaluation in a hundred by chance)
TWIN_ALPHA = 0.01

#: a model is near chance when its clean accuracy's lower 95% bound is below chance + this (fraction)
NEAR_CHANCE_MARGIN = 0.05


def chance_level(n_classes: int) -> float:
    """``1 / n_classes``: the accuracy of guessing (balanced classes).

    >>> chance_level(10), chance_level(2)
    (0.1, 0.5)
    """
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    return 1.0 / int(n_classes)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def fmt_acc(v: Mapping | None) -> str:
    """``"mean [lo, hi]"`` in % with one decimal (``"mean"`` alone where the interval is undefined)."""
    if not v:
        return ""
    text = f"{100 * v['mean']:.1f}"
    if _finite(v.get("lo")) and _finite(v.get("hi")):
        text += f" [{100 * v['lo']:.1f}, {100 * v['hi']:.1f}]"
    return text


def fmt_points(d: float) -> str:
    """A difference of accuracies in points, signed: ``+5.6``."""
    return f"{100 * d:+.1f}"


def split_epsilons(summary: Mapping, epsilons: Sequence[float], sanity_epsilon: float | None = None) -> tuple:
    """``(sweep, sanity)``: the comparison's ``epsilons`` (the tables, curves and rankings), and the sanity
    epsilons: ``sanity_epsilon`` and the epsilons of summary entries with ``role`` ``"sanity"``, when not
    in the sweep (reported in their own section).

    >>> split_epsilons({("m", "whitebox", "pgd", "", 1.0): {"role": "sanity"}}, (0.1, 0.0))
    ([0.0, 0.1], [1.0])
    """
    sweep = sorted({float(e) for e in epsilons})
    sanity = {float(k[4]) for k, v in summary.items() if v.get("role") == "sanity"}
    if sanity_epsilon is not None:
        sanity.add(float(sanity_epsilon))
    return sweep, sorted(sanity - set(sweep))


def near_chance(
    summary: Mapping, rules: Sequence[str], chance: float, margin: float = NEAR_CHANCE_MARGIN
) -> dict[str, dict]:
    """Per rule with a clean accuracy: ``{"clean": entry, "near": bool, "bound": the value tested}``
    (near chance: lower 95% bound, or the mean if undefined, below ``chance + margin``; module doc)."""
    out = {}
    for rule in rules:
        clean = clean_entry(summary, rule)
        if clean is None:
            continue
        bound = clean["lo"] if _finite(clean.get("lo")) else clean["mean"]
        out[rule] = {"clean": clean, "near": bool(bound < chance + margin), "bound": bound}
    return out


def paired_difference(a: Mapping, b: Mapping) -> tuple[float, float, float, str] | None:
    """Mean and 95% interval of ``a - b`` over the seeds both summary entries hold (``per_seed``),
    paired by seed (:func:`bridges.stats.seed_interval`, bounds [-1, 1]); None with fewer than 2."""
    from bridges.stats import seed_interval

    pa, pb = a.get("per_seed") or {}, b.get("per_seed") or {}
    common = sorted(set(pa) & set(pb), key=str)
    if len(common) < 2:
        return None
    return seed_interval([pa[s] - pb[s] for s in common], bounds=(-1.0, 1.0))


def _worst(summary: Mapping, rule: str, eps: float) -> dict | None:
    return summary.get((rule, "worst-case", "all", "", eps))


def summary_lines(
    summary: Mapping,
    verdicts: Mapping,
    rules: Sequence[str],
    epsilons: Sequence[float],
    chance: float,
    *,
    reference: str = "bp",
    margin: float = NEAR_CHANCE_MARGIN,
) -> list[str]:
    """The report's summary as markdown bullet lines, every number from ``summary``/``verdicts``.

    Per epsilon of ``epsilons`` (the sweep, without the sanity epsilon) above 0, the rule with the
    highest worst-case accuracy among the models not near chance (:func:`near_chance`), its difference
    to ``reference`` (paired over seeds where both have several, else whether the two intervals
    overlap) and the runner-up; then the masked and inconclusive verdicts with their reasons, and the
    near-chance models.
    """
    lines = []
    sweep = sorted(epsilons)
    near = {r: v for r, v in near_chance(summary, rules, chance, margin).items() if v["near"]}
    for eps in (e for e in sweep if e > 0):
        ranked = sorted(
            ((r, _worst(summary, r, eps)) for r in rules if _worst(summary, r, eps) is not None and r not in near),
            key=lambda rv: -rv[1]["mean"],
        )
        if not ranked:
            continue
        best, bv = ranked[0]
        text = f"- **eps {eps:g}** (worst case over all attacks): **{best}** keeps the most, {fmt_acc(bv)}%"
        ref = _worst(summary, reference, eps)
        if ref is not None and best != reference:
            text += f"; {reference} {fmt_acc(ref)}%: {fmt_points(bv['mean'] - ref['mean'])} points"
            diff = paired_difference(bv, ref)
            if diff is not None and _finite(diff[1]):
                text += f" (paired over seeds, 95% interval [{fmt_points(diff[1])}, {fmt_points(diff[2])}])"
            elif _finite(bv.get("lo")) and _finite(ref.get("lo")):
                overlap = bv["lo"] <= ref["hi"] and ref["lo"] <= bv["hi"]
                text += " (the intervals overlap)" if overlap else " (the intervals do not overlap)"
        elif best == reference:
            text += f" ({reference} is the reference)"
        others = [(r, v) for r, v in ranked[1:] if r != reference]
        if others:
            text += f"; next {others[0][0]} {fmt_acc(others[0][1])}%"
        if bv["mean"] < chance + margin:
            text += f"; every model is within {100 * margin:.0f} points of chance or below it here"
        lines.append(text + ".")
    if not lines:
        lines.append("- No worst-case rows above epsilon 0: the summary cannot rank the rules' robustness.")
    for kind in ("masked", "inconclusive"):
        which = [(r, v) for r, v in verdicts.items() if v.get("verdict") == kind]
        if which:
            parts = "; ".join(f"{r} ({v.get('reason', '').rstrip('.')})" for r, v in which)
            lines.append(f"- Verdict **{kind}**: {parts}.")
    reliable = [r for r, v in verdicts.items() if v.get("verdict") == "gradient attacks reliable"]
    if reliable:
        lines.append(f"- Gradient attacks reliable: {', '.join(reliable)}.")
    if near:
        parts = ", ".join(f"{r} {fmt_acc(v['clean'])}%" for r, v in near.items())
        lines.append(
            f"- **Near chance** ({100 * chance:.1f}%; clean accuracy's lower 95% bound within "
            f"{100 * margin:.0f} points of it): {parts}. Their robustness numbers say little; they are left "
            "out of the rankings above."
        )
    else:
        lines.append(f"- No model is near chance ({100 * chance:.1f}%).")
    return lines


BUDGET_FIELDS = ("steps", "queries", "eot_samples")
_METHOD_ORDER = ("fgsm", "pgd", "apgd-ce", "apgd-dlr", "square")


def method_key(m: str) -> tuple:
    """Sort key of attack methods: the suite's order, then any other by name."""
    return (_METHOD_ORDER.index(m) if m in _METHOD_ORDER else len(_METHOD_ORDER), m)


def kind_key(kind: str) -> int:
    """Sort key of attack kinds (:data:`bridges.compare.config.ATTACK_KINDS` order)."""
    from bridges.compare.config import ATTACK_KINDS

    return ATTACK_KINDS.index(kind) if kind in ATTACK_KINDS else len(ATTACK_KINDS)


def _num(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: fields of listed evidence (hits, shares, checks) whose largest value the verdict table shows
_EVIDENCE_FIELDS = ("share", "accuracy", "p")


def evidence_cell(item) -> str:
    """One evidence item of a verdict (a dict with ``flag``, ``measured`` and its numbers) as a short table
    cell: ``**flag**`` or ``no``, its scalar numbers, the largest value of per-seed numbers, and the count
    of listed cases (with the largest share/accuracy/p among them). The full evidence is in results.json."""
    if not isinstance(item, dict):
        return _num(item) if item is not None else ""
    if item.get("measured") is False:
        return "not measured"
    parts = []
    for k, v in item.items():
        if k in ("flag", "measured"):
            continue
        if isinstance(v, Mapping):
            nums = [x for x in v.values() if _is_number(x)]
            if nums:
                parts.append(f"{k} max {_num(max(nums))}")
        elif isinstance(v, (list, tuple)):
            text = f"{k}: {len(v)}"
            for f in _EVIDENCE_FIELDS:
                vals = [x[f] for x in v if isinstance(x, Mapping) and _is_number(x.get(f))]
                if vals:
                    text += f" (max {f} {_num(max(vals))})"
                    break
            parts.append(text)
        else:
            parts.append(f"{k} {_num(v)}")
    head = "**flag**" if item.get("flag") else "no"
    return f"{head}: {'; '.join(parts)}" if parts else head


def markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def budget_rows(rows: Sequence[Mapping]) -> list[list[str]]:
    """The attack budgets the rows ran with, per method: ``[method, kinds, steps, queries, EOT draws]``
    (the budget checks' doubled values in parentheses)."""
    out: dict[str, dict] = {}
    for r in rows:
        if r["attack"] in ("worst-case", "clean") or r["epsilon"] == 0:
            continue
        b = out.setdefault(r["method"], {"kinds": set(), **{f: (set(), set()) for f in BUDGET_FIELDS}})
        b["kinds"].add(r["attack"])
        check = r.get("role") == "budget-check"
        for f in BUDGET_FIELDS:
            if r.get(f) not in (None, ""):
                b[f][check].add(int(r[f]))
    body = []
    for m in sorted(out, key=method_key):
        b = out[m]
        cells = []
        for f in BUDGET_FIELDS:
            main, check = b[f]
            text = ", ".join(map(str, sorted(main))) or "-"
            extra = sorted(check - main)
            cells.append(text + (f" (check: {', '.join(map(str, extra))})" if extra else ""))
        body.append([m, ", ".join(sorted(b["kinds"], key=kind_key)), *cells])
    return body


def agreement_rows(rows: Sequence[Mapping]) -> list[list[str]]:
    """Twin vs Brian2 per spiking rule: ``[rule, clean agreement %, adversarial evaluations, mean
    agreement %, lowest agreement % (where), largest |twin - Brian2| accuracy gap in points,
    evaluations whose accuracies differ beyond the spike draws]``.

    The last cell counts the evaluations (clean and adversarial) whose two-sided exact McNemar test
    of twin against Brian2 correctness (``twin_p``, :func:`bridges.stats.mcnemar_two_sided_p`) falls
    below :data:`TWIN_ALPHA`, beside the number expected by chance if the two differ only by their
    independent Poisson draws (``alpha`` times the evaluations tested)."""
    by_rule: dict[str, list] = {}
    clean: dict[str, dict] = {}
    clean_rows: dict[str, dict] = {}
    for r in rows:
        if r.get("agreement") in (None, "") or r["attack"] == "worst-case":
            continue
        if r["epsilon"] == 0:
            clean.setdefault(r["rule"], {})[r["seed"]] = float(r["agreement"])  # one clean evaluation per seed
            clean_rows.setdefault(r["rule"], {})[r["seed"]] = r
        elif r.get("role", "attack") != "budget-check":
            by_rule.setdefault(r["rule"], []).append(r)
    body = []
    for rule in dict.fromkeys([*clean, *by_rule]):
        rs = by_rule.get(rule, [])
        c = list(clean.get(rule, {}).values())
        cells = [rule, f"{100 * sum(c) / len(c):.1f}" if c else "-", str(len(rs))]
        if rs:
            low = min(rs, key=lambda r: float(r["agreement"]))
            gaps = [
                abs(float(r["twin_accuracy"]) - float(r["accuracy"]))
                for r in rs
                if r.get("twin_accuracy") not in (None, "")
            ]
            cells += [
                f"{100 * sum(float(r['agreement']) for r in rs) / len(rs):.1f}",
                f"{100 * float(low['agreement']):.1f} "
                f"({low['attack']} {low['method']} eps {low['epsilon']:g} seed {low['seed']})",
                f"{100 * max(gaps):.1f}" if gaps else "-",
            ]
        else:
            cells += ["-", "-", "-"]
        tested = [
            float(r["twin_p"])
            for r in [*rs, *clean_rows.get(rule, {}).values()]
            if r.get("twin_p") not in (None, "") and not _isnan(r["twin_p"])
        ]
        cells.append(
            f"{sum(p < TWIN_ALPHA for p in tested)} of {len(tested)} (chance: {TWIN_ALPHA * len(tested):.1f})"
            if tested
            else "-"
        )
        body.append(cells)
    return body


def _isnan(v) -> bool:
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def stdp_claim(summary: dict, rules: tuple, sweep: list, verdict: Mapping | None = None) -> str | None:
    """The sentence on the STDP/association paper's claim (better FGSM robustness than BP): per epsilon of
    the sweep, the lowest accuracy any FGSM attack leaves the STDP model against BP's white-box FGSM,
    "higher"/"lower" only when the 95% intervals do not overlap; ``verdict`` (the STDP model's) adds a
    caveat when its gradient attacks are not reliable. None when either model is missing."""
    rule, ref = "stdp-association", "bp"
    if rule not in rules or ref not in rules:
        return None
    parts = []
    for eps in (e for e in sweep if e > 0):
        own = [
            v for k, v in summary.items() if k[0] == rule and k[2] == "fgsm" and k[4] == eps and k[1] != "worst-case"
        ]
        bp = summary.get((ref, "whitebox", "fgsm", "", eps))
        if not own or bp is None:
            continue
        worst = min(own, key=lambda v: v["mean"])
        lo, hi = worst.get("lo", worst["mean"]), worst.get("hi", worst["mean"])
        if lo > bp.get("hi", bp["mean"]):
            word = "higher than"
        elif hi < bp.get("lo", bp["mean"]):
            word = "lower than"
        else:
            word = "not distinguishable from"
        parts.append(f"at eps {eps:g} its strongest FGSM leaves {fmt_acc(worst)}%, {word} BP's {fmt_acc(bp)}%")
    if not parts:
        return None
    clean = [clean_entry(summary, r) for r in (rule, ref)]
    at = f" (clean: {rule} {fmt_acc(clean[0])}%, {ref} {fmt_acc(clean[1])}%)" if all(clean) else ""
    caveat = ""
    if verdict and verdict.get("verdict") != "gradient attacks reliable":
        caveat = f" Its verdict is {verdict.get('verdict')}: its FGSM numbers may overstate its robustness."
    return (
        f"The STDP/association paper reports better FGSM robustness than BP; here{at} " + "; ".join(parts) + " "
        "(95% intervals; 'higher'/'lower' only when the intervals do not overlap)." + caveat
    )


def _hidden(config: Mapping) -> str:
    h = config.get("hidden")
    return "-".join(str(int(x)) for x in h) if h else ""


def _spiking_preset(rule: str, config: Mapping) -> str:
    params = config.get("params") or {}
    if config.get("preset"):
        return str(config["preset"])
    if not params:
        return "none (rule defaults)"
    from spiking.presets import PRESETS

    for name, p in PRESETS.items():
        if p.get("params") == params:
            return name
    return "custom parameters"


def _rate_preset(config: Mapping) -> str:
    from bridges.runs.presets import rate_preset

    base = rate_preset(config.get("dataset", ""), config.get("rule", ""))
    diff = [
        f"{k}={config[k]}"
        for k in sorted(base)
        if k in config and (list(base[k]) if isinstance(base[k], tuple) else base[k]) != config[k]
    ]
    return f"{config.get('dataset', '')} rate preset" + (f" + {', '.join(diff)}" if diff else "")


def _samples(rs: Sequence[Mapping]) -> str:
    by_n: dict[int, set] = {}
    for r in rs:
        if r.get("attack") != "worst-case":
            by_n.setdefault(int(r["n_eval"]), set()).add(r.get("method", ""))
    if len(by_n) <= 1:
        return str(next(iter(by_n), ""))
    return ", ".join(f"{n} ({'/'.join(sorted(m))})" for n, m in sorted(by_n.items()))


def model_settings(rows: Sequence[Mapping]) -> list[dict]:
    """One line per rule: ``rule, family, architecture, epochs, preset, simulator, dt_ms,
    t_present_ms, samples`` (samples evaluated per attack), read from the rows' ``config`` (the
    spiking run's missing fields take :data:`bridges.runs.spiking.RUN_DEFAULTS`). Settings that
    differ between a rule's seeds are joined with " / "."""
    from bridges.runs.spiking import RUN_DEFAULTS

    by_rule: dict[str, list] = {}
    for r in rows:
        by_rule.setdefault(r["rule"], []).append(r)
    out = []
    for rule, rs in by_rule.items():
        lines = []
        for r in rs:
            c = r.get("config") or {}
            if r["family"] == "spiking":
                c = {**RUN_DEFAULTS, **c}
                lines.append(
                    {
                        "architecture": f"LIF, hidden {_hidden(c)}",
                        "epochs": str(c.get("epochs", "")),
                        "preset": _spiking_preset(rule, c),
                        "simulator": f"Brian2 ({c['target']}); attacks via snntorch twin",
                        "dt_ms": f"{c['dt_ms']:g}",
                        "t_present_ms": f"{c['t_present_ms']:g}",
                    }
                )
            else:
                lines.append(
                    {
                        "architecture": f"{str(c.get('model', '')).upper()}, hidden {_hidden(c)}, "
                        f"{c.get('activation', '')}" + (", skip" if c.get("skip") else ""),
                        "epochs": str(c.get("epochs", "")),
                        "preset": _rate_preset(c),
                        "simulator": f"torch ({c.get('dtype', 'float32')})",
                        "dt_ms": "-",
                        "t_present_ms": "-",
                    }
                )
        merged = {k: " / ".join(dict.fromkeys(line[k] for line in lines)) for k in lines[0]}
        out.append({"rule": rule, "family": rs[0]["family"], **merged, "samples": _samples(rs)})
    return out
