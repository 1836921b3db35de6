#!/usr/bin/env python
"""Epoch time of every learning rule relative to backpropagation, measured in one process.

Trains each rule on the same model (``--model``: the MLP 784-256-256-10 by default, or a conv net:
``lenet``, ``resnet20``, ...; ReLU, leaky-ReLU for GAIT-prop, which must invert it), batch 128,
Adam, on full MNIST (60,000 images; another image set with --dataset; or a stand-in of the same
size with --synthetic). ``--batches N`` times the first N batches as the "epoch" (a ResNet-20 epoch
of MNIST takes minutes per rule on a CPU). Rules that cannot train the model (DTP and GAIT-prop on
conv nets) are left out, with a note, unless named in --rules (then: an error).

Three estimates of each rule's epoch time, all from interleaved measurements so that load from
other processes (or a noisy virtual machine) hits all rules alike:

* ``epoch``: rules take turns training whole epochs over --repeats rounds; each rule's fastest
  epoch is kept.
* ``segment``: the epoch is cut into --segments consecutive pieces of whole batches; in each round
  every rule trains each piece in turn (rule A piece 1, rule B piece 1, ..., rule A piece 2, ...),
  and a rule's epoch time is the sum over pieces of its fastest time for that piece. Interleaving at
  a tenth of a second makes bursts of outside load hit every rule, where whole-epoch turns can leave
  one rule with only slow epochs.
* ``median`` (the ratio to read first): in each round, a rule's epoch time is the sum of its pieces
  in that round, divided by BP's in the same round; the median over rounds, with the lowest and
  highest round as its spread.

On a CPU shared with other work, ``--clock cpu`` times the CPU this process uses instead of the
elapsed time.

Example
-------
    bioplausible bench rate --data-root ../shared/data --repeats 3 --json bench.json
    bioplausible bench rate --synthetic --device auto          # no data files needed
    bioplausible bench rate --synthetic --model resnet20 --batches 8 --segments 8 --threads 1 --clock cpu
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
from tqdm import tqdm

import ratebased as rb
from bridges.cli import fail, int_list, name_list
from bridges.commands._common import DEVICE_HELP, Parser, device, one_line
from bridges.io import atomic_write_json
from bridges.provenance import versions
from ratebased.device import resolve_device

#: the activation each rule's model uses here (every other rule: ReLU); both cost the same
_ACTIVATION = {"gait": "leaky_relu"}


def _model_name(model: torch.nn.Module, name: str, shape: tuple) -> str:
    if isinstance(model, rb.MLP):
        return f"MLP {'-'.join(map(str, (model.in_features, *model.hidden, model.out_features)))}"
    return f"{name} on {'x'.join(map(str, shape))} inputs"


def _prepare(rule: str, model: str, shape: tuple, n_classes: int, hidden: tuple, seed: int):
    """The rule and its prepared model (the same weights for every rule: the seed is reset)."""
    torch.manual_seed(seed)
    kwargs = {"activation": _ACTIVATION.get(rule, "relu")}
    if model == "mlp":
        kwargs["hidden"] = hidden
    r = rb.get_rule(rule)
    return r, r.prepare(rb.build_model(model, shape, n_classes, **kwargs), seed=seed)


def main(argv=None, prog=None) -> int:
    p = Parser(prog=prog, description=__doc__.split("\n")[0])
    p.add_argument(
        "--rules",
        type=name_list,
        default=None,
        metavar="A,B,...",
        help=f"rate rules to time (bp is always included): {', '.join(rb.available_rules())} "
        "(default: every rule that can train the model)",
    )
    p.add_argument("--model", default="mlp", help=f"model: {', '.join(rb.MODELS.names())}")
    p.add_argument("--dataset", default="mnist", help="image data set (see train-rate --help)")
    p.add_argument(
        "--data-root", default=None, metavar="DIR", help="folder with the data files (see train-rate --help)"
    )
    p.add_argument("--synthetic", action="store_true", help="random data of MNIST's size (no files needed)")
    p.add_argument(
        "--synthetic-shape", type=int_list, default=(1, 28, 28), metavar="C,H,W", help="image shape of --synthetic"
    )
    p.add_argument("--hidden", type=int_list, default=(256, 256), metavar="N,N", help="MLP hidden widths")
    p.add_argument("--batch-size", type=int, default=128, help="samples per training step")
    p.add_argument(
        "--batches", type=int, default=None, metavar="N", help="time the first N batches as the epoch (default: all)"
    )
    p.add_argument("--repeats", type=int, default=3, help="rounds (each: one epoch per rule)")
    p.add_argument("--segments", type=int, default=20, help="pieces per epoch for the segment estimate")
    p.add_argument("--device", default="cpu", type=device, help=DEVICE_HELP)
    p.add_argument(
        "--clock",
        default="wall",
        choices=("wall", "cpu"),
        help="wall: elapsed time; cpu: CPU time of this process (all its threads), which other processes' load "
        "barely changes (CPU device only)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the synthetic data")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    for flag in ("repeats", "segments", "batch_size", "batches"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if not args.hidden or min(args.hidden) < 1:
        p.error(f"--hidden must be positive widths, e.g. 256,256; got {','.join(map(str, args.hidden))}")
    if len(args.synthetic_shape) != 3 or min(args.synthetic_shape) < 1:
        p.error(f"--synthetic-shape must be three positive sizes C,H,W, e.g. 3,32,32; got {args.synthetic_shape}")
    try:
        args.model = rb.MODELS.canonical(args.model)
    except ValueError as exc:
        p.error(f"--model: {exc}")
    explicit = args.rules is not None
    rules = list(args.rules) if explicit else list(rb.available_rules())
    for r in rules:
        try:
            rb.get_rule(r)
        except ValueError as exc:
            p.error(str(exc))
    if args.threads:
        torch.set_num_threads(args.threads)
    if "bp" not in rules:
        rules.insert(0, "bp")
    dev = resolve_device(args.device)
    if args.clock == "cpu" and dev.type != "cpu":
        p.error(f"--clock cpu measures CPU time, not {dev.type} time; use --clock wall with --device {args.device}")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.manual_seed(args.seed)
    if args.synthetic:  # MNIST's 60,000 samples, or just the batches timed
        n = 60000 if args.batches is None else min(60000, args.batches * args.batch_size)
        x = torch.rand(n, *args.synthetic_shape)
        y = torch.randint(0, 10, (n,))
        data_name = f"synthetic {n}x{'x'.join(map(str, args.synthetic_shape))}"
        n_classes = 10
    else:
        from bridges.data import load_dataset

        try:
            ds = load_dataset(args.dataset, args.data_root)
        except (FileNotFoundError, ValueError) as exc:
            return fail(f"{one_line(exc)}; or pass --synthetic")
        x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
        data_name = f"{ds.name} train ({len(y)})"
        n_classes = ds.n_classes
    if args.batches is not None:
        x, y = x[: args.batches * args.batch_size], y[: args.batches * args.batch_size]
    shape = tuple(x.shape[1:])
    setups, skipped = {}, {}
    for r in rules:
        try:
            rule, model = _prepare(r, args.model, shape, n_classes, tuple(args.hidden), args.seed)
        except ValueError as exc:
            if explicit or r == "bp":
                return fail(f"rule {r} cannot train --model {args.model}: {one_line(exc)}")
            skipped[r] = one_line(exc)
            continue
        model = model.to(dev)
        setups[r] = (rule, model, rb.make_optimizer(model, rb.TrainConfig(epochs=1, batch_size=args.batch_size)))
    rules = list(setups)
    for r, why in skipped.items():
        print(f"note: {r} left out: {why}", file=sys.stderr)
    x, y = x.to(dev), y.to(dev)
    loss_fn = torch.nn.functional.cross_entropy
    # warm-up: a few batches per rule (allocator, kernels)
    warm = 1024 if args.batches is None else min(len(x), 2 * args.batch_size)
    for rule, model, opt in setups.values():
        rb.train_epoch(model, rule, x[:warm], y[:warm], opt, loss_fn, batch_size=args.batch_size, seed=0, epoch=0)

    def timed(model, rule, opt, xs, ys, epoch):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = clock()
        rb.train_epoch(model, rule, xs, ys, opt, loss_fn, batch_size=args.batch_size, seed=args.seed, epoch=epoch)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return clock() - t0

    n_batches = -(-len(x) // args.batch_size)
    per_seg = -(-n_batches // args.segments) * args.batch_size
    cuts = list(range(0, len(x), per_seg)) + [len(x)]
    best = {r: float("inf") for r in rules}
    seg_best = {r: [float("inf")] * (len(cuts) - 1) for r in rules}
    rounds = {r: [] for r in rules}  # each round's sum of pieces
    bar = tqdm(total=args.repeats * len(rules) * 2, desc="epochs", unit="epoch")
    for rep in range(args.repeats):
        for r, (rule, model, opt) in setups.items():
            best[r] = min(best[r], timed(model, rule, opt, x, y, rep))
            bar.update(1)
        this_round = dict.fromkeys(rules, 0.0)
        for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
            for r, (rule, model, opt) in setups.items():
                t = timed(model, rule, opt, x[a:b], y[a:b], rep)
                seg_best[r][k] = min(seg_best[r][k], t)
                this_round[r] += t
        for r in rules:
            rounds[r].append(this_round[r])
        bar.update(len(rules))
    bar.close()
    seg = {r: sum(v) for r, v in seg_best.items()}
    bp, bp_seg = best["bp"], seg["bp"]
    per_round = {r: [t / b for t, b in zip(rounds[r], rounds["bp"])] for r in rules}
    median = {r: statistics.median(v) for r, v in per_round.items()}
    result = {
        "data": data_name,
        "model": _model_name(setups["bp"][1], args.model, shape),
        "model_name": args.model,
        "batch_size": args.batch_size,
        "batches_per_epoch": n_batches,
        "device": str(dev),
        "clock": args.clock,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "segments": len(cuts) - 1,
        "seconds_per_epoch": seg,
        "ratio_to_bp": {r: seg[r] / bp_seg for r in rules},
        "ratio_to_bp_median": median,
        "ratio_to_bp_rounds": per_round,
        "seconds_per_epoch_rounds": rounds,
        "seconds_per_epoch_fastest_epoch": best,
        "ratio_to_bp_fastest_epoch": {r: best[r] / bp for r in rules},
        "left_out": skipped,
        "versions": versions(),
        "command": " ".join([prog or "bioplausible bench rate", *(argv if argv is not None else sys.argv[1:])]),
    }
    print(
        f"{result['model']}, {data_name}, {n_batches} batches of {args.batch_size}, {len(cuts) - 1} pieces, "
        f"{args.clock} clock"
    )
    print(
        f"{'rule':<8} {'x BP median':>11} {'[round range]':>15} {'s/epoch':>9} {'x BP':>7}"
        f"   {'(fastest whole epoch:':>21} {'s':>7} {'x BP)':>6}"
    )
    for r in rules:
        spread = f"[{min(per_round[r]):.3f}-{max(per_round[r]):.3f}]"
        print(
            f"{r:<8} {median[r]:>11.3f} {spread:>15} {seg[r]:>9.3f} {seg[r] / bp_seg:>7.3f}"
            f"   {'':>21} {best[r]:>7.3f} {best[r] / bp:>6.3f}"
        )
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
