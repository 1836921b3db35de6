#!/usr/bin/env python
"""Epoch time of every learning rule relative to backpropagation, measured in one process.

Trains each rule for one epoch of full MNIST (60,000 images; or a stand-in of the same size with
--synthetic) on the same MLP 784-256-256-10 (ReLU; leaky-ReLU for GAIT-prop, which must invert
it), batch 128, Adam.

Two estimates of each rule's epoch time, both from interleaved measurements so that load from
other processes (or a noisy virtual machine) hits all rules alike:

* ``epoch``: rules take turns training whole epochs over --repeats rounds; each rule's fastest
  epoch is kept.
* ``segment`` (the headline figure): the epoch is cut into --segments consecutive pieces of whole
  batches; in each round every rule trains each piece in turn (rule A piece 1, rule B piece 1, ...,
  rule A piece 2, ...), and a rule's epoch time is the sum over pieces of its fastest time for that
  piece. Interleaving at a tenth of a second makes bursts of outside load hit every rule, where
  whole-epoch turns can leave one rule with only slow epochs.

Example
-------
    bioplausible bench rate --data-root ../shared/data --repeats 3 --json bench.json
    bioplausible bench rate --synthetic --device auto          # no data files needed
"""

from __future__ import annotations

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


def main(argv=None, prog=None) -> int:
    p = Parser(prog=prog, description=__doc__.split("\n")[0])
    p.add_argument(
        "--rules",
        type=name_list,
        default=rb.available_rules(),
        metavar="A,B,...",
        help=f"rate rules to time (bp is always included): {', '.join(rb.available_rules())}",
    )
    p.add_argument(
        "--data-root", default=None, metavar="DIR", help="folder with the MNIST IDX files (see train-rate --help)"
    )
    p.add_argument("--synthetic", action="store_true", help="random data of MNIST's size (no files needed)")
    p.add_argument("--hidden", type=int_list, default=(256, 256), metavar="N,N", help="MLP hidden widths")
    p.add_argument("--batch-size", type=int, default=128, help="samples per training step")
    p.add_argument("--repeats", type=int, default=3, help="rounds (each: one epoch per rule)")
    p.add_argument("--segments", type=int, default=20, help="pieces per epoch for the segment estimate")
    p.add_argument("--device", default="cpu", type=device, help=DEVICE_HELP)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the synthetic data")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    for flag in ("repeats", "segments", "batch_size"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if not args.hidden or min(args.hidden) < 1:
        p.error(f"--hidden must be positive widths, e.g. 256,256; got {','.join(map(str, args.hidden))}")
    rules = list(args.rules)
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
    torch.manual_seed(args.seed)
    if args.synthetic:
        x = torch.rand(60000, 1, 28, 28)
        y = torch.randint(0, 10, (60000,))
        data_name = "synthetic 60000x784"
    else:
        from bridges.data import load_dataset

        try:
            ds = load_dataset("mnist", args.data_root)
        except (FileNotFoundError, ValueError) as exc:
            return fail(f"{one_line(exc)}; or pass --synthetic")
        x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
        data_name = "MNIST train (60000)"
    x, y = x.to(dev), y.to(dev)
    hidden = tuple(args.hidden)
    # GAIT-prop needs an invertible activation (leaky-ReLU); every other rule uses ReLU. Both cost the same.
    bases = {"relu": rb.MLP(784, hidden, 10), "leaky_relu": rb.MLP(784, hidden, 10, activation="leaky_relu")}
    cfg = rb.TrainConfig(epochs=1, batch_size=args.batch_size)
    loss_fn = torch.nn.functional.cross_entropy
    setups = {}
    for r in rules:
        rule = rb.get_rule(r)
        model = rule.prepare(bases["leaky_relu" if r == "gait" else "relu"], seed=args.seed).to(dev)
        setups[r] = (rule, model, rb.make_optimizer(model, cfg))
    # warm-up: a few batches per rule (allocator, kernels)
    for rule, model, opt in setups.values():
        rb.train_epoch(model, rule, x[:1024], y[:1024], opt, loss_fn, batch_size=args.batch_size, seed=0, epoch=0)

    def timed(model, rule, opt, xs, ys, epoch):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        rb.train_epoch(model, rule, xs, ys, opt, loss_fn, batch_size=args.batch_size, seed=args.seed, epoch=epoch)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    n_batches = -(-len(x) // args.batch_size)
    per_seg = -(-n_batches // args.segments) * args.batch_size
    cuts = list(range(0, len(x), per_seg)) + [len(x)]
    best = {r: float("inf") for r in rules}
    seg_best = {r: [float("inf")] * (len(cuts) - 1) for r in rules}
    bar = tqdm(total=args.repeats * len(rules) * 2, desc="epochs", unit="epoch")
    for rep in range(args.repeats):
        for r, (rule, model, opt) in setups.items():
            best[r] = min(best[r], timed(model, rule, opt, x, y, rep))
            bar.update(1)
        for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
            for r, (rule, model, opt) in setups.items():
                seg_best[r][k] = min(seg_best[r][k], timed(model, rule, opt, x[a:b], y[a:b], rep))
        bar.update(len(rules))
    bar.close()
    seg = {r: sum(v) for r, v in seg_best.items()}
    bp, bp_seg = best["bp"], seg["bp"]
    result = {
        "data": data_name,
        "model": f"MLP 784-{'-'.join(map(str, hidden))}-10",
        "batch_size": args.batch_size,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "segments": len(cuts) - 1,
        "seconds_per_epoch": seg,
        "ratio_to_bp": {r: seg[r] / bp_seg for r in rules},
        "seconds_per_epoch_fastest_epoch": best,
        "ratio_to_bp_fastest_epoch": {r: best[r] / bp for r in rules},
        "versions": versions(),
        "command": " ".join([prog or "bioplausible bench rate", *(argv if argv is not None else sys.argv[1:])]),
    }
    print(f"{'rule':<8} {'s/epoch':>9} {'x BP':>7}   {'(fastest whole epoch:':>21} {'s':>6} {'x BP)':>6}")
    for r in rules:
        print(f"{r:<8} {seg[r]:>9.3f} {seg[r] / bp_seg:>7.3f}   {'':>21} {best[r]:>6.3f} {best[r] / bp:>6.3f}")
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
