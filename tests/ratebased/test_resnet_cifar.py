"""CIFAR ResNets (He et al. 2016, option A) with every rate rule: shapes, conversion identities, local errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import ratebased as rb
from ratebased.local import CLASSIFIERS, local_losses, local_stages
from ratebased.resnet_cifar import CifarBasicBlock, ZeroPadShortcut, blocks_per_stage

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread is fastest

D64 = torch.float64
#: the feedback family as the registry has it: every rule whose prepared model trains by autograd
#: through (possibly swapped) layers
FAMILY = [r for r in rb.available_rules() if isinstance(rb.get_rule(r), (rb.Backprop, rb.FeedbackFamily))]


def _resnet(depth=20, channels=1, classes=5, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    net = rb.CifarResNet(depth, in_channels=channels, n_classes=classes).to(dtype)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, channels, 8, 8, generator=g).to(dtype)
    y = torch.randint(0, classes, (4,), generator=g)
    return net, x, y


def _all_grads(model, x, y):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    params = list(model.parameters())
    return torch.autograd.grad(loss, [*params, x])


# --- the architecture -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "depth, n, params", [(20, 3, 269_722), (32, 5, 464_154), (56, 9, 853_018)], ids=["r20", "r32", "r56"]
)
def test_depth_blocks_and_parameter_count_match_the_paper(depth, n, params):
    # He et al. 2016 table 6: ResNet-20 0.27M, ResNet-32 0.46M, ResNet-56 0.85M parameters (CIFAR-10)
    net = rb.build_model(f"resnet{depth}", (3, 32, 32), 10)
    assert isinstance(net, rb.CifarResNet) and blocks_per_stage(depth) == n and len(net.stages) == 3 * n
    assert sum(p.numel() for p in net.parameters()) == params
    weighted = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == depth  # 6n + 2 weighted layers, none of them in a shortcut
    # every parameter belongs to a conv, a linear layer or a batch norm: shortcuts hold none
    owners = {type(m) for m in net.modules() for _ in m.parameters(recurse=False)}
    assert owners == {nn.Conv2d, nn.Linear, nn.BatchNorm2d}


@pytest.mark.parametrize(
    "shape, widths", [((1, 28, 28), (28, 14, 7)), ((3, 32, 32), (32, 16, 8)), ((1, 8, 8), (8, 4, 2))]
)
def test_stage_resolutions(shape, widths):
    net = rb.build_model("resnet20", shape, 10)
    seen = []
    hooks = [net.stages[i].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:]))) for i in (0, 3, 6)]
    assert net(torch.rand(2, *shape)).shape == (2, 10)
    for h in hooks:
        h.remove()
    assert seen == [(16, widths[0], widths[0]), (32, widths[1], widths[1]), (64, widths[2], widths[2])]


@pytest.mark.parametrize("size", [7, 8], ids=["odd", "even"])
def test_option_a_shortcut_subsamples_and_appends_zero_channels(size):
    x = torch.randn(2, 16, size, size)
    out = ZeroPadShortcut(2, 16)(x)
    half = (size + 1) // 2
    expected = torch.zeros(2, 32, half, half)
    for c in range(16):  # written out pixel by pixel: channel c lands at 8 + c
        for i in range(half):
            for j in range(half):
                expected[:, 8 + c, i, j] = x[:, c, 2 * i, 2 * j]
    assert torch.equal(out, expected)
    block = CifarBasicBlock(16, 32, 2, rb.ACTIVATIONS.get("relu"))
    assert block(x).shape == out.shape  # the residual branch and the shortcut agree on the shape


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: rb.CifarResNet(21), "depth 6n \\+ 2"),
        (lambda: rb.CifarResNet(2), "depth 6n \\+ 2"),
        (lambda: rb.build_model("resnet20", (784,), 10), "resnet20 needs images"),
        (lambda: rb.build_model("resnet21", (1, 8, 8), 10), "unknown model 'resnet21'"),
    ],
    ids=["depth21", "depth2", "flat-input", "unregistered"],
)
def test_bad_arguments_raise_one_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the feedback family --------------------------------------------------------------------------


def test_the_family_is_what_the_registry_says():
    assert set(FAMILY) >= {"bp", "fa", "dfa", "usf", "frsf", "brsf"}


@pytest.mark.parametrize("rule", FAMILY)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_family_rule_keeps_the_forward_output_of_bp(rule, mode):
    net, x, _ = _resnet()
    getattr(net, mode)()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    converted = rb.get_rule(rule).prepare(net, seed=3)
    getattr(converted, mode)()
    reference = rb.with_feedback(net, "bp")
    getattr(reference, mode)()
    assert torch.equal(converted(x), reference(x))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # caller's model untouched
    swapped = [type(m).__name__ for _, m in rb.trainable_layers(converted)]
    assert len(swapped) == 20 and (rule == "bp" or all(n.startswith(("Feedback", "DirectFeedback")) for n in swapped))


def _set_feedback_to_weights(model):
    for _, layer in rb.trainable_layers(model):
        layer.feedback.copy_(layer.weight.detach())


@pytest.mark.parametrize("dtype", [torch.float32, D64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["identity-block", "downsampling-block", "resnet20"])
def test_fa_with_feedback_equal_to_weights_is_exactly_backprop(kind, dtype):
    torch.manual_seed(0)
    if kind == "resnet20":
        net, x, y = _resnet(dtype=dtype)

        def loss_of(m, inp):
            return F.cross_entropy(m(inp), y)

    else:
        cin, stride = (16, 1) if kind == "identity-block" else (16, 2)
        net = CifarBasicBlock(cin, 32 if stride == 2 else 16, stride, rb.ACTIVATIONS.get("relu")).to(dtype)
        x = torch.randn(3, cin, 8, 8, dtype=dtype)
        cotangent = torch.randn_like(net(x))

        def loss_of(m, inp):
            return (m(inp) * cotangent).sum()

    fa = rb.with_feedback(net, "fa", seed=1)
    _set_feedback_to_weights(fa)
    grads = []
    for m in (net, fa):
        inp = x.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(loss_of(m, inp), [*m.parameters(), inp]))
    assert len(grads[0]) == len(grads[1]) == len(list(net.parameters())) + 1
    for a, b in zip(*grads):
        assert torch.equal(a, b)
    # and the identity is not vacuous: the random feedback of a fresh conversion changes the input gradient
    fresh = rb.with_feedback(net, "fa", seed=1)
    inp = x.clone().requires_grad_(True)
    g_fa = torch.autograd.grad(loss_of(fresh, inp), inp)[0]
    assert not torch.allclose(g_fa, grads[0][-1], atol=1e-3)


@pytest.mark.parametrize("rule", [*FAMILY, "local"])
def test_every_applicable_rule_trains_resnet20(rule):
    net, x, y = _resnet()
    r = rb.get_rule(rule)
    model = r.prepare(net, seed=0)
    opt = rb.make_optimizer(model, rb.TrainConfig(lr=1e-2))
    w0 = model.stem.weight.detach().clone()
    loss = rb.train_step(model, r, x, y, opt, F.cross_entropy)
    assert torch.isfinite(torch.as_tensor(loss))
    assert float((model.stem.weight.detach() - w0).abs().max()) > 0  # the first layer learned: the error reached it
    rb.check_finite(model)


@pytest.mark.parametrize(
    "rule", [r for r in rb.available_rules() if r not in FAMILY and r != "local"]
)  # dtp, gait (and any future rule that cannot train a conv net)
def test_rules_that_cannot_train_a_resnet_refuse_naming_the_rule_and_the_need(rule):
    net, _, _ = _resnet()
    with pytest.raises(ValueError) as exc:
        rb.get_rule(rule).prepare(net, seed=0)
    msg = str(exc.value)
    assert "\n" not in msg and "needs" in msg and "CifarResNet" in msg
    assert {"dtp": "DTP", "gait": "GAIT-prop"}.get(rule, rule) in msg


# --- local errors ---------------------------------------------------------------------------------


def _local(conv_pool=4):
    net, x, y = _resnet(dtype=D64)
    rule = rb.LocalErrors(conv_pool=conv_pool)
    return rule, rule.prepare(net, seed=0), x, y


def _block_groups(net) -> list[list[str]]:
    """Parameter names of each local stage: stem (+ its batch norm), every block, the output layer."""
    names = [n for n, _ in net.named_parameters()]
    groups = [[n for n in names if n.startswith(("stem.", "bn."))]]
    groups += [[n for n in names if n.startswith(f"stages.{i}.")] for i in range(len(net.stages))]
    groups.append([n for n in names if n.startswith("fc.")])
    assert sum(map(len, groups)) == len(names)
    return groups


def test_local_stages_compose_to_the_resnet_and_classifiers_are_per_block():
    rule, net, x, _ = _local(conv_pool=2)
    h = x
    for stage in local_stages(net):
        h = stage(h)
    assert torch.equal(h, net(x))
    shapes = [tuple(c.weight.shape) for c in getattr(net, CLASSIFIERS)]
    assert shapes == [(5, 16 * 4)] * 4 + [(5, 32 * 4)] * 3 + [(5, 64 * 4)] * 3  # stem + 9 blocks


def test_local_losses_gradients_stay_inside_their_block():
    _, net, x, y = _local()
    params = dict(net.named_parameters())
    losses = local_losses(net, x, y, F.cross_entropy)
    groups = _block_groups(net)
    assert len(losses) == len(groups) == 11
    for k, loss in enumerate(losses):
        for j, names in enumerate(groups):
            grads = torch.autograd.grad(loss, [params[n] for n in names], retain_graph=True, allow_unused=True)
            if j == k:
                assert all(g is not None and float(g.abs().max()) > 0 for g in grads), (k, j)
            else:  # no gradient crosses a block boundary, in either direction
                assert all(g is None for g in grads), (k, j)


def test_local_rule_directions_are_each_blocks_own_local_gradient():
    # two formulations: the rule's one backward of the summed losses vs each block's loss on its own
    rule, net, x, y = _local()
    loss, d = rule.gradients(net, x, y, F.cross_entropy)
    params = dict(net.named_parameters())
    losses = local_losses(net, x, y, F.cross_entropy, rb.LOSSES.get(rule.local_loss))
    assert float(loss) == pytest.approx(float(losses[-1].detach()), rel=1e-12)
    for k, names in enumerate(_block_groups(net)):
        for n, g in zip(names, torch.autograd.grad(losses[k], [params[n] for n in names])):
            assert torch.allclose(d[n], g, rtol=1e-12, atol=1e-15), n


# --- the rate run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["usf", "local"])
def test_train_rate_runs_resnet20_and_reloads_it(rule, tmp_path):
    from bridges.runs.rate import RateRunConfig, load_rate_model, save_rate_run, train_rate

    cfg = RateRunConfig(
        rule=rule, model="resnet20", dataset="digits", n_train=64, n_test=32, epochs=1, batch_size=32, align_batch=16
    )
    res = train_rate(cfg, device="cpu")
    assert 0.0 <= res.metrics["test_accuracy"] <= 1.0 and len(res.metrics["epochs"]) == 1
    assert isinstance(res.model, rb.CifarResNet)
    assert set(res.metrics["epochs"][0]["alignment_deg"]) >= {"stem", "fc"}
    save_rate_run(tmp_path, res, cfg)
    loaded, cfg2, _ = load_rate_model(tmp_path)
    assert cfg2 == cfg
    x = torch.rand(5, 1, 8, 8)
    res.model.eval(), loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), res.model(x))


def test_the_comparisons_rate_family_takes_the_model_from_its_rate_overrides():
    from bridges.compare.config import CompareConfig
    from bridges.compare.families import RateFamily
    from bridges.runs.rate import RateRunConfig, build_rate_model

    cfg = CompareConfig(rules=("bp", "usf"), seeds=(0,), methods=("fgsm",), rate={"model": "resnet20"})
    run = RateRunConfig.from_dict(RateFamily.run_config(cfg, "usf", 0))
    assert run.model == "resnet20" and run.rule == "usf"
    assert isinstance(build_rate_model(run, (1, 8, 8), 10), rb.CifarResNet)


@pytest.mark.slow
def test_resnet20_on_digits_sign_symmetry_keeps_up_with_bp_and_fa_falls_behind():
    # Xiao et al. 2018 (arXiv 1811.03567) on ResNets, in miniature: ResNet-20 on the embedded 8x8 digits,
    # 3 epochs, Adam 2e-3 cosine, batch 32, seed 0. Measured: BP 97.6%, uSF 97.1%, FA 91.8%, DFA 90.0%.
    from bridges.runs.rate import RateRunConfig, train_rate

    acc = {}
    for rule, options in [("bp", {}), ("usf", {}), ("fa", {}), ("dfa", {}), ("local", {"local_loss": None})]:
        cfg = RateRunConfig(
            rule=rule,
            rule_options=options,
            model="resnet20",
            dataset="digits",
            epochs=3,
            batch_size=32,
            lr=2e-3,
            align_batch=0,
        )
        acc[rule] = train_rate(cfg, device="cpu").metrics["test_accuracy"]
    assert acc["bp"] > 0.95
    assert acc["usf"] > acc["bp"] - 0.02  # sign symmetry within two points of BP
    assert max(acc["fa"], acc["dfa"]) < acc["usf"] - 0.02  # random feedback clearly behind
    assert acc["local"] > 0.8, acc
