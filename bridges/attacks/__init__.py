"""L-infinity adversarial attacks (FGSM, PGD, APGD, Square) written in plain torch, plus batched evaluation.

The attacks perturb an input batch ``x`` of shape ``(N, ...)`` with labels ``y`` of shape ``(N,)`` inside
the L-infinity ball of radius ``epsilon`` around ``x``, intersected with the valid input box
``input_range``. Every output satisfies ``lo <= x_adv <= hi`` and ``|x_adv - x| <= epsilon`` elementwise.

* FGSM: Goodfellow, Shlens, Szegedy (2015), "Explaining and Harnessing Adversarial Examples",
  arXiv 1412.6572 -- one signed-gradient step ``x + epsilon * sign(grad_x loss)``.
* PGD: Madry, Makelov, Schmidt, Tsipras, Vladu (2018), "Towards Deep Learning Models Resistant to
  Adversarial Attacks", arXiv 1706.06083 -- a uniform random start in the ball, then ``steps`` signed-gradient
  steps, each projected back onto the ball and the input box.
* APGD: Croce & Hein (2020), "Reliable evaluation of adversarial robustness with an ensemble of diverse
  parameter-free attacks", arXiv 2003.01690 -- step-size schedule with checkpoints, momentum, restarts;
  ``apgd-ce`` (cross-entropy) and ``apgd-dlr`` (targeted DLR loss); per-sample first misclassified point.
* Square: Andriushchenko, Croce, Flammarion, Hein (2020), "Square Attack", arXiv 1912.00049 -- score-based
  random search (no gradient), so it also reaches models whose gradients are masked; stochastic models
  are searched under fixed draws (``fixed_noise``).

Gradient source. ``model`` is what is attacked; the input gradient is taken through ``grad_model`` when
given (any callable ``inputs -> logits``, called a *gradient source* here), else through ``model``. This is
how to attack a model whose own backward pass is not its true Jacobian: a feedback-alignment network's
custom backward follows its feedback weights, a spiking network's spikes have no useful gradient. Pass a
plain-autograd view (same weights, ordinary backward: :func:`ratebased.true_gradient_view`) or a
surrogate-gradient model (the snntorch twin of a spiking network) as ``grad_model``, and
evaluate the crafted inputs on the original. For stochastic models (Poisson spike encoding, dropout-like
noise) ``eot_samples > 1`` averages the input gradient over several forward passes ("expectation over
transformation"), seeded by ``seed``.

Guarantees: inputs are never mutated; models are switched to eval mode for the attack and every submodule's
``training`` flag is restored afterwards; parameter ``.grad`` fields are never touched (gradients are taken
with :func:`torch.autograd.grad` w.r.t. the input only); ``epsilon == 0`` returns a copy of ``x`` without
running any gradient; one ``seed`` gives bitwise-identical results on a given device, and PGD's random start
is drawn on the CPU so it is the same on CPU and CUDA.

Layout: :mod:`~bridges.attacks.registry` (the attack registry :data:`ATTACKS` and shared types),
:mod:`~bridges.attacks.losses` (the attack objectives: :data:`LOSSES` is :data:`ratebased.losses.LOSSES`,
the project's one loss registry, called with ``reduction="none"``), :mod:`~bridges.attacks.base` (input
checks, eval mode, seeding), :mod:`~bridges.attacks.gradient` (input gradients, EOT averaging),
:mod:`~bridges.attacks.fgsm_pgd` (FGSM, PGD), :mod:`~bridges.attacks.apgd` (APGD-CE, APGD-DLR and the
DLR loss), :mod:`~bridges.attacks.square` (the Square attack; gradient-free) and
:mod:`~bridges.attacks.evaluate` (batched crafting and scoring).

Examples
--------
>>> import torch
>>> from bridges.attacks import fgsm, pgd, robust_accuracy
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> x = torch.linspace(0, 1, 20).reshape(5, 4)
>>> y = torch.tensor([0, 1, 2, 0, 1])
>>> x_adv = pgd(model, x, y, 0.1, steps=5, seed=0)
>>> bool(((x_adv - x).abs() <= 0.1 + 1e-6).all() and x_adv.min() >= 0 and x_adv.max() <= 1)
True
>>> sorted(robust_accuracy(model, x, y, attack="fgsm", epsilons=(0.0, 0.1)))
[0.0, 0.1]
"""

from .apgd import apgd_ce, apgd_dlr, dlr_loss
from .evaluate import accuracy, craft, robust_accuracy
from .fgsm_pgd import fgsm, pgd
from .gradient import EOT_MAX_ROWS, input_gradient
from .losses import LOSSES, ce_loss, get_loss, margin_loss, register_loss
from .registry import (
    ATTACKS,
    AttackFn,
    GradientSource,
    LossFn,
    get_attack,
    register_attack,
)
from .square import square

__all__ = [
    "GradientSource",
    "LossFn",
    "AttackFn",
    "LOSSES",
    "ATTACKS",
    "register_loss",
    "get_loss",
    "register_attack",
    "get_attack",
    "ce_loss",
    "margin_loss",
    "input_gradient",
    "fgsm",
    "pgd",
    "apgd_ce",
    "apgd_dlr",
    "dlr_loss",
    "square",
    "craft",
    "accuracy",
    "robust_accuracy",
    "EOT_MAX_ROWS",
]
