"""The robustness comparison across rules, rate-based (torch) and spiking (Brian2).

* :mod:`~bridges.compare.config` - what to compare (:class:`CompareConfig`);
* :mod:`~bridges.compare.families` - how each model family trains, loads and is attacked;
* :mod:`~bridges.compare.graph` - the task graph (compilations, trainings, transfer craftings, attacks);
* :mod:`~bridges.compare.progress` - expected seconds per task (progress, ETA, scheduling);
* :mod:`~bridges.compare.results` - rows with 95% intervals, per-sample worst cases, summaries over seeds;
* :mod:`~bridges.compare.verdicts` - per model: gradient attacks reliable, masked or inconclusive;
* :mod:`~bridges.compare.report` - ``report.md``, ``results.csv``/``results.json`` and the figures.

Example
-------
>>> cfg = CompareConfig(rules=("bp", "fa"), seeds=(0,), epsilons=(0.0, 0.1), methods=("fgsm",))
>>> tasks = build_tasks(cfg)  # per model: a clean evaluation, FGSM at 0.1 and the sanity row at 1.0
>>> len(tasks), sum(t.fn is train_task for t in tasks), sum(t.fn is craft_task for t in tasks)
(10, 2, 1)
>>> sum(t.fn is eval_task and t.spec["attack"] == "transfer" for t in tasks)  # FA scored on BP's FGSM
1
"""

from bridges.compare.config import (
    ATTACK_KINDS,
    ATTACK_PRESETS,
    DEFAULT_METHODS,
    DEFAULT_RULES,
    SPIKING_ATTACK_PRESETS,
    CompareConfig,
    family_of,
)
from bridges.compare.families import FAMILIES, LoadedModel
from bridges.compare.graph import (
    build_tasks,
    compile_task,
    craft_task,
    eval_task,
    train_task,
    worker_init,
    worker_session,
)
from bridges.compare.plots import plot_accuracy_vs_epsilon
from bridges.compare.report import write_report
from bridges.compare.results import ROW_FIELDS, merge, summarise, worst_case_rows
from bridges.compare.verdicts import verdicts

__all__ = [
    "ATTACK_PRESETS",
    "SPIKING_ATTACK_PRESETS",
    "ATTACK_KINDS",
    "DEFAULT_METHODS",
    "DEFAULT_RULES",
    "FAMILIES",
    "ROW_FIELDS",
    "CompareConfig",
    "LoadedModel",
    "build_tasks",
    "compile_task",
    "craft_task",
    "eval_task",
    "family_of",
    "merge",
    "plot_accuracy_vs_epsilon",
    "summarise",
    "train_task",
    "verdicts",
    "worker_init",
    "worker_session",
    "worst_case_rows",
    "write_report",
]
