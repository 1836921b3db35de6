"""Result rows of a comparison: one per evaluation, with 95% intervals, plus the per-sample worst case.

:func:`merge` reads the finished evaluation tasks of :mod:`bridges.compare.graph` into rows: each
row's accuracy carries a Wilson interval (:func:`bridges.stats.wilson_interval`, ``ci_lo``/``ci_hi``
as fractions) and the budget its attack ran with (``steps``, ``queries``, ``eot_samples`` where they
apply). For every model, seed and epsilon it adds a **worst-case** row: a sample counts correct
only if every attack evaluated on that model, seed and epsilon left it correct, the rule of
AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", arXiv 2003.01690). For a stochastic (spiking) model every attack's
images are scored with fresh spike draws, so the worst case also counts the samples that some draw
got wrong. :func:`summarise` gives, per (rule, attack, method, source, epsilon), the mean over seeds
with its interval: Wilson for one seed, Student-t over seeds else (:func:`bridges.stats.seed_interval`).

Rows carry a ``role``: ``attack`` (the table), ``sanity`` (the extra epsilon at which any classifier
can be fooled) or ``budget-check`` (twice the EOT draws or steps at the largest epsilon). Worst cases
and summaries use the table's rows and the sanity rows; budget checks only feed the verdicts
(:mod:`bridges.compare.verdicts`).

Example
-------
>>> rows = [dict(rule="bp", family="rate", simulator="torch", seed=0, attack=a, method=m, source="",
...              epsilon=0.1, role="attack", accuracy=c.count("1") / 4, n_eval=4, correct=c)
...         for a, m, c in (("whitebox", "pgd", "1101"), ("score", "square", "0111"))]
>>> worst = worst_case_rows(rows)[0]
>>> worst["attack"], worst["correct"], worst["accuracy"]
('worst-case', '0101', 0.5)
>>> s = summarise(rows + [worst])[("bp", "worst-case", "all", "", 0.1)]
>>> s["interval"], round(s["lo"], 3), round(s["hi"], 3), s["gradient"]
('wilson', 0.15, 0.85, 'all')
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from bridges.compare.config import GRADIENT_OF_KIND
from bridges.compare.graph import eval_task
from bridges.io import read_json
from bridges.stats import as_bits, mcnemar_two_sided_p, seed_interval, wilson_interval
from bridges.tasks import Task, result_path, task_key

__all__ = ["BUDGET_FIELDS", "ROW_FIELDS", "attack_label", "merge", "summarise", "worst_case_rows"]

#: the columns of ``results.csv`` (one row per seed; ``results.json`` also holds each row's
#: per-sample ``correct`` string, config and versions)
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
    "role",
    "accuracy",
    "ci_lo",
    "ci_hi",
    "interval",
    "n_eval",
    "steps",
    "queries",
    "eot_samples",
    "twin_accuracy",
    "agreement",
    "twin_p",
    "zero_grad_share",
    "model_config_key",
    "task_key",
)

#: the attack budget fields a row holds where they apply
BUDGET_FIELDS = ("steps", "queries", "eot_samples")

#: the keys of a row that identify one model's evaluation at one epsilon (the worst-case group)
_GROUP = ("rule", "seed", "epsilon")


def attack_label(row: dict) -> str:
    """``"<attack> <method> <source>"`` of a row or summary key, e.g. ``"transfer pgd bp"``."""
    return " ".join(str(v) for v in (row["attack"], row["method"], row.get("source") or "") if v)


def _with_interval(row: dict) -> dict:
    bits = row.get("correct")
    n = row.get("n_eval")
    if bits:
        k, n = int(as_bits(bits).sum()), len(bits)
    elif n:
        k = int(round(row["accuracy"] * n))
    else:
        return {**row, "ci_lo": math.nan, "ci_hi": math.nan, "interval": ""}
    lo, hi = wilson_interval(k, n)
    return {**row, "ci_lo": lo, "ci_hi": hi, "interval": "wilson"}


def merge(tasks: list[Task], results_dir: Path) -> list[dict]:
    """One row per finished evaluation (plus provenance) and the per-sample worst cases, sorted.

    The clean evaluation of a model gives the epsilon-0 row of each of its attacks (when the
    comparison's epsilons hold 0) and the ``zero_grad_share`` of every row of a gradient kind.
    """
    rows = []
    zero_grad: dict[tuple, dict] = {}
    for t in tasks:
        if t.fn is not eval_task:
            continue
        rec = read_json(result_path(results_dir, t.key))
        res, s = rec["result"], t.spec
        base = {
            "dataset": s["dataset"],
            "rule": s["rule"],
            "family": s["family"],
            "simulator": res["simulator"],
            "seed": s["seed"],
            "accuracy": res["accuracy"],
            "n_eval": res["n"],
            "correct": res.get("correct"),
            "model_config_key": task_key(s["family"], s["config"]),
            "task_key": t.key,
            "config": s["config"],
            "versions": rec["versions"],
        }
        base.update({k: res[k] for k in ("twin_accuracy", "agreement") if k in res})
        if res.get("twin_correct") and res.get("correct"):  # twin vs Brian2: differ beyond the draws?
            base["twin_p"] = mcnemar_two_sided_p(res["correct"], res["twin_correct"])
        if s["attack"] == "clean":
            zero_grad[(s["rule"], s["seed"])] = res.get("zero_grad_share", {})
            planned = [
                (kind, method, source, budget, 0.0) for kind, method, source, budget in s.get("rows_at_zero", ())
            ]
        else:
            planned = [(s["attack"], s["method"], s["source"] or "", s.get("budget", {}), s["epsilon"])]
        for kind, method, source, budget, eps in planned:
            row = {**base, "attack": kind, "method": method, "source": source, "epsilon": eps}
            row["role"] = "attack" if s["attack"] == "clean" else s.get("role", "attack")
            row.update({k: budget[k] for k in BUDGET_FIELDS if k in budget})
            rows.append(_with_interval(row))
    for row in rows:
        share = zero_grad.get((row["rule"], row["seed"]), {}).get(row["attack"])
        if share is not None:
            row["zero_grad_share"] = share
    rows += worst_case_rows(rows)
    rows.sort(key=_row_order)
    return rows


def _row_order(r: dict) -> tuple:
    return (r["rule"], r["attack"], r["method"], r["source"], r["epsilon"], r["seed"], r.get("role", "attack"))


def worst_case_rows(rows: list[dict]) -> list[dict]:
    """Per (rule, seed, epsilon), the samples that every attack of the table left correct.

    Rows of the table (``role`` ``attack``) only: the sanity and budget-check evaluations are not
    run at every epsilon. A group whose rows lack per-sample results (results of an older version)
    or disagree on the samples gets no worst case, with a warning.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("role", "attack") == "attack" and r["attack"] != "worst-case":
            groups.setdefault(tuple(r[k] for k in _GROUP), []).append(r)
    out = []
    for key, members in groups.items():
        bits = [r.get("correct") for r in members]
        if any(not b for b in bits) or len({len(b) for b in bits}) != 1:
            warnings.warn(
                f"no worst case for {dict(zip(_GROUP, key))}: some of its attacks lack per-sample results "
                "(rerun the comparison into a fresh folder)",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        both = np.logical_and.reduce([as_bits(b) for b in bits])
        first = members[0]
        row = {
            k: first[k]
            for k in ("dataset", "rule", "family", "simulator", "seed", "epsilon", "model_config_key", "config")
            if k in first
        }
        row.update(
            attack="worst-case",
            method="all",
            source="",
            role="attack",
            accuracy=float(both.mean()),
            n_eval=int(both.size),
            correct=(both.astype(np.uint8) + ord("0")).tobytes().decode("ascii"),
            attacks=sorted(attack_label(r) for r in members),
            task_key="",
            versions=first.get("versions", {}),
        )
        out.append(_with_interval(row))
    return out


def summarise(rows: list[dict]) -> dict:
    """Mean over seeds with a 95% interval of every (rule, attack, method, source, epsilon).

    Returns
    -------
    dict
        ``(rule, attack, method, source, epsilon) -> {"mean", "lo", "hi", "interval", "n_seeds",
        "n_eval", "per_seed": {seed: accuracy}, "family", "simulator", "gradient", "role", "budget",
        "std"}``: ``lo``/``hi`` the Wilson interval of the one seed's ``n_eval`` samples
        (``interval="wilson"``), else the Student-t interval over seeds (``"t over N seeds"``);
        ``gradient`` where the attack's direction comes from (:data:`~bridges.compare.config.GRADIENT_OF_KIND`);
        ``std`` the standard deviation over seeds (0 for one). Budget checks are left out.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("role", "attack") == "budget-check":
            continue
        groups.setdefault((r["rule"], r["attack"], r["method"], r["source"], r["epsilon"]), []).append(r)
    out = {}
    for k, members in groups.items():
        accs = [m["accuracy"] for m in members]
        first = members[0]
        if len(members) == 1:
            one = first if "ci_lo" in first else _with_interval(first)
            mean, lo, hi, interval = first["accuracy"], one["ci_lo"], one["ci_hi"], one["interval"] or "none"
        else:
            mean, lo, hi, interval = seed_interval(accs)
        out[k] = {
            "mean": float(mean),
            "lo": float(lo),
            "hi": float(hi),
            "interval": interval,
            "n_seeds": len(members),
            "n_eval": first.get("n_eval"),
            "per_seed": {m.get("seed"): m["accuracy"] for m in members},
            "family": first.get("family"),
            "simulator": first.get("simulator"),
            "gradient": GRADIENT_OF_KIND.get(k[1], "exact"),
            "role": first.get("role", "attack"),
            "budget": {f: first[f] for f in BUDGET_FIELDS if f in first},
            "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
        }
    return out
