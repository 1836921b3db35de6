"""Square attack (L-infinity, score-based, gradient-free), registered as ``square``.

Andriushchenko, Croce, Flammarion, Hein (2020), "Square Attack: a query-efficient black-box
adversarial attack via random search", arXiv 1912.00049, Algorithm 1 and Section 3.1 (L-inf). It only
calls ``model(x)`` under ``torch.no_grad()``, so it runs against any model that returns scores,
differentiable or not (quantised inputs, spiking twins).

* Image view: inputs ``(N, C, H, W)`` are used as they are, ``(N, H, W)`` as one channel, flat
  ``(N, D)`` as a ``sqrt(D) x sqrt(D)`` image when ``D`` is a perfect square (the project's flat
  8x8 digits and 28x28 MNIST), else as a ``1 x D`` row where the "square" is an interval.
* Initialisation: vertical stripes, ``x + epsilon * s`` with one random sign ``s`` per channel and
  column, clipped to ``input_range``.
* Loss: the logit margin ``z_y - max_j!=y z_j``, minimised; a sample is fooled when the model's argmax
  is not ``y`` (as :func:`~bridges.attacks.accuracy` counts) and then stops being attacked.
* Iteration ``i``: a window of side ``s = round(sqrt(p_i H W))`` (clipped to ``[1, min(H, W) - 1]``)
  at a random position per sample gets a new random sign per channel (``x + epsilon * sign``, clipped);
  signs are redrawn where the window would not change. The candidate is kept if its margin is lower.
  ``p_i`` follows the paper's schedule for 10,000 queries, rescaled to ``queries``: ``p_init`` halved
  at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 (of 10,000).
* Budget: ``queries`` model evaluations per sample (the stripes start and ``queries - 1`` candidates),
  plus one clean evaluation; samples the model already misclassifies are returned unchanged.

Stochastic models (a spiking twin draws Poisson input with torch's global RNG). With
``fixed_noise=True`` every query runs inside the same seeded RNG fork (common random numbers): a
candidate and the current best are compared under the same draws, so the search is not driven by
noise. The draws of a row depend on the batch the model sees, so while a fooled sample leaves the
batch the margins of the others would be compared across different draws; the attack therefore
probes once whether the model is deterministic (the stripes start scored under two draws). If it is
not, fooled samples stay in the batch (frozen) until they make up an eighth of it, and after each
such compaction the current bests are re-scored under the new batch's draws (extra queries, not
counted in ``queries``). Re-score the returned images with fresh draws (the caller's job) to report
accuracy. With ``fixed_noise=False`` every query makes fresh draws (seeded by ``seed`` through one
RNG fork around the whole attack).

Examples
--------
>>> import torch
>>> model = torch.nn.Linear(4, 3)
>>> x, y = torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
>>> x_adv = square(model, x, y, 0.1, queries=50, seed=0)
>>> bool(((x_adv - x).abs() <= 0.1 + 1e-6).all()), torch.equal(x_adv, square(model, x, y, 0.1, queries=50, seed=0))
(True, True)
"""

from __future__ import annotations

import contextlib
import math
import numbers

import torch

from .base import (
    _check_inputs,
    _check_logits,
    _check_positive_int,
    _check_seed,
    _eval_mode,
    _seeded_rng,
)
from .registry import GradientSource, register_attack

__all__ = ["square", "square_p_schedule"]

_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # of 10,000 queries (paper's schedule)
_COMPACT_SHARE = 8  # stochastic models with fixed noise: compact when fooled rows >= batch / 8
_MAX_REDRAWS = 64


def square_p_schedule(p_init: float, i: int, queries: int) -> float:
    """Fraction ``p`` of pixels changed at iteration ``i`` of ``queries`` (the paper's 10k schedule, rescaled).

    Examples
    --------
    >>> [square_p_schedule(0.8, i, 1000) for i in (0, 1, 5, 20, 999)]
    [0.8, 0.8, 0.4, 0.2, 0.0015625]
    """
    scaled = int(i / queries * 10000)
    return p_init / 2 ** sum(scaled > h for h in _HALVINGS)


def _image_view(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        return (1, side, side) if side > 1 and side * side == shape[0] else (1, 1, shape[0])
    raise ValueError(
        f"square needs inputs of shape (N, D), (N, H, W) or (N, C, H, W), got (N, {', '.join(map(str, shape))}); "
        f"reshape x to images first"
    )


def _window(p: float, h: int, w: int) -> tuple[int, int]:
    """Window height and width for a fraction ``p`` of the ``h x w`` pixels (paper: a square of side s)."""
    if h == 1:
        return 1, min(max(round(p * w), 1), max(w - 1, 1))
    s = round(math.sqrt(p * h * w))
    return (min(max(s, 1), max(min(h, w) - 1, 1)),) * 2  # type: ignore[return-value]


def _check_p_init(p_init: float) -> float:
    if isinstance(p_init, bool) or not isinstance(p_init, numbers.Real) or not 0.0 < float(p_init) <= 1.0:
        raise ValueError(f"p_init must be a number in (0, 1], got {p_init!r}; the paper uses 0.05 to 0.8 (L-inf)")
    return float(p_init)


def square(
    model: GradientSource,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    queries: int = 1000,
    p_init: float = 0.8,
    input_range: tuple[float, float] = (0.0, 1.0),
    seed: int | None = None,
    fixed_noise: bool = True,
) -> torch.Tensor:
    """L-inf Square attack: random search over square patches using only the model's scores.

    Andriushchenko, Croce, Flammarion, Hein (2020), "Square Attack: a query-efficient black-box
    adversarial attack via random search", arXiv 1912.00049. See the module docstring for the image
    view, the schedule and how stochastic models are handled.

    Parameters
    ----------
    model : callable
        ``(N, ...) -> logits (N, C)``, only called under ``torch.no_grad()``. Eval mode during the attack,
        flags restored.
    x : Tensor, shape (N, D), (N, H, W) or (N, C, H, W)
        Clean inputs, floating point, finite, within ``input_range``. Not mutated.
    y : Tensor, shape (N,)
        Integer true labels.
    epsilon : float
        L-inf radius in input units, ``0 <= epsilon <= hi - lo``; ``0`` returns ``x.clone()``.
    queries : int
        Model evaluations per sample (stripes start included), >= 1; the paper uses up to 10,000.
    p_init : float
        Initial fraction of pixels in the window, in (0, 1] (L-inf: the paper uses 0.05 on ImageNet and
        0.8 on MNIST, AutoAttack 0.8).
    input_range : (float, float)
        Valid input box ``(lo, hi)``.
    seed : int, optional
        Seeds the search (a CPU generator: windows, signs) and the model's noise; one seed gives
        bitwise-identical results on a device. None: drawn from torch's global RNG.
    fixed_noise : bool
        Evaluate every query of a stochastic model under the same draws (common random numbers).

    Returns
    -------
    Tensor, shape and dtype of ``x``
        Per sample the first misclassified point found, else the lowest-margin point;
        ``lo <= x_adv <= hi``, ``|x_adv - x| <= epsilon``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(4, 2)
    >>> x = torch.full((3, 4), 0.5)
    >>> torch.equal(square(model, x, torch.tensor([0, 1, 0]), 0.0), x)
    True
    """
    lo, hi, eps, y = _check_inputs(x, y, epsilon, input_range)
    queries = _check_positive_int(queries, "queries")
    p_init = _check_p_init(p_init)
    seed = _check_seed(seed)
    if not isinstance(fixed_noise, bool):
        raise ValueError(f"fixed_noise must be True or False, got {fixed_noise!r}")
    c, h, w = _image_view(tuple(x.shape[1:]))
    x0 = x.detach()
    if eps == 0.0:
        return x0.clone()
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    noise_seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    outer = contextlib.nullcontext() if fixed_noise else _seeded_rng(noise_seed, x0.device)
    with _eval_mode(model), torch.no_grad(), outer:
        return _search(model, x0, y, eps, lo, hi, (c, h, w), queries, p_init, gen, noise_seed, fixed_noise)


def _search(
    model: GradientSource,
    x0: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    lo: float,
    hi: float,
    view: tuple[int, int, int],
    queries: int,
    p_init: float,
    gen: torch.Generator,
    noise_seed: int,
    fixed_noise: bool,
) -> torch.Tensor:
    n, (c, h, w), dev = x0.shape[0], view, x0.device

    def query(xq: torch.Tensor, yq: torch.Tensor, noise: int = noise_seed) -> tuple[torch.Tensor, torch.Tensor]:
        fork = _seeded_rng(noise, dev) if fixed_noise else contextlib.nullcontext()
        with fork:
            logits = _check_logits(model(xq.reshape(xq.shape[0], *x0.shape[1:])), yq)
        others = logits.masked_fill(torch.nn.functional.one_hot(yq, logits.shape[1]).bool(), float("-inf"))
        margin = logits.gather(1, yq[:, None])[:, 0] - others.max(dim=1).values
        return margin, logits.argmax(dim=1) != yq

    xv = x0.reshape(n, c, h, w)
    best = xv.clone()
    _, fooled = query(xv, y)  # the clean point: already misclassified samples are not attacked
    rows = (~fooled).nonzero()[:, 0]
    if rows.numel() == 0:
        return best.reshape(x0.shape)
    signs = torch.randint(0, 2, (rows.numel(), c, 1, w), generator=gen).to(dev, x0.dtype) * 2 - 1
    best[rows] = (xv[rows] + eps * signs).clamp(lo, hi)
    margin, now = query(best[rows], y[rows])
    stochastic = False
    if fixed_noise:
        other, _ = query(best[rows], y[rows], noise=noise_seed + 1)
        stochastic = not torch.equal(other, margin)
    fooled[rows] = now
    ar_h, ar_w = torch.arange(h, device=dev), torch.arange(w, device=dev)
    frozen = now.clone()  # rows of the batch already fooled (kept only for a stochastic model)
    for i in range(1, queries):
        n_frozen = int(frozen.sum())
        if n_frozen and (not stochastic or n_frozen * _COMPACT_SHARE >= rows.numel()):
            rows, margin = rows[~frozen], margin[~frozen]
            if rows.numel() == 0:
                break
            if stochastic:  # new batch, new draws per row: re-score the current bests
                margin, now = query(best[rows], y[rows])
                fooled[rows] = now
                rows, margin = rows[~now], margin[~now]
                if rows.numel() == 0:
                    break
            frozen = torch.zeros(rows.numel(), dtype=torch.bool, device=dev)
        m = rows.numel()
        wh, ww = _window(square_p_schedule(p_init, i - 1, queries), h, w)
        r0 = torch.randint(0, h - wh + 1, (m,), generator=gen).to(dev)
        c0 = torch.randint(0, w - ww + 1, (m,), generator=gen).to(dev)
        in_h = (ar_h[None] >= r0[:, None]) & (ar_h[None] < (r0 + wh)[:, None])
        in_w = (ar_w[None] >= c0[:, None]) & (ar_w[None] < (c0 + ww)[:, None])
        window = (in_h[:, :, None] & in_w[:, None, :])[:, None]  # (m, 1, h, w)
        cur, base = best[rows], xv[rows]
        s = torch.randint(0, 2, (m, c, 1, 1), generator=gen).to(dev, x0.dtype) * 2 - 1
        cand = torch.where(window, (base + eps * s).clamp(lo, hi), cur)
        redraw = ((cand - cur).abs() * window).flatten(1).amax(dim=1) < 1e-7
        for _ in range(_MAX_REDRAWS):  # the window must change (paper: redraw its signs until it does)
            if not bool(redraw.any()):
                break
            if c == 1:  # one sign: redrawing until it changes picks the other sign, which always changes it
                s = torch.where(redraw[:, None, None, None], -s, s)
            else:
                fresh = torch.randint(0, 2, (m, c, 1, 1), generator=gen).to(dev, x0.dtype) * 2 - 1
                s = torch.where(redraw[:, None, None, None], fresh, s)
            cand = torch.where(window, (base + eps * s).clamp(lo, hi), cur)
            redraw = ((cand - cur).abs() * window).flatten(1).amax(dim=1) < 1e-7
        cand = torch.where(frozen[:, None, None, None], cur, cand)
        new_margin, now = query(cand, y[rows])
        accept = ((new_margin < margin) | now) & ~frozen
        best[rows[accept]] = cand[accept]
        margin = torch.where(accept, new_margin, margin)
        newly = now & ~frozen
        fooled[rows[newly]] = True
        frozen = frozen | newly
    return best.reshape(x0.shape)


register_attack("square", square)
