#!/usr/bin/env python
"""Train (or reuse) every rule on one data set, attack them all, and write a report.

With no arguments it runs the default comparison on scikit-learn's embedded 8x8 digits (no
download): every rule, rate-based (torch) and spiking (Brian2), three seeds, FGSM and PGD
white-box / surrogate, and transfer from BP.

Examples
--------
    python scripts/compare.py                                   # digits, writes runs/compare-digits
    python scripts/compare.py --dataset mnist --data-root ../shared/data --seeds 0 --out runs/compare-mnist
    python scripts/compare.py --executor ray --ray-address auto --out /shared/results/sweep1

An interrupted comparison, run again with the same --out, recomputes nothing that finished.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from tqdm import tqdm

from bridges.cli import fail, float_list, int_list, key_values, name_list
from bridges.compare import (
    DEFAULT_RULES,
    CompareConfig,
    build_tasks,
    eval_task,
    merge,
    train_task,
    worker_init,
    worker_session,
    write_report,
)
from bridges.io import read_json
from bridges.provenance import versions
from bridges.tasks import EXECUTORS, default_executor, result_path, run_tasks


def parse_args(argv=None, prog=None):
    p = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--dataset", default="digits")
    p.add_argument("--classes", type=int_list, default=None, help="keep only these classes, e.g. 4,9")
    p.add_argument("--rules", type=name_list, default=DEFAULT_RULES)
    p.add_argument("--epsilons", type=float_list, default=(0.0, 0.05, 0.1, 0.2, 0.3))
    p.add_argument("--seeds", type=int_list, default=(0, 1, 2))
    p.add_argument("--methods", type=name_list, default=("fgsm", "pgd"))
    p.add_argument("--pgd-steps", type=int, default=10)
    p.add_argument("--sources", type=name_list, default=("bp",), help="rules that craft transfer attacks")
    p.add_argument("--n-eval", type=int, default=None, help="test samples per rate model (default: all)")
    p.add_argument("--n-eval-spiking", type=int, default=100, help="test samples per spiking model")
    p.add_argument("--eot-samples", type=int, default=4)
    p.add_argument(
        "--rate-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a rate-run field for every rate rule (JSON value), e.g. epochs=5",
    )
    p.add_argument(
        "--spiking-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spiking-run field, e.g. epochs=2 or target=numpy",
    )
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=None, help="results directory (default runs/compare-<dataset>)")
    p.add_argument(
        "--executor",
        default=None,
        choices=EXECUTORS,
        help="sequential, local (process pool; default when >1 core is free) or ray",
    )
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--ray-address", default=None, help="address of a running Ray cluster ('auto' or host:port)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None, prog=None) -> int:
    args = parse_args(argv, prog)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = CompareConfig(
            dataset=args.dataset,
            classes=args.classes,
            rules=args.rules,
            epsilons=args.epsilons,
            seeds=args.seeds,
            methods=args.methods,
            pgd_steps=args.pgd_steps,
            sources=args.sources,
            n_eval=args.n_eval,
            n_eval_spiking=args.n_eval_spiking,
            eot_samples=args.eot_samples,
            data_root=args.data_root,
            rate=key_values(args.rate_option),
            spiking=key_values(args.spiking_option),
        )
        tasks = build_tasks(cfg)
    except (ValueError, ImportError, argparse.ArgumentTypeError) as exc:
        return fail(exc)
    out = Path(args.out or f"runs/compare-{cfg.dataset}")
    executor = args.executor or default_executor()
    n_train = sum(1 for t in tasks if t.fn is train_task)
    n_eval = sum(1 for t in tasks if t.fn is eval_task)
    n_compile = len(tasks) - n_train - n_eval
    desc = (
        f"{executor}: "
        + (f"{n_compile} compilations, " if n_compile else "")
        + f"{n_train} trainings, {n_eval} evaluations"
    )
    bar = None if args.quiet else tqdm(total=len(tasks), desc=desc, unit="task")
    t0 = time.perf_counter()
    try:
        run_tasks(
            tasks,
            out,
            executor=executor,
            workers=args.workers,
            ray_address=args.ray_address,
            on_done=(lambda t, r: bar.update(1)) if bar is not None else None,
            worker_init=worker_init,
            session=worker_session,
        )
    except (ValueError, ImportError, RuntimeError, FileNotFoundError) as exc:
        return fail(exc)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    rows = merge(tasks, out)
    trains = {
        t.key: read_json(result_path(out, t.key))["result"] | {"rule": t.spec["rule"], "seed": t.spec["config"]["seed"]}
        for t in tasks
        if t.fn is train_task
    }
    command = " ".join([prog or "bioplausible compare", *(argv if argv is not None else sys.argv[1:])])
    rep = write_report(out, cfg, rows, trains, command, versions(), wall_s=wall)
    print(f"{len(rows)} result rows in {wall:.0f} s ({executor}); report: {out / 'report.md'}")
    suspect = [r for r, c in rep["checks"].items() if c["suspect"]]
    if suspect:
        print(f"gradient-masking checks flag: {', '.join(suspect)} (see the report)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
