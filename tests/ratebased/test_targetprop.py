"""Tests for ratebased.targetprop: difference target propagation (DTP) and GAIT-prop."""

from __future__ import annotations

import json

import pytest
import torch

import ratebased as rb
from bridges.data import load_dataset
from ratebased.targetprop import (
    INVERSES,
    difference_targets,
    dtp_updates,
    gait_updates,
    orthogonality_grad,
    orthogonality_penalty,
    scaled_inverse_difference,
)

D64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # small matrices: one thread is fastest


def bp_grads(model, x, y, loss_fn) -> dict:
    """True gradients of the forward parameters (plain-autograd view sharing the weights)."""
    plain = rb.true_gradient_view(model)
    named = [(n, p) for n, p in plain.named_parameters() if n.startswith("layers.")]
    grads = torch.autograd.grad(loss_fn(plain(x), y), [p for _, p in named])
    return {n: g for (n, _), g in zip(named, grads)}


def rel_err(a, b) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def data(n=16, d=7, c=4, seed=0, dtype=D64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, c, (n,), generator=g)


def plain_copy(net, dtype):
    """A plain MLP with ``net``'s forward weights (no rule-specific submodules) in ``dtype``."""
    out = rb.MLP(net.in_features, net.hidden, net.out_features, activation=net.activation.name, skip=net.skip)
    out.load_state_dict({k: v for k, v in net.state_dict().items() if k.startswith("layers.")})
    return out.to(dtype).requires_grad_(False)


# ============================================================================ GAIT-prop
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("n_layers", [4, 6], ids=["depth4", "depth6"])
@pytest.mark.parametrize("lam", [0.0, 0.3], ids=["no-reg", "reg"])
def test_gait_equals_bp_with_orthogonal_weights(loss, n_layers, lam):
    # Orthonormal inverted layers (where the penalty's gradient vanishes too): GAIT-prop is BP.
    loss_fn = rb.LOSSES.get(loss)
    rule = rb.GaitProp(orthogonality=lam)
    net = rule.prepare(rb.MLP(7, (9,) * (n_layers - 1), 4, activation="leaky_relu"), seed=1).double()
    x, y = data()
    _, d = rule.gradients(net, x, y, loss_fn)
    true = bp_grads(net, x, y, loss_fn)
    assert set(d) == set(true)
    for name, g in true.items():
        assert rel_err(d[name], g) < 1e-5, name


def test_gait_differs_from_bp_without_orthogonality():
    rule = rb.GaitProp(orthogonal_init=False, orthogonality=0.0)
    net = rule.prepare(rb.MLP(7, (9, 9, 9), 4, activation="leaky_relu"), seed=0).double()
    x, y = data()
    loss_fn = rb.LOSSES.get("mse")
    _, d = rule.gradients(net, x, y, loss_fn)
    true = bp_grads(net, x, y, loss_fn)
    assert rel_err(d["layers.3.weight"], true["layers.3.weight"]) < 1e-12  # the readout is always BP's
    for name in ("layers.0.weight", "layers.1.weight", "layers.2.weight"):
        assert rel_err(d[name], true[name]) > 0.05, name


def naive_gait(net, x, y, loss_fn, gamma):
    """GAIT-prop with absolute targets, as the paper writes it (reference; exact only in float64).

    Returns weight gradients and the number of units whose perturbed target crossed the kink.
    """
    act = net.activation
    pre, post = net.trace(x)
    out = post[-1].clone().requires_grad_(True)
    (e,) = torch.autograd.grad(loss_fn(out, y), out)
    n, n_layers = x.shape[0], len(net.layers)
    grads = {f"layers.{n_layers - 1}.weight": e.t().mm(post[-2])}
    # readout (identity activation, right inverse): t_{L-1} = h_{L-1} - pinv(W) γ (h_L - t_L)
    t = post[-2] - (gamma * e * n).mm(torch.linalg.pinv(net.layers[-1].weight).t())
    crossings = 0
    for i in range(n_layers - 2, -1, -1):
        fp = act.derivative(pre[i])
        err = (post[i + 1] - t) / gamma ** (n_layers - 1 - i) * fp
        grads[f"layers.{i}.weight"] = err.t().mm(post[i]) / n
        if i == 0:
            break
        u = post[i + 1] - gamma * fp**2 * (post[i + 1] - t)
        crossings += int((torch.sign(u) != torch.sign(post[i + 1])).sum())
        layer = net.layers[i]
        t = torch.linalg.solve(layer.weight, (act.inverse(u) - layer.bias).t()).t()
    return grads, crossings


def test_gait_scaled_differences_match_absolute_targets_across_kinks():
    # A large γ pushes targets across leaky-ReLU's kink; the scaled-difference form must still be
    # the paper's absolute-target form (float64, where the latter is accurate at this depth).
    gamma, loss_fn = 0.3, rb.LOSSES.get("mse")
    net = rb.GaitProp().prepare(rb.MLP(5, (6, 6, 6), 3, activation="leaky_relu"), seed=2).double()
    x, y = data(64, 5, 3, seed=3)
    _, d, _ = gait_updates(net, x, y, loss_fn, gamma=gamma)
    ref, crossings = naive_gait(plain_copy(net, D64), x, y, loss_fn, gamma)
    assert crossings > 0
    for name, g in ref.items():
        assert rel_err(d[name], g) < 1e-10, name


def test_gait_float32_is_sound_where_absolute_targets_break():
    # γ = 1e-3, depth 6, orthonormal weights (so the exact answer is BP's gradient): absolute targets
    # lose the γ^5 differences (REFERENCE.md; in float32 entirely, in float64 mostly), while the
    # scaled differences stay at float32 round-off.
    loss_fn = rb.LOSSES.get("mse")
    net = rb.GaitProp().prepare(rb.MLP(5, (8,) * 5, 3, activation="leaky_relu"), seed=4)
    x, y = data(32, 5, 3, seed=5, dtype=torch.float32)
    _, d32, _ = gait_updates(net, x, y, loss_fn, gamma=1e-3)
    exact = bp_grads(plain_copy(net, D64).requires_grad_(True), x.double(), y, loss_fn)
    naive32, _ = naive_gait(plain_copy(net, torch.float32), x, y, loss_fn, 1e-3)
    naive64, _ = naive_gait(plain_copy(net, D64), x.double(), y, loss_fn, 1e-3)
    assert d32["layers.0.weight"].dtype == torch.float32
    for name, g in exact.items():
        if name.endswith("weight"):
            assert rel_err(d32[name], g) < 1e-5, name
    assert rel_err(naive32["layers.0.weight"], exact["layers.0.weight"]) > 1.0
    assert rel_err(naive64["layers.0.weight"], exact["layers.0.weight"]) > 1e-2


def test_gait_float64_precision_on_float32_model():
    loss_fn = rb.LOSSES.get("ce")
    net = rb.GaitProp().prepare(rb.MLP(5, (8,) * 3, 3, activation="leaky_relu"), seed=0)
    x, y = data(16, 5, 3, dtype=torch.float32)
    _, d = rb.GaitProp(precision="float64").gradients(net, x, y, loss_fn)
    _, ref = rb.GaitProp().gradients(net.double(), x.double(), y, loss_fn)
    for name, g in ref.items():
        assert d[name].dtype == torch.float32
        assert rel_err(d[name], g) < 1e-6, name


@pytest.mark.parametrize(
    "act_name,a,d,scale,expected",
    [
        ("leaky_relu", [2.0, -1.0], [1.0, -3.0], 1e-3, [1.0, -0.3]),  # same piece: f'(a) d
        ("leaky_relu", [0.05], [1.0], 0.1, [(0.05 + 0.5) / 0.1]),  # crosses 0 downwards
        ("leaky_relu", [-0.05], [-10.0], 0.1, [(-0.05 - 0.005) / 0.1]),  # crosses 0 upwards
        ("identity", [0.3, -0.2], [2.0, 1.0], 1e-30, [2.0, 1.0]),  # tiny scale: no underflow
    ],
    ids=["linear-piece", "cross-down", "cross-up", "tiny-scale"],
)
def test_scaled_inverse_difference_values(act_name, a, d, scale, expected):
    act = rb.ACTIVATIONS.get(act_name)
    a, d = torch.tensor(a, dtype=D64), torch.tensor(d, dtype=D64)
    out = scaled_inverse_difference(act(a), a, d, scale, act)
    assert torch.allclose(out, torch.tensor(expected, dtype=D64), rtol=1e-9, atol=0)


@pytest.mark.parametrize("shape", [(6, 6), (3, 7)], ids=["square", "wide"])
def test_orthogonality_gradient_matches_autograd(shape):
    w = torch.randn(*shape, dtype=D64, requires_grad=True)
    (auto,) = torch.autograd.grad(orthogonality_penalty(w), w)
    assert torch.allclose(orthogonality_grad(w.detach()), auto, rtol=1e-12, atol=1e-12)
    rows, cols = shape
    q = torch.linalg.qr(torch.randn(cols, rows, dtype=D64))[0].t()  # orthonormal rows
    assert float(orthogonality_penalty(q)) < 1e-24
    assert float(orthogonality_grad(q).abs().max()) < 1e-12


def test_gait_prepare_orthogonal_init_and_caller_untouched():
    src = rb.MLP(12, (8, 8, 8), 3, activation="leaky_relu")
    before = {k: v.clone() for k, v in src.state_dict().items()}
    net = rb.GaitProp().prepare(src, seed=0)
    for k, v in src.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(net.layers[0].weight, src.layers[0].weight)  # the first layer is never inverted
    defects = rb.orthogonality_defect(net)
    assert sorted(defects) == ["layers.1", "layers.2", "layers.3"]
    assert max(defects.values()) < 1e-6
    again = rb.GaitProp().prepare(src, seed=0)
    other = rb.GaitProp().prepare(src, seed=1)
    assert torch.equal(again.layers[1].weight, net.layers[1].weight)
    assert not torch.equal(other.layers[1].weight, net.layers[1].weight)


@pytest.mark.parametrize(
    "model,match",
    [
        (lambda: rb.MLP(6, (8, 8), 3, activation="relu"), "not invertible"),
        (lambda: rb.MLP(6, (8, 4), 3, activation="leaky_relu"), "square"),
        (lambda: rb.MLP(6, (8, 8), 3, activation="leaky_relu", skip=True), "skip"),
        (lambda: rb.MLP(6, (4, 4), 5, activation="leaky_relu"), "out_features <= hidden width"),
        (lambda: rb.LeNet(1, 10, 8), "needs a ratebased.MLP"),
    ],
    ids=["relu", "non-square", "skip", "readout-too-wide", "lenet"],
)
def test_gait_rejects_bad_models(model, match):
    with pytest.raises(ValueError, match=match):
        rb.GaitProp().prepare(model())
    with pytest.raises(ValueError, match=match):  # also when gradients() gets an unprepared model
        rb.GaitProp().gradients(
            model(),
            torch.zeros(2, 1, 8, 8) if isinstance(model(), rb.LeNet) else torch.zeros(2, 6),
            torch.zeros(2, dtype=torch.long),
            rb.LOSSES.get("ce"),
        )


@pytest.mark.parametrize(
    "options,match",
    [
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": 1.5}, "gamma"),
        ({"orthogonality": -1.0}, "orthogonality"),
        ({"precision": "half"}, "precision"),
        ({"bogus": 1}, "does not accept"),
    ],
    ids=["gamma0", "gamma-big", "negative-lambda", "bad-precision", "unknown-option"],
)
def test_gait_rejects_bad_hyperparameters(options, match):
    with pytest.raises(ValueError, match=match):
        rb.get_rule("gait", **options)


# ============================================================================ DTP
def squared_error(out, target):
    return 0.5 * (out - target).pow(2).sum(1).mean()


@pytest.mark.parametrize("skip", [False, True], ids=["plain", "skip"])
def test_dtp_zero_output_error_gives_zero_forward_updates(skip):
    rule = rb.DifferenceTargetProp()
    net = rule.prepare(rb.MLP(6, (8, 8, 8), 3, activation="tanh", skip=skip), seed=0).double()
    x, _ = data(10, 6, 3)
    _, d = rule.gradients(net, x, net(x).detach(), squared_error)  # output == target: ĥ_L = h_L
    forward = {k: v for k, v in d.items() if k.startswith("layers.")}
    assert len(forward) == 8
    for name, v in forward.items():  # zero up to BLAS round-off (g(ĥ) - g(h) with ĥ == h)
        assert float(v.abs().max()) < 1e-14, name
    assert float(d[f"{INVERSES}.1.weight"].abs().max()) > 0  # the inverses keep learning


def exact_inverse(layer, act):
    return lambda h: torch.linalg.solve(layer.weight, (act.inverse(h) - layer.bias).t()).t()


def test_dtp_exact_inverse_gives_inverse_of_target():
    # With g = F^{-1}, the difference correction cancels: ĥ_{l-1} = g_l(ĥ_l) exactly.
    net = rb.MLP(5, (6, 6, 6, 6), 3, activation="leaky_relu").double().requires_grad_(False)
    act = net.activation
    x, _ = data(9, 5, 3)
    _, post = net.trace(x)
    hidden = post[1:-1]
    inverses = [exact_inverse(net.layers[i], act) for i in range(1, 4)]
    assert torch.allclose(inverses[0](hidden[1]), hidden[0], atol=1e-12)
    top = hidden[-1] + 0.05 * torch.randn_like(hidden[-1])
    targets = difference_targets(hidden, top, inverses)
    assert torch.equal(targets[-1], top)
    for k in range(3):
        assert torch.allclose(targets[k], inverses[k](targets[k + 1]), rtol=0, atol=1e-12), k
        assert float((targets[k] - hidden[k]).abs().max()) > 1e-3  # the targets did move


def reference_dtp(net, x, y, loss_fn, top_lr, noise, phi):
    """DTP by autograd on the stop-gradient losses (an independent formulation)."""
    act, layers, n = net.activation, net.layers, x.shape[0]
    names = [n_ for n_, _ in net.named_parameters()]
    params = dict(net.named_parameters())
    pre, post = net.trace(x)
    loss = loss_fn(post[-1], y)
    (g_top,) = torch.autograd.grad(loss, post[-2], retain_graph=True)
    post = [h.detach() for h in post]
    inv = {int(k): m for k, m in getattr(net, INVERSES).items()}

    def g(i, h):
        out = phi(inv[i](h))
        return out + h if net.skips_into(i) else out

    t = post[-2] - top_lr * n * g_top
    targets = {len(layers) - 1: t}
    for i in range(len(layers) - 2, 0, -1):
        targets[i] = (post[i] + g(i, targets[i + 1]) - g(i, post[i + 1])).detach()
    total = loss_fn(layers[-1](post[-2]), y)
    for i in range(len(layers) - 1):
        h = act(layers[i](post[i])) + (post[i] if net.skips_into(i) else 0)
        total = total + (h - targets[i + 1].detach()).pow(2).sum() / (2 * n * top_lr)
    for i in inv:
        c = post[i] + noise[i - 1]
        w, b = layers[i].weight.detach(), layers[i].bias.detach()
        fwd = act(torch.nn.functional.linear(c, w, b)) + (c if net.skips_into(i) else 0)
        total = total + (g(i, fwd) - c).pow(2).sum() / (2 * n)
    grads = torch.autograd.grad(total, [params[k] for k in names])
    return dict(zip(names, grads))


@pytest.mark.parametrize("skip", [False, True], ids=["plain", "skip"])
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_dtp_closed_form_matches_autograd_of_layer_losses(skip, loss):
    loss_fn = rb.LOSSES.get(loss)
    net = rb.DifferenceTargetProp().prepare(rb.MLP(6, (7, 7, 7, 7), 3, activation="tanh", skip=skip), seed=0).double()
    x, y = data(12, 6, 3)
    gen = torch.Generator().manual_seed(9)
    noise = [0.3 * torch.randn(12, 7, generator=gen, dtype=D64) for _ in range(3)]
    _, d, _ = dtp_updates(net, x, y, loss_fn, top_lr=0.2, noise=noise)
    ref = reference_dtp(net, x, y, loss_fn, 0.2, noise, rb.ACTIVATIONS.get("tanh"))
    assert set(d) == set(ref)
    for name, g in ref.items():
        assert torch.allclose(d[name], g, rtol=1e-10, atol=1e-14), name


def test_dtp_skip_path_carries_target_displacement():
    # With the inverses' residual branch at zero, a skip layer's inverse is the identity: the target
    # displacement travels down the skip path unchanged (as BP's gradient does); without skip
    # connections the same zero inverses stop it.
    x, y = data(8, 6, 3)
    for skip, expect_same in ((True, True), (False, False)):
        net = rb.DifferenceTargetProp().prepare(rb.MLP(6, (7, 7, 7), 3, activation="tanh", skip=skip)).double()
        with torch.no_grad():
            for m in getattr(net, INVERSES).values():
                m.weight.zero_()
                m.bias.zero_()
        _, _, targets = dtp_updates(net, x, y, rb.LOSSES.get("ce"), top_lr=0.5, noise_std=0.0)
        with torch.no_grad():
            _, post = net.trace(x)
        moves = [targets[k] - post[k + 1] for k in range(3)]
        assert float(moves[2].abs().max()) > 1e-4
        for k in (0, 1):
            assert torch.allclose(moves[k], moves[2], atol=1e-15) is expect_same, (skip, k)


@pytest.mark.parametrize("skip", [False, True], ids=["plain", "skip"])
def test_dtp_alignment_top_layers_exact(skip):
    rule = rb.DifferenceTargetProp()
    net = rule.prepare(rb.MLP(6, (8, 8, 8), 3, activation="tanh", skip=skip), seed=0).double()
    x, y = data(32, 6, 3)
    angles = rb.gradient_alignment(net, rule, x, y, rb.LOSSES.get("ce"))
    assert sorted(angles) == ["layers.0", "layers.1", "layers.2", "layers.3"]  # no inverse layers
    assert angles["layers.3"] < 1e-5 and angles["layers.2"] < 1e-5  # readout and top hidden: BP
    assert angles["layers.0"] > 1.0


def test_dtp_prepare_adds_seeded_inverses_and_keeps_caller():
    src = rb.MLP(6, (8, 5, 4), 3, activation="tanh")
    keys = set(src.state_dict())
    net = rb.DifferenceTargetProp().prepare(src, seed=3)
    assert set(src.state_dict()) == keys and not hasattr(src, INVERSES)
    inv = getattr(net, INVERSES)
    assert sorted(inv.keys()) == ["1", "2"]
    assert tuple(inv["1"].weight.shape) == (8, 5) and tuple(inv["2"].weight.shape) == (5, 4)
    same = rb.DifferenceTargetProp().prepare(src, seed=3)
    other = rb.DifferenceTargetProp().prepare(src, seed=4)
    assert torch.equal(getattr(same, INVERSES)["1"].weight, inv["1"].weight)
    assert not torch.equal(getattr(other, INVERSES)["1"].weight, inv["1"].weight)
    fresh = rb.DifferenceTargetProp().prepare(rb.MLP(6, (8, 5, 4), 3, activation="tanh"), seed=0)
    fresh.load_state_dict(net.state_dict())  # the saved state dict reloads into a prepared model
    assert torch.equal(getattr(fresh, INVERSES)["2"].bias, inv["2"].bias)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: rb.DifferenceTargetProp().prepare(rb.LeNet(1, 10, 8)), "needs a ratebased.MLP"),
        (
            lambda: rb.DifferenceTargetProp().gradients(
                rb.MLP(4, (5, 5), 2), torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), rb.LOSSES.get("ce")
            ),
            "prepare",
        ),
        (lambda: rb.get_rule("dtp", top_lr=0.0), "top_lr"),
        (lambda: rb.get_rule("dtp", noise=-0.1), "noise"),
        (lambda: rb.get_rule("dtp", inverse_activation="swish"), "unknown activation"),
    ],
    ids=["lenet", "unprepared", "top-lr", "noise", "inverse-activation"],
)
def test_dtp_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ============================================================================ both rules
@pytest.mark.parametrize("name,options", [("dtp", {"top_lr": 0.5}), ("gait", {"gamma": 0.01})], ids=["dtp", "gait"])
def test_registry_and_config(name, options):
    rule = rb.get_rule(name, **options)
    cfg = json.loads(json.dumps(rule.config()))
    assert cfg["rule"] == name
    assert rb.get_rule(cfg.pop("rule"), **cfg) == rule


@pytest.mark.parametrize(
    "rule_name,skip,lr,epochs,batch",
    [
        ("dtp", False, 1e-2, 4, 64),
        ("dtp", True, 1e-2, 4, 64),
        ("gait", False, 3e-3, 6, 32),
    ],
    ids=["dtp", "dtp-skip", "gait"],
)
def test_rules_learn_digits(rule_name, skip, lr, epochs, batch):
    # A smoke test of learning: 8x8 digits, a few epochs of the shared training loop.
    torch.manual_seed(0)
    ds = load_dataset("digits", seed=0)
    x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
    act = "leaky_relu" if rule_name == "gait" else "tanh"
    rule = rb.get_rule(rule_name)
    net = rule.prepare(rb.MLP(64, (32, 32, 32), 10, activation=act, skip=skip), seed=0)
    cfg = rb.TrainConfig(epochs=epochs, batch_size=batch, lr=lr, schedule="constant")
    opt = rb.make_optimizer(net, cfg)
    losses = [
        rb.train_epoch(net, rule, x, y, opt, rb.LOSSES.get("ce"), batch_size=batch, seed=0, epoch=e)
        for e in range(cfg.epochs)
    ]
    acc = rb.evaluate(net, torch.as_tensor(ds.x_test), torch.as_tensor(ds.y_test))
    assert losses[-1] < 0.5 * losses[0]
    assert acc > 0.85
