"""The comparison's report and figures: summary from the numbers, settings, chance, colours, layout.

The rows are built here, per sample (``correct`` strings), for four models with known accuracies: two
good rate models, a mediocre spiking model and a spiking model at chance; the summary, worst cases and
verdicts come from :mod:`bridges.compare.results` and :mod:`bridges.compare.verdicts`.
"""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from bridges.compare.config import CompareConfig
from bridges.compare.plots import RULE_COLOURS, rule_colour
from bridges.compare.report import report_figures, write_report
from bridges.compare.results import summarise, worst_case_rows
from bridges.compare.summary import (
    NEAR_CHANCE_MARGIN,
    chance_level,
    fmt_acc,
    model_settings,
    near_chance,
    split_epsilons,
)
from bridges.compare.verdicts import verdicts

N = 200  # test samples per evaluation
SEEDS = (0, 1, 2)
EPS = (0.0, 0.1, 0.2)
SANITY = 1.0
#: rule -> (clean accuracy, share of the correct samples an attack leaves correct per 0.1 of epsilon)
MODELS = {
    "bp": (0.96, 0.45),
    "fa": (0.95, 0.6),
    "stdp-association": (0.46, 0.8),
    "spiking-local": (0.10, 0.9),
}
RATE_CONFIG = {
    "model": "mlp",
    "hidden": [64, 64],
    "activation": "relu",
    "skip": False,
    "epochs": 30,
    "batch_size": 32,
    "lr": 0.002,
    "align_batch": 0,
    "dtype": "float32",
    "dataset": "digits",
}


def _spiking_config(rule: str) -> dict:
    from spiking.presets import PRESETS

    c = {"hidden": [100, 100], "epochs": 1, "dataset": "digits", "rule": rule, "classes": None}
    if rule == "spiking-local":
        c.update(dt_ms=1.0, t_present_ms=50.0, params=PRESETS["spiking-local-out"]["params"])
    else:
        c.update(dt_ms=0.5, t_present_ms=150.0)
    return c


def _bits(p: float, rng: np.random.Generator) -> str:
    return "".join("1" if b else "0" for b in rng.random(N) < p)


def _rows() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for rule, (clean, slope) in MODELS.items():
        spiking = rule in ("stdp-association", "spiking-local")
        kinds = (
            [("surrogate", "fgsm", ""), ("surrogate", "pgd", ""), ("rate-approx", "pgd", "")]
            if spiking
            else [("whitebox", "fgsm", ""), ("whitebox", "pgd", "")]
        )
        kinds += [("score", "square", "")] + ([("transfer", "pgd", "bp")] if rule != "bp" else [])
        for seed in SEEDS:
            config = dict(_spiking_config(rule) if spiking else RATE_CONFIG, rule=rule, seed=seed)
            base = {
                "dataset": "digits",
                "rule": rule,
                "family": "spiking" if spiking else "rate",
                "simulator": "brian2" if spiking else "torch",
                "seed": seed,
                "config": config,
                "model_config_key": f"{rule}-{seed}",
            }
            clean_bits = _bits(clean, rng)
            for eps, role in (*((e, "attack") for e in EPS), (SANITY, "sanity"), (EPS[-1], "budget-check")):
                u = rng.random(N)  # one draw per sample: the attacks' fooled sets are nested
                for k, (attack, method, source) in enumerate(kinds if role == "attack" else [kinds[1]]):
                    keep = max(0.0, 1 - eps * 10 * (1 - slope)) * (1 - 0.03 * k) if eps < SANITY else 0.0
                    if rule == "stdp-association" and attack == "transfer":
                        keep *= 0.6  # its own gradients mislead: transfer beats them (verdict: masked)
                    bits = "".join(b if eps == 0 or u[i] < keep else "0" for i, b in enumerate(clean_bits))
                    row = dict(base, attack=attack, method=method, source=source, epsilon=eps, correct=bits)
                    row.update(
                        accuracy=bits.count("1") / N,
                        n_eval=N,
                        role=role,
                        task_key=f"eval-{rule}-{seed}-{attack}-{method}-{eps}-{role}",
                        zero_grad_share=0.0,
                    )
                    if method == "pgd":
                        row["steps"] = 20 if role == "budget-check" else 10
                    if method == "square":
                        row["queries"] = 300
                    if attack == "surrogate":
                        row["eot_samples"] = 20
                    if spiking:  # one STDP evaluation whose twin score differs beyond the draws
                        odd = (rule, role, eps, k, seed) == ("stdp-association", "attack", EPS[-1], 0, 0)
                        row.update(twin_accuracy=row["accuracy"], agreement=0.98, twin_p=0.001 if odd else 0.5)
                    rows.append(row)
    for r in rows:
        from bridges.stats import wilson_interval

        r["ci_lo"], r["ci_hi"] = wilson_interval(r["correct"].count("1"), N)
        r["interval"] = "wilson"
    return rows + worst_case_rows(rows)


@pytest.fixture(scope="module")
def comparison():
    cfg = CompareConfig(rules=tuple(MODELS), seeds=SEEDS, epsilons=EPS, methods=("fgsm", "pgd"), sanity_epsilon=SANITY)
    rows = _rows()
    summary = summarise(rows)
    return cfg, rows, summary, verdicts(rows, summary, cfg)


@pytest.fixture(scope="module")
def report(comparison, tmp_path_factory):
    cfg, rows, summary, verd = comparison
    out = tmp_path_factory.mktemp("report")
    rep = write_report(out, cfg, rows, {}, "compare --test", {"torch": "x"}, 12.0, summary=summary, verdicts=verd)
    return out, rep, (out / "report.md").read_text()


@pytest.fixture(scope="module")
def figures(comparison):
    cfg, rows, summary, _ = comparison
    sweep, sanity = split_epsilons(summary, EPS, None)
    assert (sweep, sanity) == (list(EPS), [SANITY])  # the sanity rows' epsilon, from their role
    return report_figures(cfg, summary, sweep, 0.1)


def _table(text: str, heading: str) -> list[dict]:
    """The markdown table under ``## heading`` as dicts."""
    block = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in block.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in ln.strip("|").split("|")))) for ln in lines[2:]]


# --- chance ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule,near",
    [("spiking-local", True), ("bp", False), ("fa", False), ("stdp-association", False)],
    ids=["chance-level-model-warned", "bp-not-warned", "fa-not-warned", "mediocre-46pc-not-warned"],
)
def test_near_chance_fires_for_a_chance_level_model_only(comparison, report, rule, near):
    cfg, rows, summary, _ = comparison
    assert near_chance(summary, cfg.rules, chance_level(10))[rule]["near"] is near
    warning = next(ln for ln in report[2].splitlines() if ln.startswith("> **Warning: near chance.**"))
    assert (f"{rule}: clean accuracy" in warning) is near
    assert _table(report[2], "Clean accuracy")[list(MODELS).index(rule)]["near chance"] == (
        "**near chance**" if near else "no"
    )


@pytest.mark.parametrize(
    "lo,mean,near",
    [(0.149, 0.30, True), (0.151, 0.30, False), (float("nan"), 0.149, True), (float("nan"), 0.151, False)],
    ids=["lower-bound-below-chance+5", "lower-bound-above", "one-seed-no-interval-mean-below", "mean-above"],
)
def test_near_chance_tests_the_lower_bound_against_chance_plus_margin(lo, mean, near):
    s = {("m", "whitebox", "fgsm", "", 0.0): {"mean": mean, "lo": lo, "hi": 0.5}}
    assert NEAR_CHANCE_MARGIN == 0.05
    assert near_chance(s, ("m",), chance=0.1)["m"]["near"] is near


def test_chance_level_is_one_over_classes_in_the_report(report):
    assert "Chance level: **10.0%** (1 / 10 classes)" in report[2]
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        chance_level(1)


# --- colours and layout -----------------------------------------------------------------------------


def test_every_rule_has_its_own_fixed_colour_and_bp_is_black():
    import ratebased as rb
    import spiking as spk

    names = set(rb.available_rules()) | set(spk.available_rules())
    assert names <= set(RULE_COLOURS)
    assert len({RULE_COLOURS[n] for n in names}) == len(names)
    assert RULE_COLOURS["bp"] == "#000000" and rule_colour("private-rule") == rule_colour("private-rule")


def _colours_by_rule(fig) -> dict[str, set]:
    from matplotlib.colors import to_hex

    found: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.lines:
            if line.get_gid():
                found.setdefault(line.get_gid(), set()).add(to_hex(line.get_color()))
    for leg in fig.legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            rule = text.get_text().split(" (")[0]
            if rule in RULE_COLOURS:
                found.setdefault(rule, set()).add(to_hex(handle.get_color()))
    return found


def test_a_rule_has_the_same_colour_in_every_figure_of_a_run(figures):
    figs = figures
    assert [f[0] for f in figs] == ["accuracy_vs_eps_own.png", "accuracy_vs_eps_transfer_bp.png", "robust_vs_clean.png"]
    seen: dict[str, int] = {}
    for name, _, fig in figs:
        for rule, colours in _colours_by_rule(fig).items():
            assert colours == {RULE_COLOURS[rule]}, (name, rule, colours)
            seen[rule] = seen.get(rule, 0) + 1
    # bp is in the own-attack and scatter figures (it is the transfer source); the others in all three
    assert seen == {"bp": 2, "fa": 3, "stdp-association": 3, "spiking-local": 3}


def test_figures_keep_titles_captions_and_legends_inside_the_canvas(figures):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for name, _, fig in figures:
        FigureCanvasAgg(fig).draw()
        r = fig.canvas.get_renderer()
        box = fig.bbox
        artists = [fig._suptitle, fig._supxlabel, *fig.legends]
        artists += [ax.title for ax in fig.axes if ax.get_visible()]
        for a in artists:
            b = a.get_window_extent(r)
            assert b.x0 >= box.x0 - 1 and b.x1 <= box.x1 + 1 and b.y0 >= box.y0 - 1 and b.y1 <= box.y1 + 1, (name, a)
        title, legend = fig._suptitle.get_window_extent(r), fig.legends[0].get_window_extent(r)
        assert not title.overlaps(legend), name
        caption = fig._supxlabel.get_text()
        assert "Error bars: 95% intervals" in caption and "t over 3 seeds" in caption and "chance (10.0%)" in caption


# --- report ---------------------------------------------------------------------------------------


def test_report_lists_each_models_settings(comparison, report):
    settings = {r["rule"]: r for r in _table(report[2], "Models and their settings")}
    assert list(settings) == list(MODELS)
    bp, local, stdp = settings["bp"], settings["spiking-local"], settings["stdp-association"]
    assert bp["architecture"] == "MLP, hidden 64-64, relu" and bp["epochs"] == "30"
    assert bp["simulator (target)"] == "torch (float32)" and bp["dt (ms)"] == "-"
    assert local["architecture"] == "LIF, hidden 100-100" and local["epochs"] == "1"
    assert local["preset"] == "spiking-local-out" and stdp["preset"] == "none (rule defaults)"
    assert local["simulator (target)"].startswith("Brian2 (cpp_standalone)")
    assert (local["dt (ms)"], local["presentation (ms)"]) == ("1", "50")
    assert (stdp["dt (ms)"], stdp["presentation (ms)"]) == ("0.5", "150")
    assert all(s["samples evaluated"] == str(N) for s in settings.values())
    assert {s["rule"] for s in model_settings(comparison[1])} == set(MODELS)


_CELL = r"(\d+\.\d \[\d+\.\d, \d+\.\d\])"


def test_the_summarys_numbers_equal_the_tables(comparison, report):
    text = report[2]
    worst = {r["rule"]: r for r in _table(text, "Worst case (per sample, all attacks)")}
    clean = {r["rule"]: r for r in _table(text, "Clean accuracy")}
    summary_block = text.split("## Summary\n", 1)[1].split("\n## ", 1)[0]
    pattern = re.compile(
        rf"\*\*eps (\S+)\*\* \(worst case over all attacks\): \*\*(\S+)\*\* keeps the most, {_CELL}%; "
        rf"bp {_CELL}%: ([+-]\d+\.\d) points"
    )
    found = pattern.findall(summary_block)
    assert [f[0] for f in found] == ["0.1", "0.2"]
    for eps, best, best_cell, bp_cell, diff in found:
        col = f"eps {eps}"
        assert worst[best][col] == best_cell and worst["bp"][col] == bp_cell
        means = {r: float(row[col].split()[0]) for r, row in worst.items() if r != "spiking-local"}  # near chance
        assert float(best_cell.split()[0]) == max(means.values())
        assert float(diff) == pytest.approx(float(best_cell.split()[0]) - float(bp_cell.split()[0]), abs=0.11)
    near = re.search(rf"\*\*Near chance\*\* .*?: spiking-local {_CELL}%", summary_block)
    assert near and near.group(1) == clean["spiking-local"]["attacked samples %"]
    assert comparison[3]["stdp-association"]["verdict"] == "masked"
    for rule, v in comparison[3].items():
        if v["verdict"] in ("masked", "inconclusive"):
            assert f"{rule} ({v['reason'].rstrip('.')})" in summary_block


def test_report_sections_verdicts_budgets_sanity_and_twin_agreement(comparison, report):
    cfg, rows, summary, verd = comparison
    text = report[2]
    table = {r["rule"]: r for r in _table(text, "Verdicts")}
    assert {r: t["verdict"] for r, t in table.items()} == {r: f"**{v['verdict']}**" for r, v in verd.items()}
    budgets = {r["method"]: r for r in _table(text, "Attack budgets used")}
    assert budgets["pgd"]["steps (iterations)"] == "10 (check: 20)" and budgets["square"]["queries (Square)"] == "300"
    assert budgets["fgsm"]["EOT draws"] == "20"
    sanity = _table(text, "Sanity epsilon")
    assert {r["rule"] for r in sanity} == set(MODELS) and all(r["epsilon"] == "1" for r in sanity)
    twin = {r["rule"]: r for r in _table(text, "Twin vs Brian2")}
    assert set(twin) == {"stdp-association", "spiking-local"} and twin["spiking-local"]["mean agreement %"] == "98.0"
    beyond = {rule: t["differ beyond the draws (p < 0.01)"] for rule, t in twin.items()}
    tested = {rule: [r for r in rows if r["rule"] == rule and r.get("twin_p") is not None] for rule in twin}
    n_tested = {  # one clean evaluation per seed, and the adversarial ones of the table and sanity rows
        rule: len({r["seed"] for r in rs if r["epsilon"] == 0})
        + sum(1 for r in rs if r["epsilon"] > 0 and r["role"] != "budget-check")
        for rule, rs in tested.items()
    }
    assert beyond == {
        rule: f"{int(rule == 'stdp-association')} of {n} (chance: {0.01 * n:.1f})" for rule, n in n_tested.items()
    }
    for name in report[1]["plots"]:
        assert f"![{name}]({name})" in text and (report[0] / name).stat().st_size > 10_000


def test_results_csv_has_one_line_per_seed_with_its_interval(comparison, report):
    with open(report[0] / "results.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(comparison[1])
    for line in lines:
        assert float(line["ci_lo"]) <= float(line["accuracy"]) <= float(line["ci_hi"])
    per_seed = [ln for ln in lines if ln["rule"] == "fa" and ln["attack"] == "worst-case" and ln["epsilon"] == "0.1"]
    assert sorted(int(ln["seed"]) for ln in per_seed) == list(SEEDS)


def test_fmt_acc_is_the_tables_formatter():
    assert fmt_acc({"mean": 0.5, "lo": float("nan"), "hi": float("nan")}) == "50.0"
    assert fmt_acc({"mean": 0.12345, "lo": 0.1, "hi": 0.15}) == "12.3 [10.0, 15.0]"


# --- convert's plot -------------------------------------------------------------------------------


def test_conversion_plot_shows_one_image_set_and_an_honest_span():
    from bridges.commands.convert import MIN_SPAN_POINTS, plot

    result = {
        "steps": [25, 50, 100],
        "rule": "bp",
        "normalisation": "percentile",
        "input": "current",
        "n_test": 10000,
        "n_brian": 1000,
        "source_accuracy": 0.981,
        "twin_accuracy": {"25": 0.975, "50": 0.978, "100": 0.9805},
        "brian2_accuracy": {"25": 0.979, "50": 0.982, "100": 0.984},
        "same_images": {"n": 1000, "source_accuracy": 0.985, "twin_accuracy": {"25": 0.979, "50": 0.982, "100": 0.984}},
    }
    ax = plot(result)
    lo, hi = ax.get_ylim()
    assert hi - lo >= MIN_SPAN_POINTS - 1e-9
    from bridges.stats import wilson_interval

    w_lo, w_hi = wilson_interval(979, 1000)  # the twin at 25 steps on the 1,000 images: its bar is drawn whole
    assert lo <= 100 * w_lo and 100 * w_hi <= hi
    ys = [list(line.get_ydata()) for line in ax.lines if len(line.get_ydata()) == 3]
    assert [97.9, 98.2, 98.4] in [[round(y, 1) for y in v] for v in ys]  # the twin on Brian2's images
    assert any(list(line.get_ydata()) == [98.5, 98.5] for line in ax.lines)  # the ANN on those images
    assert "twin 98.05% at 100 steps" in ax.get_title() and "all 10000 test images" in ax.get_title()
