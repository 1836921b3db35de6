"""Tests for bridges.attacks: FGSM/PGD against closed forms, guarantees, routing, EOT, validation, evaluation."""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn.functional as F

import bridges.attacks as attacks
import ratebased
from bridges.attacks import (
    ATTACKS,
    LOSSES,
    accuracy,
    craft,
    fgsm,
    get_attack,
    get_loss,
    input_gradient,
    pgd,
    register_attack,
    register_loss,
    robust_accuracy,
)

ATTACK_FNS = {"fgsm": fgsm, "pgd": pgd}


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------
def _linear(weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.nn.Linear:
    out_f, in_f = weight.shape
    lin = torch.nn.Linear(in_f, out_f, bias=bias is not None, dtype=weight.dtype)
    with torch.no_grad():
        lin.weight.copy_(weight)
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


def _problem(n=12, d=6, c=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(c, d, generator=g, dtype=dtype)
    b = torch.randn(c, generator=g, dtype=dtype)
    x = torch.rand(n, d, generator=g, dtype=dtype)
    x[0, 0], x[1, 1] = 0.0, 1.0  # samples on the box edges, so clipping is exercised
    y = torch.randint(0, c, (n,), generator=g)
    return w, b, x, y


class Counting(torch.nn.Module):
    """Wraps a module; counts forward calls and records the training flag seen during each call."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner
        self.calls = 0
        self.seen_training: list[bool] = []

    def forward(self, x):
        self.calls += 1
        self.seen_training.append(self.training)
        return self.inner(x)


def _closed_form_grad(w, b, x, y, loss):
    """Input gradient of the summed loss for a linear softmax model logits = x W^T + b."""
    logits = x @ w.T + b
    if loss == "ce":
        return (torch.softmax(logits, dim=1) - F.one_hot(y, w.shape[0]).to(x.dtype)) @ w
    others = logits.masked_fill(F.one_hot(y, w.shape[0]).bool(), float("-inf"))
    j_star = others.argmax(dim=1)
    return w[j_star] - w[y]


# ---------------------------------------------------------------------------------------------------------
# closed forms and equivalences
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("targeted", [False, True], ids=["untargeted", "targeted"])
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_fgsm_linear_model_equals_closed_form(loss, targeted):
    w, b, x, y = _problem()
    eps = 0.2
    g = _closed_form_grad(w, b, x, y, loss)
    step = -torch.sign(g) if targeted else torch.sign(g)
    expected = (x + eps * step).clamp(0.0, 1.0)
    got = fgsm(_linear(w, b), x, y, eps, loss=loss, targeted=targeted)
    assert torch.equal(got, expected)
    assert got.dtype == torch.float64


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_input_gradient_equals_closed_form(loss):
    w, b, x, y = _problem()
    got = input_gradient(_linear(w, b), x, y, loss=loss)
    torch.testing.assert_close(got, _closed_form_grad(w, b, x, y, loss), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("targeted", [False, True], ids=["untargeted", "targeted"])
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_pgd_single_full_step_equals_fgsm(loss, targeted):
    w, b, x, y = _problem(seed=1)
    model = _linear(w, b)
    kw = dict(loss=loss, targeted=targeted, input_range=(0.0, 1.0))
    expected = fgsm(model, x, y, 0.15, **kw)
    got = pgd(model, x, y, 0.15, steps=1, step_size=0.15, random_start=False, **kw)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_epsilon_zero_returns_copy_without_gradients(attack):
    w, b, x, y = _problem()
    model = Counting(_linear(w, b))
    x_before = x.clone()
    x_adv = ATTACK_FNS[attack](model, x, y, 0.0)
    assert torch.equal(x_adv, x_before)
    assert x_adv.data_ptr() != x.data_ptr()
    assert model.calls == 0
    assert accuracy(model, x_adv, y) == accuracy(model, x, y)


@pytest.mark.parametrize("input_range", [(0.0, 1.0), (-1.0, 2.0)], ids=["unit", "wide"])
@pytest.mark.parametrize("eps", [0.01, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_outputs_stay_in_range_and_in_ball(attack, eps, input_range):
    lo, hi = input_range
    g = torch.Generator().manual_seed(3)
    x = lo + (hi - lo) * torch.rand(32, 10, generator=g)
    x[:4] = lo
    x[4:8] = hi
    y = torch.randint(0, 3, (32,), generator=g)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    kw = dict(steps=5, seed=0) if attack == "pgd" else {}
    x_adv = ATTACK_FNS[attack](model, x, y, eps, input_range=input_range, **kw)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float(x_adv.min()) >= lo and float(x_adv.max()) <= hi
    assert float((x_adv - x).abs().max()) <= eps + 1e-6
    assert float((x_adv - x).abs().max()) > 0.0  # the attack actually moved


# ---------------------------------------------------------------------------------------------------------
# a small trained model: the attacks really break it
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_model():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, test = perm[:1000], perm[1400:1650]
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.3, 0.3, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(model(x[train]), y[train]).backward()
        opt.step()
    return model, x[test], y[test]


EPSILONS = (0.0, 0.05, 0.1, 0.2, 0.3)


def test_pgd_breaks_trained_mlp(digits_model):
    model, x, y = digits_model
    acc = robust_accuracy(model, x, y, attack="pgd", epsilons=EPSILONS, batch_size=128, steps=10, seed=0)
    assert list(acc) == list(EPSILONS)
    assert acc[0.0] > 0.85
    assert acc[0.3] < 0.1
    assert acc[0.1] < acc[0.0] - 0.3


def test_fgsm_accuracy_non_increasing_and_weaker_than_pgd(digits_model):
    model, x, y = digits_model
    acc_fgsm = robust_accuracy(model, x, y, attack="fgsm", epsilons=EPSILONS)
    acc_pgd = robust_accuracy(model, x, y, attack="pgd", epsilons=EPSILONS, steps=10, seed=0)
    assert acc_fgsm[0.0] == acc_pgd[0.0] == accuracy(model, x, y)
    slack = 0.02
    for smaller, larger in zip(EPSILONS, EPSILONS[1:]):
        assert acc_fgsm[larger] <= acc_fgsm[smaller] + slack, (smaller, larger, acc_fgsm)
    for eps in EPSILONS:
        assert acc_pgd[eps] <= acc_fgsm[eps] + slack, (eps, acc_pgd, acc_fgsm)


def test_craft_then_accuracy_equals_robust_accuracy(digits_model):
    model, x, y = digits_model
    kw = dict(attack="pgd", epsilons=(0.0, 0.1), batch_size=64, steps=3, seed=5)
    adv = craft(model, x, y, **kw)
    acc = robust_accuracy(model, x, y, **kw)
    assert torch.equal(adv[0.0], x)
    for eps, x_adv in adv.items():
        assert accuracy(model, x_adv, y, batch_size=100) == acc[eps]


def test_robust_accuracy_per_epsilon_does_not_depend_on_other_epsilons(digits_model):
    model, x, y = digits_model
    both = robust_accuracy(model, x, y, attack="pgd", epsilons=(0.05, 0.1), steps=3, seed=2, batch_size=64)
    alone = robust_accuracy(model, x, y, attack="pgd", epsilons=(0.1,), steps=3, seed=2, batch_size=64)
    assert alone[0.1] == both[0.1]


def test_fgsm_robust_accuracy_does_not_depend_on_batch_size(digits_model):
    model, x, y = digits_model
    small = robust_accuracy(model, x, y, attack="fgsm", epsilons=(0.05, 0.1), batch_size=7)
    large = robust_accuracy(model, x, y, attack="fgsm", epsilons=(0.05, 0.1), batch_size=1000)
    assert small == large


# ---------------------------------------------------------------------------------------------------------
# gradient sources
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_grad_model_routing_uses_the_given_gradient_source(loss, attack):
    g = torch.Generator().manual_seed(4)
    w = torch.randn(2, 5, generator=g, dtype=torch.float64)
    b = torch.randn(2, generator=g, dtype=torch.float64)
    x = 0.3 + 0.4 * torch.rand(8, 5, generator=g, dtype=torch.float64)  # interior: no clipping at eps 0.1
    y = torch.randint(0, 2, (8,), generator=g)
    model_a = Counting(_linear(w, b))
    model_b = _linear(-w, -b)  # the negated model: its input gradient has the opposite sign
    kw = dict(loss=loss)
    if attack == "pgd":
        kw.update(steps=1, step_size=0.1, random_start=False)
    delta_own = ATTACK_FNS[attack](model_a, x, y, 0.1, **kw) - x
    calls_before = model_a.calls
    delta_routed = ATTACK_FNS[attack](model_a, x, y, 0.1, grad_model=model_b, **kw) - x
    assert model_a.calls == calls_before  # the attacked model's own gradient was never used
    torch.testing.assert_close(delta_routed, -delta_own, rtol=0, atol=1e-12)
    assert float(delta_own.abs().min()) > 0.09


class _FeedbackAlignmentLinear(torch.autograd.Function):
    """y = x W^T; backward sends the error through fixed feedback weights B instead of W."""

    @staticmethod
    def forward(ctx, x, w, b_feedback):
        ctx.save_for_backward(b_feedback)
        return x @ w.T

    @staticmethod
    def backward(ctx, grad_out):
        (b_feedback,) = ctx.saved_tensors
        return grad_out @ b_feedback, None, None


def test_feedback_alignment_model_attack_follows_feedback_weights_unless_twin_given():
    w, _, x, y = _problem(seed=6)
    b_feedback = torch.randn(w.shape, generator=torch.Generator().manual_seed(7), dtype=w.dtype)

    def fa_model(inp):
        return _FeedbackAlignmentLinear.apply(inp, w, b_feedback)

    twin = _linear(w)  # plain autograd: the true Jacobian
    zero_bias = torch.zeros(w.shape[0], dtype=w.dtype)
    p_minus_onehot = torch.softmax(x @ w.T, dim=1) - F.one_hot(y, w.shape[0]).to(x.dtype)
    eps = 0.1
    via_feedback = (x + eps * torch.sign(p_minus_onehot @ b_feedback)).clamp(0, 1)
    via_jacobian = (x + eps * torch.sign(_closed_form_grad(w, zero_bias, x, y, "ce"))).clamp(0, 1)
    assert not torch.equal(via_feedback, via_jacobian)
    assert torch.equal(fgsm(fa_model, x, y, eps), via_feedback)
    assert torch.equal(fgsm(fa_model, x, y, eps, grad_model=twin), via_jacobian)


# ---------------------------------------------------------------------------------------------------------
# expectation over transformation
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_eot_on_deterministic_model_equals_single_sample(attack):
    w, b, x, y = _problem(seed=8)
    model = _linear(w, b)
    kw = dict(steps=4, seed=1) if attack == "pgd" else {}
    one = ATTACK_FNS[attack](model, x, y, 0.1, eot_samples=1, **kw)
    many = ATTACK_FNS[attack](model, x, y, 0.1, eot_samples=5, **kw)
    assert torch.equal(one, many)
    torch.testing.assert_close(
        input_gradient(model, x, y, eot_samples=5), input_gradient(model, x, y), rtol=1e-12, atol=1e-14
    )


class _BernoulliInputs(torch.nn.Module):
    """Linear 2-class model on Bernoulli(0.5)-masked inputs (a stand-in for spike encoding); records masks.

    With ``signed=True`` the mask is +-1 instead of 0/1, so the sign of the input gradient depends on the draw.
    """

    def __init__(self, weight, signed=False):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)
        self.signed = signed
        self.masks: list[torch.Tensor] = []

    def forward(self, x):
        mask = (torch.rand_like(x) < 0.5).to(x.dtype)
        if self.signed:
            mask = 2.0 * mask - 1.0
        self.masks.append(mask)
        return (x * mask) @ self.weight.T


def test_eot_gradient_is_the_mean_over_sampled_passes():
    g = torch.Generator().manual_seed(9)
    w = torch.randn(2, 5, generator=g, dtype=torch.float64)
    x = torch.rand(6, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (6,), generator=g)
    model = _BernoulliInputs(w)
    got = input_gradient(model, x, y, loss="margin", eot_samples=50, seed=3)
    # margin loss of a 2-class linear model: d/dx (z_other - z_y) = (w_other - w_y) * mask
    # the 50 draws run as one batch of 50 copies (copy k of sample i at row 6 k + i)
    assert len(model.masks) == 1 and model.masks[0].shape == (50 * 6, 5)
    mean_mask = model.masks[0].reshape(50, 6, 5).mean(0)
    expected = (w[1 - y] - w[y]) * mean_mask
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    # and it approaches the expectation 0.5 * (w_other - w_y)
    torch.testing.assert_close(got, 0.5 * (w[1 - y] - w[y]), rtol=0, atol=0.3 * float(w.abs().max()))


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_eot_seed_is_deterministic_and_leaves_global_rng_alone(attack):
    g = torch.Generator().manual_seed(10)
    w = torch.randn(2, 5, generator=g)
    x = torch.rand(6, 5, generator=g)
    y = torch.randint(0, 2, (6,), generator=g)
    model = _BernoulliInputs(w, signed=True)
    kw = dict(steps=3) if attack == "pgd" else {}
    state = torch.get_rng_state()
    a = ATTACK_FNS[attack](model, x, y, 0.1, eot_samples=3, seed=11, **kw)
    b = ATTACK_FNS[attack](model, x, y, 0.1, eot_samples=3, seed=11, **kw)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)
    c = ATTACK_FNS[attack](model, x, y, 0.1, eot_samples=3, seed=12, **kw)
    assert not torch.equal(a, c)


# ---------------------------------------------------------------------------------------------------------
# determinism and side effects
# ---------------------------------------------------------------------------------------------------------
def test_seeded_pgd_is_deterministic_and_generator_matches_seed():
    w, b, x, y = _problem(seed=12)
    model = torch.nn.Sequential(_linear(w, b), torch.nn.Tanh(), _linear(torch.eye(4, dtype=torch.float64)))
    state = torch.get_rng_state()
    first = pgd(model, x, y, 0.2, steps=3, seed=42)
    second = pgd(model, x, y, 0.2, steps=3, seed=42)
    assert torch.equal(torch.get_rng_state(), state)  # the random start has its own generator
    assert torch.equal(first, second)
    assert not torch.equal(first, pgd(model, x, y, 0.2, steps=3, seed=43))
    via_generator = pgd(model, x, y, 0.2, steps=3, generator=torch.Generator().manual_seed(42))
    assert torch.equal(first, via_generator)


def test_model_state_parameter_grads_and_inputs_untouched():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 3)
    head.eval()  # a submodule deliberately in eval mode must stay so
    body = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.Dropout(0.5), torch.nn.ReLU())
    model = Counting(torch.nn.Sequential(body, head))
    model.train()
    head.eval()
    params = list(model.parameters())
    params[0].grad = torch.full_like(params[0], 7.0)
    grad_before = params[0].grad.clone()
    running_mean = body[1].running_mean.clone()
    x = torch.rand(10, 5)
    y = torch.randint(0, 3, (10,))
    x_before, y_before = x.clone(), y.clone()

    a = pgd(model, x, y, 0.1, steps=3, seed=0)
    b = pgd(model, x, y, 0.1, steps=3, seed=0)

    assert torch.equal(a, b)  # dropout was off during the attack
    assert model.seen_training and not any(model.seen_training)
    assert model.training and body.training and body[1].training and body[2].training
    assert not head.training
    assert torch.equal(params[0].grad, grad_before)
    assert all(p.grad is None for p in params[1:])
    assert torch.equal(body[1].running_mean, running_mean)  # batch-norm statistics not updated
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert not a.requires_grad


def test_attack_works_inside_no_grad():
    w, b, x, y = _problem()
    with torch.no_grad():
        got = fgsm(_linear(w, b), x, y, 0.1)
    assert torch.equal(got, fgsm(_linear(w, b), x, y, 0.1))
    assert float((got - x).abs().max()) > 0.0


# ---------------------------------------------------------------------------------------------------------
# registries and validation
# ---------------------------------------------------------------------------------------------------------
def test_registries_reject_unknown_and_duplicate_names():
    # one loss registry for the project: the attack objectives and ratebased's training losses are the same
    assert LOSSES is ratebased.LOSSES
    assert sorted(ATTACKS) == ["apgd-ce", "apgd-dlr", "fgsm", "pgd", "square"]
    assert sorted(LOSSES) == ["ce", "margin", "mse"]
    assert get_attack("FGSM") is fgsm and get_loss("Margin") is attacks.margin_loss
    with pytest.raises(ValueError, match=r"unknown attack 'cw'; valid names: fgsm, pgd, apgd-ce, apgd-dlr, square$"):
        get_attack("cw")
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; valid names: ce, mse, margin$"):
        get_loss("hinge")
    with pytest.raises(ValueError, match=r"'fgsm' is already registered"):
        register_attack("fgsm", fgsm)
    with pytest.raises(ValueError, match=r"'ce' is already registered"):
        register_loss("ce", attacks.ce_loss)
    with pytest.raises(ValueError, match="lower-case"):
        register_attack("MyAttack", fgsm)
    with pytest.raises(TypeError):
        ATTACKS["x"] = fgsm  # read-only view


def test_one_loss_registry_computes_what_training_and_attacks_computed_before():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (7,), generator=g)
    onehot = F.one_hot(y, 5)
    # attacks: one value per sample (the old attack losses, verbatim)
    assert torch.equal(get_loss("ce")(logits, y, reduction="none"), F.cross_entropy(logits, y, reduction="none"))
    others = logits.masked_fill(onehot.bool(), float("-inf"))
    old_margin = others.max(dim=1).values - logits.gather(1, y[:, None]).squeeze(1)
    assert torch.equal(get_loss("margin")(logits, y, reduction="none"), old_margin)
    # training: the batch mean by default (the old training losses, verbatim)
    assert torch.equal(LOSSES.get("ce")(logits, y), F.cross_entropy(logits, y))
    assert torch.equal(LOSSES.get("mse")(logits, y), 0.5 * (logits - onehot.to(logits.dtype)).pow(2).sum(1).mean())
    for name in LOSSES:
        per_sample = LOSSES.get(name)(logits, y, reduction="none")
        assert per_sample.shape == (7,)
        torch.testing.assert_close(LOSSES.get(name)(logits, y), per_sample.mean(), rtol=1e-12, atol=0)
        torch.testing.assert_close(LOSSES.get(name)(logits, y, reduction="sum"), per_sample.sum(), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="unknown reduction 'avg'; valid names: mean, sum, none"):
        get_loss("margin")(logits, y, reduction="avg")


_W, _B, _X, _Y = _problem(n=4)
_MODEL = _linear(_W, _B)

BAD_CALLS = {
    "negative-eps": (lambda: fgsm(_MODEL, _X, _Y, -0.1), r"epsilon must be finite and >= 0, got -0.1"),
    "nan-eps": (lambda: pgd(_MODEL, _X, _Y, float("nan")), r"epsilon must be finite and >= 0"),
    "inf-eps": (lambda: fgsm(_MODEL, _X, _Y, float("inf")), r"epsilon must be finite and >= 0"),
    "eps-wider-than-range": (
        lambda: fgsm(_MODEL, _X, _Y, 8.0),
        r"epsilon=8.0 is larger than the input range width 1.0.*e.g. 8/255",
    ),
    "range-reversed": (lambda: fgsm(_MODEL, _X, _Y, 0.1, input_range=(1.0, 0.0)), r"lo < hi, got \(1.0, 0.0\)"),
    "range-nan": (lambda: pgd(_MODEL, _X, _Y, 0.1, input_range=(0.0, float("nan"))), r"finite with lo < hi"),
    "range-not-pair": (lambda: fgsm(_MODEL, _X, _Y, 0.1, input_range=(0.0,)), r"pair \(lo, hi\)"),
    "x-out-of-range": (
        lambda: fgsm(_MODEL, _X * 255, _Y, 0.1),
        r"x has values in \[0, 255\] but input_range is \(0, 1\); rescale x.*pass input_range",
    ),
    "x-nan": (lambda: fgsm(_MODEL, torch.where(_X > 0.5, torch.nan, _X), _Y, 0.1), r"NaN/inf"),
    "x-inf": (lambda: pgd(_MODEL, _X.clone().fill_(torch.inf), _Y, 0.1), r"NaN/inf"),
    "x-integer": (lambda: fgsm(_MODEL, (_X * 255).to(torch.uint8), _Y, 0.1), r"floating-point.*x.float\(\) / 255"),
    "steps-zero": (lambda: pgd(_MODEL, _X, _Y, 0.1, steps=0), r"steps must be an integer >= 1, got 0"),
    "step-size-negative": (lambda: pgd(_MODEL, _X, _Y, 0.1, step_size=-1.0), r"step_size must be a finite"),
    "y-wrong-length": (lambda: fgsm(_MODEL, _X, _Y[:3], 0.1), r"y must have shape \(N,\) = \(4,\).*got \(3,\)"),
    "y-one-hot": (lambda: fgsm(_MODEL, _X, F.one_hot(_Y, 4), 0.1), r"y\.argmax\(1\)"),
    "y-float": (lambda: fgsm(_MODEL, _X, _Y.double(), 0.1), r"integer class labels.*y.long\(\)"),
    "y-out-of-classes": (lambda: fgsm(_MODEL, _X, _Y + 10, 0.1), r"labels y must lie in \[0, 3\]"),
    "unknown-loss": (
        lambda: fgsm(_MODEL, _X, _Y, 0.1, loss="hinge"),
        r"unknown loss 'hinge'; valid names: ce, mse, margin",
    ),
    "eot-zero": (lambda: fgsm(_MODEL, _X, _Y, 0.1, eot_samples=0), r"eot_samples must be an integer >= 1"),
    "seed-and-generator": (
        lambda: pgd(_MODEL, _X, _Y, 0.1, seed=1, generator=torch.Generator()),
        r"either seed or generator",
    ),
    "unknown-attack": (
        lambda: robust_accuracy(_MODEL, _X, _Y, attack="deepfool"),
        r"unknown attack 'deepfool'; valid names: fgsm, pgd",
    ),
    "kwarg-not-accepted": (
        lambda: robust_accuracy(_MODEL, _X, _Y, attack="fgsm", steps=5),
        r"attack 'fgsm' does not accept \['steps'\]; it accepts \[.*'loss'",
    ),
    "duplicate-epsilons": (lambda: craft(_MODEL, _X, _Y, epsilons=(0.1, 0.1)), r"duplicates"),
    "batch-size-zero": (lambda: accuracy(_MODEL, _X, _Y, batch_size=0), r"batch_size must be an integer >= 1"),
    "non-differentiable-model": (
        lambda: fgsm(lambda x: _MODEL(x.detach()), _X, _Y, 0.1),
        r"does not depend differentiably.*grad_model=",
    ),
    "model-returns-tuple": (lambda: fgsm(lambda x: (_MODEL(x), None), _X, _Y, 0.1), r"net\(x\)\[0\]"),
}


@pytest.mark.parametrize("call, match", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_bad_input_raises_with_a_fix(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_inputs_within_tolerance_of_range_are_accepted_and_clipped():
    x = _X.clone()
    x[0, 0] = 1.0 + 5e-7
    out = fgsm(_MODEL, x, _Y, 0.05)
    assert float(out.max()) <= 1.0


def test_zero_gradient_warns_about_gradient_masking():
    def flat(x):
        return torch.zeros(x.shape[0], 3, dtype=x.dtype) + 0.0 * x.sum(dim=1, keepdim=True)

    with pytest.warns(RuntimeWarning, match=r"4 of 4 samples have an exactly zero input gradient.*grad_model"):
        out = fgsm(flat, _X, torch.tensor([0, 1, 2, 0]), 0.1)
    assert torch.equal(out, _X)


def test_module_docstring_examples_run():
    from bridges.attacks import base, evaluate, fgsm_pgd, gradient, losses, registry

    attempted = 0
    for module in (attacks, base, evaluate, fgsm_pgd, gradient, losses, registry):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted >= 10


def test_eot_draws_split_into_passes_when_the_batch_would_be_too_large(monkeypatch):
    import bridges.attacks.gradient as att  # the module whose global the gradient loop reads

    g = torch.Generator().manual_seed(9)
    w = torch.randn(2, 5, generator=g, dtype=torch.float64)
    x = torch.rand(6, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (6,), generator=g)
    monkeypatch.setattr(att, "EOT_MAX_ROWS", 20)  # 3 copies of 6 samples per pass: 7 passes for 20 draws
    model = _BernoulliInputs(w)
    got = input_gradient(model, x, y, loss="margin", eot_samples=20, seed=3)
    assert [m.shape[0] for m in model.masks] == [18] * 6 + [12]
    mean_mask = torch.cat([m.reshape(-1, 6, 5) for m in model.masks]).mean(0)
    torch.testing.assert_close(got, (w[1 - y] - w[y]) * mean_mask, rtol=1e-12, atol=1e-12)
