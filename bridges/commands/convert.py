#!/usr/bin/env python
"""Convert a trained rate-based MLP to a spiking network and measure it in Brian2 and in snntorch.

Example
-------
    bioplausible train-rate --rule bp --dataset mnist --data-root ../shared/data --out runs/mlp-bp
    bioplausible convert --model runs/mlp-bp --steps 25,50,100,200 --data-root ../shared/data --out runs/mlp-bp-snn

Writes DIR2/conversion.json (source accuracy; converted accuracy per step count in the snntorch twin,
on the whole test set, and in Brian2, on the first --n-brian test images; ANN and twin on those same
images; their agreement; samples per second of each simulator) and DIR2/conversion.png (accuracy
against steps of ANN, twin and Brian2 on the same images).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bridges.ann2snn import NORMALISATIONS, IFNetworkTwin, normalise, poisson_spikes
from bridges.cli import fail, int_list
from bridges.commands._common import DEVICE_HELP, Parser, device, one_line
from bridges.compare.report import find_model
from bridges.io import atomic_write_bytes, atomic_write_json
from bridges.provenance import seed_everything, versions
from bridges.runs.rate import load_rate_data, load_rate_model
from ratebased.device import resolve_device

#: the conversion plot's y axis spans at least this many accuracy points (a one-point span exaggerates)
MIN_SPAN_POINTS = 5.0


def plot(result: dict, ax=None):
    """Accuracy against simulation steps of the twin and Brian2 on the same images (the first
    ``n_brian`` test images, the same input), the source ANN on those images as a horizontal line;
    error bars: 95% Wilson intervals over those images. The y axis spans at least
    :data:`MIN_SPAN_POINTS` points. The twin's accuracy on the whole test set is given in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bridges.stats import wilson_interval

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    steps = result["steps"]
    same = result.get("same_images") or {
        "n": result["n_test"],
        "source_accuracy": result["source_accuracy"],
        "twin_accuracy": result["twin_accuracy"],
    }
    n = int(same["n"])

    def curve(acc: dict) -> tuple[list, list]:
        y = [100 * acc[str(s)] for s in steps]
        bounds = [wilson_interval(round(acc[str(s)] * n), n) for s in steps]
        return y, [[v - 100 * lo for v, (lo, _) in zip(y, bounds)], [100 * hi - v for v, (_, hi) in zip(y, bounds)]]

    twin, twin_err = curve(same["twin_accuracy"])
    brian, brian_err = curve(result["brian2_accuracy"]) if "same_images" in result else ([], [[], []])
    src = 100 * same["source_accuracy"]
    ax.errorbar(steps, twin, yerr=twin_err, fmt="o-", capsize=2, label="snntorch twin")
    if brian:
        ax.errorbar([s * 1.03 for s in steps], brian, yerr=brian_err, fmt="s--", capsize=2, label="Brian2")
    ax.axhline(src, color="k", lw=1, label=f"source ANN ({result['rule']})")
    ends = [v - e for v, e in zip(twin + brian, twin_err[0] + brian_err[0])]
    ends += [v + e for v, e in zip(twin + brian, twin_err[1] + brian_err[1])]
    lo, hi = min(ends + [src]), max(ends + [src])  # the error bars drawn whole
    pad = max(MIN_SPAN_POINTS - (hi - lo), 1.0) / 2  # at least MIN_SPAN_POINTS, at least 0.5 above and below
    y0, y1 = lo - pad, hi + pad
    shift = max(0.0, -y0) - max(0.0, y1 - 100.5)  # kept inside [0, 100.5], the span unchanged
    ax.set_ylim(y0 + shift, y1 + shift)
    ax.set_xscale("log")
    ax.set_xticks(steps)
    ax.set_xticklabels([str(s) for s in steps])
    ax.minorticks_off()
    ax.set_xlabel("simulation steps")
    ax.set_ylabel(f"test accuracy (%), first {n} test images")
    full = result["twin_accuracy"][str(max(steps))]
    ax.set_title(
        f"{result['rule']} MLP -> IF SNN ({result['normalisation']} norm., {result['input']} input)\n"
        f"all {result['n_test']} test images: ANN {100 * result['source_accuracy']:.2f}%, "
        f"twin {100 * full:.2f}% at {max(steps)} steps",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="lower right", title="error bars: 95% Wilson", title_fontsize=6)
    return ax


def main(argv=None, prog=None) -> int:
    from spiking.backend.device import TARGETS  # Brian2: the conversion needs it in any case

    p = Parser(prog=prog, description=__doc__.split("\n")[1])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="DIR", help="a train-rate output folder (an MLP, ReLU)")
    source.add_argument(
        "--comparison",
        metavar="DIR",
        help="a comparison's results folder: convert its model of --rule and --seed (see DIR/models/index.csv)",
    )
    p.add_argument("--rule", default=None, help="with --comparison: the rate rule of the model, e.g. bp")
    p.add_argument(
        "--steps",
        type=lambda s: tuple(sorted(int_list(s))),
        default=(25, 50, 100, 200),
        metavar="T,T,...",
        help="simulation steps at which accuracy is read",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--normalisation",
        default="percentile",
        choices=list(NORMALISATIONS),
        help=f"weight normalisation: {', '.join(NORMALISATIONS)}",
    )
    p.add_argument("--percentile", type=float, default=99.9, help="activation percentile of percentile normalisation")
    p.add_argument("--n-norm", type=int, default=10000, help="training samples used for normalisation")
    p.add_argument(
        "--input",
        default="current",
        choices=["current", "poisson"],
        help="constant current into the first layer, or Poisson input spikes",
    )
    p.add_argument("--max-rate", type=float, default=1.0, help="Poisson firing probability per step at x=1")
    p.add_argument("--n-brian", type=int, default=1000, help="test images simulated in Brian2")
    p.add_argument(
        "--target",
        default="cpp_standalone",
        choices=list(TARGETS),
        metavar="TARGET",
        help=f"Brian2 code generation target: {', '.join(TARGETS)}",
    )
    p.add_argument(
        "--data-root", default=None, metavar="DIR", help="folder of the model's data set (see train-rate --help)"
    )
    p.add_argument("--device", default="auto", type=device, help=f"{DEVICE_HELP} (the snntorch twin)")
    p.add_argument("--batch-size", type=int, default=500, help="test images per twin batch")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the normalisation sample and the input spikes; with --comparison also of the model",
    )
    args = p.parse_args(argv)
    if not args.steps or min(args.steps) < 1:
        p.error("--steps must be positive integers, e.g. 25,50,100")
    for flag in ("n_norm", "n_brian", "batch_size"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if not 0 < args.percentile <= 100:
        p.error(f"--percentile must lie in (0, 100], got {args.percentile}")
    if not 0 < args.max_rate <= 1:
        p.error(f"--max-rate is a probability per step: it must lie in (0, 1], got {args.max_rate}")
    if args.seed < 0:
        p.error(f"--seed must be >= 0, got {args.seed}")
    if (args.comparison is None) != (args.rule is None):
        p.error("--comparison DIR and --rule R go together (with --seed S, default 0), e.g. --rule bp --seed 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return fail(f"--out {out} is a file; name a folder")
    seed_everything(args.seed)
    try:  # everything is checked before the conversion starts or a file is written
        if args.comparison is not None:  # the comparison's model of --rule and --seed, through its index
            entry = find_model(args.comparison, args.rule, args.seed)
            if entry["family"] != "rate":
                raise ValueError(
                    f"the {entry['rule']} models of {args.comparison} are {entry['family']} networks; convert "
                    "takes a rate-based MLP (a rule of train-rate)"
                )
            args.model = str(entry["path"])
        model, cfg, meta = load_rate_model(args.model, "cpu")
        ds = load_rate_data(cfg, data_root=args.data_root)
    except (FileNotFoundError, ValueError) as exc:
        return fail(one_line(exc))
    from spiking.ifnet import simulate_if

    model = model.double().eval()
    x_tr = torch.as_tensor(ds.x_train, dtype=torch.float64).flatten(1)
    x_te = torch.as_tensor(ds.x_test, dtype=torch.float64).flatten(1)
    y_te = torch.as_tensor(ds.y_test)
    with torch.no_grad():
        source_correct = model(x_te).argmax(1) == y_te
    source_acc = float(source_correct.double().mean())
    source_same_acc = float(source_correct[: min(args.n_brian, len(x_te))].double().mean())
    g = torch.Generator().manual_seed(args.seed)
    norm_idx = torch.randperm(len(x_tr), generator=g)[: args.n_norm]
    try:
        conv = normalise(model, x_tr[norm_idx], method=args.normalisation, percentile=args.percentile)
    except ValueError as exc:
        return fail(one_line(exc))
    dev = resolve_device(args.device)
    twin = IFNetworkTwin(conv.weights, conv.biases).to(dev)
    mode = "current" if args.input == "current" else "spikes"
    T = max(args.steps)

    # --- snntorch twin on the whole test set -------------------------------------------------------
    correct = {s: 0 for s in args.steps}
    spike_gen = torch.Generator().manual_seed(args.seed + 1)
    t0 = time.perf_counter()
    for start in tqdm(range(0, len(x_te), args.batch_size), desc="snntorch twin", unit="batch"):
        xb = x_te[start : start + args.batch_size]
        inp = xb if mode == "current" else poisson_spikes(xb, T, max_rate=args.max_rate, generator=spike_gen)
        counts = twin.output_counts_at(inp.to(dev), args.steps, mode)
        for s in args.steps:
            correct[s] += int((counts[s].argmax(1).cpu() == y_te[start : start + args.batch_size]).sum())
    if dev.type == "cuda":
        torch.cuda.synchronize()
    twin_s = time.perf_counter() - t0
    twin_acc = {str(s): correct[s] / len(x_te) for s in args.steps}

    # --- Brian2 and the twin on the same first n_brian images and the same inputs --------------------
    nb = min(args.n_brian, len(x_te))
    xb = x_te[:nb]
    if mode == "current":
        twin_in = xb
        brian_in = twin.cpu().first_current(xb).detach().numpy()
        twin.to(dev)
    else:
        twin_in = poisson_spikes(xb, T, max_rate=args.max_rate, generator=torch.Generator().manual_seed(args.seed + 2))
        brian_in = twin_in.numpy().astype(bool)
    # one line over Brian2's phases (cpp_standalone: build, compile ~30 s, simulate, read), its clock
    # kept running by a timer thread, on a copy of stderr since Brian2 points fd 2 elsewhere while compiling
    try:
        term = os.fdopen(os.dup(sys.stderr.fileno()), "w")
    except (AttributeError, OSError, ValueError):  # a stderr without a file descriptor
        term = None
    phases = tqdm(
        desc=f"Brian2 ({args.target}) {nb} images x {T} steps",
        bar_format="{desc}: phase {n_fmt}/{total_fmt}{postfix} [{elapsed}]",
        file=term,
    )
    ticking = threading.Event()

    def tick():
        while not ticking.wait(1):
            phases.refresh()

    threading.Thread(target=tick, daemon=True).start()

    def on_phase(name, i, n):
        phases.total, phases.n = n, i + 1
        phases.set_postfix_str(name)

    try:
        res = simulate_if(
            conv.weights, conv.biases, brian_in, steps=T, mode=mode, target=args.target, on_phase=on_phase
        )
        phases.set_postfix_str(f"done, {nb / res.wall_s:.1f} images/s including the build")
    finally:
        ticking.set()
        phases.close()
        if term is not None:
            term.close()
    t1 = time.perf_counter()
    twin_counts = {}
    for start in range(0, nb, args.batch_size):
        c = twin.output_counts_at(twin_in[start : start + args.batch_size].to(dev), args.steps, mode)
        for s in args.steps:
            twin_counts.setdefault(s, []).append(c[s].cpu())
    if dev.type == "cuda":
        torch.cuda.synchronize()
    twin_same_s = time.perf_counter() - t1
    yb = y_te[:nb].numpy()
    brian_acc, agree, count_equal, twin_same_acc = {}, {}, {}, {}
    for s in args.steps:
        bc = res.output_counts_at(s)
        tc = torch.cat(twin_counts[s]).numpy().astype(np.int64)
        brian_acc[str(s)] = float((bc.argmax(1) == yb).mean())
        twin_same_acc[str(s)] = float((tc.argmax(1) == yb).mean())
        agree[str(s)] = float((bc.argmax(1) == tc.argmax(1)).mean())
        count_equal[str(s)] = float((bc == tc).all(1).mean())
    result = {
        "model_dir": str(args.model),
        "rule": cfg.rule,
        "dataset": cfg.dataset,
        "source_accuracy": source_acc,
        "steps": list(args.steps),
        "normalisation": args.normalisation,
        "percentile": args.percentile if args.normalisation == "percentile" else 100.0,
        "scales": conv.scales,
        "input": args.input,
        "max_rate": args.max_rate,
        "twin_accuracy": twin_acc,
        "brian2_accuracy": brian_acc,
        "n_brian": nb,
        "n_test": len(x_te),
        "same_images": {  # the first n_brian test images, the same inputs: what the plot compares
            "n": nb,
            "source_accuracy": source_same_acc,
            "twin_accuracy": twin_same_acc,
        },
        "brian2_twin_prediction_agreement": agree,
        "brian2_twin_identical_output_counts": count_equal,
        "loss_at_max_steps_points": 100 * (source_acc - twin_acc[str(T)]),
        "speed": {
            "twin_samples_per_s": nb / twin_same_s,
            "brian2_samples_per_s": nb / res.wall_s,
            "twin_device": str(dev),
            "brian2_target": res.target,
            "steps": T,
            "brian2_wall_s_including_build": res.wall_s,
            "twin_wall_s_same_images": twin_same_s,
            "twin_wall_s_full_test": twin_s,
        },
        "seed": args.seed,
        "versions": versions(),
        "command": " ".join([prog or "bioplausible convert", *(argv if argv is not None else sys.argv[1:])]),
    }
    atomic_write_json(out / "conversion.json", result)
    import io

    import matplotlib.pyplot as plt

    ax = plot(result)
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=120)
    plt.close(ax.figure)
    atomic_write_bytes(out / "conversion.png", buf.getvalue())
    print(
        json.dumps(
            {
                k: result[k]
                for k in ("source_accuracy", "twin_accuracy", "brian2_accuracy", "brian2_twin_prediction_agreement")
            },
            indent=1,
        )
    )
    print(json.dumps(result["speed"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
