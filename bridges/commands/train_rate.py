#!/usr/bin/env python
"""Train one rate-based model with one learning rule.

Example
-------
    python scripts/train_rate.py --rule fa --model mlp --dataset mnist --data-root ../shared/data \
        --epochs 20 --seed 0 --device auto --out runs/mnist-mlp-fa

Writes DIR/metrics.json, DIR/model.pt (state_dict), DIR/config.json, and DIR/checkpoint.pt after
every epoch; --resume continues an interrupted run to the same result.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

import ratebased as rb
from bridges.cli import fail, int_list, key_value
from bridges.runs.rate import RateRunConfig, save_rate_run, train_rate


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--rule", default="bp", help=f"one of: {', '.join(rb.available_rules())}")
    p.add_argument(
        "--rule-option",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="rule hyper-parameter (repeatable), e.g. --rule-option manhattan=true",
    )
    p.add_argument("--manhattan", action="store_true", help="batch-manhattan updates (feedback family)")
    p.add_argument("--model", default="mlp", help=f"one of: {', '.join(rb.MODELS.names())}")
    p.add_argument("--hidden", type=int_list, default=(256, 256), help="MLP hidden widths, comma-separated")
    p.add_argument("--activation", default="relu", help=f"one of: {', '.join(rb.ACTIVATIONS.names())}")
    p.add_argument("--skip", action="store_true", help="skip connections between intermediate MLP layers")
    p.add_argument("--dataset", default="digits", help="mnist, fashion-mnist, kmnist, iris, digits")
    p.add_argument("--classes", type=int_list, default=None, help="keep only these classes, e.g. 4,9")
    p.add_argument("--data-root", default=None, help="directory holding the IDX files (or <name>/ folders)")
    p.add_argument("--download", action="store_true", help="download missing IDX files (md5-checked)")
    p.add_argument("--n-train", type=int, default=None, help="use a stratified subset of the training set")
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", default="cosine", help="cosine or constant")
    p.add_argument("--loss", default="ce", help="ce or mse")
    p.add_argument("--dtype", default="float32", help="float32 or float64")
    p.add_argument("--align-batch", type=int, default=512, help="samples for alignment diagnostics (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None, prog=None) -> int:
    args = parse_args(argv, prog)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = dict(args.rule_option)
    if args.manhattan:
        options["manhattan"] = True
    try:
        cfg = RateRunConfig(
            rule=args.rule,
            rule_options=options,
            model=args.model,
            hidden=args.hidden,
            activation=args.activation,
            skip=args.skip,
            dataset=args.dataset,
            classes=args.classes,
            n_train=args.n_train,
            n_test=args.n_test,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            schedule=args.schedule,
            loss=args.loss,
            dtype=args.dtype,
            seed=args.seed,
            align_batch=args.align_batch,
        )
    except ValueError as exc:
        return fail(exc)
    out = Path(args.out)
    if not args.resume and (out / "checkpoint.pt").exists():
        return fail(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    bar = None if args.quiet else tqdm(total=None, unit="sample", desc=f"{args.rule} epoch 1/{args.epochs}")

    def on_epoch(row):
        if bar is not None:
            bar.set_description(f"{args.rule} epoch {min(row['epoch'] + 1, args.epochs)}/{args.epochs}")
            bar.set_postfix(loss=f"{row['train_loss']:.4f}", test_acc=f"{row['test_accuracy']:.4f}")

    try:
        result = train_rate(
            cfg,
            data_root=args.data_root,
            download=args.download,
            device=args.device,
            checkpoint_dir=out,
            resume=args.resume,
            on_batch=None if bar is None else bar.update,
            on_epoch=on_epoch,
        )
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        return fail(exc)
    finally:
        if bar is not None:
            bar.close()
    result.metrics["command"] = " ".join(
        [prog or Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
    )
    save_rate_run(out, result, cfg)
    print(
        json.dumps(
            {
                "rule": cfg.rule,
                "model": cfg.model,
                "dataset": cfg.dataset,
                "test_accuracy": result.metrics["test_accuracy"],
                "out": str(out),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
