#!/usr/bin/env python
"""Train (or reuse) every rule on one data set, attack them all, and write a report.

With no arguments it runs the default comparison on scikit-learn's embedded 8x8 digits (no
download): every rule, rate-based (torch) and spiking (Brian2), three seeds, FGSM and PGD
white-box / surrogate, APGD (CE, targeted DLR), the gradient-free Square attack, BPDA through a
rate approximation of the spiking networks, and transfer from BP; then each model's verdict:
gradient attacks reliable, masked or inconclusive.

Examples
--------
    bioplausible compare                                   # digits, writes runs/compare-digits
    bioplausible compare --dataset mnist --data-root ../shared/data --seeds 0 --out runs/compare-mnist
    bioplausible compare --executor ray --ray-address auto --out /shared/results/sweep1
    bioplausible compare --device auto                     # rate trainings and twins on the GPU

The whole comparison (rules, attacks, data set and classes, every run's options) is checked before
the results folder is created. ``--device`` moves the rate trainings and the twins' attacks onto a
GPU; it is not part of any task key, so CPU and GPU results share the folder's cache: keep one
device per results folder. CPU (the default) reproduces the published rows bit for bit.

An interrupted comparison, run again with the same --out, recomputes nothing that finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from bridges.cli import fail, float_list, int_list, key_value, key_values, name_list, resume_hint
from bridges.commands._common import DEVICE_HELP, Parser, add_data_flags, check_data, device, one_line
from bridges.compare import (
    DEFAULT_METHODS,
    DEFAULT_RULES,
    CompareConfig,
    build_tasks,
    craft_task,
    eval_task,
    merge,
    train_task,
    worker_init,
    worker_session,
    write_report,
)

#: the environment variable through which ``--device`` reaches every worker (sequential, process
#: pool, Ray): the model families read it; it never enters a task key
from bridges.compare.families import (
    DEVICE_ENV,  # noqa: E402  (the variable the workers read)
    FAMILIES,
)
from bridges.compare.progress import WorkEstimate
from bridges.compare.report import read_invocations, record_invocation
from bridges.io import read_json
from bridges.provenance import versions
from bridges.tasks import EXECUTORS, default_executor, result_path, run_tasks

#: run fields the comparison sets itself (per rule and seed): not overridable with --rate/--spiking-option
_SET_BY_COMPARISON = ("rule", "seed", "dataset", "classes")


def _rate_keys() -> list[str]:
    from bridges.runs.rate import RateRunConfig

    return [f.name for f in dataclasses.fields(RateRunConfig) if f.name not in _SET_BY_COMPARISON]


def _spiking_keys() -> list[str]:
    from bridges.runs.spiking import OPTIONAL_DEFAULTS, RUN_DEFAULTS

    keys = ["hidden", "epochs", *RUN_DEFAULTS, *OPTIONAL_DEFAULTS]
    return [k for k in dict.fromkeys(keys) if k not in _SET_BY_COMPARISON]


def _model_names() -> tuple[str, ...]:
    from ratebased import MODELS

    return MODELS.names()


def parse_args(argv=None, prog=None):
    from bridges.attacks import ATTACKS

    rules = "; ".join(f"{name}: {', '.join(fam.rule_names())}" for name, fam in FAMILIES.items())
    p = Parser(prog=prog, description=__doc__.split("\n")[1])
    add_data_flags(p)
    p.add_argument("--rules", type=name_list, default=DEFAULT_RULES, metavar="A,B,...", help=f"rules ({rules})")
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME",
        help=f"model of every rate rule: {', '.join(_model_names())} (default: the data set's preset, mlp); "
        "the same as --rate-option model=NAME; conv nets need --rules without dtp and gait",
    )
    p.add_argument(
        "--epsilons",
        type=float_list,
        default=(0.0, 0.05, 0.1, 0.2, 0.3),
        metavar="E,E,...",
        help="L-inf budgets in [0, 1]",
    )
    p.add_argument("--seeds", type=int_list, default=(0, 1, 2), metavar="S,S,...", help="one model per rule and seed")
    p.add_argument(
        "--methods",
        type=name_list,
        default=None,
        metavar="M,M",
        help=f"attacks: {', '.join(ATTACKS.names())} (square: gradient-free, on every model's scores; default: "
        f"{','.join(DEFAULT_METHODS)}; spiking models: the data set's spiking suite, see below)",
    )
    p.add_argument("--pgd-steps", type=int, default=None, help="iterations of each PGD attack (default: 10)")
    p.add_argument(
        "--apgd-steps", type=int, default=None, help="iterations of each APGD attack, CE and DLR (default: 100)"
    )
    p.add_argument(
        "--square-queries", type=int, default=None, help="model queries of each Square attack (default: 1000)"
    )
    p.add_argument(
        "--sanity-epsilon",
        type=float,
        default=1.0,
        help="an extra epsilon at which any classifier can be fooled, attacked with PGD on each model's own "
        "gradients (masking evidence; 0 for none)",
    )
    p.add_argument(
        "--sources", type=name_list, default=("bp",), metavar="A,B", help="rate rules that craft transfer attacks"
    )
    p.add_argument("--n-eval", type=int, default=None, help="test samples per rate model (default: all)")
    p.add_argument(
        "--n-eval-spiking",
        type=int,
        default=None,
        help="test samples per spiking model (default: 100 on digits, all of iris, 1000 on the 28x28 sets)",
    )
    p.add_argument(
        "--eot-samples",
        type=int,
        default=None,
        help="spike draws averaged per surrogate gradient (default: 20). Spiking models run a smaller attack "
        "suite and budgets per data set (bridges.compare.SPIKING_ATTACK_PRESETS: digits APGD 20 steps, Square "
        "300 queries, no APGD-DLR); a --methods or budget flag given here applies to every model",
    )
    p.add_argument(
        "--rate-option",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="a rate-run setting for every rate rule (repeatable; JSON value; the KEY=VALUE of train-rate's "
        f'--rule-option), e.g. epochs=5 or rule_options={{"manhattan": true}}; keys: {", ".join(_rate_keys())}',
    )
    p.add_argument(
        "--spiking-option",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="a spiking-run setting for every spiking rule (repeatable; JSON value), e.g. epochs=2 or "
        f"target=numpy; keys: {', '.join(_spiking_keys())}",
    )
    p.add_argument("--out", default=None, metavar="DIR", help="results folder (default: runs/compare-<dataset>)")
    p.add_argument(
        "--executor",
        default=None,
        choices=EXECUTORS,
        metavar="NAME",
        help="sequential, local (a process pool; the default when more than one core is free) or ray",
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: the free cores)")
    p.add_argument("--ray-address", default=None, help="a running Ray cluster: auto or host:port (default: start one)")
    p.add_argument(
        "--device",
        default="cpu",
        type=device,
        help=f"{DEVICE_HELP}, for the rate trainings and the twins' attacks (Brian2 runs on the CPU)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.model is not None:
        from ratebased import MODELS

        try:
            args.model = MODELS.canonical(args.model)
        except ValueError as exc:
            p.error(f"--model: {exc}")
        if any(k == "model" for k, _ in args.rate_option):
            p.error("--model and --rate-option model=... both set the model; give one")
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers must be >= 1, got {args.workers}")
    for flag in ("n_eval", "n_eval_spiking", "pgd_steps", "apgd_steps", "square_queries", "eot_samples"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if not 0 <= args.sanity_epsilon <= 1:
        p.error(f"--sanity-epsilon must be in [0, 1] (0: no sanity row), got {args.sanity_epsilon}")
    for flag, valid in (("rate_option", _rate_keys()), ("spiking_option", _spiking_keys())):
        for key, _ in getattr(args, flag):
            if key not in valid:
                p.error(f"unknown --{flag.replace('_', '-')} key {key!r}; valid keys: {', '.join(valid)}")
    return args


def check_runs(cfg: CompareConfig, tasks) -> None:
    """Load the data set (name, classes, data root) and build every model the comparison will train,
    untrained (rate: the torch module its rule prepares; spiking: the network configuration), so
    that a mistake fails here, before the results folder exists. Raises ``ValueError`` or
    ``FileNotFoundError`` naming the problem."""
    from bridges.runs.rate import RateRunConfig, build_rate_model
    from bridges.runs.spiking import load_run_data, network_config

    ds = check_data(cfg.dataset, cfg.classes, cfg.data_root)
    checked = set()
    for t in tasks:
        if t.fn is not train_task:
            continue
        conf, rule = t.spec["config"], t.spec["rule"]
        if t.spec["family"] == "rate":
            try:
                build_rate_model(RateRunConfig.from_dict(conf), tuple(ds.x_train.shape[1:]), ds.n_classes)
            except ValueError as exc:
                raise ValueError(
                    f"rule {rule}: {exc} (change it with --model or --rate-option, or drop the rule from --rules)"
                ) from None
        else:
            if ds.x_train.ndim == 2:  # tabular: the spiking run population-codes it, attacks would not
                raise ValueError(
                    f"rule {rule}: the comparison attacks spiking models on image data sets only; {cfg.dataset} is "
                    "tabular (its spiking runs see a population code of the features): drop the spiking rules "
                    f"from --rules, or train them alone with `bioplausible train-spiking --dataset {cfg.dataset}`"
                )
            key = repr(sorted((k, str(v)) for k, v in conf.items() if k != "seed"))
            if key in checked:
                continue
            checked.add(key)
            try:
                data = load_run_data(conf, cfg.data_root)
                network_config(conf, data.x_train.shape[1], data.dataset.n_classes)
            except ValueError as exc:
                raise ValueError(f"rule {rule}: {exc} (change it with --spiking-option)") from None


def attack_settings(args: argparse.Namespace) -> dict:
    """The attack suite and budgets of the comparison (CompareConfig fields): the flags given, the
    defaults for the others; the data set's spiking suite (:data:`SPIKING_ATTACK_PRESETS`) less
    whatever a flag sets for every model."""
    from bridges.compare.config import ATTACK_FIELDS, attack_presets

    given = {k: getattr(args, k) for k in ATTACK_FIELDS if getattr(args, k, None) is not None}
    return {**attack_presets(args.dataset, given), **given}


def prepare(args: argparse.Namespace) -> tuple[CompareConfig, list]:
    """The comparison and its task graph that ``args`` describe, every run checked
    (:func:`check_runs`). Raises ``ValueError``, ``ImportError`` or ``FileNotFoundError``."""
    cfg = CompareConfig(
        dataset=args.dataset,
        classes=args.classes,
        rules=args.rules,
        epsilons=args.epsilons,
        seeds=args.seeds,
        **attack_settings(args),
        sources=args.sources,
        n_eval=args.n_eval,
        n_eval_spiking="preset" if args.n_eval_spiking is None else args.n_eval_spiking,
        sanity_epsilon=args.sanity_epsilon or None,
        data_root=args.data_root,
        rate={**key_values(args.rate_option), **({"model": args.model} if args.model else {})},
        spiking=key_values(args.spiking_option),
    )
    tasks = build_tasks(cfg)
    check_runs(cfg, tasks)
    return cfg, tasks


def main(argv=None, prog=None) -> int:
    args = parse_args(argv, prog)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg, tasks = prepare(args)
    except (ValueError, ImportError, FileNotFoundError) as exc:
        return fail(one_line(exc))
    out = Path(args.out or f"runs/compare-{cfg.dataset}")
    if out.exists() and not out.is_dir():
        return fail(f"--out {out} is a file; name a folder")
    executor = args.executor or default_executor()
    n_train = sum(1 for t in tasks if t.fn is train_task)
    n_eval = sum(1 for t in tasks if t.fn is eval_task)
    n_craft = sum(1 for t in tasks if t.fn is craft_task)
    n_compile = len(tasks) - n_train - n_eval - n_craft
    desc = (
        f"{executor}: "
        + (f"{n_compile} compilations, " if n_compile else "")
        + f"{n_train} trainings, "
        + (f"{n_craft} transfer attacks, " if n_craft else "")
        + f"{n_eval} evaluations"
    )
    # the bar counts expected seconds of work, not tasks (a compilation takes minutes, a rate
    # evaluation a tenth of a second), learnt per kind of task as they finish: its ETA is the work left
    work = WorkEstimate(tasks, out)
    bar = None
    if not args.quiet:
        bar = tqdm(
            total=work.total_s,
            initial=work.initial_s,
            desc=desc,
            smoothing=0,
            postfix=f"{work.n_done}/{len(tasks)} tasks done",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| of the estimated work{postfix} [{elapsed}<{remaining}]",
        )

    ran_before = work.n_done  # finished in earlier runs of this folder
    finished_now: set[str] = set()

    def on_done(t, r):
        finished_now.add(t.key)
        if bar is not None and work.finish(t, r):
            bar.total = work.total_s
            bar.set_postfix_str(f"{work.n_done}/{len(tasks)} tasks done", refresh=False)
            bar.update(work.done_s - bar.n)

    resume_hint(f"finished work is kept in {out}; run the same command again to resume")
    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    outcome = "interrupted"
    previous_device = os.environ.get(DEVICE_ENV)
    os.environ[DEVICE_ENV] = args.device  # inherited by pool workers; never part of a task key
    try:
        run_tasks(
            tasks,
            out,
            executor=executor,
            workers=args.workers,
            ray_address=args.ray_address,
            on_done=on_done,
            worker_init=worker_init,
            session=worker_session,
            priority=work.expected_s,  # longest expected first: no long task left for the end
        )
        outcome = "finished"
    except (ValueError, ImportError, RuntimeError, FileNotFoundError) as exc:
        outcome = "failed"
        return fail(one_line(exc))
    finally:
        if bar is not None:
            bar.close()
        ran = max(0, len(finished_now) - ran_before)  # on_done also reports the tasks finished earlier
        record_invocation(out, started=started, wall_s=time.perf_counter() - t0, tasks_run=ran, outcome=outcome)
        if previous_device is None:
            os.environ.pop(DEVICE_ENV, None)
        else:
            os.environ[DEVICE_ENV] = previous_device
    wall = time.perf_counter() - t0
    rows = merge(tasks, out)
    trains = {
        t.key: read_json(result_path(out, t.key))["result"] | {"rule": t.spec["rule"], "seed": t.spec["config"]["seed"]}
        for t in tasks
        if t.fn is train_task
    }
    command = " ".join([prog or "bioplausible compare", *(argv if argv is not None else sys.argv[1:])])
    task_s = sum(float(read_json(result_path(out, t.key)).get("seconds") or 0.0) for t in tasks)
    rep = write_report(
        out, cfg, rows, trains, command, versions(), wall_s=wall, task_s=task_s, invocations=read_invocations(out)
    )
    print(f"{len(rows)} result rows in {wall:.0f} s ({executor}); report: {out / 'report.md'}")
    for rule, v in rep["verdicts"].items():
        if v["verdict"] != "gradient attacks reliable":
            print(f"{rule}: {v['verdict']} ({v['reason']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
