"""The robustness comparison across rules, rate-based (torch) and spiking (Brian2).

* :mod:`~bridges.compare.config` - what to compare (:class:`CompareConfig`);
* :mod:`~bridges.compare.families` - how each model family trains, loads and is attacked;
* :mod:`~bridges.compare.graph` - the task graph (compilations, trainings, attacks);
* :mod:`~bridges.compare.report` - rows, summaries, masking checks, ``report.md`` and plots.

Example
-------
>>> cfg = CompareConfig(rules=("bp", "fa"), seeds=(0,), epsilons=(0.0, 0.1), methods=("fgsm",))
>>> len(build_tasks(cfg))  # 2 trainings + bp: 2 whitebox; fa: 2 whitebox + 2 transfer
8
"""

from bridges.compare.config import ATTACK_KINDS, DEFAULT_RULES, CompareConfig, family_of
from bridges.compare.families import FAMILIES, LoadedModel
from bridges.compare.graph import build_tasks, compile_task, eval_task, train_task, worker_init, worker_session
from bridges.compare.report import ROW_FIELDS, masking_checks, merge, plot_accuracy_vs_epsilon, summarise, write_report

__all__ = [
    "ATTACK_KINDS",
    "DEFAULT_RULES",
    "FAMILIES",
    "ROW_FIELDS",
    "CompareConfig",
    "LoadedModel",
    "build_tasks",
    "compile_task",
    "eval_task",
    "family_of",
    "masking_checks",
    "merge",
    "plot_accuracy_vs_epsilon",
    "summarise",
    "train_task",
    "worker_init",
    "worker_session",
    "write_report",
]
