"""The report of a comparison: results files, report.md, figures and the models' index.

The rows, summaries and verdicts it renders come from :mod:`bridges.compare.results` (``merge``,
``summarise``, re-exported here) and :mod:`bridges.compare.verdicts`.
:func:`write_report` writes ``results.csv`` (one line per seed, with its Wilson interval),
``results.json``, ``report.md`` (a summary generated from the numbers by
:mod:`bridges.compare.summary`, each model's settings, chance level and near-chance warnings,
every attack's table with intervals, the worst case, the verdicts with their evidence, the sanity
epsilon, the attack budgets, twin vs Brian2 agreement), the figures of :func:`report_figures`
(:mod:`bridges.compare.plots`: one colour per rule in all of them) and ``models/index.csv``, the
index of the trained models (:data:`INDEX_FIELDS`) through which :func:`find_model` finds "the FA
model of seed 1" without reading configs.

Example
-------
>>> out = Path("compare-example")  # a comparison's results folder
>>> entries = [{"rule": "fa", "family": "rate", "seed": 1, "dataset": "digits", "key": "rate-0123456789abcdef",
...             "path": "models/rate-0123456789abcdef", "clean_accuracy": 0.96}]
>>> write_model_index(out, entries)
>>> find_model(out, "FA", 1)["path"] == out / "models" / "rate-0123456789abcdef"
True
>>> find_model(out, "bp", 1)
Traceback (most recent call last):
...
ValueError: no model of rule 'bp' and seed 1 in compare-example/models/index.csv; it holds: fa (seed 1)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from bridges.compare.config import CompareConfig, family_of
from bridges.compare.results import ROW_FIELDS, merge, summarise  # noqa: F401  (re-exported)
from bridges.compare.summary import kind_key, method_key
from bridges.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json

__all__ = [
    "INDEX_FIELDS",
    "INVOCATIONS_PATH",
    "ROW_FIELDS",
    "find_model",
    "merge",
    "model_index",
    "read_invocations",
    "record_invocation",
    "summarise",
    "report_figures",
    "write_model_index",
    "write_report",
]


#: columns of ``models/index.csv``: one line per trained model of the comparison
INDEX_FIELDS = ("rule", "family", "seed", "dataset", "key", "path", "clean_accuracy")
INDEX_PATH = Path("models") / "index.csv"


def model_index(dataset: str, train_records: dict) -> list[dict]:
    """The index lines of the trained models, sorted by rule and seed.

    ``train_records`` maps a training task's key to its result (``model_dir`` relative to the results
    folder, ``clean_accuracy``: test accuracy after training) with the task's ``rule`` and ``seed``,
    as :func:`write_report` receives them.
    """
    entries = []
    for rec in train_records.values():
        path = Path(rec["model_dir"])
        entries.append(
            {
                "rule": rec["rule"],
                "family": family_of(rec["rule"])[0],
                "seed": int(rec["seed"]),
                "dataset": dataset,
                "key": path.name,
                "path": path.as_posix(),
                "clean_accuracy": rec.get("clean_accuracy", ""),
            }
        )
    return sorted(entries, key=lambda e: (e["rule"], e["seed"], e["key"]))


def write_model_index(results_dir: Path, entries: list[dict]) -> None:
    """Write ``models/index.csv`` (:data:`INDEX_FIELDS`) atomically, replacing the previous one."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=INDEX_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for e in entries:
        w.writerow(e)
    atomic_write_text(Path(results_dir) / INDEX_PATH, buf.getvalue())


def find_model(results_dir: str | Path, rule: str, seed: int) -> dict:
    """The index line of a comparison's model of ``rule`` and ``seed``, its ``path`` made absolute.

    Raises
    ------
    ValueError
        The folder has no index (not a comparison, or one that has not finished), or no model of
        that rule and seed; the message lists the rules and seeds it holds.
    """
    results_dir = Path(results_dir)
    index = results_dir / INDEX_PATH
    if not results_dir.is_dir():
        raise ValueError(f"{results_dir} is not a folder: name a comparison's results folder (its --out)")
    if not index.is_file():
        raise ValueError(
            f"{results_dir} has no {INDEX_PATH}: it is not a comparison's results folder, or its comparison "
            f"has not finished (`bioplausible compare --out {results_dir}` with the same flags finishes it "
            "and writes the index without recomputing what is done)"
        )
    with open(index, newline="") as f:
        entries = list(csv.DictReader(f))
    name = rule.strip().lower()
    for e in entries:
        if e["rule"] == name and int(e["seed"]) == int(seed):
            found = dict(e, seed=int(e["seed"]), path=results_dir / e["path"])
            if found["clean_accuracy"] != "":
                found["clean_accuracy"] = float(found["clean_accuracy"])
            return found
    seeds: dict[str, list[int]] = {}
    for e in entries:
        seeds.setdefault(e["rule"], []).append(int(e["seed"]))
    held = "; ".join(
        f"{r} (seed{'s' if len(v) > 1 else ''} {', '.join(map(str, sorted(v)))})" for r, v in seeds.items()
    )
    raise ValueError(f"no model of rule {rule!r} and seed {seed} in {index}; it holds: {held or 'no models'}")


_KIND_LABELS = {
    "whitebox": "white-box (exact gradient, torch)",
    "surrogate": "surrogate-gradient EOT (snntorch twin; scored in Brian2)",
    "rate-approx": "rate-approximation gradient, BPDA (scored in Brian2)",
    "score": "gradient-free, scores only (spiking: twin, re-scored in Brian2)",
    "worst-case": "worst case per sample over every attack",
}
#: the attack kinds a model is attacked through itself (not transfer, not the worst case)
OWN_KINDS = ("whitebox", "surrogate", "rate-approx", "score")


def _attack_label(attack: str, method: str, source: str) -> str:
    if attack == "transfer":
        return f"{method.upper()} transfer from {source}"
    if attack == "worst-case":
        return "Worst case (per sample, all attacks)"
    return f"{method.upper()} {_KIND_LABELS.get(attack, attack)}"


def _n_classes(cfg: CompareConfig) -> int:
    if cfg.classes is not None:
        return len(cfg.classes)
    from bridges.data.catalog import DATASET_SPECS

    return len(DATASET_SPECS.get(cfg.dataset).class_names)


def report_figures(cfg: CompareConfig, summary: dict, sweep: list, chance: float) -> list[tuple[str, str, object]]:
    """The report's figures, ``[(file name, caption, matplotlib Figure)]``: attacks on each model itself
    (one panel per method, and the worst case), transfer attacks (one figure per source), and worst-case
    robust vs clean accuracy (one panel per epsilon of ``sweep`` above 0). Every rule has its
    :data:`~bridges.compare.plots.RULE_COLOURS` colour in all of them."""
    from bridges.compare.plots import plot_accuracy_panels, plot_robust_vs_clean_panels

    figs = []
    rules = cfg.rules
    own_methods = sorted({k[2] for k in summary if k[1] in OWN_KINDS}, key=method_key)
    panels = [(m.upper(), lambda k, v, m=m: k[2] == m and k[1] in OWN_KINDS) for m in own_methods]
    if any(k[1] == "worst-case" for k in summary):
        panels.append(("worst case (all attacks)", lambda k, v: k[1] == "worst-case"))
    if panels:
        fig = plot_accuracy_panels(
            summary, rules, sweep, panels, chance=chance, title=f"{cfg.dataset}: attacks on each model itself"
        )
        figs.append(
            (
                "accuracy_vs_eps_own.png",
                "Accuracy against epsilon, one panel per attack method on each model's own scores or gradients "
                "(marker: where the gradient came from; solid: rate, dashed: spiking), and the per-sample "
                "worst case.",
                fig,
            )
        )
    for src in sorted({k[3] for k in summary if k[1] == "transfer"}):
        methods = sorted({k[2] for k in summary if k[1] == "transfer" and k[3] == src}, key=method_key)
        tp = [(m.upper(), lambda k, v, m=m, s=src: k[1] == "transfer" and k[2] == m and k[3] == s) for m in methods]
        fig = plot_accuracy_panels(
            summary, rules, sweep, tp, chance=chance, title=f"{cfg.dataset}: attacks transferred from {src}"
        )
        figs.append(
            (
                f"accuracy_vs_eps_transfer_{src}.png",
                f"Accuracy against epsilon of adversarial images crafted white-box on the {src} model of the same "
                "seed, one panel per method.",
                fig,
            )
        )
    if any(k[1] == "worst-case" and k[4] > 0 and k[4] in sweep for k in summary):
        fig = plot_robust_vs_clean_panels(
            summary, rules, sweep, chance=chance, title=f"{cfg.dataset}: worst-case robust vs clean accuracy"
        )
        figs.append(
            (
                "robust_vs_clean.png",
                "Worst-case robust accuracy against clean accuracy, one panel per epsilon: compare robustness at "
                "matched clean accuracy (circles: rate, squares: spiking).",
                fig,
            )
        )
    return figs


def _full_test_clean(train_records: dict) -> dict[str, dict]:
    """Per rule: the clean test accuracy of every seed's model measured after training, as a summary
    entry (``mean``, ``lo``, ``hi``: Student-t over seeds) with ``per_seed`` ``[(seed, acc), ...]``."""
    from bridges.stats import seed_interval

    by_rule: dict[str, list[tuple[int, float]]] = {}
    for rec in train_records.values():
        acc = rec.get("clean_accuracy")
        if isinstance(acc, (int, float)):
            by_rule.setdefault(rec["rule"], []).append((int(rec["seed"]), float(acc)))
    out = {}
    for rule, vals in by_rule.items():
        vals.sort()
        mean, lo, hi, method = seed_interval([a for _, a in vals])
        out[rule] = {"mean": mean, "lo": lo, "hi": hi, "interval": method, "per_seed": vals}
    return out


def _spiking_suite_lines(cfg: CompareConfig) -> list[str]:
    """What the spiking models' attack suite leaves out or shrinks (``cfg.spiking_attack``), in words."""
    if not any(family_of(r)[0] == "spiking" for r in cfg.rules) or not cfg.spiking_attack:
        return []
    scfg = cfg.attack_config("spiking")
    parts = [f"methods {', '.join(scfg.methods)}"]
    if scfg.surrogate_methods is not None:
        parts.append(f"through the surrogate gradient (EOT) only {', '.join(scfg.surrogate_methods) or 'none'}")
    parts.append(f"PGD {scfg.pgd_steps} steps, APGD {scfg.apgd_steps} steps, Square {scfg.square_queries} queries")
    if scfg.attacked_seeds is not None:
        seeds = ", ".join(map(str, cfg.seeds[: scfg.attacked_seeds]))
        parts.append(f"attacked on seed{'s' if scfg.attacked_seeds > 1 else ''} {seeds} only (the other seeds: clean)")
    return [
        "Spiking models run a reduced suite (every step of a surrogate attack simulates the network "
        f"{scfg.eot_samples} times, and every adversarial image is re-scored in Brian2): " + "; ".join(parts) + ".",
        "",
    ]


def write_report(
    out_dir: Path,
    cfg: CompareConfig,
    rows: list[dict],
    train_records: dict,
    command: str,
    versions: dict,
    wall_s: float | None = None,
    *,
    summary: dict | None = None,
    verdicts: dict | None = None,
    task_s: float | None = None,
    invocations: Sequence[Mapping] | None = None,
) -> dict:
    """Write results.csv (one line per seed, with its 95% interval), results.json, report.md, the
    figures and models/index.csv (rebuilt from ``train_records``, see :func:`model_index`).

    ``summary`` and ``verdicts`` default to :func:`summarise` of ``rows`` and
    :func:`bridges.compare.verdicts.verdicts`. ``invocations`` (:func:`read_invocations`): every run
    of the command on this folder, so that a resumed comparison reports its whole wall time. Returns
    ``{"summary", "verdicts", "plots", "near_chance"}``.
    """
    from bridges.compare.plots import RULE_COLOURS, figure_png
    from bridges.compare.summary import (
        NEAR_CHANCE_MARGIN,
        TWIN_ALPHA,
        agreement_rows,
        budget_rows,
        chance_level,
        evidence_cell,
        fmt_acc,
        markdown_table,
        model_settings,
        near_chance,
        split_epsilons,
        stdp_claim,
        summary_lines,
    )

    out_dir = Path(out_dir)
    write_model_index(out_dir, model_index(cfg.dataset, train_records))
    if summary is None:
        summary = summarise(rows)
    if verdicts is None:
        from bridges.compare.verdicts import verdicts as compute_verdicts

        verdicts = compute_verdicts(rows, summary, cfg)
    chance = chance_level(_n_classes(cfg))
    sweep, sanity = split_epsilons(summary, cfg.epsilons, getattr(cfg, "sanity_epsilon", None))
    near = near_chance(summary, cfg.rules, chance)

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(out_dir / "results.csv", buf.getvalue())
    atomic_write_json(
        out_dir / "results.json",
        {
            "config": cfg.to_dict(),
            "command": command,
            "versions": versions,
            "wall_s": wall_s,
            "invocations": list(invocations or []),
            "chance": chance,
            "rows": rows,
            "training": train_records,
            "summary": [
                {"rule": k[0], "attack": k[1], "method": k[2], "source": k[3], "epsilon": k[4], **v}
                for k, v in summary.items()
            ],
            "verdicts": verdicts,
            "near_chance": {r: {"near": v["near"], "bound": v["bound"]} for r, v in near.items()},
            "rule_colours": {r: RULE_COLOURS.get(r) for r in cfg.rules},
        },
    )
    figures = []
    for name, caption, fig in report_figures(cfg, summary, sweep, chance):
        atomic_write_bytes(out_dir / name, figure_png(fig))
        figures.append((name, caption))

    lines = [f"# Robustness comparison: {cfg.dataset}", "", f"Command: `{command}`", ""]
    if wall_s is not None:
        timing = f"Wall time of the command that wrote this report: {wall_s:.0f} s"
        if invocations and len(invocations) > 1:  # a resumed run: what each run of the command took
            runs = ", ".join(
                f"{r['wall_s']:.0f} s ({r['outcome']}, {r['tasks_run']} tasks)" for r in invocations if "wall_s" in r
            )
            total = sum(float(r.get("wall_s") or 0.0) for r in invocations)
            timing += f"; all {len(invocations)} runs of it on this folder: {total:.0f} s ({runs})"
        if task_s is not None:  # the same whether the run was done in one go or resumed
            timing += f"; every task's own time summed (worker-seconds, all runs of this folder): {task_s:.0f} s"
        lines += [timing + ".", ""]
    lines += ["## Summary", ""]
    lines += summary_lines(summary, verdicts, cfg.rules, sweep, chance)
    claim = stdp_claim(summary, cfg.rules, sweep, verdicts.get("stdp-association"))
    if claim:
        lines.append(f"- {claim}")
    lines += [
        "",
        f"Seeds: {', '.join(map(str, cfg.seeds))}; epsilons (L-inf, inputs in [0, 1]): "
        f"{', '.join(f'{e:g}' for e in sweep)}"
        + (f"; sanity epsilon {', '.join(f'{e:g}' for e in sanity)}" if sanity else "")
        + f"; methods: {', '.join(cfg.methods)}; transfer sources: {', '.join(cfg.sources) or 'none'}.",
        "",
        "## What the numbers are",
        "",
        "Accuracies are in %, written `mean [lo, hi]`: the mean over seeds and its 95% interval - Student-t "
        "over the seeds when there are several (it reflects training and evaluation randomness between "
        "seeds), the Wilson score interval on the evaluated test samples when there is one seed. The "
        "figures' error bars are the same intervals. results.csv holds every seed's value with its own "
        "Wilson interval (`ci_lo`, `ci_hi`).",
        "",
        f"Chance level: **{100 * chance:.1f}%** (1 / {_n_classes(cfg)} classes). A model is marked near chance "
        f"when the lower end of its clean accuracy's 95% interval is below chance + {100 * NEAR_CHANCE_MARGIN:.0f} "
        "points: its robustness figures then say little (an accuracy at chance cannot fall further).",
        "",
    ]
    near_rules = [r for r, v in near.items() if v["near"]]
    if near_rules:
        lines += [
            "> **Warning: near chance.** "
            + "; ".join(f"{r}: clean accuracy {fmt_acc(near[r]['clean'])}%" for r in near_rules)
            + f" (chance {100 * chance:.1f}%).",
            "",
        ]
    order = {r: i for i, r in enumerate(cfg.rules)}
    settings = sorted(model_settings(rows), key=lambda s: (order.get(s["rule"], len(order)), s["rule"]))
    lines += ["## Models and their settings", ""]
    lines += markdown_table(
        [
            "rule",
            "family",
            "architecture",
            "epochs",
            "preset",
            "simulator (target)",
            "dt (ms)",
            "presentation (ms)",
            "samples evaluated",
        ],
        [
            [
                s["rule"],
                s["family"],
                s["architecture"],
                s["epochs"],
                s["preset"],
                s["simulator"],
                s["dt_ms"],
                s["t_present_ms"],
                s["samples"],
            ]
            for s in settings
        ],
    )
    lines += [""]
    lines += ["## Clean accuracy", ""]
    lines += [
        "`full test set`: every seed's model on the whole test set, measured after training (mean over seeds, "
        "Student-t interval); `attacked samples`: the test samples and seeds the attacks ran on (the epsilon-0 "
        "column of the tables below).",
        "",
    ]
    full = _full_test_clean(train_records)
    body = []
    for rule in cfg.rules:
        v = near.get(rule)
        if v is None:
            continue
        c = v["clean"]
        per_seed = ", ".join(
            f"{100 * a:.1f}" for _, a in sorted((c.get("per_seed") or {}).items(), key=lambda t: str(t[0]))
        )
        f = full.get(rule)
        body.append(
            [
                rule,
                str(c.get("family", "")),
                str(c.get("simulator", "")),
                fmt_acc(f) if f else "",
                ", ".join(f"{100 * a:.1f}" for _, a in f["per_seed"]) if f else "",
                fmt_acc(c),
                per_seed,
                str(c.get("n_eval", "")),
                "**near chance**" if v["near"] else "no",
            ]
        )
    lines += markdown_table(
        [
            "rule",
            "family",
            "simulator",
            "full test set %",
            "per seed",
            "attacked samples %",
            "per seed",
            "samples",
            "near chance",
        ],
        body,
    )
    lines += [""]
    attacks_seen = sorted(
        {(k[1], k[2], k[3]) for k in summary if k[1] != "worst-case"},
        key=lambda t: (kind_key(t[0]), method_key(t[1]), t[2]),
    )
    eps_cols = [e for e in sweep]
    for attack, method, source in attacks_seen + [("worst-case", "all", "")]:
        body = []
        for rule in cfg.rules:
            cells = [fmt_acc(summary.get((rule, attack, method, source, e))) for e in eps_cols]
            if any(cells):
                sim = next(
                    (
                        summary[(rule, attack, method, source, e)].get("simulator", "")
                        for e in eps_cols
                        if (rule, attack, method, source, e) in summary
                    ),
                    "",
                )
                body.append([rule, str(sim), *cells])
        if body:
            lines += [f"## {_attack_label(attack, method, source)}", ""]
            lines += markdown_table(["rule", "simulator", *(f"eps {e:g}" for e in eps_cols)], body)
            lines += [""]
    if sanity:
        body = []
        for (rule, attack, method, source, e), v in sorted(
            summary.items(), key=lambda kv: (cfg.rules.index(kv[0][0]) if kv[0][0] in cfg.rules else 99, kv[0][1:])
        ):
            if e in sanity:
                body.append([rule, _attack_label(attack, method, source), f"{e:g}", fmt_acc(v)])
        lines += [
            "## Sanity epsilon",
            "",
            "At an epsilon of half the input range or more, every image can be moved to the same grey image, so no "
            "classifier keeps more than its largest class share; an accuracy well above that means the attack "
            "failed, not that the model is robust (masking evidence (b)).",
            "",
        ]
        lines += markdown_table(["rule", "attack", "epsilon", "accuracy %"], body) + [""]
    lines += [
        "## Verdicts",
        "",
        "Each model's verdict on whether its gradient attacks can be trusted (Athalye et al. 2018, arXiv "
        "1802.00420; Croce & Hein 2020, arXiv 2003.01690). Evidence: (a) a gradient-free or transfer attack "
        "beats the gradient attacks beyond noise; (b) accuracy does not approach 0 at large epsilon; (c) "
        "share of samples with zero or vanishing input gradients; (d) more iterations or EOT draws keep "
        "lowering accuracy. **flag** marks evidence that holds.",
        "",
    ]
    body = []
    for rule in cfg.rules:
        v = verdicts.get(rule)
        if v is None:
            continue
        ev = v.get("evidence", {})
        body.append(
            [
                rule,
                f"**{v.get('verdict', '')}**",
                str(v.get("strongest", "")),
                str(v.get("reason", "")),
                *(evidence_cell(ev.get(x)) for x in "abcd"),
            ]
        )
    lines += markdown_table(["rule", "verdict", "strongest attack", "reason", "(a)", "(b)", "(c)", "(d)"], body) + [""]
    budgets = budget_rows(rows)
    lines += ["## Attack budgets used", ""]
    lines += markdown_table(["method", "kinds", "steps (iterations)", "queries (Square)", "EOT draws"], budgets) + [""]
    lines += _spiking_suite_lines(cfg)
    agree = agreement_rows(rows)
    if agree:
        lines += [
            "## Twin vs Brian2",
            "",
            "Spiking models are attacked through their snntorch twin and the images re-scored in Brian2 (fresh "
            "Poisson draws): the share of samples on which the two predict the same class, on the clean images "
            "(mean over seeds) and on the adversarial images (every attack and epsilon above 0), the largest "
            "difference between their accuracies, and the evaluations whose accuracies differ by more than the "
            "independent spike draws explain (two-sided exact McNemar test on the per-sample correctness, "
            f"p < {TWIN_ALPHA:g}; the chance count is what the draws alone would give).",
            "",
        ]
        lines += markdown_table(
            [
                "rule",
                "clean agreement %",
                "adversarial evaluations",
                "mean agreement %",
                "lowest agreement % (where)",
                "largest abs(twin - Brian2) accuracy gap (points)",
                f"differ beyond the draws (p < {TWIN_ALPHA:g})",
            ],
            agree,
        ) + [""]
    lines += ["## Figures", ""]
    for name, caption in figures:
        lines += [f"![{name}]({name})", "", f"*{caption}*", ""]
    lines += [
        "## Models",
        "",
        f"`{INDEX_PATH.as_posix()}` lists every trained model: rule, family, seed, data set, key, folder and "
        "clean test accuracy after training. `bioplausible convert --comparison <this folder> --rule R --seed S` "
        "converts a rate model of it to a spiking network.",
        "",
        "## Provenance",
        "",
        "Every row of results.csv/results.json records its seed, the model's config key "
        "and the task key; results.json holds the full configs and the library versions:",
        "",
        "```",
        *(f"{k}: {v}" for k, v in sorted(versions.items())),
        "```",
        "",
    ]
    atomic_write_text(out_dir / "report.md", "\n".join(lines))
    return {"summary": summary, "verdicts": verdicts, "plots": [n for n, _ in figures], "near_chance": near}


#: file (in a comparison's folder) listing every run of the command on it: start (UTC), wall time,
#: tasks it ran, and how it ended (``finished``, ``interrupted`` or ``failed``)
INVOCATIONS_PATH = Path("invocations.json")


def record_invocation(out_dir: str | Path, **fields) -> None:
    """Append one run's record to ``out_dir/invocations.json`` (atomically; an unreadable file is
    started afresh)."""
    path = Path(out_dir) / INVOCATIONS_PATH
    try:
        runs = read_invocations(out_dir)
    except ValueError:
        runs = []
    atomic_write_json(path, [*runs, dict(fields)])


def read_invocations(out_dir: str | Path) -> list[dict]:
    """The records of :func:`record_invocation`, oldest first ([] when there are none)."""
    path = Path(out_dir) / INVOCATIONS_PATH
    if not path.exists():
        return []
    runs = read_json(path)
    if not isinstance(runs, list):
        raise ValueError(f"{path} does not hold a list of runs; delete it")
    return [r for r in runs if isinstance(r, dict)]
