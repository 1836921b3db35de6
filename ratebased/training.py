"""The training loop shared by every rule: plain functions over tensors already on the device.

Data stay on the device as two tensors; each epoch draws its own permutation from a generator seeded
by ``(seed, epoch)``, so an interrupted run that resumes at an epoch boundary replays exactly the
same batches.

Examples
--------
>>> import torch
>>> from ratebased import MLP, get_rule
>>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
>>> rule = get_rule("fa"); net = rule.prepare(MLP(4, (16,), 3), seed=0)
>>> opt = make_optimizer(net, TrainConfig(epochs=1, batch_size=16))
>>> loss = train_epoch(net, rule, x, y, opt, torch.nn.functional.cross_entropy, batch_size=16, seed=0, epoch=0)
>>> 0 < loss < 5
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .losses import LOSSES, mse_onehot  # re-exported: the loss registry lives in ratebased.losses
from .registry import Registry

__all__ = [
    "TrainConfig",
    "LOSSES",
    "mse_onehot",
    "OPTIMIZERS",
    "make_optimizer",
    "make_scheduler",
    "epoch_permutation",
    "train_step",
    "train_epoch",
    "evaluate",
    "check_inputs",
]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyper-parameters.

    Attributes
    ----------
    epochs : int
    batch_size : int
    lr : float
        Learning rate (Adam's default 1e-3).
    optimizer : str
        ``"adam"`` or ``"sgd"`` (momentum 0.9, Nesterov).
    weight_decay : float
    schedule : str
        ``"cosine"`` (anneal to 0 over ``epochs``) or ``"constant"``.
    """

    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and self.lr < float("inf")):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        OPTIMIZERS.get(self.optimizer)
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}; valid names: cosine, constant")


OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("adam", lambda params, lr, wd: torch.optim.Adam(params, lr=lr, weight_decay=wd))
OPTIMIZERS.register(
    "sgd", lambda params, lr, wd: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``cfg`` over the model's trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    return OPTIMIZERS.get(cfg.optimizer)(params, cfg.lr, cfg.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    """Per-epoch learning-rate schedule (``scheduler.step()`` once per epoch)."""
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def epoch_permutation(n: int, seed: int, epoch: int, device) -> Tensor:
    """The batch order of ``epoch``: a permutation drawn on the CPU from ``(seed, epoch)``."""
    g = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
    return torch.randperm(n, generator=g).to(device)


def check_inputs(x: Tensor, y: Tensor, n_classes: int | None = None) -> None:
    """Reject NaN/inf inputs, mismatched lengths and out-of-range labels with a clear message."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"inputs have {x.shape[0]} samples but labels have {y.shape[0]}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError("inputs contain NaN or inf; clean or re-normalise the data set")
    if n_classes is not None and y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}); got range [{int(y.min())}, {int(y.max())}]")


def train_step(model: nn.Module, rule, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer, loss_fn) -> Tensor:
    """One update: the rule's directions become ``.grad``; the optimizer steps. Returns the loss."""
    loss, directions = rule.gradients(model, x, y, loss_fn)
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.grad = directions.get(name)
    optimizer.step()
    return loss


def train_epoch(
    model: nn.Module,
    rule,
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    loss_fn,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    on_batch: Callable[[int], None] | None = None,
) -> float:
    """Train one epoch over ``(x, y)`` (already on the model's device); returns the mean batch loss.

    Raises
    ------
    FloatingPointError
        If the loss became NaN/inf (checked once per epoch, so GPUs are not synchronised per batch).
    """
    model.train()
    n = x.shape[0]
    perm = epoch_permutation(n, seed, epoch, x.device)
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    steps = 0
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        loss = train_step(model, rule, x[idx], y[idx], optimizer, loss_fn)
        total += loss.double()
        steps += 1
        if on_batch is not None:
            on_batch(idx.numel())
    mean = float(total) / max(steps, 1)
    if mean != mean or mean in (float("inf"), float("-inf")):
        raise FloatingPointError(
            f"the training loss became {mean} in epoch {epoch}; lower the learning rate (--lr) or check the data"
        )
    return mean


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> float:
    """Classification accuracy of ``model`` on ``(x, y)`` in eval mode (restores the previous mode)."""
    was = model.training
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        out = model(x[start : start + batch_size])
        correct += int((out.argmax(1) == y[start : start + batch_size]).sum())
    model.train(was)
    return correct / max(x.shape[0], 1)
