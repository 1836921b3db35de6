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
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import spiking as spk  # noqa: E402
from bridges.data import REGISTRY, limit, load_dataset, subset  # noqa: E402
from bridges.io import atomic_save_npz, atomic_write_json, versions  # noqa: E402
from spiking.presets import PRESETS, RULE_RUN_DEFAULTS, preset_params  # noqa: E402

log = logging.getLogger("train_spiking")


def _ints(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from exc


def _classes(s: str) -> tuple:
    return tuple(int(v) if v.strip().lstrip("-").isdigit() else v.strip() for v in s.split(",") if v.strip())


def default_data_root() -> str | None:
    """``$BIOPLAUSIBLE_DATA``, else ``<repo>/../shared/data`` if it exists, else None."""
    env = os.environ.get("BIOPLAUSIBLE_DATA")
    if env:
        return env
    shared = REPO.parent / "shared" / "data"
    return str(shared) if shared.is_dir() else None


#: Time grid and input code per rule (the STDP rule integrates longer, with intensity-normalised
#: input; the local-error rule runs shorter samples on a coarser grid), shared with the comparison.
RULE_DEFAULTS = RULE_RUN_DEFAULTS


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rule", required=True, choices=list(spk.RULES))
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, kmnist, iris, digits")
    p.add_argument("--classes", type=_classes, default=None, help="keep only these classes (indices or names), e.g. 4,9")
    p.add_argument("--data-root", default=default_data_root(), help="directory holding <name>/ IDX folders")
    p.add_argument("--n-train", type=int, default=None, help="stratified subset of the training split")
    p.add_argument("--n-test", type=int, default=None, help="stratified subset of the test split")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the embedded sets' train/test split and subsets")
    p.add_argument("--hidden", type=_ints, default=(100, 100), help="hidden layer sizes")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", default="cpp_standalone", choices=list(spk.TARGETS))
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--encoding", default="poisson", choices=list(spk.ENCODINGS))
    p.add_argument("--dt-ms", type=float, default=None, help="default per rule, see RULE_DEFAULTS")
    p.add_argument("--t-present-ms", type=float, default=None, help="default per rule")
    p.add_argument("--t-rest-ms", type=float, default=0.0)
    p.add_argument("--max-rate-hz", type=float, default=None, help="default per rule")
    p.add_argument("--total-rate-hz", type=float, default=None,
                   help="normalise each sample's summed input rate (default per rule; 0 = off)")
    p.add_argument("--pop-size", type=int, default=16, help="population-code neurons per tabular feature")
    p.add_argument("--params", default=None,
                   help="rule parameter overrides: a preset name (spiking/presets.py: " + ", ".join(PRESETS) + "), "
                        "a JSON object or path to a JSON file (nested, e.g. "
                        '\'{"inhibition_mV": 3, "hidden_lif": {"theta_plus_mV": 0.1}}\')')
    p.add_argument("--chunk-size", type=int, default=1000, help="training samples per simulator run")
    p.add_argument("--eval-copies", type=int, default=1, help="parallel network copies for evaluation")
    p.add_argument("--cache-dir", default=None, help="compiled standalone projects (default ~/.cache/bioplausible/brian2)")
    p.add_argument("--plots", action="store_true", help="write raster and weight PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    for key, val in RULE_DEFAULTS[args.rule].items():
        if getattr(args, key) is None:
            setattr(args, key, val)
    if not args.total_rate_hz:
        args.total_rate_hz = None
    return args


def rule_params(rule: str, spec: str | None):
    base = spk.STDPAssociationParams() if rule == "stdp-association" else spk.LocalErrorParams()
    if not spec:
        return base
    if spec in PRESETS:
        if PRESETS[spec]["rule"] != rule:
            raise SystemExit(f"preset {spec!r} is for rule {PRESETS[spec]['rule']!r}, not {rule!r}")
        return preset_params(spec, base)
    # inline JSON first: a long JSON string is not a valid path (stat raises "File name too long")
    text = spec if spec.lstrip().startswith("{") else (Path(spec).read_text() if Path(spec).is_file() else spec)
    try:
        changes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--params is neither a JSON object nor a JSON file ({exc}), nor a preset name; presets: "
                         f"{', '.join(sorted(PRESETS))}")
    return spk.replace_params(base, changes)


def load_data(args):
    root = args.data_root if _is_idx(args.dataset) else None  # embedded sets take no root
    ds = load_dataset(args.dataset, root=root, seed=args.split_seed)
    if args.classes:
        ds = subset(ds, args.classes)
    if args.n_train or args.n_test:
        ds = limit(ds, args.n_train, args.n_test, seed=args.split_seed)
    x_tr, x_te = ds.x_train, ds.x_test
    encoding_note = "pixels"
    if x_tr.ndim == 2:  # tabular: Gaussian population code with the training split's range
        lo, hi = x_tr.min(axis=0), x_tr.max(axis=0)
        x_tr = spk.population_code(x_tr, args.pop_size, lo=lo, hi=hi)
        x_te = spk.population_code(x_te, args.pop_size, lo=lo, hi=hi)
        encoding_note = f"population code, {args.pop_size} Gaussian fields per feature"
    return ds, x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1), encoding_note


def _config_hash(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds, x_tr, x_te, encoding_note = load_data(args)
    cfg = spk.NetworkConfig(
        rule=args.rule, n_in=x_tr.shape[1], hidden=args.hidden, n_out=ds.n_classes, encoding=args.encoding,
        max_rate_hz=args.max_rate_hz, total_rate_hz=args.total_rate_hz,
        sim=spk.SimParams(dt_ms=args.dt_ms, t_present_ms=args.t_present_ms, t_rest_ms=args.t_rest_ms),
        params=rule_params(args.rule, args.params),
    )
    cfg_dict = spk.config_to_dict(cfg)
    run_key = _config_hash({"cfg": cfg_dict, "seed": args.seed, "dataset": args.dataset, "classes": args.classes,
                            "n_train": len(x_tr), "chunk": args.chunk_size, "split_seed": args.split_seed})
    ckpt = out / "checkpoint.npz"
    clf = spk.SpikingClassifier(cfg, seed=args.seed, target=args.target, cache_dir=args.cache_dir,
                                chunk_size=args.chunk_size, eval_copies=args.eval_copies)
    epoch0, chunk0, history = 0, 0, []
    if ckpt.exists():
        with np.load(ckpt) as z:
            meta = json.loads(str(z["__progress__"]))
            if meta["run_key"] != run_key:
                raise SystemExit(f"{ckpt} belongs to a different run (config/seed/data differ); "
                                 "use another --out or delete the checkpoint")
            clf.state = {k: z[k] for k in z.files if k != "__progress__"}
        epoch0, chunk0, history = meta["epoch"], meta["next_chunk"], meta["history"]
        log.info("resuming at epoch %d, chunk %d", epoch0, chunk0)

    n_chunks = clf.n_chunks(len(x_tr))
    done_before = epoch0 * len(x_tr) + min(chunk0 * args.chunk_size, len(x_tr))
    bar = tqdm(total=args.epochs * len(x_tr), initial=done_before, unit="sample", disable=args.quiet,
               desc=f"{args.rule} {args.dataset}")
    t_start = time.perf_counter()
    for epoch in range(epoch0, args.epochs):
        t0 = time.perf_counter()
        state_holder = {"history": history}

        def on_chunk(c, n, state, res, epoch=epoch):
            nxt_epoch, nxt_chunk = (epoch + 1, 0) if c + 1 == n else (epoch, c + 1)
            meta = {"run_key": run_key, "epoch": nxt_epoch, "next_chunk": nxt_chunk,
                    "history": state_holder["history"]}
            if c + 1 == n:  # epoch finished: the evaluation below is appended when done
                meta["epoch"], meta["next_chunk"] = epoch, n
            atomic_save_npz(ckpt, __progress__=np.array(json.dumps(meta)), **state)
            bar.set_postfix(chunk=f"{c + 1}/{n}", sim_ms_per_sample=f"{1e3 * res.wall_s / args.chunk_size:.2f}")

        if chunk0 < n_chunks:
            stats = clf.fit_epoch(x_tr, ds.y_train, epoch=epoch, start_chunk=chunk0, on_chunk=on_chunk,
                                  progress=bar.update)
            train_rates, sim_s = stats.rates_hz, stats.sim_wall_s
        else:
            train_rates, sim_s = {}, 0.0
        t_train = time.perf_counter() - t0
        counts, test_rates = clf.predict_counts(x_te)
        pred = spk.predict_from_counts(counts, clf.last_out_drive)
        acc = float(np.mean(pred == ds.y_test))
        history.append({
            "epoch": epoch, "test_accuracy": acc, "train_wall_s": t_train, "train_sim_s": sim_s,
            "train_ms_per_sample": 1e3 * t_train / len(x_tr), "eval_wall_s": time.perf_counter() - t0 - t_train,
            "train_rates_hz": train_rates, "test_rates_hz": test_rates,
            "test_no_spike_fraction": float(np.mean(counts.sum(axis=1) == 0)),
            "test_accuracy_without_tie_break": float(np.mean(spk.predict_from_counts(counts) == ds.y_test)),
            "test_output_pathways": clf.output_pathways(ds.y_test),
        })
        log.info("epoch %d: test accuracy %.4f (train %.1f s)", epoch, acc, t_train)
        chunk0 = 0
        atomic_save_npz(ckpt, __progress__=np.array(json.dumps(
            {"run_key": run_key, "epoch": epoch + 1, "next_chunk": 0, "history": history})), **clf.state)
    bar.close()
    last = history[-1]
    atomic_save_npz(out / "weights.npz", **clf.state)
    metrics = {
        "accuracy": last["test_accuracy"],
        "test_rates_hz": last["test_rates_hz"],
        "train_rates_hz": last["train_rates_hz"],
        "history": history,
        "seed": args.seed,
        "rule": args.rule,
        "rule_label": ("STDP/association (reconstruction of Gupta 2020)" if args.rule == "stdp-association"
                       else "spiking local errors (Mostafa 2018 / DECOLLE)"),
        "dataset": {"name": ds.name, "classes": list(ds.class_names), "n_train": len(x_tr), "n_test": len(x_te),
                    "split": "official test split" if _is_idx(args.dataset) else
                    f"stratified train/test split of bridges.data (split_seed={args.split_seed})",
                    "input": encoding_note},
        "config": cfg_dict,
        "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()},
        "target": clf.target,
        "wall_s_this_process": time.perf_counter() - t_start,
        "versions": versions(),
        "weight_layout": "W_<pre>_<post>[pre, post] in mV; theta_<layer> in mV; M_<layer>[neuron, class]",
    }
    if args.plots:
        metrics["plots"] = make_plots(clf, x_te, ds, out)
    atomic_write_json(out / "metrics.json", metrics)
    clf.close()
    ckpt.unlink(missing_ok=True)
    print(f"test accuracy {metrics['accuracy']:.4f} -> {out / 'metrics.json'}")
    return 0


def _is_idx(name: str) -> bool:
    spec = REGISTRY.get(str(name).strip().lower())
    return bool(spec is not None and spec.idx)


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
