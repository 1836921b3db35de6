#!/usr/bin/env python
"""Benchmark: the naive Brian2 loop versus the project's chunked cpp_standalone runs.

The network is the classic Diehl & Cook-sized STDP layer: 784 Poisson inputs -> 100 LIF
neurons (78,400 plastic synapses, adaptive thresholds, lateral inhibition, normalisation), each
sample shown for 350 ms followed by 150 ms without input, dt = 0.1 ms, rates = pixel * 63.75 Hz.
It is built by the library (``stdp-association`` rule, hidden=(100,)), so it also carries a
10-neuron association layer (< 1% of the synapses).

(a) naive: runtime mode (cython, else numpy), the network built once, one ``run()`` per sample
    with the sample's rates and label written into state variables in between.
(b) project: cpp_standalone, compiled once; all samples of a chunk in one ``run()`` driven by a
    TimedArray, re-run with ``run_args``; timed on a second chunk (the compiled binary is
    reused, as every chunk after the first is in training).

Both exclude their one-off compile time (reported separately).

Example
-------
    bioplausible bench spiking --n-naive 10 --n-project 200 --json bench.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import brian2 as b2
import numpy as np

import spiking as spk
from bridges.commands._common import Parser
from spiking.backend.device import reset_device, use_target
from spiking.backend.engine import StandaloneEngine
from spiking.network import build_network, set_sample


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    p = Parser(prog=prog, description=__doc__.split("\n")[1])
    p.add_argument("--n-naive", type=int, default=10, help="samples run naively (one run() each; the first compiles)")
    p.add_argument("--n-project", type=int, default=200, help="samples per standalone chunk")
    p.add_argument(
        "--naive-target", default="cython", choices=["cython", "numpy"], help="runtime target of the naive loop"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the spikes")
    p.add_argument(
        "--data-root",
        default=None,
        metavar="DIR",
        help="folder holding the MNIST IDX files (see train-rate --help; without them: random images)",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="compiled standalone projects (default: ~/.cache/bioplausible/brian2)",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.n_naive < 2:
        p.error(f"--n-naive must be >= 2 (the first run is the compile), got {args.n_naive}")
    if args.n_project < 1:
        p.error(f"--n-project must be >= 1, got {args.n_project}")
    if args.seed < 0:
        p.error(f"--seed must be >= 0, got {args.seed}")
    return args


def bench_config() -> spk.NetworkConfig:
    params = spk.STDPAssociationParams(
        hidden_lif=spk.LIFParams(tau_m_ms=100.0, t_ref_ms=5.0, theta_plus_mV=0.05, tau_theta_ms=1e7),
        input_stdp=spk.STDPParams(
            eta_plus_mV=0.01, eta_minus_mV=0.0001, x_offset=0.4, w_max_mV=1.0, norm_total_mV=78.0, w_init_max_mV=0.3
        ),
        inhibition_mV=17.0,
    )
    return spk.NetworkConfig(
        rule="stdp-association",
        n_in=784,
        hidden=(100,),
        n_out=10,
        max_rate_hz=63.75,
        sim=spk.SimParams(dt_ms=0.1, t_present_ms=350.0, t_rest_ms=150.0),
        params=params,
    )


def load_images(root: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from bridges.data import load_dataset

        ds = load_dataset("mnist", root=root)
        return ds.x_train[:n].reshape(n, -1).astype(np.float64), ds.y_train[:n], "mnist"
    except Exception as exc:  # benchmark still runs without the data set
        print(f"MNIST not found ({exc}); using random sparse images", file=sys.stderr)
        rng = np.random.default_rng(seed)
        x = (rng.uniform(size=(n, 784)) < 0.15) * rng.uniform(0.5, 1.0, size=(n, 784))
        return x, rng.integers(0, 10, size=n), "random"


def bench_naive(cfg, state, rates, labels, target: str, seed: int) -> dict:
    target = spk.resolve_target(target)
    use_target(target)
    try:
        built = build_network(cfg, state, n_slots=1, learning=True, stimulus="variable")
        b2.seed(seed)
        t_sample = cfg.sim.t_sample_ms * b2.ms
        # first sample: includes code generation / compilation, timed separately
        set_sample(built, rates[0], labels[0])
        t0 = time.perf_counter()
        built.net.run(t_sample, namespace={})
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for k in range(1, len(rates)):
            set_sample(built, rates[k], labels[k])
            built.net.run(t_sample, namespace={})
        wall = time.perf_counter() - t0
        n = len(rates) - 1
        spikes = int(built.count_mons["h1"].num_spikes)
    finally:
        reset_device()
    return {
        "target": target,
        "samples": n,
        "wall_s": wall,
        "samples_per_s": n / wall,
        "first_run_s": first,
        "h1_spikes": spikes,
    }


def bench_project(cfg, state, rates, labels, seed: int, cache_dir) -> dict:
    n = len(rates)
    eng = StandaloneEngine(cfg, n_slots=n, learning=True, cache_dir=cache_dir)
    try:
        t0 = time.perf_counter()
        res = eng.run(state, rates, labels.astype(float), seed)  # builds (or reuses) the project
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = eng.run(res.state, rates, labels.astype(float), seed + 1)  # the steady state: no compile
        wall = time.perf_counter() - t0
    finally:
        eng.close()
    return {
        "target": "cpp_standalone",
        "samples": n,
        "wall_s": wall,
        "samples_per_s": n / wall,
        "binary_s": res.wall_s,
        "first_chunk_s": first,
        "build_s": eng.build_s,
        "h1_spikes": int(res.layer_counts["h1"].sum()),
    }


def main(argv=None, prog=None) -> int:
    args = parse_args(argv, prog)
    cfg = bench_config()
    state = spk.init_state(cfg, args.seed)
    x, y, source = load_images(args.data_root, max(args.n_naive, args.n_project), args.seed)
    rates = spk.poisson_rates(x, cfg.max_rate_hz)
    naive = bench_naive(cfg, state, rates[: args.n_naive], y[: args.n_naive], args.naive_target, args.seed)
    print(
        f"naive   ({naive['target']}, one run() per sample): {naive['samples_per_s']:.3f} samples/s "
        f"({naive['samples']} samples, {naive['wall_s']:.1f} s; first run incl. compile {naive['first_run_s']:.1f} s)"
    )
    proj = bench_project(cfg, state, rates[: args.n_project], y[: args.n_project], args.seed, args.cache_dir)
    print(
        f"project (cpp_standalone, TimedArray chunk + run_args): {proj['samples_per_s']:.3f} samples/s "
        f"({proj['samples']} samples, {proj['wall_s']:.1f} s; build {proj['build_s']:.1f} s)"
    )
    ratio = proj["samples_per_s"] / naive["samples_per_s"]
    print(f"speed-up: {ratio:.1f}x")
    if args.json:
        from bridges.io import atomic_write_json
        from bridges.provenance import versions

        atomic_write_json(
            args.json,
            {
                "network": "784 Poisson -> 100 LIF STDP (+10 association), 350 ms + 150 ms per sample, dt 0.1 ms",
                "inputs": source,
                "naive": naive,
                "project": proj,
                "speedup": ratio,
                "cpu_count": os.cpu_count(),
                "versions": versions(),
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
