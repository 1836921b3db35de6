"""Results of a comparison: rows, summaries over seeds, gradient-masking checks, report and plots.

:func:`merge` turns the finished evaluation tasks into result rows; :func:`summarise` gives mean and
std over seeds; :func:`masking_checks` flags suspect robustness; :func:`write_report` writes
``results.csv``, ``results.json``, ``report.md``, PNG plots and ``models/index.csv``, the index of
the trained models (:data:`INDEX_FIELDS`) through which :func:`find_model` finds "the FA model of
seed 1" without reading configs.

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
from pathlib import Path

import numpy as np

from bridges.compare.config import ATTACK_KINDS, CompareConfig, family_of
from bridges.compare.graph import eval_task
from bridges.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from bridges.tasks import Task, result_path, task_key

__all__ = [
    "INDEX_FIELDS",
    "ROW_FIELDS",
    "find_model",
    "merge",
    "model_index",
    "summarise",
    "masking_checks",
    "plot_accuracy_vs_epsilon",
    "write_model_index",
    "write_report",
]


ROW_FIELDS = (
    "dataset",
    "rule",
    "family",
    "simulator",
    "seed",
    "attack",
    "method",
    "source",
    "epsilon",
    "accuracy",
    "n_eval",
    "model_config_key",
    "task_key",
)


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


def merge(tasks: list[Task], results_dir: Path) -> list[dict]:
    """One row per finished evaluation task (plus provenance), sorted for stable output."""
    rows = []
    for t in tasks:
        if t.fn is not eval_task:
            continue
        rec = read_json(result_path(results_dir, t.key))
        s = t.spec
        rows.append(
            {
                "dataset": s["dataset"],
                "rule": s["rule"],
                "family": s["family"],
                "simulator": rec["result"]["simulator"],
                "seed": s["seed"],
                "attack": s["attack"],
                "method": s["method"],
                "source": s["source"] or "",
                "epsilon": s["epsilon"],
                "accuracy": rec["result"]["accuracy"],
                "n_eval": rec["result"]["n"],
                "model_config_key": task_key(s["family"], s["config"]),
                "task_key": t.key,
                "config": s["config"],
                "versions": rec["versions"],
            }
        )
    rows.sort(key=lambda r: (r["rule"], r["attack"], r["method"], r["source"], r["epsilon"], r["seed"]))
    return rows


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def summarise(rows: list[dict]) -> dict:
    """Mean and std over seeds of every (rule, attack, method, source, epsilon)."""
    groups: dict[tuple, list[float]] = {}
    meta: dict[tuple, dict] = {}
    for r in rows:
        k = (r["rule"], r["attack"], r["method"], r["source"], r["epsilon"])
        groups.setdefault(k, []).append(r["accuracy"])
        meta[k] = {"family": r["family"], "simulator": r["simulator"]}
    out = {}
    for k, v in groups.items():
        m, s = _mean_std(v)
        out[k] = {"mean": m, "std": s, "n_seeds": len(v), **meta[k]}
    return out


def masking_checks(summary: dict, rules: tuple, epsilons: tuple, large_eps_acc: float = 0.1) -> dict[str, dict]:
    """Gradient-masking checks per rule (Athalye et al. 2018, "Obfuscated Gradients Give a False Sense
    of Security", arXiv 1802.00420; Carlini et al. 2019, arXiv 1902.06705):

    * ``transfer_beats_whitebox``: a transfer attack lowers accuracy more than the model's own
      white-box (or surrogate) attack at some epsilon > 0 - its gradients are not informative;
    * ``pgd_not_to_zero``: the strongest PGD attack at the largest epsilon leaves more than
      ``large_eps_acc`` accuracy.

    A rule is ``suspect`` when either holds: its apparent robustness may be gradient masking.
    """
    out = {}
    eps_pos = [e for e in epsilons if e > 0]
    for rule in rules:
        own = {k: v for k, v in summary.items() if k[0] == rule and k[1] in ("whitebox", "surrogate")}
        tr = {k: v for k, v in summary.items() if k[0] == rule and k[1] == "transfer"}
        beats = []
        for (_, _, method, _, eps), v in tr.items():
            own_v = [w["mean"] for (r2, a2, m2, s2, e2), w in own.items() if m2 == method and e2 == eps]
            if eps > 0 and own_v and v["mean"] < min(own_v) - 1e-9:
                beats.append({"method": method, "epsilon": eps, "transfer": v["mean"], "own": min(own_v)})
        big = max(eps_pos) if eps_pos else None
        pgd = [v["mean"] for (r, a, m, s, e), v in summary.items() if r == rule and m == "pgd" and e == big]
        pgd_min = min(pgd) if pgd else None
        not_zero = pgd_min is not None and pgd_min > large_eps_acc
        out[rule] = {
            "transfer_beats_whitebox": beats,
            "pgd_largest_eps_accuracy": pgd_min,
            "pgd_not_to_zero": not_zero,
            "pgd_checked": pgd_min is not None,
            "suspect": bool(beats) or not_zero,
        }
    return out


def _fmt(v: dict) -> str:
    return f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"


def _attack_label(attack: str, method: str, source: str) -> str:
    base = {
        "whitebox": "white-box (true gradient)",
        "transfer": f"transfer from {source}",
        "surrogate": "surrogate-gradient EOT (snntorch twin)",
    }[attack]
    return f"{method.upper()} {base}"


def plot_accuracy_vs_epsilon(summary: dict, rules: tuple, epsilons: tuple, attack_filter, title: str, ax=None):
    """Accuracy against epsilon, one line per rule (mean ± std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for rule in rules:
        pts = []
        for eps in epsilons:
            vals = [v for k, v in summary.items() if k[0] == rule and k[4] == eps and attack_filter(k, v)]
            if vals:
                pts.append((eps, vals[0]["mean"], vals[0]["std"]))
        if pts:
            e, m, s = map(np.asarray, zip(*pts))
            fam = family_of(rule)[0]
            ax.errorbar(
                e,
                100 * m,
                yerr=100 * s,
                marker="o" if fam == "rate" else "s",
                ls="-" if fam == "rate" else "--",
                capsize=2,
                label=rule,
            )
    ax.set_xlabel("epsilon (L-inf)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=7, ncol=2)
    return ax


def _png(ax) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    ax.figure.tight_layout()
    ax.figure.savefig(buf, format="png", dpi=120)
    plt.close(ax.figure)
    return buf.getvalue()


def write_report(
    out_dir: Path,
    cfg: CompareConfig,
    rows: list[dict],
    train_records: dict,
    command: str,
    versions: dict,
    wall_s: float | None = None,
) -> dict:
    """Write results.csv, results.json, report.md, the plots and models/index.csv (rebuilt from
    ``train_records``, see :func:`model_index`); returns the summary dict."""
    out_dir = Path(out_dir)
    write_model_index(out_dir, model_index(cfg.dataset, train_records))
    summary = summarise(rows)
    checks = masking_checks(summary, cfg.rules, cfg.epsilons)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore")
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
            "rows": rows,
            "training": train_records,
            "summary": [
                {"rule": k[0], "attack": k[1], "method": k[2], "source": k[3], "epsilon": k[4], **v}
                for k, v in summary.items()
            ],
            "masking_checks": checks,
        },
    )
    plots = []
    for method in cfg.methods:
        own = plot_accuracy_vs_epsilon(
            summary,
            cfg.rules,
            cfg.epsilons,
            lambda k, v, m=method: k[2] == m and k[1] in ("whitebox", "surrogate"),
            f"{cfg.dataset}: {method.upper()} on each model's own gradient "
            "(rate: true gradient, torch; spiking: surrogate EOT, Brian2)",
        )
        name = f"accuracy_vs_eps_{method}_whitebox.png"
        atomic_write_bytes(out_dir / name, _png(own))
        plots.append(name)
        for src in cfg.sources:
            tr = plot_accuracy_vs_epsilon(
                summary,
                cfg.rules,
                cfg.epsilons,
                lambda k, v, m=method, s=src: k[2] == m and k[1] == "transfer" and k[3] == s,
                f"{cfg.dataset}: {method.upper()} transferred from {src}",
            )
            name = f"accuracy_vs_eps_{method}_transfer_{src}.png"
            atomic_write_bytes(out_dir / name, _png(tr))
            plots.append(name)
    # rate vs spiking: mean over the rules of each family, own-gradient FGSM
    lines = [f"# Robustness comparison: {cfg.dataset}", ""]
    lines += [
        f"Command: `{command}`",
        "",
        f"Seeds: {', '.join(map(str, cfg.seeds))}; epsilons: {', '.join(map(str, cfg.epsilons))}; "
        f"methods: {', '.join(cfg.methods)} (PGD: {cfg.pgd_steps} steps, step 2.5·eps/steps, random start); "
        f"transfer sources: {', '.join(cfg.sources)}; EOT samples (spiking): {cfg.eot_samples}.",
        f"Evaluated samples per model: rate {cfg.n_eval or 'all test'}, spiking {cfg.n_eval_spiking or 'all test'}.",
        "Values are accuracy in % as mean ± std over seeds.",
        "",
    ]
    if wall_s is not None:
        lines += [f"Wall time: {wall_s:.0f} s.", ""]
    lines += ["## Clean accuracy", "", "| rule | family | simulator | clean accuracy |", "|---|---|---|---|"]
    for rule in cfg.rules:
        v = [val for k, val in summary.items() if k[0] == rule and k[4] == 0 and k[1] in ("whitebox", "surrogate")]
        if v:
            lines.append(f"| {rule} | {v[0]['family']} | {v[0]['simulator']} | {_fmt(v[0])} |")
    lines.append("")
    attacks_seen = sorted({(k[1], k[2], k[3]) for k in summary}, key=lambda t: (ATTACK_KINDS.index(t[0]), t[1], t[2]))
    for attack, method, source in attacks_seen:
        lines += [
            f"## {_attack_label(attack, method, source)}",
            "",
            "| rule | simulator | " + " | ".join(f"eps {e}" for e in cfg.epsilons) + " |",
            "|---|---|" + "---|" * len(cfg.epsilons),
        ]
        for rule in cfg.rules:
            cells, sim = [], ""
            for e in cfg.epsilons:
                v = summary.get((rule, attack, method, source, e))
                cells.append(_fmt(v) if v else "")
                sim = v["simulator"] if v else sim
            if any(cells):
                lines.append(f"| {rule} | {sim} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Gradient-masking checks",
        "",
        "A model is **suspect** when a transfer attack beats its own white-box/surrogate attack, or PGD at "
        "the largest epsilon leaves more than 10% accuracy (Athalye et al. 2018, arXiv 1802.00420).",
        "",
        "| rule | transfer beats own attack | PGD acc. at largest eps | verdict |",
        "|---|---|---|---|",
    ]
    for rule, c in checks.items():
        beats = ", ".join(f"{b['method']} eps {b['epsilon']}" for b in c["transfer_beats_whitebox"]) or "no"
        pgd = "not run" if not c["pgd_checked"] else f"{100 * c['pgd_largest_eps_accuracy']:.1f}%"
        lines.append(f"| {rule} | {beats} | {pgd} | {'**suspect**' if c['suspect'] else 'ok'} |")
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += [
        "## Models",
        "",
        f"`{INDEX_PATH.as_posix()}` lists every trained model: rule, family, seed, data set, key, folder and "
        "clean test accuracy after training. `bioplausible convert --comparison <this folder> --rule R --seed S` "
        "converts a rate model of it to a spiking network.",
        "",
    ]
    lines += [
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
    return {"summary": summary, "checks": checks, "plots": plots}
