"""Auto-PGD (L-infinity) with the cross-entropy and the targeted DLR loss, registered as ``apgd-ce`` and ``apgd-dlr``.

Croce & Hein (2020), "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", arXiv 2003.01690, Algorithm 1 and Section 3. Each run starts from a uniform
random point of the ball and iterates, with ``alpha = 0.75`` (``alpha = 1`` on the first step)::

    z      = P(x_k + eta_k * sign(grad f(x_k)))
    x_k+1  = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_k-1))

where ``P`` projects onto the L-inf ball intersected with ``input_range``. The step size starts at
``eta = 2 epsilon`` and is checked, per sample, at the checkpoints ``w_j = ceil(p_j steps)`` with
``p_0 = 0``, ``p_1 = 0.22``, ``p_j+1 = p_j + max(p_j - p_j-1 - 0.03, 0.06)``. It is halved (and the
iterate restarted from the best point found so far, with zero momentum) when

1. the loss went up on fewer than ``rho (w_j - w_j-1)`` of the steps since the last checkpoint, or
2. the step size was not halved at the last checkpoint and the best loss has not improved since.

Losses (maximised): ``ce`` is the cross-entropy; the targeted DLR loss of target ``t`` is
``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)`` with ``z_pi1 >= z_pi2 >= ...`` the sorted
logits. ``apgd_dlr`` runs it for the ``n_target_classes`` highest-scoring wrong classes of the clean
input (capped at ``C - 1``), ``restarts`` runs each. With 3 classes ``z_pi4`` does not exist and the
denominator is the untargeted DLR's ``z_pi1 - z_pi3``; with 2 classes ``z_pi3`` does not exist either
and the loss is the logit margin ``z_t - z_y`` (the untargeted margin, ``t`` being the only other
class). L-inf APGD only uses ``sign(grad f)`` and per-sample comparisons of ``f``, so a positive
per-sample denominator that does not depend on ``x`` would change nothing: the margin is exactly the
scale-free choice there.

Per-sample worst case: a sample counts as fooled as soon as one iterate (or a random start) is
misclassified by ``model``; that first misclassified point is returned and the sample leaves the
batch (later restarts and targets run only on samples not yet fooled). For samples never fooled the
point with the smallest logit margin ``z_y - max_j!=y z_j`` over every iterate of every run is
returned. Samples the model already misclassifies are returned unchanged. ``steps`` is the number of
update steps per run (``steps + 1`` gradient evaluations: one at the start).

Gradient source and stochastic models work as in :func:`~bridges.attacks.pgd`: the loss and its input
gradient come from ``grad_model`` when given (else ``model``), averaged over ``eot_samples`` draws
(the loss value that drives the step-size schedule is the same average). Misclassification is judged
on ``model``: from the same forward pass when ``grad_model`` is None (the mean logits over the draws),
else by one extra no-grad forward of ``model`` per iteration. Guarantees as for every attack of this
package (eval mode restored, parameter ``.grad`` untouched, ``epsilon == 0`` returns a copy, one
``seed`` gives bitwise-identical results on a device; random starts are drawn on the CPU).

Examples
--------
>>> import torch
>>> model = torch.nn.Linear(4, 3)
>>> x, y = torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
>>> x_adv = apgd_ce(model, x, y, 0.1, steps=10, seed=0)
>>> bool(((x_adv - x).abs() <= 0.1 + 1e-6).all()), torch.equal(x_adv, apgd_ce(model, x, y, 0.1, steps=10, seed=0))
(True, True)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch

from .base import (
    _check_inputs,
    _check_logits,
    _check_positive_int,
    _check_seed,
    _eval_mode,
    _seeded_rng,
)
from .fgsm_pgd import _ball, _project
from .gradient import _gradient, _warn_zero_gradients
from .losses import ce_loss
from .registry import GradientSource, register_attack

__all__ = ["apgd_ce", "apgd_dlr", "apgd_checkpoints", "dlr_loss"]

#: Momentum ``alpha`` of Croce & Hein (2020), Section 3.2.
MOMENTUM = 0.75

# (x, y, targets) -> per-sample loss to maximise; targets None for untargeted losses
_RunLoss = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def apgd_checkpoints(steps: int) -> list[int]:
    """The step-size checkpoints ``w_j = ceil(p_j * steps)``, ``0 < w_j <= steps`` (Croce & Hein 2020, Sec. 3.2).

    ``p_0 = 0``, ``p_1 = 0.22``, ``p_j+1 = p_j + max(p_j - p_j-1 - 0.03, 0.06)``.

    Examples
    --------
    >>> apgd_checkpoints(100)
    [22, 41, 57, 70, 80, 87, 93, 99]
    """
    steps = _check_positive_int(steps, "steps")
    p = [0.0, 0.22]
    while p[-1] + max(p[-1] - p[-2] - 0.03, 0.06) <= 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    # round p_j * steps first: 0.41 * 100 is 41.00000000000001 in floating point
    return sorted({math.ceil(round(pj * steps, 9)) for pj in p[1:]} - {0})


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """The DLR loss of Croce & Hein (2020), per sample, shape ``(N,)`` (to be maximised).

    Untargeted: ``-(z_y - max_j!=y z_j) / (z_pi1 - z_pi3 + 1e-12)``; targeted (``targets`` given):
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)``. With 3 classes the targeted denominator
    falls back to ``z_pi1 - z_pi3``; with 2 classes the loss is the logit margin ``max_j!=y z_j - z_y``
    (no third logit to normalise by; see the module docstring).

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[4.0, 3.0, 1.0, 0.0]])
    >>> dlr_loss(z, torch.tensor([0])).tolist()            # -(4 - 3) / (4 - 1)
    [-0.3333333432674408]
    >>> dlr_loss(z, torch.tensor([0]), torch.tensor([2])).tolist()   # -(4 - 1) / (4 - 0.5)
    [-0.8571428656578064]
    """
    n_classes = logits.shape[1]
    z_y = logits.gather(1, y[:, None])[:, 0]
    if targets is None:
        others = logits.masked_fill(torch.nn.functional.one_hot(y, n_classes).bool(), float("-inf"))
        z_t = others.max(dim=1).values
    else:
        z_t = logits.gather(1, targets[:, None])[:, 0]
    if n_classes == 2:
        return z_t - z_y
    z_sorted = logits.sort(dim=1, descending=True).values
    if targets is None or n_classes == 3:
        scale = z_sorted[:, 0] - z_sorted[:, 2]
    else:
        scale = z_sorted[:, 0] - 0.5 * (z_sorted[:, 2] + z_sorted[:, 3])
    return -(z_y - z_t) / (scale + 1e-12)


def _margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``z_y - max_j!=y z_j`` per sample."""
    others = logits.masked_fill(torch.nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return logits.gather(1, y[:, None])[:, 0] - others.max(dim=1).values


class _Evaluator:
    """Loss, input gradient and the check logits of a batch, through :func:`~bridges.attacks.gradient._gradient`.

    The per-sample loss values and logits of the gradient pass are recorded by wrapping the loss, so
    the EOT machinery (stacked copies, row ``j N + i``) is reused as is.
    """

    def __init__(self, model: GradientSource, grad_model: GradientSource | None, run_loss: _RunLoss, eot: int):
        self.model, self.source = model, (model if grad_model is None else grad_model)
        self.separate_check = grad_model is not None and grad_model is not model
        self.run_loss, self.eot = run_loss, eot

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        seen_logits: list[torch.Tensor] = []
        seen_losses: list[torch.Tensor] = []

        def loss_fn(logits: torch.Tensor, y_rep: torch.Tensor, reduction: str = "none") -> torch.Tensor:
            copies = logits.shape[0] // n
            t_rep = None if targets is None else targets.repeat(copies)
            losses = self.run_loss(logits, y_rep, t_rep)
            seen_logits.append(logits.detach())
            seen_losses.append(losses.detach())
            return losses

        grad = _gradient(self.source, x, y, loss_fn, self.eot)
        loss = torch.cat(seen_losses).reshape(self.eot, n).mean(dim=0)
        if self.separate_check:
            with torch.no_grad():
                logits = _check_logits(self.model(x), y).detach()
        else:
            logits = torch.cat(seen_logits).reshape(self.eot, n, -1).mean(dim=0)
        return loss, grad, logits


class _Best:
    """Per-sample result: the first misclassified point, else the point of smallest margin so far."""

    def __init__(self, x0: torch.Tensor, logits0: torch.Tensor, y: torch.Tensor):
        self.x = x0.clone()
        self.fooled = logits0.argmax(dim=1) != y
        self.margin = _margin(logits0, y)

    def update(self, idx: torch.Tensor, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Record points ``x`` of samples ``idx`` (not yet fooled); return the mask of those now fooled."""
        fooled = logits.argmax(dim=1) != y
        margin = _margin(logits, y)
        take = fooled | (margin < self.margin[idx])
        self.x[idx[take]] = x[take]
        self.margin[idx[take]] = margin[take]
        self.fooled[idx[fooled]] = True
        return fooled


def _run(
    evaluate: _Evaluator,
    best: _Best,
    idx: torch.Tensor,
    x0: torch.Tensor,
    y: torch.Tensor,
    targets: torch.Tensor | None,
    start: torch.Tensor,
    eps: float,
    bounds: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    rho: float,
    warn: bool,
) -> None:
    """One APGD run of ``steps`` steps on samples ``idx`` (rows of ``x0``/``y``/``targets``/``start``)."""
    ball_lo, ball_hi = bounds
    checkpoints = set(apgd_checkpoints(steps))
    shape = (-1,) + (1,) * (x0.dim() - 1)

    def ex(mask: torch.Tensor) -> torch.Tensor:
        return mask.reshape(shape)

    x_cur = start
    f_cur, g_cur, logits = evaluate(x_cur, y, targets)
    if warn:
        _warn_zero_gradients(g_cur)
    fooled = best.update(idx, x_cur, logits, y)
    eta = torch.full((x0.shape[0],), 2.0 * eps, dtype=x0.dtype, device=x0.device)
    state = {
        "idx": idx, "y": y, "t": targets, "lo": ball_lo, "hi": ball_hi, "eta": eta,
        "x_prev": x_cur, "x": x_cur, "f": f_cur, "g": g_cur,
        "x_max": x_cur, "f_max": f_cur, "g_max": g_cur,
        "inc": torch.zeros_like(f_cur), "f_max_last": f_cur, "reduced_last": torch.zeros_like(fooled),
    }  # fmt: skip
    last_w = 0
    for k in range(steps):
        keep = ~fooled
        if not bool(keep.all()):
            state = {key: (v if v is None else v[keep]) for key, v in state.items()}
        if state["idx"].numel() == 0:
            return
        s = state
        alpha = 1.0 if k == 0 else MOMENTUM
        z = _project(s["x"] + ex(s["eta"]) * torch.sign(s["g"]), s["lo"], s["hi"])
        x_new = _project(s["x"] + alpha * (z - s["x"]) + (1.0 - alpha) * (s["x"] - s["x_prev"]), s["lo"], s["hi"])
        f_new, g_new, logits = evaluate(x_new, s["y"], s["t"])
        s["inc"] = s["inc"] + (f_new > s["f"]).to(s["inc"].dtype)
        better = f_new > s["f_max"]
        s["x_max"] = torch.where(ex(better), x_new, s["x_max"])
        s["g_max"] = torch.where(ex(better), g_new, s["g_max"])
        s["f_max"] = torch.where(better, f_new, s["f_max"])
        s["x_prev"], s["x"], s["f"], s["g"] = s["x"], x_new, f_new, g_new
        if k + 1 in checkpoints:
            cond1 = s["inc"] < rho * (k + 1 - last_w)
            cond2 = ~s["reduced_last"] & (s["f_max"] <= s["f_max_last"])
            reduce = cond1 | cond2
            s["eta"] = torch.where(reduce, s["eta"] / 2, s["eta"])
            for key in ("x", "x_prev"):  # restart from the best point, zero momentum
                s[key] = torch.where(ex(reduce), s["x_max"], s[key])
            s["g"] = torch.where(ex(reduce), s["g_max"], s["g"])
            s["f"] = torch.where(reduce, s["f_max"], s["f"])
            s["reduced_last"], s["f_max_last"] = reduce, s["f_max"]
            s["inc"] = torch.zeros_like(s["inc"])
            last_w = k + 1
        fooled = best.update(s["idx"], x_new, logits, s["y"])


def _check_rho(rho: float) -> float:
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not 0.0 < float(rho) <= 1.0:
        raise ValueError(f"rho must be a number in (0, 1], got {rho!r}; the paper's value is 0.75")
    return float(rho)


def _apgd(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    steps: int,
    restarts: int,
    rho: float,
    input_range: tuple[float, float],
    grad_model: GradientSource | None,
    eot_samples: int,
    seed: int | None,
    run_loss: _RunLoss,
    n_target_classes: int | None,
) -> torch.Tensor:
    lo, hi, eps, y = _check_inputs(x, y, epsilon, input_range)
    steps = _check_positive_int(steps, "steps")
    restarts = _check_positive_int(restarts, "restarts")
    rho = _check_rho(rho)
    eot_samples = _check_positive_int(eot_samples, "eot_samples")
    if n_target_classes is not None:
        n_target_classes = _check_positive_int(n_target_classes, "n_target_classes")
    seed = _check_seed(seed)
    x0 = x.detach()
    if eps == 0.0:
        return x0.clone()
    ball_lo, ball_hi = _ball(x0, eps, lo, hi)
    gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    evaluate = _Evaluator(model, grad_model, run_loss, eot_samples)
    with _eval_mode(model, grad_model), _seeded_rng(seed, x0.device):
        with torch.no_grad():
            logits0 = _check_logits(model(x0), y).detach()
        best = _Best(x0, logits0, y)
        if n_target_classes is None:
            runs: list[torch.Tensor | None] = [None] * restarts
        else:
            ranked = logits0.masked_fill(torch.nn.functional.one_hot(y, logits0.shape[1]).bool(), float("-inf"))
            order = ranked.argsort(dim=1, descending=True)  # wrong classes first, best-scoring first
            n_t = min(n_target_classes, logits0.shape[1] - 1)
            runs = [order[:, t] for t in range(n_t) for _ in range(restarts)]
        for r, targets in enumerate(runs):
            idx = (~best.fooled).nonzero()[:, 0]
            if idx.numel() == 0:
                break
            noise = torch.rand(x0[idx].shape, generator=gen, dtype=x0.dtype).to(x0.device)
            start = _project(x0[idx] + eps * (2.0 * noise - 1.0), ball_lo[idx], ball_hi[idx])
            _run(
                evaluate, best, idx, x0[idx], y[idx], None if targets is None else targets[idx], start,
                eps, (ball_lo[idx], ball_hi[idx]), steps, rho, warn=r == 0,
            )  # fmt: skip
    return best.x


def _ce(logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    return ce_loss(logits, y, reduction="none")


def apgd_ce(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    steps: int = 100,
    restarts: int = 1,
    rho: float = 0.75,
    input_range: tuple[float, float] = (0.0, 1.0),
    grad_model: GradientSource | None = None,
    eot_samples: int = 1,
    seed: int | None = None,
) -> torch.Tensor:
    """APGD with the cross-entropy loss (L-inf), Croce & Hein (2020), arXiv 2003.01690.

    See the module docstring for the algorithm (step-size checkpoints, momentum 0.75, halving with a
    restart from the best point) and the per-sample worst case.

    Parameters
    ----------
    model : callable
        The attacked model, ``(N, ...) -> logits (N, C)``; judges misclassification. Eval mode during the
        attack, flags restored; parameter grads untouched.
    x : Tensor, shape (N, ...)
        Clean inputs, floating point, finite, within ``input_range``. Not mutated.
    y : Tensor, shape (N,)
        Integer true labels.
    epsilon : float
        L-inf radius in input units, ``0 <= epsilon <= hi - lo``; ``0`` returns ``x.clone()``.
    steps : int
        Update steps per run (``steps + 1`` gradient evaluations), default 100 as in the paper.
    restarts : int
        Runs from independent random starts, each on the samples not fooled yet.
    rho : float
        Condition-1 threshold in (0, 1]: halve the step when the loss rose on fewer than ``rho`` of the
        steps since the last checkpoint (paper: 0.75).
    input_range : (float, float)
        Valid input box ``(lo, hi)``.
    grad_model : callable, optional
        Gradient source (plain-autograd view, surrogate or rate-approximation twin); default ``model``.
    eot_samples : int
        Average loss and gradient over this many forward passes (stochastic models).
    seed : int, optional
        Seeds the random starts (CPU generator) and the models' torch RNG during the attack (caller's
        RNG state restored).

    Returns
    -------
    Tensor, shape and dtype of ``x``
        Per sample the first misclassified point found, else the smallest-margin point;
        ``lo <= x_adv <= hi``, ``|x_adv - x| <= epsilon``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> x = torch.full((3, 2), 0.5)
    >>> torch.equal(apgd_ce(model, x, torch.tensor([0, 1, 0]), 0.0), x)
    True
    """
    return _apgd(
        model, x, y, epsilon, steps=steps, restarts=restarts, rho=rho, input_range=input_range,
        grad_model=grad_model, eot_samples=eot_samples, seed=seed, run_loss=_ce, n_target_classes=None,
    )  # fmt: skip


def apgd_dlr(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    steps: int = 100,
    restarts: int = 1,
    n_target_classes: int = 9,
    rho: float = 0.75,
    input_range: tuple[float, float] = (0.0, 1.0),
    grad_model: GradientSource | None = None,
    eot_samples: int = 1,
    seed: int | None = None,
) -> torch.Tensor:
    """APGD with the targeted DLR loss (L-inf), Croce & Hein (2020), arXiv 2003.01690 (APGD-T).

    For each of the ``n_target_classes`` highest-scoring wrong classes of the clean input (capped at
    ``C - 1``), ``restarts`` runs of ``steps`` steps on the samples not fooled yet. Two classes: the
    logit margin (see :func:`dlr_loss`).

    Parameters
    ----------
    model, x, y, epsilon, steps, restarts, rho, input_range, grad_model, eot_samples, seed
        As in :func:`apgd_ce`.
    n_target_classes : int
        Number of target classes tried, >= 1 (paper: 9), capped at ``C - 1``.

    Returns
    -------
    Tensor, shape and dtype of ``x``
        As in :func:`apgd_ce`.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(4, 5)
    >>> x, y = torch.rand(4, 4), torch.tensor([0, 1, 2, 3])
    >>> x_adv = apgd_dlr(model, x, y, 0.2, steps=5, n_target_classes=2, seed=0)
    >>> bool(((x_adv - x).abs() <= 0.2 + 1e-6).all() and x_adv.min() >= 0 and x_adv.max() <= 1)
    True
    """
    return _apgd(
        model, x, y, epsilon, steps=steps, restarts=restarts, rho=rho, input_range=input_range,
        grad_model=grad_model, eot_samples=eot_samples, seed=seed, run_loss=dlr_loss,
        n_target_classes=n_target_classes,
    )  # fmt: skip


register_attack("apgd-ce", apgd_ce)
register_attack("apgd-dlr", apgd_dlr)
