#!/usr/bin/env python
"""Train a spiking (Brian2) classifier with the STDP/association rule or spiking local errors.

Example
-------
    python scripts/train_spiking.py --rule stdp-association --dataset mnist --classes 0,1 \
        --hidden 100,100 --epochs 1 --seed 0 --target cpp_standalone --out runs/spk-mnist01

Writes DIR/metrics.json (accuracy, spike rates per layer, seed, config, versions, timings),
DIR/weights.npz (``W_<pre>_<post>[pre, post]`` in mV, thresholds ``theta_*``, readouts ``M_*``)
and, with --plots, DIR/raster.png, DIR/weights.png (and DIR/receptive_fields.png for images).
While training, DIR/checkpoint.npz holds the state and progress after the last finished chunk
(one atomic write); rerunning the same command resumes from it with a bit-identical result.

Tabular data (iris) are population-coded (Gaussian receptive fields, --pop-size per feature,
centres from the training split) before the rate code; images are used pixel by pixel.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import spiking as spk
from bridges.cli import class_list, fail, int_list
from bridges.data import DATASET_SPECS
from bridges.io import atomic_write_json
from bridges.provenance import versions
from bridges.runs.spiking import params_overrides, train_spiking_run
from spiking.presets import PRESETS

log = logging.getLogger("train_spiking")


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--rule", required=True, help=f"one of: {', '.join(spk.available_rules())}")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, kmnist, iris, digits")
    p.add_argument(
        "--classes", type=class_list, default=None, help="keep only these classes (indices or names), e.g. 4,9"
    )
    p.add_argument("--data-root", default=None, help="directory holding <name>/ IDX folders")
    p.add_argument("--n-train", type=int, default=None, help="stratified subset of the training split")
    p.add_argument("--n-test", type=int, default=None, help="stratified subset of the test split")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the embedded sets' train/test split and subsets")
    p.add_argument("--hidden", type=int_list, default=(100, 100), help="hidden layer sizes")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", default="cpp_standalone", choices=list(spk.TARGETS))
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--encoding", default="poisson", choices=list(spk.ENCODINGS))
    p.add_argument("--dt-ms", type=float, default=None, help="default per rule (spiking.get_rule(rule).run_defaults)")
    p.add_argument("--t-present-ms", type=float, default=None, help="default per rule")
    p.add_argument("--t-rest-ms", type=float, default=0.0)
    p.add_argument("--max-rate-hz", type=float, default=None, help="default per rule")
    p.add_argument(
        "--total-rate-hz",
        type=float,
        default=None,
        help="normalise each sample's summed input rate (default per rule; 0 = off)",
    )
    p.add_argument("--pop-size", type=int, default=16, help="population-code neurons per tabular feature")
    p.add_argument(
        "--params",
        default=None,
        help="rule parameter overrides: a preset name (spiking/presets.py: " + ", ".join(PRESETS) + "), "
        "a JSON object or path to a JSON file (nested, e.g. "
        '\'{"inhibition_mV": 3, "hidden_lif": {"theta_plus_mV": 0.1}}\')',
    )
    p.add_argument("--chunk-size", type=int, default=1000, help="training samples per simulator run")
    p.add_argument("--eval-copies", type=int, default=1, help="parallel network copies for evaluation")
    p.add_argument(
        "--cache-dir", default=None, help="compiled standalone projects (default ~/.cache/bioplausible/brian2)"
    )
    p.add_argument("--plots", action="store_true", help="write raster and weight PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        args.rule = spk.RULES.canonical(args.rule)  # an old name warns
    except ValueError as exc:
        p.error(str(exc))
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    for key, val in spk.get_rule(args.rule).run_defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, val)
    if not args.total_rate_hz:
        args.total_rate_hz = None
    return args


def _is_idx(name: str) -> bool:
    return name in DATASET_SPECS and bool(DATASET_SPECS.get(name).idx)


def run_of(args: argparse.Namespace) -> dict:
    """The spiking run (``bridges.runs.spiking``) that these arguments describe."""
    return {
        "rule": args.rule,
        "seed": args.seed,
        "dataset": args.dataset,
        "classes": None if not args.classes else list(args.classes),
        "hidden": list(args.hidden),
        "epochs": args.epochs,
        "target": args.target,
        "dt_ms": args.dt_ms,
        "t_present_ms": args.t_present_ms,
        "t_rest_ms": args.t_rest_ms,
        "max_rate_hz": args.max_rate_hz,
        "total_rate_hz": args.total_rate_hz,
        "encoding": args.encoding,
        "chunk_size": args.chunk_size,
        "eval_copies": args.eval_copies,
        "n_train": args.n_train,
        "n_test": args.n_test,
        "split_seed": args.split_seed,
        "pop_size": args.pop_size,
        "params": params_overrides(args.rule, args.params),
    }


def main(argv=None, prog=None) -> int:
    args = parse_args(argv, prog)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    try:
        run = run_of(args)
    except ValueError as exc:
        return fail(exc)
    root = args.data_root if _is_idx(args.dataset) else None  # embedded sets take no root
    bar = tqdm(total=None, unit="sample", disable=args.quiet, desc=f"{args.rule} {args.dataset}")

    def on_start(total, done):
        bar.reset(total=total)
        bar.update(done)

    def on_chunk(c, n, res):
        bar.set_postfix(chunk=f"{c + 1}/{n}", sim_ms_per_sample=f"{1e3 * res.wall_s / args.chunk_size:.2f}")

    plots: list[str] = []

    def keep(clf, data):
        if args.plots:
            plots.extend(make_plots(clf, data.x_test, data.dataset, out))

    t_start = time.perf_counter()
    try:
        res = train_spiking_run(
            run,
            out,
            data_root=root,
            cache_dir=args.cache_dir,
            evaluate_each_epoch=True,
            progress=bar.update,
            on_start=on_start,
            on_chunk=on_chunk,
            keep_classifier=keep,
        )
    except ValueError as exc:
        return fail(exc)
    finally:
        bar.close()
    ds, last = res.data.dataset, res.history[-1]
    metrics = {
        "accuracy": last["test_accuracy"],
        "test_rates_hz": last["test_rates_hz"],
        "train_rates_hz": last["train_rates_hz"],
        "history": res.history,
        "seed": args.seed,
        "rule": args.rule,
        "rule_label": spk.get_rule(args.rule).label,
        "dataset": {
            "name": ds.name,
            "classes": list(ds.class_names),
            "n_train": res.n_train,
            "n_test": res.n_test,
            "split": "official test split"
            if _is_idx(args.dataset)
            else f"stratified train/test split of bridges.data (split_seed={args.split_seed})",
            "input": res.data.input_note,
        },
        "config": spk.config_to_dict(res.config),
        "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()},
        "target": res.target,
        "wall_s_this_process": time.perf_counter() - t_start,
        "versions": versions(),
        "weight_layout": "W_<pre>_<post>[pre, post] in mV; theta_<layer> in mV; M_<layer>[neuron, class]",
    }
    if args.plots:
        metrics["plots"] = plots
    atomic_write_json(out / "metrics.json", metrics)
    print(f"test accuracy {metrics['accuracy']:.4f} -> {out / 'metrics.json'}")
    return 0


def make_plots(clf: spk.SpikingClassifier, x_te: np.ndarray, ds, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spiking.plotting import plot_raster, plot_receptive_fields, plot_weights

    files = []
    raster = clf.raster(x_te[:5])
    fig, ax = plt.subplots(figsize=(10, 5))
    plot_raster(raster, t_sample_ms=clf.config.sim.t_sample_ms, ax=ax)
    ax.set_title(f"first 5 test samples, labels {ds.y_test[:5].tolist()}")
    fig.tight_layout()
    fig.savefig(out / "raster.png", dpi=100)
    plt.close(fig)
    files.append("raster.png")
    weights = clf.weights()
    fig, axes = plt.subplots(1, len(weights), figsize=(5 * len(weights), 4))
    for ax, (name, w) in zip(np.atleast_1d(axes), weights.items()):
        plot_weights(w, title=f"{name} (mV)", ax=ax)
    fig.tight_layout()
    fig.savefig(out / "weights.png", dpi=100)
    plt.close(fig)
    files.append("weights.png")
    if len(ds.x_train.shape) == 4:
        side = ds.x_train.shape[-2:]
        fig, ax = plt.subplots(figsize=(8, 8))
        plot_receptive_fields(weights["W_in_h1"], tuple(side), ax=ax)
        fig.savefig(out / "receptive_fields.png", dpi=100)
        plt.close(fig)
        files.append("receptive_fields.png")
    return files


if __name__ == "__main__":
    sys.exit(main())
