#!/usr/bin/env python
"""Wall time of one comparison under ``--executor sequential`` and ``--executor local``, in one run.

Runs ``bioplausible compare`` (default: the default digits comparison) twice in subprocesses, each with
a fresh results directory and a fresh Brian2 cache (so both pay the same compilation and symbolic
integration), checks that both wrote the same result rows, and prints the wall times and their ratio.

Because a virtual machine's cores need not deliver their nominal parallel throughput, it also
measures the machine's ceiling: the same CPU-bound workload (pure Python, then single-threaded
torch) run once alone and then as ``--workers`` simultaneous processes; ceiling = workers x
(time alone) / (slowest time when run together). The executor's parallel efficiency is ratio /
ceiling. The calibration runs before and after the comparisons. It also sums the seconds of every task
(each task records its own time) under both executors: their quotient says how much slower the tasks
ran side by side than alone, and workers / that slowdown is the best ratio the run could have reached.

Example
-------
    bioplausible bench executors --workers 2 --json runs/bench_executors.json
    bioplausible bench executors -- --seeds 0 --rules bp,fa     # arguments after -- go to compare
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bridges.commands._common import Parser, one_line
from bridges.io import atomic_write_json
from bridges.provenance import versions

_CALIBRATION = """
import time, torch
torch.set_num_threads(1)
t = time.perf_counter()
s = 0
for i in range({n_py}):
    s += i * i
a = torch.randn(192, 192)
for _ in range({n_torch}):
    a = torch.tanh(a @ a * 0.01)
print(time.perf_counter() - t)
"""


def calibrate(workers: int, n_py: int, n_torch: int) -> dict:
    """Seconds of the workload alone and as ``workers`` simultaneous processes; the ceiling."""
    code = _CALIBRATION.format(n_py=n_py, n_torch=n_torch)
    cmd = [sys.executable, "-c", code]
    alone = float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    together = [float(p.communicate()[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError("calibration workload failed")
    return {"alone_s": alone, "together_s": together, "ceiling": workers * alone / max(together)}


def run_compare(executor: str, workers: int, out: Path, cache: Path, extra: list[str]) -> float:
    env = dict(os.environ, BIOPLAUSIBLE_BRIAN_CACHE=str(cache))
    cmd = [
        sys.executable,
        "-m",
        "bridges.commands",
        "compare",
        "--executor",
        executor,
        "--workers",
        str(workers),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"compare.py --executor {executor} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


def read_rows(out: Path) -> dict[str, str]:
    with open(out / "results.csv", newline="") as f:
        return {r["task_key"]: r["accuracy"] for r in csv.DictReader(f)}


def task_seconds(out: Path) -> float:
    """Sum of the seconds every task of a finished comparison took (its ``tasks/*.json`` records)."""
    return sum(float(json.loads(p.read_text()).get("seconds", 0.0)) for p in (out / "tasks").glob("*.json"))


def main(argv=None, prog=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = Parser(
        prog=prog,
        description=__doc__.split("\n")[0],
        epilog="arguments after -- go to `bioplausible compare` (see its --help)",
    )
    p.add_argument("--workers", type=int, default=2, help="workers of the local executor")
    p.add_argument(
        "--work-dir",
        default=None,
        metavar="DIR",
        help="where the two results folders and caches go (default: a temporary folder, removed afterwards)",
    )
    p.add_argument(
        "--calibration-size",
        type=float,
        default=1.0,
        help="scale of the calibration workload (1.0: ~5 s alone on a 2024 x86 core)",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results to this JSON file")
    args = p.parse_args(own)
    if args.workers < 2:
        p.error("--workers must be >= 2 (the point is to compare with one process)")
    if args.calibration_size <= 0:
        p.error("--calibration-size must be > 0")
    if args.work_dir:
        for ex in ("sequential", "local"):
            for d in (Path(args.work_dir) / f"results-{ex}", Path(args.work_dir) / f"brian-cache-{ex}"):
                if d.exists() and any(d.iterdir()):
                    p.error(f"{d} is not empty; give an empty --work-dir (the runs must start fresh)")
    from bridges.commands import compare

    try:  # a mistake after -- fails now, not after the calibration
        compare.prepare(compare.parse_args(extra, prog=f"{p.prog} -- (compare)"))
    except (ValueError, ImportError, FileNotFoundError) as exc:
        p.error(f"arguments after --: {one_line(exc)}")
    n_py, n_torch = int(20_000_000 * args.calibration_size), int(6_000 * args.calibration_size)

    with tempfile.TemporaryDirectory(prefix="bench_executors_") as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        before = calibrate(args.workers, n_py, n_torch)
        print(
            f"machine ceiling before: {before['ceiling']:.2f}x "
            f"(alone {before['alone_s']:.1f} s, together {max(before['together_s']):.1f} s)",
            flush=True,
        )
        seconds, rows, busy = {}, {}, {}
        for ex in ("sequential", "local"):
            out, cache = work / f"results-{ex}", work / f"brian-cache-{ex}"
            seconds[ex] = run_compare(ex, args.workers, out, cache, extra)
            rows[ex], busy[ex] = read_rows(out), task_seconds(out)
            print(f"{ex:<10} {seconds[ex]:8.1f} s  ({len(rows[ex])} result rows)", flush=True)
        after = calibrate(args.workers, n_py, n_torch)
        print(
            f"machine ceiling after:  {after['ceiling']:.2f}x "
            f"(alone {after['alone_s']:.1f} s, together {max(after['together_s']):.1f} s)"
        )
    ratio = seconds["sequential"] / seconds["local"]
    ceiling = (before["ceiling"] + after["ceiling"]) / 2
    identical = rows["sequential"] == rows["local"]
    inflation = busy["local"] / busy["sequential"]
    print(
        f"task time summed over tasks: sequential {busy['sequential']:.1f} s, local {busy['local']:.1f} s: "
        f"tasks ran {inflation:.2f}x slower side by side (ratio possible at that slowdown: "
        f"{args.workers / inflation:.2f}x)"
    )
    print(
        f"ratio sequential / local ({args.workers} workers): {ratio:.2f}x; machine ceiling {ceiling:.2f}x; "
        f"parallel efficiency {ratio / ceiling:.0%}; identical results: {identical}"
    )
    if args.json:
        atomic_write_json(
            args.json,
            {
                "seconds": seconds,
                "ratio": ratio,
                "task_seconds": busy,
                "task_slowdown": inflation,
                "workers": args.workers,
                "calibration_before": before,
                "calibration_after": after,
                "ceiling": ceiling,
                "identical_results": identical,
                "rows": len(rows["sequential"]),
                "compare_args": extra,
                "cpu_count": os.cpu_count(),
                "versions": versions(),
                "command": " ".join([prog or "bioplausible bench executors", *argv]),
            },
        )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
