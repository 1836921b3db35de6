#!/usr/bin/env python
"""Train a spiking (Brian2) classifier with the STDP/association rule or spiking local errors.

Examples
--------
    bioplausible train-spiking --rule stdp-association --dataset iris --plots --out runs/spk-iris
    bioplausible train-spiking --rule spiking-local --dataset mnist --classes 0,1 --hidden 100,100 \
        --epochs 1 --seed 0 --out runs/spk-mnist01

Every setting left out (``--hidden``, ``--epochs``, ``--chunk-size``, the parameter preset) takes the
best measured value for the data set and rule (``bridges.runs.presets.spiking_defaults``, listed at
the end of ``--help``); metrics.json records which were chosen.

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
import copy
import logging
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import spiking as spk
from bridges.cli import fail, int_list, key_value, resume_hint
from bridges.commands._common import Parser, add_data_flags, check_data, one_line, print_note
from bridges.data import DATASET_SPECS
from bridges.io import atomic_write_json
from bridges.provenance import versions
from bridges.runs.presets import spiking_defaults
from bridges.runs.spiking import (
    load_checkpoint,
    load_run_data,
    network_config,
    params_overrides,
    run_key,
    train_spiking_run,
)
from spiking.presets import PRESETS, preset_name

log = logging.getLogger("train_spiking")


#: settings that :func:`bridges.runs.presets.spiking_defaults` fills in when the command line leaves
#: them out (and the parameter preset): per data set and rule, then the rule's time grid and rates
_PER_DATASET = ("hidden", "epochs", "chunk_size")
_PER_RULE = ("dt_ms", "t_present_ms", "max_rate_hz", "total_rate_hz")


def _defaults_table() -> str:
    """The per-(data set, rule) defaults and the named presets, for the end of ``--help``."""
    rows = ["defaults per data set and rule (each one applies when its flag is left out):"]
    for ds in DATASET_SPECS.names():
        for rule in spk.available_rules():
            d, grid = spiking_defaults(ds, rule), spk.get_rule(rule).run_defaults
            extra = "".join(f"  --{k.replace('_', '-')} {d[k]}" for k in _PER_RULE if d[k] != grid.get(k))
            rows.append(
                f"  {ds:<14} {rule:<17} --hidden {','.join(map(str, d['hidden']))}  --epochs {d['epochs']}  "
                f"--chunk-size {d['chunk_size']}  --preset {d['preset'] or 'none'}{extra}"
            )
    rows.append("time grid and input rates per rule, unless listed above (--dt-ms, --t-present-ms, --max-rate-hz, ")
    rows[-1] += "--total-rate-hz):"
    for rule in spk.available_rules():
        grid = spk.get_rule(rule).run_defaults
        rows.append(f"  {rule}: " + ", ".join(f"{k} {'off' if v is None else v}" for k, v in grid.items()))
    rows.append("presets (--preset NAME; spiking/presets.py documents each):")
    for rule in spk.available_rules():
        names = [n for n, p in PRESETS.items() if spk.get_rule(p["rule"]).name == rule]
        rows.append(f"  {rule}: {', '.join(names)}")
    return "\n".join(rows)


def build_parser(prog=None) -> Parser:
    p = Parser(prog=prog, description=__doc__.split("\n")[1], epilog=_defaults_table())
    p.add_argument("--rule", required=True, metavar="RULE", help=f"spiking rule: {', '.join(spk.available_rules())}")
    add_data_flags(p)
    p.add_argument("--n-train", type=int, default=None, help="stratified subset of the training split (default: all)")
    p.add_argument("--n-test", type=int, default=None, help="stratified subset of the test split (default: all)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the embedded sets' train/test split and subsets")
    p.add_argument(
        "--hidden", type=int_list, default=None, metavar="N,N", help="hidden layer sizes (default: per data set, below)"
    )
    p.add_argument("--epochs", type=int, default=None, help="passes over the training set (default: per data set)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the sample order and the spikes")
    p.add_argument(
        "--target",
        default="cpp_standalone",
        choices=list(spk.TARGETS),
        metavar="TARGET",
        help=f"Brian2 code generation target: {', '.join(spk.TARGETS)}",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--encoding", default="poisson", choices=list(spk.ENCODINGS), help=f"input code: {', '.join(spk.ENCODINGS)}"
    )
    p.add_argument("--dt-ms", type=float, default=None, help="time step (default: per rule)")
    p.add_argument("--t-present-ms", type=float, default=None, help="presentation time per sample (default: per rule)")
    p.add_argument("--t-rest-ms", type=float, default=0.0, help="silent time after each sample")
    p.add_argument("--max-rate-hz", type=float, default=None, help="input rate of a feature at 1 (default: per rule)")
    p.add_argument(
        "--total-rate-hz",
        type=float,
        default=None,
        help="normalise each sample's summed input rate (default: per rule; 0 = off)",
    )
    p.add_argument("--pop-size", type=int, default=16, help="population-code neurons per tabular feature")
    p.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="named rule parameters, listed below; 'none': the rule's own (default: per data set and rule, below)",
    )
    p.add_argument(
        "--rule-option",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="one rule parameter (repeatable; JSON value; nested keys with dots), on top of the preset, e.g. "
        "--rule-option inhibition_mV=3 --rule-option hidden_lif.theta_target_hz=2",
    )
    p.add_argument(
        "--params",
        default=None,
        metavar="JSON|FILE|NAME",
        help="rule parameter overrides as one JSON object or JSON file (nested, e.g. "
        '\'{"inhibition_mV": 3, "hidden_lif": {"theta_target_hz": 0.1}}\'), or a preset name; '
        "replaces the default preset (an older spelling of --preset / --rule-option)",
    )
    p.add_argument(
        "--chunk-size", type=int, default=None, help="training samples per simulator run (default: per data set)"
    )
    p.add_argument("--eval-copies", type=int, default=1, help="parallel network copies for evaluation")
    p.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="compiled standalone projects (default: ~/.cache/bioplausible/brian2)",
    )
    p.add_argument("--plots", action="store_true", help="write raster and weight PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    """Read the command line and fill in every default (per rule, data set); mistakes exit with status 2."""
    p = build_parser(prog)
    args = p.parse_args(argv)
    try:
        args.rule = spk.RULES.canonical(args.rule)  # an old name warns
    except ValueError as exc:
        p.error(str(exc))
    for flag in ("epochs", "chunk_size", "eval_copies", "pop_size", "n_train", "n_test"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    for flag in ("seed", "split_seed"):
        if getattr(args, flag) < 0:
            p.error(f"--{flag.replace('_', '-')} must be >= 0, got {getattr(args, flag)}")
    if args.preset is not None and args.preset != "none" and preset_name(args.preset) is None:
        p.error(f"unknown preset {args.preset!r}; valid: none, {', '.join(PRESETS)}")
    defaults = spiking_defaults(args.dataset, args.rule)
    args.defaults_applied = {}
    for key in _PER_DATASET:
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
            args.defaults_applied[key] = defaults[key]
    if args.preset is None and args.params is None:
        args.preset = defaults["preset"]
        args.defaults_applied["preset"] = defaults["preset"]
    if args.preset == "none":
        args.preset = None
    for key in _PER_RULE:
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
            args.defaults_applied[key] = defaults[key]
    if not args.total_rate_hz:
        args.total_rate_hz = None
    return args


def _merge(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied, nested dicts merged key by key."""
    out = copy.deepcopy(base)
    for key, val in changes.items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def rule_params(args: argparse.Namespace) -> dict:
    """The rule-parameter overrides of these arguments: the preset, then ``--params``, then each
    ``--rule-option`` (``a.b=v`` sets ``{"a": {"b": v}}``)."""
    params = params_overrides(args.rule, args.preset) if args.preset else {}
    if args.params:
        params = _merge(params, params_overrides(args.rule, args.params))
    for key, val in args.rule_option:
        nested: object = val
        for part in reversed(key.split(".")):
            nested = {part: nested}
        params = _merge(params, nested)
    return params


def preset_used(args: argparse.Namespace) -> str | None:
    """The named preset under the run's parameters (``--preset``, or ``--params NAME``), if any."""
    if args.preset:
        return preset_name(args.preset)
    if args.params and preset_name(args.params) is not None:
        return preset_name(args.params)
    return None


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
        "params": rule_params(args),
    }


def main(argv=None, prog=None) -> int:
    args = parse_args(argv, prog)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    root = args.data_root if _is_idx(args.dataset) else None  # embedded sets take no root
    try:  # the whole run is checked before anything is written
        run = run_of(args)
        check_data(
            args.dataset,
            args.classes,
            root,
            n_train=args.n_train,
            n_test=args.n_test,
            seed=args.split_seed,
            split_seed=args.split_seed,
        )
        data = load_run_data(run, root)
        network_config(run, data.x_train.shape[1], data.dataset.n_classes)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; name a folder")
        ckpt, key = out / "checkpoint.npz", run_key(run)
        if ckpt.exists() and load_checkpoint(ckpt)[1].get("run_key", key) != key:  # as train_spiking_run checks
            raise ValueError(
                f"{ckpt} belongs to a different run (config, seed or data differ); use another "
                "output folder or delete the checkpoint"
            )
    except (ValueError, FileNotFoundError) as exc:
        return fail(one_line(exc))
    rule_grid = spk.get_rule(args.rule).run_defaults
    shown = {k: v for k, v in args.defaults_applied.items() if k not in _PER_RULE or v != rule_grid.get(k)}
    if shown:  # the per-data-set choices (the rule's own time grid goes unmentioned)
        chosen = " ".join(
            f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, tuple) else (v or 'none')}"
            for k, v in shown.items()
        )
        print_note(f"{args.dataset} with {args.rule}: {chosen} (the measured defaults; set a flag to change it)")
    desc = f"{args.rule} {args.dataset}"
    bar = tqdm(total=None, unit="sample", disable=args.quiet, desc=f"{desc} epoch 1/{args.epochs}")
    per_epoch = {"n": 0}

    def on_start(total, done):
        per_epoch["n"] = total // args.epochs
        bar.reset(total=total)
        progress(done)
        bar.set_postfix_str("first chunk: builds the Brian2 project unless cached")  # ~15-70 s cold

    def progress(n):  # epochs counted from 1, as on the rate side (the stored history keeps 0-based "epoch")
        bar.update(n)
        if per_epoch["n"]:
            epoch = min(max(int(bar.n) - 1, 0) // per_epoch["n"] + 1, args.epochs)
            bar.set_description(f"{desc} epoch {epoch}/{args.epochs}", refresh=False)

    def on_chunk(c, n, res):
        bar.set_postfix(chunk=f"{c + 1}/{n}", sim_ms_per_sample=f"{1e3 * res.wall_s / args.chunk_size:.2f}")

    plots: list[str] = []

    def keep(clf, data):
        if args.plots:
            plots.extend(make_plots(clf, data.x_test, data.dataset, out))

    resume_hint(f"finished chunks are kept in {out / 'checkpoint.npz'}; run the same command again to resume")
    t_start = time.perf_counter()
    try:
        res = train_spiking_run(
            run,
            out,
            data_root=root,
            cache_dir=args.cache_dir,
            evaluate_each_epoch=True,
            progress=progress,
            on_start=on_start,
            on_chunk=on_chunk,
            keep_classifier=keep,
        )
    except (ValueError, FileNotFoundError) as exc:
        return fail(one_line(exc))
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
        "preset": preset_used(args),
        "defaults_applied": {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.defaults_applied.items()},
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
        "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items() if k != "defaults_applied"},
        "target": res.target,
        "wall_s_this_process": time.perf_counter() - t_start,
        "versions": versions(),
        "weight_layout": "W_<pre>_<post>[pre, post] in mV; theta_<layer> in mV; M_<layer>[neuron, class]",
    }
    if args.plots:
        metrics["plots"] = plots
    atomic_write_json(out / "metrics.json", metrics)
    print(f"test accuracy {metrics['accuracy']:.4f} after {args.epochs} epoch(s) -> {out / 'metrics.json'}")
    return 0


def make_plots(clf: spk.SpikingClassifier, x_te: np.ndarray, ds, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spiking.plotting import layer_sizes, pick_samples, plot_raster, plot_receptive_fields, plot_weights

    files = []
    weights = clf.weights()
    shown = pick_samples(ds.y_test, min(5, len(ds.y_test)))  # test samples of different classes
    raster = clf.raster(x_te[shown])
    fig = plot_raster(
        raster,
        sizes=layer_sizes(weights),
        t_sample_ms=clf.config.sim.t_sample_ms,
        sample_labels=[ds.class_names[int(c)] for c in ds.y_test[shown]],
    )
    fig.suptitle(f"test samples {shown.tolist()} (one of each class first)", fontsize=10)
    fig.savefig(out / "raster.png", dpi=100)
    files.append("raster.png")
    fig, axes = plt.subplots(1, len(weights), figsize=(5 * len(weights), 4), layout="constrained")
    for ax, (name, w) in zip(np.atleast_1d(axes), weights.items()):
        plot_weights(w, title=f"{name} (mV)", ax=ax)
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
