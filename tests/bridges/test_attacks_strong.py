"""Tests for APGD (Croce & Hein 2020, arXiv 2003.01690) and Square (Andriushchenko et al. 2020, arXiv 1912.00049).

Closed forms (the worst case of a linear binary classifier, hand-computed DLR values), APGD against PGD
with the same gradient budget on a trained MLP, Square against a model whose input gradient is exactly
zero, the guarantees every attack of ``bridges.attacks`` keeps, and one-line errors for bad input.
"""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

from bridges.attacks import (
    ATTACKS,
    accuracy,
    apgd_ce,
    apgd_dlr,
    dlr_loss,
    get_attack,
    input_gradient,
    pgd,
    square,
)
from bridges.attacks.apgd import apgd_checkpoints
from bridges.attacks.square import square_p_schedule

APGD = {"apgd-ce": apgd_ce, "apgd-dlr": apgd_dlr}
pytestmark = pytest.mark.usefixtures("one_thread")  # small matrices: one torch thread is fastest


# ---------------------------------------------------------------------------------------------------------
# helpers and fixtures
# ---------------------------------------------------------------------------------------------------------
class Quantised(torch.nn.Module):
    """``net(round(k x) / k)``: the rounding has a zero derivative everywhere, so the input gradient is 0."""

    def __init__(self, net: torch.nn.Module, k: int):
        super().__init__()
        self.net, self.k = net, k

    def forward(self, x):
        return self.net(torch.round(x * self.k) / self.k)


class PoissonInput(torch.nn.Module):
    """A stochastic model: Bernoulli(x) input spikes drawn from torch's global RNG, averaged over 8 draws."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net
        self.draws: list[torch.Tensor] = []

    def forward(self, x):
        u = torch.rand(8, *x.shape)
        self.draws.append(u[0, 0].clone())
        spikes = (u < x).to(x.dtype) + (x - x.detach())  # straight-through
        return self.net(spikes.flatten(0, 1)).reshape(8, x.shape[0], -1).mean(0)


@pytest.fixture(scope="module")
def digits():
    """A 64-32-10 MLP trained (full batch, Adam, 50 epochs) on the 8x8 digits (test accuracy 0.965); 200 test images."""
    from bridges.data import load_dataset

    threads = torch.get_num_threads()  # set up before the function-scoped one_thread fixture
    torch.set_num_threads(1)
    d = load_dataset("digits")
    x_tr = torch.as_tensor(d.x_train).flatten(1).float()
    y_tr = torch.as_tensor(d.y_train).long()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
        opt = torch.optim.Adam(net.parameters(), lr=3e-2)
        for _ in range(50):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x_tr), y_tr).backward()
            opt.step()
    net.zero_grad(set_to_none=True)
    x_te = torch.as_tensor(d.x_test).flatten(1).float()[:200]
    y_te = torch.as_tensor(d.y_test).long()[:200]
    torch.set_num_threads(threads)
    return net, x_te, y_te


def _n_correct(model, x, y) -> int:
    with torch.no_grad():
        return int((model(x).argmax(1) == y).sum())


def _linear_binary(seed: int, n: int = 40, d: int = 12):
    """Binary linear classifier, logits (0, w.x + b), float64; w has no zero entry."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g, dtype=torch.float64)
    w = w.sign() * (w.abs() + 0.1)
    lin = torch.nn.Linear(d, 2, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([torch.zeros(d, dtype=torch.float64), w]))
        lin.bias.copy_(torch.tensor([0.0, -float(w.sum()) / 2], dtype=torch.float64))
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    x[0, :3], x[1, 3:6] = 0.0, 1.0  # on the box edges: the clipping is exercised
    y = lin(x).argmax(1).detach()  # all clean-correct
    return lin, w, x, y


# ---------------------------------------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"problem{s}")
@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr"])
def test_apgd_reaches_the_worst_case_of_a_linear_binary_classifier(name, seed):
    lin, w, x, y = _linear_binary(seed)
    eps = 0.08
    s = (2 * y - 1).to(torch.float64)[:, None]  # +1 for class 1, -1 for class 0
    x_star = (x - eps * s * torch.sign(w)).clamp(0.0, 1.0)  # minimises the margin s (w.x + b) on ball and box

    def margin(z):
        with torch.no_grad():
            return (s[:, 0] * (z @ w + lin.bias[1])).detach()

    m_star = margin(x_star)
    robust = m_star > 0
    assert 5 <= int(robust.sum()) <= x.shape[0] - 5  # both kinds of sample are present

    x_adv = APGD[name](lin, x, y, eps, steps=10, seed=seed)
    assert float((x_adv - x).abs().max()) <= eps + 1e-12 and x_adv.min() >= 0 and x_adv.max() <= 1
    # robust samples: the returned (smallest-margin) point is the closed-form optimum
    assert torch.allclose(margin(x_adv)[robust], m_star[robust], atol=1e-5, rtol=0)
    assert torch.allclose(x_adv[robust], x_star[robust], atol=1e-12, rtol=0)
    # the others are fooled, and nothing beats the closed-form optimum
    assert bool((margin(x_adv)[~robust] < 0).all())
    assert bool((margin(x_adv) >= m_star - 1e-9).all())


def test_dlr_loss_matches_hand_computed_values():
    z = torch.tensor([[4.0, 3.0, 1.0, 0.0], [0.0, 2.0, 5.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    # untargeted: -(z_y - max_other) / (z_pi1 - z_pi3)
    assert dlr_loss(z, y).tolist() == pytest.approx([-(4 - 3) / (4 - 1), -(2 - 5) / (5 - 1)], abs=1e-12)
    # targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)
    t = torch.tensor([3, 3])
    assert dlr_loss(z, y, t).tolist() == pytest.approx([-(4 - 0) / (4 - 0.5), -(2 - 1) / (5 - 0.5)], abs=1e-12)
    # three classes: targeted falls back to z_pi1 - z_pi3; two classes: the logit margin
    z3 = torch.tensor([[1.0, 3.0, 2.0]], dtype=torch.float64)
    assert dlr_loss(z3, torch.tensor([0]), torch.tensor([2])).tolist() == pytest.approx([-(1 - 2) / (3 - 1)])
    z2 = torch.tensor([[1.0, 3.5]], dtype=torch.float64)
    assert dlr_loss(z2, torch.tensor([0]), torch.tensor([1])).tolist() == [2.5]
    assert dlr_loss(z2, torch.tensor([1])).tolist() == [-2.5]


def test_checkpoints_and_square_schedule_follow_the_papers():
    # p_j: 0, .22, .41, .57, .70, .80, .87, .93, .99 (Croce & Hein 2020, Sec. 3.2)
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(1000)[:3] == [220, 410, 570]
    # 10,000 queries: p_init halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000
    p = [square_p_schedule(0.8, i, 10000) for i in (10, 11, 51, 201, 501, 1001, 2001, 4001, 6001, 8001)]
    assert p == [0.8 / 2**k for k in range(10)]
    assert square_p_schedule(0.8, 100, 1000) == square_p_schedule(0.8, 1000, 10000)


def _reference_apgd_ce(model, x, y, eps, steps, start, rho=0.75):
    """Algorithm 1 of Croce & Hein (2020) transcribed literally for ONE sample: scalar step size, plain
    loops, checkpoints from the p_j recursion; returns every iterate in order (start first) and the number
    of step-size halvings."""
    lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)

    def proj(z):
        return torch.minimum(torch.maximum(z, lo), hi)

    def f_and_grad(z):
        z = z.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(z), y)
        return float(loss.detach()), torch.autograd.grad(loss, z)[0]

    p, checkpoints = [0.0, 0.22], set()
    while p[-1] <= 1.0:
        checkpoints.add(int(-(-round(p[-1] * steps, 9) // 1)))
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    eta, x_k, x_prev = 2 * eps, start, start
    f_k, g_k = f_and_grad(x_k)
    x_max, f_max, g_max = x_k, f_k, g_k
    iterates, increases, last_w, f_max_last, reduced_last, halvings = [x_k], 0, 0, f_k, False, 0
    for k in range(steps):
        z = proj(x_k + eta * torch.sign(g_k))
        alpha = 1.0 if k == 0 else 0.75
        x_new = proj(x_k + alpha * (z - x_k) + (1 - alpha) * (x_k - x_prev))
        f_new, g_new = f_and_grad(x_new)
        increases += f_new > f_k
        if f_new > f_max:
            x_max, f_max, g_max = x_new, f_new, g_new
        x_prev, x_k, f_k, g_k = x_k, x_new, f_new, g_new
        iterates.append(x_new)
        if k + 1 in checkpoints:
            reduce = increases < rho * (k + 1 - last_w) or (not reduced_last and f_max <= f_max_last)
            if reduce:
                eta, x_k, x_prev, f_k, g_k = eta / 2, x_max, x_max, f_max, g_max
                halvings += 1
            reduced_last, f_max_last, increases, last_w = reduce, f_max, 0, k + 1
    return iterates, halvings


class Recording(torch.nn.Module):
    """Wraps a module and records every input it is called on (detached copies)."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.inner(x)


@pytest.mark.parametrize("eps", [0.1, 0.3], ids=lambda e: f"eps{e}")
def test_apgd_matches_a_literal_transcription_of_algorithm_1(eps):
    # every point APGD-CE queries (after the clean check) is the transcription's iterate, bit for bit, up to
    # the first misclassified one; the returned point is the first misclassified, else the lowest margin
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    with torch.no_grad():  # a steep first layer: the loss is far from linear inside the ball
        net[0].weight.mul_(10.0)
        net[0].bias.mul_(10.0)
    x = torch.rand(16, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = net(x).argmax(1).detach()
    steps, n_fooled, n_halved = 20, 0, 0
    for i in range(x.shape[0]):
        xi, yi, seed = x[i : i + 1], y[i : i + 1], 100 + i
        noise = torch.rand(xi.shape, generator=torch.Generator().manual_seed(seed), dtype=xi.dtype)
        lo, hi = (xi - eps).clamp(min=0), (xi + eps).clamp(max=1)
        iterates, halvings = _reference_apgd_ce(net, xi, yi, eps, steps, (xi + eps * (2 * noise - 1)).clamp(lo, hi))
        with torch.no_grad():
            logits = torch.cat([net(z) for z in iterates])
        fooled = (logits.argmax(1) != yi).nonzero()[:, 0]
        n_iter = int(fooled[0]) + 1 if len(fooled) else len(iterates)
        margins = logits[:, yi[0]] - logits.masked_fill(torch.nn.functional.one_hot(yi, 3).bool(), -torch.inf).amax(1)
        expected = iterates[n_iter - 1] if len(fooled) else iterates[int(margins.argmin())]
        model = Recording(net)
        out = apgd_ce(model, xi, yi, eps, steps=steps, seed=seed)
        assert len(model.seen) == 1 + n_iter and torch.equal(model.seen[0], xi)
        assert all(torch.equal(a, b) for a, b in zip(model.seen[1:], iterates[:n_iter])), i
        assert torch.equal(out, expected), i
        n_fooled, n_halved = n_fooled + (len(fooled) > 0), n_halved + (halvings > 0)
    assert n_halved >= 3, n_halved
    if eps == 0.3:
        assert 1 <= n_fooled <= 8, n_fooled  # both outcomes are compared


# ---------------------------------------------------------------------------------------------------------
# APGD against PGD on a trained MLP
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.15], ids=lambda e: f"eps{e}")
def test_apgd_is_never_weaker_than_pgd_with_the_same_budget(digits, eps, seed):
    net, x, y = digits
    steps = 10
    clean = _n_correct(net, x, y)
    pgd_1 = _n_correct(net, pgd(net, x, y, eps, steps=steps, seed=seed), y)
    pgd_2 = _n_correct(net, pgd(net, x, y, eps, steps=2 * steps, seed=seed), y)
    ce_1 = apgd_ce(net, x, y, eps, steps=steps, seed=seed)
    ce_2 = apgd_ce(net, x, y, eps, steps=steps, restarts=2, seed=seed)
    dlr = apgd_dlr(net, x, y, eps, steps=steps, seed=seed)
    with torch.no_grad():
        ok_ce, ok_dlr = net(ce_1).argmax(1) == y, net(dlr).argmax(1) == y
    assert pgd_1 < clean  # the attack does something at these radii
    # same gradient budget (2 x 10 steps): exact
    assert _n_correct(net, ce_2, y) <= pgd_2
    # APGD-CE and APGD-DLR per sample (the worst case the comparison reports) vs PGD with 10 steps: exact
    assert int((ok_ce & ok_dlr).sum()) <= pgd_1
    # one APGD-CE run can end on a vertex that is a local maximum of the CE where PGD's small steps went
    # elsewhere: measured over 88 settings (2 nets, 4 radii, 4-6 seeds, 10 and 20 steps) at most 2 of 200
    # samples, in 6 settings; allow those 2
    assert int(ok_ce.sum()) <= pgd_1 + 2


def test_apgd_through_a_gradient_source_beats_masking(digits):
    net, x, y = digits
    q = Quantised(net, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero-gradient warning of the masked model
        masked = _n_correct(q, apgd_ce(q, x, y, 0.2, steps=10, seed=0), y)
    routed = _n_correct(q, apgd_ce(q, x, y, 0.2, steps=10, seed=0, grad_model=net), y)  # BPDA: identity for round
    assert masked / 200 >= 0.85 and routed / 200 <= 0.05, (masked, routed)


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr"])
def test_apgd_guarantees(digits, name):
    net, x, y = digits
    x, y = x[:30], y[:30]
    attack = APGD[name]
    x_before, state = x.clone(), torch.get_rng_state()
    net.train()
    a = attack(net, x, y, 0.1, steps=5, seed=3)
    assert net.training and all(m.training for m in net.modules())
    assert all(p.grad is None for p in net.parameters())
    assert torch.equal(x, x_before) and torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, attack(net, x, y, 0.1, steps=5, seed=3))
    assert not torch.equal(a, attack(net, x, y, 0.1, steps=5, seed=4))
    assert float((a - x).abs().max()) <= 0.1 + 1e-6 and a.min() >= 0 and a.max() <= 1
    zero = attack(net, x, y, 0.0)
    assert torch.equal(zero, x) and zero is not x
    net.eval()


def test_apgd_with_eot_on_a_stochastic_model_is_seeded(digits):
    net, x, y = digits
    model = PoissonInput(net)
    a = apgd_ce(model, x[:20], y[:20], 0.1, steps=4, eot_samples=3, seed=5)
    assert torch.equal(a, apgd_ce(model, x[:20], y[:20], 0.1, steps=4, eot_samples=3, seed=5))
    assert float((a - x[:20]).abs().max()) <= 0.1 + 1e-6


def test_apgd_keeps_already_misclassified_samples_and_caps_targets(digits):
    net, x, y = digits
    wrong = (y + 1) % 10  # every label wrong: nothing to attack
    assert torch.equal(apgd_dlr(net, x[:10], wrong[:10], 0.1, steps=3, seed=0), x[:10])
    lin, _, xb, yb = _linear_binary(0, n=8)
    a = apgd_dlr(lin, xb, yb, 0.05, steps=3, n_target_classes=9, seed=0)  # 2 classes: one target
    assert a.shape == xb.shape


# ---------------------------------------------------------------------------------------------------------
# Square
# ---------------------------------------------------------------------------------------------------------
def test_square_stays_in_ball_and_range_and_changes_pixels_by_plus_minus_epsilon(digits):
    net, x, y = digits
    eps = 0.1
    a = square(net, x, y, eps, queries=100, seed=0)
    assert float((a - x).abs().max()) <= eps + 1e-6 and a.min() >= 0 and a.max() <= 1
    attacked = net(x).argmax(1) == y
    up, down = (x + eps).clamp(0, 1), (x - eps).clamp(0, 1)
    is_vertex = (a == up) | (a == down)
    assert bool(is_vertex[attacked].all())  # every pixel of an attacked image sits at clip(x +- eps)
    assert torch.equal(a[~attacked], x[~attacked])  # misclassified images are not touched
    assert _n_correct(net, a, y) < int(attacked.sum())


@pytest.mark.parametrize("d", [12, 16], ids=["row-1x12", "image-4x4"])
def test_square_reaches_the_worst_case_of_a_linear_binary_classifier(d):
    # a linear margin is minimised at a vertex of ball and box; single-pixel windows (late in the schedule)
    # are accepted exactly when they move a pixel towards it, so the search ends on the closed-form optimum
    lin, w, x, y = _linear_binary(3, d=d)
    eps = 0.08
    s = (2 * y - 1).to(torch.float64)[:, None]
    x_star = (x - eps * s * torch.sign(w)).clamp(0.0, 1.0)
    margin = lambda z: (s[:, 0] * (z @ w + lin.bias[1])).detach()  # noqa: E731
    robust = margin(x_star) > 0
    assert 5 <= int(robust.sum()) <= x.shape[0] - 5
    a = square(lin, x, y, eps, queries=500, seed=0)
    assert torch.allclose(margin(a)[robust], margin(x_star)[robust], atol=1e-5, rtol=0)
    assert bool((margin(a)[~robust] < 0).all())


@pytest.mark.parametrize("shape", [(3, 6, 6), (6, 6), (5,)], ids=["NCHW", "NHW", "flat-5"])
def test_square_handles_image_shapes(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, *shape, generator=g)
    lin = torch.nn.Linear(x[0].numel(), 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(4, x[0].numel(), generator=g))
    model = torch.nn.Sequential(torch.nn.Flatten(), lin)
    y = model(x).argmax(1).detach()
    eps = 0.3
    a = square(model, x, y, eps, queries=100, seed=0)
    assert a.shape == x.shape
    assert bool(((a == (x + eps).clamp(0, 1)) | (a == (x - eps).clamp(0, 1))).all())
    assert _n_correct(model, a, y) <= 5  # measured: 0, 0 and 5 of 30
    wrong = (y + 1) % 4  # every sample already misclassified: returned as is, one query
    assert torch.equal(square(model, x, wrong, eps, queries=100, seed=0), x)


def test_square_is_deterministic_under_a_seed(digits):
    net, x, y = digits
    x, y = x[:50], y[:50]
    state = torch.get_rng_state()
    a = square(net, x, y, 0.1, queries=60, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(123)  # the global RNG plays no part when seeded
    assert torch.equal(a, square(net, x, y, 0.1, queries=60, seed=7))
    assert not torch.equal(a, square(net, x, y, 0.1, queries=60, seed=8))


def test_square_fools_a_gradient_masked_model_where_pgd_does_not(digits):
    net, x, y = digits
    q = Quantised(net, 8)
    assert float(input_gradient(q, x, y).abs().max()) == 0.0  # the gradient is masked everywhere
    clean = accuracy(q, x, y)
    with pytest.warns(RuntimeWarning, match="exactly zero input gradient"):
        pgd_acc = accuracy(q, pgd(q, x, y, 0.2, steps=20, seed=0), y)
    square_acc = accuracy(q, square(q, x, y, 0.2, queries=200, seed=0), y)
    # measured: clean 0.965, PGD 0.935 (only its random start moves anything), Square 0.0
    assert clean >= 0.94 and pgd_acc >= clean - 0.05 and square_acc <= 0.05, (clean, pgd_acc, square_acc)


def test_square_with_fixed_noise_uses_common_random_numbers(digits):
    net, x, y = digits
    x, y = x[:40], y[:40]
    model = PoissonInput(net)
    torch.manual_seed(1)
    a = square(model, x, y, 0.15, queries=40, seed=2, fixed_noise=True)
    draws = list(model.draws)
    model.draws.clear()
    torch.manual_seed(2)
    assert torch.equal(a, square(model, x, y, 0.15, queries=40, seed=2, fixed_noise=True))
    # the same draws for every query (row 0 of a batch: the same position in the fork's stream), except
    # the third call: the probe scoring the stripes start under other draws (is the model stochastic?)
    assert len(draws) > 10 and all(torch.equal(d, draws[0]) for d in draws[:2] + draws[3:])
    assert not torch.equal(draws[2], draws[0])
    assert _n_correct(model, a, y) < _n_correct(model, x, y)
    # without fixed noise every query draws afresh
    model.draws.clear()
    square(model, x, y, 0.15, queries=10, seed=2, fixed_noise=False)
    assert not torch.equal(model.draws[1], model.draws[2])


def test_square_takes_queries_not_steps():
    params = inspect.signature(square).parameters
    assert "steps" not in params and "queries" in params
    with pytest.raises(TypeError):
        square(torch.nn.Linear(4, 2), torch.rand(2, 4), torch.tensor([0, 1]), 0.1, steps=10)


def test_strong_attacks_are_registered():
    assert get_attack("apgd-ce") is apgd_ce and get_attack("APGD-DLR") is apgd_dlr and get_attack("square") is square
    assert {"apgd-ce", "apgd-dlr", "square"} <= set(ATTACKS)


# ---------------------------------------------------------------------------------------------------------
# bad input: one line naming the problem
# ---------------------------------------------------------------------------------------------------------
_LIN, _X, _Y = torch.nn.Linear(4, 3), torch.rand(3, 4), torch.tensor([0, 1, 2])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: apgd_ce(_LIN, _X, _Y, 0.1, steps=0), "steps must be an integer >= 1"),
        (lambda: apgd_ce(_LIN, _X, _Y, 0.1, restarts=0), "restarts must be an integer >= 1"),
        (lambda: apgd_ce(_LIN, _X, _Y, 0.1, rho=0.0), r"rho must be a number in \(0, 1\]"),
        (lambda: apgd_ce(_LIN, _X, _Y, 0.1, eot_samples=0), "eot_samples must be an integer >= 1"),
        (lambda: apgd_ce(_LIN, _X, _Y, 2.0), "epsilon=2.0 is larger than the input range"),
        (lambda: apgd_ce(_LIN, _X * 3, _Y, 0.1), "rescale x into input_range"),
        (lambda: apgd_dlr(_LIN, _X, _Y, 0.1, n_target_classes=0), "n_target_classes must be an integer >= 1"),
        (lambda: apgd_dlr(_LIN, _X, _Y, 0.1, seed=-1), "seed must be None or an integer >= 0"),
        (lambda: square(_LIN, _X, _Y, 0.1, queries=0), "queries must be an integer >= 1"),
        (lambda: square(_LIN, _X, _Y, 0.1, p_init=0.0), r"p_init must be a number in \(0, 1\]"),
        (lambda: square(_LIN, _X, _Y, 0.1, p_init=1.5), r"p_init must be a number in \(0, 1\]"),
        (lambda: square(_LIN, _X, _Y, 0.1, fixed_noise="yes"), "fixed_noise must be True or False"),
        (lambda: square(_LIN, _X, _Y, -0.1), "epsilon must be finite and >= 0"),
        (lambda: square(_LIN, _X.reshape(3, 1, 1, 2, 2), _Y, 0.1), r"square needs inputs of shape"),
        (lambda: square(_LIN, _X, _Y.float(), 0.1), "y must hold integer class labels"),
        (lambda: square(_LIN, _X, torch.tensor([0, 1, 5]), 0.1), r"labels y must lie in \[0, 2\]"),
    ],
    ids=[
        "apgd-steps", "apgd-restarts", "apgd-rho", "apgd-eot", "apgd-epsilon", "apgd-range", "dlr-targets",
        "dlr-seed", "square-queries", "square-p0", "square-p-big", "square-fixed-noise", "square-negative-eps",
        "square-5d", "square-float-labels", "square-label-range",
    ],
)  # fmt: skip
def test_bad_input_raises_one_line(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
