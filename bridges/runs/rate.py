"""One rate-based training run, from a JSON-serialisable config to a trained model and its metrics.

The one training loop of the rate family, used by ``scripts/train_rate.py`` and by the comparison. A
run with a ``checkpoint_dir`` writes, atomically after every epoch, ``checkpoint.pt`` (model,
optimizer, scheduler and RNG states, the history so far); ``resume=True`` continues from it and
reaches exactly the result of an uninterrupted run (batch order is a function of ``(seed, epoch)``;
RNG states are restored).

Examples
--------
>>> cfg = RateRunConfig(rule="fa", dataset="digits", epochs=2, hidden=(32,), batch_size=32, lr=3e-3)
>>> result = train_rate(cfg, device="cpu")
>>> 0.5 < result.metrics["test_accuracy"] <= 1.0  # chance is 0.1
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import ratebased as rb
from bridges.data import limit, load_dataset, subset
from bridges.io import atomic_torch_save, atomic_write_json
from bridges.provenance import seed_everything, versions
from ratebased.device import resolve_device

log = logging.getLogger(__name__)

__all__ = [
    "RateRunConfig",
    "RateRunResult",
    "resolve_device",
    "train_rate",
    "build_rate_model",
    "load_rate_data",
    "load_rate_model",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class RateRunConfig:
    """Everything that determines a rate-based run (and so its cache key).

    Attributes
    ----------
    rule, rule_options : learning rule name and its hyper-parameters (see ``ratebased.get_rule``).
    model, hidden, activation, skip : architecture: a name in ``ratebased.MODELS`` (``mlp``, ``lenet``,
        ``resnet``, and the CIFAR ResNets ``resnet20``, ``resnet32``, ``resnet56`` of He et al. 2016,
        arXiv 1512.03385, for image data sets: 1-channel 28x28 or 3-channel 32x32 images alike);
        ``hidden``/``skip`` for the MLP only.
    dataset, classes, n_train, n_test : data (``classes`` selects and relabels a subset).
    epochs, batch_size, lr, optimizer, weight_decay, schedule : optimisation (``ratebased.TrainConfig``).
    loss : ``"ce"`` or ``"mse"``.
    dtype : ``"float32"`` or ``"float64"``.
    seed : seeds torch, numpy and Brian2, the feedback matrices and the batch order.
    align_batch : samples used for the per-epoch alignment diagnostics (0 disables them).
    """

    rule: str = "bp"
    rule_options: dict = field(default_factory=dict)
    model: str = "mlp"
    hidden: tuple = (256, 256)
    activation: str = "relu"
    skip: bool = False
    dataset: str = "digits"
    classes: tuple | None = None
    n_train: int | None = None
    n_test: int | None = None
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "cosine"
    loss: str = "ce"
    dtype: str = "float32"
    seed: int = 0
    align_batch: int = 512

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "rule_options", dict(self.rule_options))
        if self.dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; valid: {', '.join(_DTYPES)}")
        rb.LOSSES.get(self.loss)
        rb.MODELS.get(self.model)
        rb.get_rule(self.rule, **self.rule_options)  # unknown rule / option -> ValueError now
        self.train_config()
        if self.align_batch < 0:
            raise ValueError(f"align_batch must be >= 0, got {self.align_batch}")

    def train_config(self) -> rb.TrainConfig:
        return rb.TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["classes"] = None if self.classes is None else list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RateRunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; valid keys: {sorted(known)}")
        return cls(**d)

    def key(self) -> str:
        """A stable hash of the config: the cache key of the trained model."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class RateRunResult:
    model: torch.nn.Module
    metrics: dict


def load_rate_data(cfg: RateRunConfig, *, data_root=None, download: bool = False):
    """The config's data set (subset and size limits applied), as a ``bridges.data.Dataset``."""
    ds = load_dataset(cfg.dataset, data_root, download=download)
    if cfg.classes is not None:
        ds = subset(ds, cfg.classes)
    if cfg.n_train is not None or cfg.n_test is not None:
        ds = limit(ds, n_train=cfg.n_train, n_test=cfg.n_test, seed=cfg.seed)
    return ds


def build_rate_model(cfg: RateRunConfig, input_shape, n_classes: int) -> torch.nn.Module:
    """The untrained model of ``cfg`` prepared for its rule (deterministic given ``cfg.seed``)."""
    torch.manual_seed(cfg.seed)
    kwargs: dict[str, Any] = {"activation": cfg.activation}
    if cfg.model == "mlp":
        kwargs.update(hidden=cfg.hidden, skip=cfg.skip)
    net = rb.build_model(cfg.model, input_shape, n_classes, **kwargs)
    rule = rb.get_rule(cfg.rule, **cfg.rule_options)
    return rule.prepare(net, seed=cfg.seed).to(_DTYPES[cfg.dtype])


def load_rate_model(directory: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, RateRunConfig, dict]:
    """Rebuild a trained model from ``DIR/config.json`` + ``DIR/model.pt`` (a state dict)."""
    directory = Path(directory)
    cfg_path, model_path = directory / "config.json", directory / "model.pt"
    for p in (cfg_path, model_path):
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing; {directory} is not a finished train_rate.py output directory")
    meta = json.loads(cfg_path.read_text())
    cfg = RateRunConfig.from_dict(meta["config"])
    model = build_rate_model(cfg, meta["input_shape"], meta["n_classes"])
    model.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=True))
    rb.check_finite(model)
    return model.to(resolve_device(device)), cfg, meta


def train_rate(
    cfg: RateRunConfig,
    *,
    data_root=None,
    download: bool = False,
    device: str = "auto",
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> RateRunResult:
    """Train the model of ``cfg``; returns it with its metrics (see the module docstring).

    Parameters
    ----------
    on_start : callable, optional
        ``on_start(total_samples, samples_done)`` once the data are loaded (and a checkpoint read):
        the training samples over all epochs, and those already done by a resumed run.
    on_batch : callable, optional
        ``on_batch(n_samples)`` after every training batch.
    on_epoch : callable, optional
        ``on_epoch(row)`` after every epoch, with the epoch's row of the history (1-based ``epoch``).

    Raises
    ------
    ValueError
        ``resume=True`` with a checkpoint written by a different config.
    FloatingPointError
        The loss diverged (NaN/inf).
    """
    dev = resolve_device(device)
    dtype = _DTYPES[cfg.dtype]
    seed_everything(cfg.seed)
    ds = load_rate_data(cfg, data_root=data_root, download=download)
    x_tr = torch.as_tensor(ds.x_train, dtype=dtype, device=dev)
    y_tr = torch.as_tensor(ds.y_train, device=dev)
    x_te = torch.as_tensor(ds.x_test, dtype=dtype, device=dev)
    y_te = torch.as_tensor(ds.y_test, device=dev)
    rb.training.check_inputs(x_tr, y_tr, ds.n_classes)
    input_shape = tuple(ds.x_train.shape[1:])

    model = build_rate_model(cfg, input_shape, ds.n_classes).to(dev)
    rule = rb.get_rule(cfg.rule, **cfg.rule_options)
    loss_fn = rb.LOSSES.get(cfg.loss)
    tcfg = cfg.train_config()
    opt = rb.make_optimizer(model, tcfg)
    sched = rb.make_scheduler(opt, tcfg)
    history: list[dict] = []
    start_epoch = 0
    ckpt = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir is not None else None
    if resume and ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state["config"] != cfg.to_dict():
            raise ValueError(
                f"{ckpt} was written by a different config; use another --out directory or "
                "delete the checkpoint to start over"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_cpu"])
        if dev.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], dev)
        history, start_epoch = state["history"], state["epoch"]
        log.info("resumed %s at epoch %d", ckpt, start_epoch)

    if on_start is not None:
        on_start(cfg.epochs * len(x_tr), start_epoch * len(x_tr))
    align_x, align_y = x_tr[: cfg.align_batch], y_tr[: cfg.align_batch]
    t_start = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        loss = rb.train_epoch(
            model,
            rule,
            x_tr,
            y_tr,
            opt,
            loss_fn,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            epoch=epoch,
            on_batch=on_batch,
        )
        seconds = time.perf_counter() - t0
        sched.step()
        row = {
            "epoch": epoch + 1,
            "train_loss": loss,
            "seconds": seconds,
            "test_accuracy": rb.evaluate(model, x_te, y_te),
        }
        if cfg.align_batch and cfg.rule != "bp":
            row["alignment_deg"] = rb.gradient_alignment(model, rule, align_x, align_y, loss_fn)
            row["feedback_angle_deg"] = rb.feedback_angles(model)
        history.append(row)
        if ckpt is not None:
            atomic_torch_save(
                ckpt,
                {
                    "config": cfg.to_dict(),
                    "epoch": epoch + 1,
                    "history": history,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
                },
            )
        if on_epoch is not None:
            on_epoch(row)
    rb.check_finite(model)
    metrics = {
        "test_accuracy": rb.evaluate(model, x_te, y_te),
        "train_accuracy": rb.evaluate(model, x_tr, y_tr),
        "epochs": history,
        "train_losses": [h["train_loss"] for h in history],
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "config_key": cfg.key(),
        "rule_config": rule.config(),
        "dataset": {
            "name": ds.name,
            "n_train": int(len(ds.y_train)),
            "n_test": int(len(ds.y_test)),
            "classes": list(ds.class_names),
            "input_shape": list(input_shape),
        },
        "device": str(dev),
        "seconds_this_session": time.perf_counter() - t_start,
        "versions": versions(),
    }
    return RateRunResult(model, metrics)


def save_rate_run(directory: str | Path, result: RateRunResult, cfg: RateRunConfig) -> None:
    """Write ``metrics.json``, ``model.pt`` (state dict) and ``config.json`` atomically."""
    directory = Path(directory)
    atomic_torch_save(directory / "model.pt", result.model.state_dict())
    ds = result.metrics["dataset"]
    atomic_write_json(
        directory / "config.json",
        {"config": cfg.to_dict(), "input_shape": ds["input_shape"], "n_classes": len(ds["classes"]), "seed": cfg.seed},
    )
    atomic_write_json(directory / "metrics.json", result.metrics)


__all__.append("save_rate_run")
