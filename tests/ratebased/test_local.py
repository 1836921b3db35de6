"""Tests for ratebased.local: local errors from fixed random classifiers (Mostafa et al. 2018)."""

from __future__ import annotations

import json

import pytest
import torch

import ratebased as rb
from bridges.data import load_dataset
from ratebased.local import CLASSIFIERS, local_losses, local_stages

D64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # small matrices: one thread is fastest

MODELS = {
    "mlp": (lambda: rb.MLP(12, (9, 9, 9), 4), (5, 12)),
    "mlp-skip": (lambda: rb.MLP(12, (9, 9, 9), 4, skip=True), (5, 12)),
    "lenet28": (lambda: rb.LeNet(1, 4, 28), (3, 1, 28, 28)),
    "lenet8": (lambda: rb.LeNet(2, 4, 8, activation="tanh"), (3, 2, 8, 8)),
}


def build(name, seed=0):
    torch.manual_seed(seed)
    make, shape = MODELS[name]
    rule = rb.LocalErrors()
    net = rule.prepare(make(), seed=seed).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g, dtype=D64)
    y = torch.randint(0, 4, (shape[0],), generator=g)
    return rule, net, x, y


def stage_params(net) -> list[list[str]]:
    """Parameter names of each stage, in stage order."""
    if isinstance(net, rb.MLP):
        return [[f"layers.{i}.weight", f"layers.{i}.bias"] for i in range(len(net.layers))]
    return [[f"{m}.weight", f"{m}.bias"] for m in ("conv1", "conv2", "fc1", "fc2", "fc3")]


@pytest.mark.parametrize("name", list(MODELS))
def test_stages_compose_to_the_model(name):
    _, net, x, _ = build(name)
    h = x
    for stage in local_stages(net):
        h = stage(h)
    assert torch.equal(h, net(x))


@pytest.mark.parametrize("name", list(MODELS))
def test_local_loss_reaches_no_layer_below_its_own(name):
    _, net, x, y = build(name)
    params = dict(net.named_parameters())
    losses = local_losses(net, x, y, rb.LOSSES.get("ce"))
    groups = stage_params(net)
    assert len(losses) == len(groups)
    for k, loss in enumerate(losses):
        for j, names in enumerate(groups):
            grads = torch.autograd.grad(loss, [params[n] for n in names], retain_graph=True, allow_unused=True)
            if j == k:
                assert all(g is not None and float(g.abs().max()) > 0 for g in grads), (k, j)
            else:  # below (detached input) and above (not on the path): no gradient at all
                assert all(g is None for g in grads), (k, j)


@pytest.mark.parametrize("name", list(MODELS))
def test_rule_directions_are_the_per_stage_local_gradients(name):
    # Two formulations: one backward of the summed losses (the rule) vs each loss on its own stage.
    rule, net, x, y = build(name)
    loss_fn = rb.LOSSES.get("ce")
    loss, d = rule.gradients(net, x, y, loss_fn)
    params = dict(net.named_parameters())
    losses = local_losses(net, x, y, loss_fn, rb.LOSSES.get(rule.local_loss))
    assert float(loss) == pytest.approx(float(losses[-1].detach()), rel=1e-12)
    assert sorted(d) == sorted(params)
    for k, names in enumerate(stage_params(net)):
        grads = torch.autograd.grad(losses[k], [params[n] for n in names])
        for n, g in zip(names, grads):
            assert torch.allclose(d[n], g, rtol=1e-12, atol=1e-15), n


@pytest.mark.parametrize("name", ["mlp", "lenet28"])
def test_random_classifiers_never_change(name):
    rule, net, x, y = build(name)
    net = net.float()
    x = x.float()
    heads = [c.weight.clone() for c in getattr(net, CLASSIFIERS)]
    assert not any(n.startswith(CLASSIFIERS) for n, _ in net.named_parameters())
    assert sum(k.startswith(CLASSIFIERS) for k in net.state_dict()) == len(heads)
    first = stage_params(net)[0][0]
    w0 = dict(net.named_parameters())[first].clone()
    opt = rb.make_optimizer(net, rb.TrainConfig(lr=1e-2, weight_decay=1e-2))
    for _ in range(5):
        rb.train_step(net, rule, x, y, opt, rb.LOSSES.get("ce"))
    for before, c in zip(heads, getattr(net, CLASSIFIERS)):
        assert torch.equal(before, c.weight)
    assert not torch.equal(w0, dict(net.named_parameters())[first])


@pytest.mark.parametrize("name", ["mlp", "mlp-skip", "lenet28"])
def test_alignment_output_layer_exact_hidden_not(name):
    rule, net, x, y = build(name)
    angles = rb.gradient_alignment(net, rule, x, y, rb.LOSSES.get("ce"))
    out_name, first_name = stage_params(net)[-1][0][:-7], stage_params(net)[0][0][:-7]
    assert sorted(angles) == sorted(n[:-7] for n, *_ in stage_params(net))  # no classifier entries
    assert angles[out_name] < 1e-5
    assert angles[first_name] > 1.0


def test_classifier_shapes_and_seeding():
    src = rb.LeNet(1, 10, 28)
    keys = set(src.state_dict())
    net = rb.LocalErrors(conv_pool=2).prepare(src, seed=0)
    assert set(src.state_dict()) == keys and not hasattr(src, CLASSIFIERS)
    shapes = [tuple(c.weight.shape) for c in getattr(net, CLASSIFIERS)]
    assert shapes == [(10, 6 * 4), (10, 16 * 4), (10, 120), (10, 84)]
    w = getattr(net, CLASSIFIERS)[2].weight
    assert float(w.abs().max()) <= 1 / 120**0.5
    same = rb.LocalErrors(conv_pool=2).prepare(src, seed=0)
    other = rb.LocalErrors(conv_pool=2).prepare(src, seed=1)
    assert torch.equal(getattr(same, CLASSIFIERS)[2].weight, w)
    assert not torch.equal(getattr(other, CLASSIFIERS)[2].weight, w)
    fresh = rb.LocalErrors(conv_pool=2).prepare(rb.LeNet(1, 10, 28), seed=5)
    fresh.load_state_dict(net.state_dict())  # the classifiers are saved and restored with the model
    assert torch.equal(getattr(fresh, CLASSIFIERS)[2].weight, w)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: rb.LocalErrors().prepare(rb.ResNet(1, 10, widths=(4,))), "supports the models MLP, LeNet"),
        (
            lambda: rb.LocalErrors().gradients(
                rb.MLP(4, (5,), 2), torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), rb.LOSSES.get("ce")
            ),
            "prepare",
        ),
        (lambda: rb.get_rule("local", classifier_scale=0.0), "classifier_scale"),
        (lambda: rb.get_rule("local", conv_pool=0), "conv_pool"),
        (lambda: rb.get_rule("local", conv_pool=2.5), "conv_pool"),
        (lambda: rb.get_rule("local", local_loss="hinge"), "unknown loss"),
    ],
    ids=["resnet", "unprepared", "scale", "pool0", "pool-fraction", "local-loss"],
)
def test_local_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_registry_and_config():
    rule = rb.get_rule("local", classifier_scale=2.0)
    cfg = json.loads(json.dumps(rule.config()))
    assert cfg == {"rule": "local", "classifier_scale": 2.0, "conv_pool": 4, "local_loss": "mse"}
    assert rb.get_rule(cfg.pop("rule"), **cfg) == rule


def test_local_errors_learn_digits_mlp():
    torch.manual_seed(0)
    ds = load_dataset("digits", seed=0)
    x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
    rule = rb.LocalErrors()
    net = rule.prepare(rb.MLP(64, (64, 64), 10), seed=0)
    cfg = rb.TrainConfig(epochs=6, batch_size=32, lr=3e-3, schedule="constant")
    opt = rb.make_optimizer(net, cfg)
    losses = [
        rb.train_epoch(net, rule, x, y, opt, rb.LOSSES.get("ce"), batch_size=32, seed=0, epoch=e)
        for e in range(cfg.epochs)
    ]
    acc = rb.evaluate(net, torch.as_tensor(ds.x_test), torch.as_tensor(ds.y_test))
    assert losses[-1] < 0.5 * losses[0]
    assert acc > 0.85


def test_every_lenet_stage_learns_its_own_loss():
    # Fit one batch of 8x8 digits: every stage's local loss (and the output loss) must fall.
    torch.manual_seed(0)
    ds = load_dataset("digits", seed=0)
    x, y = torch.as_tensor(ds.x_train[:64]), torch.as_tensor(ds.y_train[:64])
    rule = rb.LocalErrors()
    net = rule.prepare(rb.LeNet(1, 10, 8), seed=0)
    opt = rb.make_optimizer(net, rb.TrainConfig(lr=1e-2))
    loss_fn, local = rb.LOSSES.get("ce"), rb.LOSSES.get(rule.local_loss)
    with torch.no_grad():
        before = [float(v) for v in local_losses(net, x, y, loss_fn, local)]
    for _ in range(60):
        rb.train_step(net, rule, x, y, opt, loss_fn)
    with torch.no_grad():
        after = [float(v) for v in local_losses(net, x, y, loss_fn, local)]
    assert len(after) == 5
    for k, (b, a) in enumerate(zip(before, after)):
        assert a < 0.7 * b, (k, b, a)
