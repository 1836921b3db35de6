"""Benchmark: samples per second of the spiking network's snntorch twin (compiled kernels vs the torch
step loop, float64 and float32, forward and forward+backward) and of Brian2, in one run.

The network is the full-MNIST STDP/association model of the comparison: 784 Poisson inputs ->
400 -> 400 -> 10 LIF neurons with the skip projection h1 -> out (preset ``stdp-skip-400``), dt 0.5 ms,
``--t-present-ms`` of input per sample (100 ms: 200 steps), total input rate 20 kHz, random initial
weights (``spiking.init_state``), random images. Forward: ``twin(x)`` under ``torch.no_grad`` on
``--batch`` images; forward+backward: the cross-entropy input gradient on ``--grad-batch`` images
(what an attack step costs). Each figure is the median of ``--repeats`` timed runs after one
warm-up; the step loop (the reference formulation, ``engine="steps"``) is timed ``--baseline-repeats``
times. Brian2: ``SpikingClassifier.predict_counts`` on ``--brian-samples`` images with
``--brian-target`` (the compile is timed apart).

Samples per second are wall-clock; samples per CPU-second (all threads of the process) are printed
beside them, a figure less sensitive to other jobs on a shared machine. The JSON records the load
average before and after; compare ratios taken in the same run.

Example
-------
    bioplausible bench twin --json twin_bench.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from bridges.commands._common import Parser

NETWORK = "784 -> 400 -> 400 -> 10 LIF, skip h1 -> out (stdp-skip-400), dt 0.5 ms, total input rate 20 kHz"


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    p = Parser(prog=prog, description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--batch", type=int, default=256, help="images per forward pass")
    p.add_argument("--grad-batch", type=int, default=64, help="images per forward+backward pass")
    p.add_argument("--t-present-ms", type=float, default=100.0, help="input time per sample (dt 0.5 ms)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per kernel figure (the median is reported)")
    p.add_argument("--baseline-repeats", type=int, default=1, help="timed runs per step-loop figure (0: skip them)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (and kernel threads)")
    p.add_argument("--brian-samples", type=int, default=100, help="images Brian2 evaluates (0: skip Brian2)")
    p.add_argument(
        "--brian-target",
        default="cpp_standalone",
        choices=["cpp_standalone", "cython", "numpy"],
        help="Brian2 code generation target",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the images and the spikes")
    p.add_argument("--cache-dir", default=None, metavar="DIR", help="compiled standalone projects (Brian2)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    for name in ("batch", "grad_batch", "repeats", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("baseline_repeats", "brian_samples", "seed"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if not (args.t_present_ms > 0 and float(args.t_present_ms / 0.5).is_integer()):
        p.error(f"--t-present-ms must be a positive multiple of 0.5, got {args.t_present_ms}")
    return args


def bench_config(t_present_ms: float):
    from bridges.runs.spiking import network_config, params_overrides

    run = {
        "rule": "stdp-association",
        "seed": 0,
        "dataset": "mnist",
        "hidden": [400, 400],
        "epochs": 1,
        "dt_ms": 0.5,
        "t_present_ms": float(t_present_ms),
        "total_rate_hz": 20000.0,
        "params": params_overrides("stdp-association", "stdp-skip-400"),
    }
    return network_config(run, 784, 10)


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _time_twin(twin, x, y, *, grad: bool, repeats: int, seed: int) -> list[tuple[float, float]]:
    import torch

    def once(k: int) -> tuple[float, float]:
        xb = x.clone().requires_grad_(grad)
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.set_grad_enabled(grad):
            out = twin(xb, seed=seed + k)
            if grad:
                torch.nn.functional.cross_entropy(out, y).backward()
        return len(x) / (time.perf_counter() - t0), len(x) / (time.process_time() - c0)

    _warm(twin, x, y, grad, seed)
    return [once(k) for k in range(repeats)]


def _warm(twin, x, y, grad, seed) -> None:
    import torch

    xb = x[:8].clone().requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        out = twin(xb, seed=seed)
        if grad:
            torch.nn.functional.cross_entropy(out, y[:8]).backward()


def bench_twin(cfg, state, args) -> list[dict]:
    import torch

    from bridges.twin import build_twin

    g = torch.Generator().manual_seed(args.seed)
    x_all = torch.rand(max(args.batch, args.grad_batch), 784, generator=g, dtype=torch.float64)
    y_all = torch.randint(0, 10, (len(x_all),), generator=g)
    rows = []
    for engine, repeats in (("kernels", args.repeats), ("steps", args.baseline_repeats)):
        if repeats == 0:
            continue
        for dtype in (torch.float64, torch.float32):
            twin = build_twin(cfg, state, dtype=dtype, engine=engine)
            for mode, n in (("forward", args.batch), ("forward+backward", args.grad_batch)):
                x, y = x_all[:n].to(dtype), y_all[:n]
                runs = _time_twin(twin, x, y, grad=mode != "forward", repeats=repeats, seed=args.seed)
                rows.append(
                    {
                        "engine": engine,
                        "dtype": str(dtype).replace("torch.", ""),
                        "mode": mode,
                        "batch": n,
                        "samples_per_s": statistics.median(r[0] for r in runs),
                        "samples_per_cpu_s": statistics.median(r[1] for r in runs),
                        "runs_samples_per_s": [r[0] for r in runs],
                    }
                )
                print(
                    f"twin {engine:7s} {rows[-1]['dtype']} {mode:16s} batch {n:4d}: "
                    f"{rows[-1]['samples_per_s']:8.1f} samples/s, {rows[-1]['samples_per_cpu_s']:8.1f} per CPU-second "
                    f"(runs: {', '.join(f'{r[0]:.1f}' for r in runs)})",
                    flush=True,
                )
    return rows


def bench_brian(cfg, state, args) -> dict:
    from spiking.model import SpikingClassifier

    x = np.random.default_rng(args.seed).uniform(size=(args.brian_samples, 784))
    with SpikingClassifier(
        cfg,
        seed=args.seed,
        target=args.brian_target,
        chunk_size=args.brian_samples,
        state=state,
        cache_dir=args.cache_dir,
    ) as clf:
        t0 = time.perf_counter()
        clf.predict_counts(x)  # builds / compiles
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        counts, _ = clf.predict_counts(x)
        wall = time.perf_counter() - t0
    return {
        "target": args.brian_target,
        "samples": args.brian_samples,
        "wall_s": wall,
        "samples_per_s": args.brian_samples / wall,
        "first_run_s": first,
        "out_spikes_per_sample": float(np.asarray(counts).sum() / args.brian_samples),
    }


def _table(rows: list[dict], brian: dict | None) -> str:
    def find(engine, dtype, mode):
        return next((r for r in rows if (r["engine"], r["dtype"], r["mode"]) == (engine, dtype, mode)), None)

    lines = [
        "| dtype | mode | batch | kernels: samples/s (per CPU-s) | step loop: samples/s (per CPU-s) "
        "| kernels / step loop |",
        "|---|---|---|---|---|---|",
    ]
    for dtype in ("float64", "float32"):
        for mode in ("forward", "forward+backward"):
            k, s = find("kernels", dtype, mode), find("steps", dtype, mode)
            if k is None:
                continue
            ratio = f"{k['samples_per_s'] / s['samples_per_s']:.1f}x" if s else "-"
            base = f"{s['samples_per_s']:.1f} ({s['samples_per_cpu_s']:.1f})" if s else "-"
            fast = f"{k['samples_per_s']:.1f} ({k['samples_per_cpu_s']:.1f})"
            lines.append(f"| {dtype} | {mode} | {k['batch']} | {fast} | {base} | {ratio} |")
    if brian:
        lines.append(
            f"\nBrian2 ({brian['target']}): {brian['samples_per_s']:.1f} samples/s "
            f"({brian['samples']} samples in {brian['wall_s']:.1f} s; "
            f"first run incl. build {brian['first_run_s']:.1f} s)"
        )
    return "\n".join(lines)


def main(argv=None, prog=None) -> int:
    args = parse_args(argv, prog)
    import torch

    import spiking as spk
    from bridges.twin import kernels

    torch.set_num_threads(args.threads)
    cfg = bench_config(args.t_present_ms)
    state = spk.init_state(cfg, args.seed)
    load_before = _load()
    print(f"network: {NETWORK}, {cfg.sim.steps_per_sample} steps; kernels available: {kernels.available()}")
    rows = bench_twin(cfg, state, args)
    brian = bench_brian(cfg, state, args) if args.brian_samples else None
    print(_table(rows, brian))
    if args.json:
        from bridges.io import atomic_write_json
        from bridges.provenance import versions

        atomic_write_json(
            args.json,
            {
                "network": NETWORK,
                "steps": cfg.sim.steps_per_sample,
                "twin": rows,
                "brian2": brian,
                "kernels_available": kernels.available(),
                "threads": args.threads,
                "cpu_count": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": _load(),
                "versions": versions(),
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
