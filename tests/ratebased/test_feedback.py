"""Feedback-alignment family: identities against backpropagation, invariants, gradcheck, the layer swap."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import ratebased as rb
from ratebased.feedback import FeedbackLinear
from ratebased.functional import (
    DirectFeedbackConv2dFn,
    DirectFeedbackLinearFn,
    ErrorHub,
    FeedbackConv2dFn,
    FeedbackLinearFn,
    GivenFeedback,
    RecordErrorFn,
    WeightTransport,
)

FEEDBACK_RULES = ["fa", "dfa", "usf", "frsf", "brsf"]
SIGN_RULES = ["usf", "frsf", "brsf"]


def _model(kind: str, dtype=torch.float32) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    if kind == "mlp":
        m, x = rb.MLP(12, (16, 16), 5), torch.randn(8, 12)
    elif kind == "mlp-skip":
        m, x = rb.MLP(12, (16, 16, 16), 5, skip=True), torch.randn(8, 12)
    elif kind == "lenet":
        m, x = rb.LeNet(1, 5, 8), torch.rand(8, 1, 8, 8)
    else:
        m, x = rb.ResNet(1, 5, widths=(4, 8), blocks=1), torch.rand(8, 1, 8, 8)
    return m.to(dtype), x.to(dtype), torch.randint(0, 5, (8,))


def _grads(model, x, y):
    loss = F.cross_entropy(model(x), y)
    params = [p for p in model.parameters()]
    return torch.autograd.grad(loss, params, allow_unused=True)


def _set_feedback_to_weights(model):
    for _, layer in rb.trainable_layers(model):
        layer.feedback.copy_(layer.weight.detach())


# --- identities -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mlp", "mlp-skip", "lenet", "resnet"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_fa_with_transported_weights_is_exactly_backprop(kind, dtype):
    net, x, y = _model(kind, dtype)
    fa = rb.with_feedback(net, "fa", seed=1)
    _set_feedback_to_weights(fa)
    x.requires_grad_(True)
    g_bp = _grads(net, x, y) + torch.autograd.grad(F.cross_entropy(net(x), y), x)
    g_fa = _grads(fa, x, y) + torch.autograd.grad(F.cross_entropy(fa(x), y), x)
    assert len(g_bp) == len(g_fa)
    for a, b in zip(g_bp, g_fa):
        assert torch.equal(a, b)


def test_fa_with_random_feedback_differs_from_backprop():
    net, x, y = _model("mlp")
    fa = rb.with_feedback(net, "fa", seed=1)
    g_bp, g_fa = _grads(net, x, y), _grads(fa, x, y)
    assert not torch.allclose(g_bp[0], g_fa[0], atol=1e-3)  # first hidden layer: feedback path
    assert torch.equal(g_bp[-2], g_fa[-2])  # output layer: its own error


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_dfa_one_hidden_layer_with_output_weights_is_backprop(dtype):
    torch.manual_seed(0)
    net = rb.MLP(6, (9,), 4).to(dtype)
    x, y = torch.randn(7, 6, dtype=dtype), torch.randint(0, 4, (7,))
    dfa = rb.with_feedback(net, "dfa", seed=3)
    out_layer = dfa.layers[1]
    assert out_layer.feedback.shape == (4, 9)
    out_layer.feedback.copy_(out_layer.weight.detach())
    for a, b in zip(_grads(net, x, y), _grads(dfa, x, y)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dfa_hidden_layers_receive_projected_output_error():
    torch.manual_seed(0)
    net = rb.MLP(6, (9, 9), 4)
    dfa = rb.with_feedback(net, "dfa", seed=3)
    x, y = torch.randn(5, 6), torch.randint(0, 4, (5,))
    pre, post = net.trace(x)
    e = torch.softmax(post[-1], 1) - F.one_hot(y, 4).float()
    e = e / 5  # mean reduction
    # layer 1 (second hidden) gets delta = (e @ B_2) * f'(a_1), B_2 the output layer's feedback
    delta1 = (e @ dfa.layers[2].feedback) * (pre[1] > 0).float()
    delta0 = (e @ dfa.layers[1].feedback) * (pre[0] > 0).float()
    g = _grads(dfa, x, y)
    torch.testing.assert_close(g[2], delta1.t() @ post[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g[0], delta0.t() @ post[0], rtol=1e-5, atol=1e-6)


def test_dfa_needs_no_targets_and_works_in_eval_mode_and_other_batch_sizes():
    net, x, y = _model("lenet")
    dfa = rb.with_feedback(net, "dfa", seed=0)
    rule = rb.get_rule("dfa")
    opt = torch.optim.SGD(dfa.parameters(), lr=0.1)
    rb.train_step(dfa, rule, x, y, opt, F.cross_entropy)  # batch 8, train mode
    dfa.eval()
    for batch in (1, 3, 13):
        xb, yb = torch.rand(batch, 1, 8, 8), torch.randint(0, 5, (batch,))
        loss, g = rule.gradients(dfa, xb, yb, F.cross_entropy)
        assert torch.isfinite(loss)
        assert g["conv1.weight"] is not None and torch.isfinite(g["conv1.weight"]).all()
        assert g["conv1.weight"].abs().sum() > 0


def test_dfa_rejects_nonlinear_output_and_3d_inputs():
    conv_only = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 3, 3))
    with pytest.raises(ValueError, match="Linear output layer"):
        rb.with_feedback(conv_only, "dfa")
    seq = rb.with_feedback(nn.Sequential(nn.Linear(4, 3)), "dfa")
    with pytest.raises(ValueError, match="2-D input"):
        seq(torch.randn(2, 5, 4, requires_grad=True))


# --- sign symmetry ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", SIGN_RULES)
@pytest.mark.parametrize("kind", ["mlp", "lenet"])
@pytest.mark.parametrize("manhattan", [False, True], ids=["plain", "manhattan"])
def test_sign_of_feedback_equals_sign_of_weights_after_steps(rule, kind, manhattan):
    net, x, y = _model(kind)
    r = rb.get_rule(rule, manhattan=manhattan)
    model = r.prepare(net, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(5):
        rb.train_step(model, r, x, y, opt, F.cross_entropy)
        for name, layer in rb.trainable_layers(model):
            b = layer.feedback_matrix()
            assert torch.equal(torch.sign(b), torch.sign(layer.weight.detach())), name


def test_usf_magnitude_is_one_over_sqrt_fan_in():
    net, _, _ = _model("lenet")
    m = rb.with_feedback(net, "usf")
    b = m.conv2.feedback_matrix()
    assert torch.allclose(b.abs()[b != 0], torch.full_like(b[b != 0], 1 / (6 * 25) ** 0.5))


def test_brsf_redraws_magnitudes_every_step_frsf_does_not():
    net, x, y = _model("mlp")
    brsf, frsf = rb.with_feedback(net, "brsf"), rb.with_feedback(net, "frsf")
    b1, b2 = brsf.layers[1].feedback_matrix(), brsf.layers[1].feedback_matrix()
    assert not torch.equal(b1, b2) and torch.equal(torch.sign(b1), torch.sign(b2))
    assert torch.equal(frsf.layers[1].feedback_matrix(), frsf.layers[1].feedback_matrix())
    # two backward passes with identical weights and data give different hidden-layer updates
    g1, g2 = _grads(brsf, x, y), _grads(brsf, x, y)
    assert not torch.equal(g1[0], g2[0])
    assert torch.equal(g1[-2], g2[-2])  # output layer is unaffected by feedback


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_brsf_magnitudes_are_uniform_and_one_off_draws_follow_torch_rng(dtype):
    from ratebased.feedback import MAGNITUDE_BITS, signed_uniform, uniform_magnitudes

    like = torch.empty(400, 500, dtype=dtype)
    torch.manual_seed(3)
    a = uniform_magnitudes(like, 0.5)
    state = torch.get_rng_state()
    b = uniform_magnitudes(like, 0.5)
    torch.set_rng_state(state)
    b_again = uniform_magnitudes(like, 0.5)
    assert a.dtype == dtype and a.shape == like.shape
    assert torch.equal(b, b_again) and not torch.equal(a, b)  # a function of torch's RNG state
    # midpoints of 2**16 bins of (0, 0.5): never 0, never the bound, exactly on the grid
    k = a.double() / 0.5 * 2**MAGNITUDE_BITS - 0.5
    assert float(a.min()) > 0 and float(a.max()) < 0.5
    assert torch.equal(k, k.round())
    # U(0, 0.5): mean 1/4, std 0.5/sqrt(12); 200k samples -> standard errors ~3e-4
    assert abs(float(a.double().mean()) - 0.25) < 2e-3
    assert abs(float(a.double().std()) - 0.5 / 12**0.5) < 2e-3
    # all 16 bits are used: every bin of 256 equal bins is hit about equally often
    counts = torch.bincount((a.double() / 0.5 * 256).long().flatten(), minlength=256)
    assert counts.numel() == 256 and float(counts.min()) > 0.85 * 200_000 / 256
    # brSF's fused B is sign(W) times the same draw
    w = torch.randn(400, 500, dtype=dtype)
    torch.manual_seed(3)
    B = signed_uniform(w, 0.5)
    torch.testing.assert_close(B, torch.sign(w) * a, rtol=0, atol=1e-7 if dtype == torch.float32 else 1e-15)


def _reference_stream(state: torch.Tensor, n: int, draws: int, bound: float) -> torch.Tensor:
    """Independent formulation of a magnitude stream (n divisible by 4, so blocks leave no spare bits):
    draw j is values j*n .. (j+1)*n - 1 of one long SFC64 run from the state's first four words."""
    import numpy as np

    bg = np.random.SFC64(0)
    bg.state = {
        "bit_generator": "SFC64",
        "has_uint32": 0,
        "uinteger": 0,
        "state": {"state": state[:4].numpy().view(np.uint64).copy()},
    }
    k = bg.random_raw(draws * n // 4).view(np.int16).astype(np.float64) + 2**15 + 0.5
    return torch.from_numpy(k * bound / 2**16).view(draws, n)


@pytest.mark.parametrize("block_draws", [1, 3, 1000], ids=["block1", "block3", "block1000"])
def test_brsf_stream_equals_one_long_sfc64_run_and_resumes_mid_block(monkeypatch, block_draws):
    from ratebased import feedback as fb

    n = 12 * 20
    monkeypatch.setattr(fb, "STREAM_BLOCK_VALUES", block_draws * n)
    state = fb.new_stream_state(torch.Generator().manual_seed(4))
    ref = _reference_stream(state, n, 7, 0.5)
    like = torch.empty(12, 20, dtype=torch.float64)
    got = [fb.uniform_magnitudes(like, 0.5, state) for _ in range(4)]
    saved = state.clone()  # what a state_dict holds after four draws
    got += [fb.uniform_magnitudes(like, 0.5, state) for _ in range(3)]
    for j, m in enumerate(got):
        torch.testing.assert_close(m.flatten(), ref[j], rtol=0, atol=1e-15, msg=f"draw {j}")
    assert int(state[4]) == (7 - 1) % block_draws + 1  # draws used from the current block
    # a copy of the saved state continues with draws 4, 5, 6 (the cache of `state` is not involved)
    again = saved.clone()
    for j in range(4, 7):
        torch.testing.assert_close(fb.uniform_magnitudes(like, 0.5, again), got[j], rtol=0, atol=0, msg=f"draw {j}")
    # writing the saved words back into the live buffer (as load_state_dict does) rewinds its stream
    state.copy_(saved)
    torch.testing.assert_close(fb.uniform_magnitudes(like, 0.5, state), got[4], rtol=0, atol=0)


def test_brsf_streams_follow_the_conversion_seed_and_the_state_dict():
    net, x, y = _model("mlp")
    a, b, c = (
        rb.with_feedback(net, "brsf", seed=0),
        rb.with_feedback(net, "brsf", seed=0),
        rb.with_feedback(net, "brsf", seed=1),
    )
    seq = lambda m: [m.layers[1].feedback_matrix() for _ in range(3)]  # noqa: E731
    sa, sb, sc = seq(a), seq(b), seq(c)
    assert all(torch.equal(p, q) for p, q in zip(sa, sb))
    assert not any(torch.equal(p, q) for p, q in zip(sa, sc))
    # layers draw from different streams
    assert not torch.equal(a.layers[0].feedback, a.layers[1].feedback)
    # a model restored from a state_dict continues the stream: same next gradients as the original
    saved = {k: v.clone() for k, v in a.state_dict().items()}
    assert saved["layers.1.feedback"].dtype == torch.int64
    g_next = _grads(a, x, y)
    c.load_state_dict(saved)
    for g, h in zip(g_next, _grads(c, x, y)):
        assert (g is None and h is None) or torch.equal(g, h)
    # the state is an integer buffer: dtype conversion of the model leaves it alone
    assert a.double().layers[1].feedback.dtype == torch.int64


def test_brsf_stream_state_errors():
    from ratebased import feedback as fb

    with pytest.raises(ValueError, match=r"int64 CPU tensor of shape \(6,\).*new_stream_state"):
        fb.uniform_magnitudes(torch.empty(3, 4), 0.5, torch.zeros(4, dtype=torch.int64))
    state = fb.new_stream_state(torch.Generator().manual_seed(0))
    fb.uniform_magnitudes(torch.empty(3, 4), 0.5, state)
    with pytest.raises(ValueError, match="draws 12 values at a time, asked for 10"):
        fb.uniform_magnitudes(torch.empty(2, 5), 0.5, state.clone())


@pytest.mark.parametrize("rule", FEEDBACK_RULES)
def test_manhattan_updates_are_signs(rule):
    net, x, y = _model("mlp")
    r = rb.get_rule(rule, manhattan=True)
    _, g = r.gradients(r.prepare(net), x, y, F.cross_entropy)
    for name, t in g.items():
        assert set(t.unique().tolist()) <= {-1.0, 0.0, 1.0}, name


# --- gradcheck on every custom Function ----------------------------------------------------------


def _d(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def test_gradcheck_feedback_linear_with_weight_transport():
    x, w, b = _d(5, 4).requires_grad_(), _d(3, 4).requires_grad_(), _d(3).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, w, b: FeedbackLinearFn.apply(x, w, b, None, WeightTransport, False), (x, w, b)
    )
    x3 = _d(2, 5, 4).requires_grad_()  # leading batch dims
    assert torch.autograd.gradcheck(
        lambda x, w: FeedbackLinearFn.apply(x, w, None, None, WeightTransport, False), (x3, w)
    )


def test_gradcheck_feedback_linear_weight_path_with_random_feedback():
    x, w, b, B = _d(5, 4), _d(3, 4).requires_grad_(), _d(3).requires_grad_(), _d(3, 4)
    assert torch.autograd.gradcheck(lambda w, b: FeedbackLinearFn.apply(x, w, b, B, GivenFeedback, False), (w, b))


def test_gradcheck_feedback_conv2d():
    x, w, b = _d(2, 3, 7, 6).requires_grad_(), _d(4, 3, 3, 3).requires_grad_(), _d(4).requires_grad_()

    def f(x, w, b):
        return FeedbackConv2dFn.apply(x, w, b, None, WeightTransport, [2, 1], [1, 0], [1, 1], 1, False)

    assert torch.autograd.gradcheck(f, (x, w, b))
    wg = _d(4, 1, 3, 3).requires_grad_()  # grouped
    xg = _d(2, 4, 6, 6).requires_grad_()

    def g(x, w):
        return FeedbackConv2dFn.apply(x, w, None, None, WeightTransport, [1, 1], [1, 1], [2, 2], 4, False)

    assert torch.autograd.gradcheck(g, (xg, wg))


def test_gradcheck_direct_feedback_linear_and_record_error():
    x, w1, w2 = _d(5, 4).requires_grad_(), _d(6, 4).requires_grad_(), _d(3, 6).requires_grad_()

    def net(x, w1, w2):
        hub = ErrorHub()
        h = torch.tanh(DirectFeedbackLinearFn.apply(x, w1, None, w1.detach()[:3] * 0, hub, False))
        # output layer: feedback = its own weights -> the input gradient is the true one
        y = DirectFeedbackLinearFn.apply(h, w2, None, w2.detach(), hub, False)
        return RecordErrorFn.apply(y, hub)

    # x's gradient goes through the first layer's (zero) feedback, so check only the weights there
    assert torch.autograd.gradcheck(lambda w1, w2: net(x.detach(), w1, w2), (w1, w2))
    assert torch.autograd.gradcheck(lambda y: RecordErrorFn.apply(y, ErrorHub()), (_d(3, 2).requires_grad_(),))


def test_gradcheck_direct_feedback_conv2d_weights():
    x, w, b = _d(2, 3, 5, 5), _d(4, 3, 3, 3).requires_grad_(), _d(4).requires_grad_()
    hub = ErrorHub()

    def f(w, b):
        y = DirectFeedbackConv2dFn.apply(x, w, b, _d(2, 3), hub, [1, 1], [1, 1], [1, 1], 1, False)
        return y

    assert torch.autograd.gradcheck(f, (w, b))


def test_direct_feedback_conv_tiles_projected_error_over_space():
    hub = ErrorHub()
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    B = torch.randn(7, 3)
    y = DirectFeedbackConv2dFn.apply(x, w, None, B, hub, [1, 1], [1, 1], [1, 1], 1, False)
    hub.error = torch.randn(2, 7)
    (gx,) = torch.autograd.grad(y.sum(), x)
    expected = (hub.error @ B)[:, :, None, None].expand(2, 3, 5, 5)
    assert torch.equal(gx, expected)


# --- every rule on every layer type -------------------------------------------------------------


@pytest.mark.parametrize("rule", ["bp"] + FEEDBACK_RULES)
@pytest.mark.parametrize("kind", ["mlp", "mlp-skip", "lenet", "resnet"])
def test_every_rule_trains_every_model(rule, kind):
    net, x, y = _model(kind)
    r = rb.get_rule(rule)
    model = r.prepare(net, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = [float(rb.train_step(model, r, x, y, opt, F.cross_entropy)) for _ in range(20)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    for n, p in model.named_parameters():
        assert not torch.equal(before[n], p), f"{n} was not updated"


@pytest.mark.parametrize("rule", ["bp"] + FEEDBACK_RULES)
@pytest.mark.parametrize("kind", ["mlp", "mlp-skip", "lenet", "resnet"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_conversion_keeps_forward_identical_and_leaves_caller_model_alone(rule, kind, mode):
    net, x, _ = _model(kind)
    net.train(mode == "train")
    types = [type(m) for m in net.modules()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    converted = rb.with_feedback(net, rule, seed=0)
    assert [type(m) for m in net.modules()] == types
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k])
    original = dict(rb.trainable_layers(net))
    for name, layer in rb.trainable_layers(converted):
        assert layer.weight is not original[name].weight  # a copy, not the caller's parameters
    with torch.no_grad():
        ref = net(x)
    out = converted(x)  # with grad: through the custom Functions
    assert torch.equal(out, ref)


def test_converted_state_dict_round_trip():
    net, x, y = _model("lenet")
    fa = rb.with_feedback(net, "fa", seed=4)
    fresh = rb.with_feedback(net, "fa", seed=99)
    fresh.load_state_dict(fa.state_dict())
    for a, b in zip(_grads(fa, x, y), _grads(fresh, x, y)):
        assert torch.equal(a, b)


def test_feedback_seed_is_device_and_dtype_independent():
    net, _, _ = _model("mlp")
    a = rb.with_feedback(net, "fa", seed=5)
    b = rb.with_feedback(net.double(), "fa", seed=5)
    torch.testing.assert_close(a.layers[0].feedback.double(), b.layers[0].feedback, rtol=1e-7, atol=0)


def test_true_gradient_view_shares_parameters_and_gives_true_gradient():
    net, x, y = _model("mlp")
    fa = rb.with_feedback(net, "fa", seed=1)
    plain = rb.true_gradient_view(fa)
    assert all(p is q for p, q in zip(fa.parameters(), plain.parameters()))
    assert not any(isinstance(m, FeedbackLinear) for m in plain.modules())
    for a, b in zip(_grads(net, x, y), _grads(plain, x, y)):
        assert torch.equal(a, b)


def test_deprecated_names_warn_and_give_the_same_results():
    net, x, _ = _model("mlp")
    new = rb.with_feedback(net, "fa", seed=1)
    with pytest.warns(
        DeprecationWarning, match="ratebased.backprop_twin is deprecated; use ratebased.true_gradient_view"
    ):
        assert rb.backprop_twin is rb.true_gradient_view
    with pytest.warns(DeprecationWarning, match="ratebased.convert is deprecated; use ratebased.with_feedback"):
        old = rb.convert(net, "fa", seed=1)
    assert torch.equal(old.layers[0].feedback, new.layers[0].feedback) and torch.equal(old(x), new(x))
    with pytest.warns(DeprecationWarning, match="ratebased.backprop_twin is deprecated"):
        view = rb.backprop_twin(new)
    assert all(p is q for p, q in zip(new.parameters(), view.parameters()))


# --- errors ---------------------------------------------------------------------------------


def test_unknown_rule_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown learning rule 'feedback'.*bp, fa, dfa, usf, frsf, brsf"):
        rb.get_rule("feedback")
    with pytest.raises(ValueError, match=r"unknown feedback rule 'xyz'; valid names: bp, fa"):
        rb.with_feedback(rb.MLP(3, (2,), 2), "xyz")
    with pytest.raises(ValueError, match="does not accept options"):
        rb.get_rule("fa", gamma=1.0)


def test_registry_rejects_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        rb.register_rule("FA", lambda **kw: None)


def test_rule_names_are_case_insensitive():
    assert rb.get_rule("USF").name == "usf"


@pytest.mark.parametrize("bad", [(784, 10), (1, 27, 27)], ids=["wrong-features", "wrong-image"])
def test_bad_input_shapes_raise_clear_errors(bad):
    net = rb.MLP(784, (8,), 10)
    with pytest.raises(ValueError, match="expects inputs with 784 features"):
        net(torch.zeros(2, *bad))


def test_model_without_layers_and_nonfinite_weights_rejected():
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv2d"):
        rb.with_feedback(nn.Sequential(nn.ReLU()), "fa")
    net = rb.MLP(3, (2,), 2)
    with torch.no_grad():
        net.layers[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"'layers.0.weight' contains NaN"):
        rb.with_feedback(net, "fa")
    with pytest.raises(ValueError, match="manhattan"):
        rb.with_feedback(rb.MLP(3, (2,), 2), "bp", manhattan=True)


def test_conv_with_unsupported_padding_mode_rejected():
    with pytest.raises(ValueError, match="padding_mode='zeros'"):
        rb.with_feedback(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), "fa")


def test_conv_same_padding_is_resolved():
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding="same", dilation=2), nn.Flatten(), nn.Linear(3 * 25, 2))
    x = torch.randn(2, 2, 5, 5)
    fa = rb.with_feedback(net, "fa")
    assert torch.equal(fa(x), net(x))
    _set_feedback_to_weights(fa)
    x.requires_grad_(True)
    (g1,) = torch.autograd.grad(net(x).sum(), x)
    (g2,) = torch.autograd.grad(fa(x).sum(), x)
    torch.testing.assert_close(g1, g2)


# --- diagnostics ------------------------------------------------------------------------------


def test_alignment_diagnostics():
    net, x, y = _model("mlp")
    fa = rb.with_feedback(net, "fa", seed=2)
    rule = rb.get_rule("fa")
    ang = rb.gradient_alignment(fa, rule, x, y, F.cross_entropy)
    assert ang["layers.2"] == pytest.approx(0.0, abs=1e-4)  # output layer: true gradient
    assert 30 < ang["layers.0"] < 150  # random feedback at init
    fb = rb.feedback_angles(fa)
    assert set(fb) == {"layers.0", "layers.1", "layers.2"} and all(60 < v < 120 for v in fb.values())
    _set_feedback_to_weights(fa)
    assert all(v == pytest.approx(0.0, abs=1e-4) for v in rb.feedback_angles(fa).values())
    assert all(
        v == pytest.approx(0.0, abs=1e-3) for v in rb.gradient_alignment(fa, rule, x, y, F.cross_entropy).values()
    )


def test_angle_deg_reference_values():
    a = torch.tensor([1.0, 0.0])
    assert rb.angle_deg(a, torch.tensor([0.0, 2.0])) == pytest.approx(90.0)
    assert rb.angle_deg(a, torch.tensor([1.0, 1.0])) == pytest.approx(45.0)
    assert rb.angle_deg(a, -a) == pytest.approx(180.0)
    assert rb.angle_deg(a, a) == 0.0


def test_training_is_deterministic_given_seed():
    def run():
        net, x, y = _model("mlp")
        r = rb.get_rule("brsf")
        torch.manual_seed(7)
        m = r.prepare(net, seed=0)
        opt = rb.make_optimizer(m, rb.TrainConfig(epochs=1, batch_size=4))
        rb.train_epoch(m, r, x, y, opt, F.cross_entropy, batch_size=4, seed=3, epoch=0)
        return [p.detach().clone() for p in m.parameters()]

    for a, b in zip(run(), run()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"optimizer": "adamw"}, "unknown optimizer"),
        ({"schedule": "step"}, "unknown schedule"),
        ({"batch_size": 0}, "batch_size"),
    ],
    ids=["epochs", "neg-lr", "nan-lr", "optimizer", "schedule", "batch"],
)
def test_impossible_hyper_parameters_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rb.TrainConfig(**kwargs)


def test_nan_inputs_rejected():
    from ratebased.training import check_inputs

    with pytest.raises(ValueError, match="NaN or inf"):
        check_inputs(torch.tensor([[float("nan")]]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        check_inputs(torch.zeros(2, 1), torch.tensor([0, 3]), 3)
