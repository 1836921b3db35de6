#!/usr/bin/env python
"""Train one rate-based model with one learning rule.

Examples
--------
    bioplausible train-rate --rule fa --out runs/digits-fa          # digits, no download
    bioplausible train-rate --rule fa --model mlp --dataset mnist --data-root ../shared/data \
        --epochs 20 --seed 0 --device auto --out runs/mnist-mlp-fa

A rule's requirements are met or refused before training: ``--rule gait`` without ``--activation``
uses ``leaky_relu`` (GAIT-prop inverts every layer), and a model the rule cannot train ends in one
``error:`` line naming the flags to change.

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
from bridges.cli import fail, int_list, key_value, resume_hint
from bridges.commands._common import DEVICE_HELP, Parser, add_data_flags, check_data, device, one_line, print_note
from bridges.runs.presets import rate_preset
from bridges.runs.rate import RateRunConfig, build_rate_model, save_rate_run, train_rate
from ratebased.training import OPTIMIZERS


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    p = Parser(prog=prog, description=__doc__.split("\n")[1])
    p.add_argument("--rule", default="bp", type=str.lower, help=f"learning rule: {', '.join(rb.available_rules())}")
    p.add_argument(
        "--rule-option",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="one rule hyper-parameter (repeatable; JSON value), e.g. --rule-option manhattan=true",
    )
    p.add_argument("--manhattan", action="store_true", help="batch-manhattan updates (feedback family)")
    p.add_argument("--model", default="mlp", help=f"model: {', '.join(rb.MODELS.names())}")
    p.add_argument("--hidden", type=int_list, default=(256, 256), metavar="N,N", help="MLP hidden widths")
    p.add_argument(
        "--activation",
        default=None,
        help=f"activation: {', '.join(rb.ACTIVATIONS.names())} (default: relu; leaky_relu for gait, which inverts it)",
    )
    p.add_argument("--skip", action="store_true", help="skip connections between intermediate MLP layers")
    add_data_flags(p, download=True)
    p.add_argument("--n-train", type=int, default=None, help="stratified subset of the training set (default: all)")
    p.add_argument("--n-test", type=int, default=None, help="stratified subset of the test set (default: all)")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=128, help="samples per training step")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--optimizer", default="adam", help=f"optimizer: {', '.join(OPTIMIZERS.names())}")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty of the optimizer")
    p.add_argument("--schedule", default="cosine", help="learning-rate schedule: cosine, constant")
    p.add_argument("--loss", default="ce", help=f"loss: {', '.join(rb.LOSSES.names())}")
    p.add_argument("--dtype", default="float32", help="float32, float64")
    p.add_argument("--align-batch", type=int, default=512, help="samples for alignment diagnostics (0: off)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, feedback matrices and batch order")
    p.add_argument("--device", default="auto", type=device, help=DEVICE_HELP)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for flag in ("n_train", "n_test", "batch_size"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if args.seed < 0:
        p.error(f"--seed must be >= 0, got {args.seed}")
    return args


def check_model(cfg: RateRunConfig, ds, activation_set: bool) -> RateRunConfig:
    """Build the untrained model once, before anything is written: a model the rule cannot train
    fails here. Without ``--activation``, a rule that refuses the default (GAIT-prop: ReLU is not
    invertible) gets the activation of its comparison preset (``bridges.runs.presets``)."""
    shape = tuple(ds.x_train.shape[1:])
    preset = rate_preset(cfg.dataset, cfg.rule).get("activation")
    try:
        build_rate_model(cfg, shape, ds.n_classes)
        return cfg
    except ValueError as exc:
        if activation_set or preset in (None, cfg.activation):
            raise ValueError(f"--rule {cfg.rule} cannot train this model: {exc}") from None
    fixed = RateRunConfig.from_dict({**cfg.to_dict(), "activation": preset})
    try:
        build_rate_model(fixed, shape, ds.n_classes)
    except ValueError as exc:  # refused for another reason too (e.g. GAIT-prop with unequal widths)
        raise ValueError(f"--rule {cfg.rule} cannot train this model: {exc}") from None
    print_note(f"--rule {cfg.rule} needs --activation {preset} (not {cfg.activation}); using it")
    return fixed


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
            activation=args.activation or "relu",
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
        return fail(one_line(exc))
    out = Path(args.out)
    if not args.resume and (out / "checkpoint.pt").exists():
        return fail(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if out.exists() and not out.is_dir():
        return fail(f"--out {out} is a file; name a folder")
    try:  # data and model are checked before anything is written (or a progress bar started)
        ds = check_data(
            cfg.dataset,
            cfg.classes,
            args.data_root,
            n_train=cfg.n_train,
            n_test=cfg.n_test,
            seed=cfg.seed,
            download=args.download,
        )  # as load_rate_data loads it, naming the flag behind a mistake
        cfg = check_model(cfg, ds, activation_set=args.activation is not None)
    except (ValueError, FileNotFoundError) as exc:
        return fail(one_line(exc))
    again = "the same command again" + ("" if args.resume else " with --resume")
    resume_hint(f"finished epochs are kept in {out / 'checkpoint.pt'}; run {again} to continue")
    bar = None if args.quiet else tqdm(total=None, unit="sample", desc=f"{args.rule} epoch 1/{args.epochs}")

    def on_start(total, done):  # training samples over all epochs -> a total and an ETA
        if bar is not None:
            bar.reset(total=total)
            bar.update(done)

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
            on_start=on_start,
            on_batch=None if bar is None else bar.update,
            on_epoch=on_epoch,
        )
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        return fail(one_line(exc))
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
