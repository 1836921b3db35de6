"""Bridges: exact weight round trips, Brian2 vs snntorch twin agreement, data-based normalisation."""

import brian2 as b2
import numpy as np
import pytest
import torch

import ratebased as rb
from bridges.ann2snn import (
    IFNetworkTwin,
    export_weights,
    from_brian2,
    from_snntorch,
    import_weights,
    normalise,
    poisson_spikes,
    to_brian2,
    to_snntorch,
)
from spiking.backend.device import brian_device
from spiking.ifnet import simulate_if


def _net(seed=0, sizes=(20, (16, 12), 5)):
    torch.manual_seed(seed)
    return rb.MLP(sizes[0], sizes[1], sizes[2])


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("mode", ["spikes", "current"])
@pytest.mark.parametrize("rule", ["bp", "fa", "usf"])
def test_torch_brian2_torch_round_trip_is_exact(mode, rule):
    net = rb.with_feedback(_net(), rule)
    with brian_device("numpy"):
        built = to_brian2(net, mode=mode)
        assert len(built.synapses) == (3 if mode == "spikes" else 2)
        back = from_brian2(built, like=net)
    assert _same(net, back)


@pytest.mark.parametrize("device", ["runtime", "numpy"])
def test_building_twice_logs_no_deleted_object_warning(device):
    import contextlib
    import gc

    from brian2.utils.logger import catch_logs

    net = _net()
    context = brian_device("numpy") if device == "numpy" else contextlib.nullcontext()
    with context, catch_logs() as logs:
        first = to_brian2(net)
        built = to_brian2(net)  # replaces the first network, never run
        del first
        gc.collect()
        assert _same(net, from_brian2(built, like=net))
        del built
        gc.collect()
    assert logs == []


def test_torch_snntorch_torch_round_trip_is_exact():
    net = _net()
    assert _same(net, from_snntorch(to_snntorch(net), like=net))


def _compare(mode, steps=40, n=30, seed=0):
    net = _net(seed)
    x = torch.rand(n, 20, generator=torch.Generator().manual_seed(seed))
    conv = normalise(net, x, method="max")
    twin = IFNetworkTwin(conv.weights, conv.biases)
    if mode == "current":
        inp_twin = x.double()
        inp_brian = twin.first_current(x).detach().numpy()
    else:
        inp_twin = poisson_spikes(x, steps, max_rate=0.5, generator=torch.Generator().manual_seed(1))
        inp_brian = inp_twin.numpy()
    tc = [c.detach().numpy() for c in twin.counts(inp_twin, steps, mode)]
    return tc, simulate_if(conv.weights, conv.biases, inp_brian, steps=steps, mode=mode, target="numpy")


@pytest.mark.parametrize("mode", ["current", "spikes"])
def test_brian2_and_snntorch_twin_give_identical_spike_counts(mode):
    twin_counts, brian = _compare(mode)
    assert sum(int(c.sum()) for c in twin_counts) > 500  # the network is active
    for layer, (a, b) in enumerate(zip(twin_counts, brian.counts)):
        np.testing.assert_array_equal(a, b, err_msg=f"layer {layer}")


@pytest.mark.slow
@pytest.mark.standalone
def test_standalone_brian2_agrees_with_twin():
    net = _net(3)
    x = torch.rand(8, 20, generator=torch.Generator().manual_seed(3))
    conv = normalise(net, x)
    twin = IFNetworkTwin(conv.weights, conv.biases)
    phases = []
    res = simulate_if(
        conv.weights,
        conv.biases,
        twin.first_current(x).detach().numpy(),
        steps=30,
        target="cpp_standalone",
        on_phase=lambda *a: phases.append(a),
    )
    for a, b in zip(twin.counts(x.double(), 30), res.counts):
        np.testing.assert_array_equal(a.numpy(), b)
    assert phases == [("build", 0, 4), ("compile", 1, 4), ("simulate", 2, 4), ("read", 3, 4)]


def test_simulate_if_reports_its_phases_in_order():
    phases = []
    ws, bs = [np.array([[0.6, 0.2]]), np.array([[1.0]])], [np.zeros(1), np.zeros(1)]
    res = simulate_if(ws, bs, np.array([[0.8]]), steps=10, target="numpy", on_phase=lambda *a: phases.append(a))
    assert phases == [("build", 0, 3), ("simulate", 1, 3), ("read", 2, 3)]
    assert [c.tolist() for c in res.counts] == [[[8]], [[6]]]


@pytest.mark.parametrize(
    "method,pct", [("max", 100.0), ("percentile", 99.0), ("percentile", 90.0)], ids=["max", "p99", "p90"]
)
def test_normalisation_puts_the_statistic_on_the_threshold(method, pct):
    net = _net(1)
    x = torch.rand(200, 20, generator=torch.Generator().manual_seed(2))
    conv = normalise(net, x, method=method, percentile=pct)
    h = x.double()
    for w, b in zip(conv.weights, conv.biases):
        h = torch.relu(h @ torch.as_tensor(w).T + torch.as_tensor(b))
        stat = h.max() if method == "max" else torch.quantile(h.reshape(-1), pct / 100)
        assert float(stat) == pytest.approx(1.0, abs=1e-12)
    # argmax of the output is unchanged by normalisation
    with torch.no_grad():
        assert torch.equal(net(x).argmax(1), h.argmax(1))


def test_converted_network_matches_the_ann_with_enough_steps():
    from bridges.data import load_dataset

    ds = load_dataset("digits")
    x_tr, y_tr = torch.as_tensor(ds.x_train).flatten(1), torch.as_tensor(ds.y_train)
    x_te, y_te = torch.as_tensor(ds.x_test).flatten(1), torch.as_tensor(ds.y_test)
    torch.manual_seed(0)
    net = rb.MLP(64, (64,), 10)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x_tr), y_tr).backward()
        opt.step()
    with torch.no_grad():
        ann = (net(x_te).argmax(1) == y_te).float().mean().item()
    conv = normalise(net, x_tr, method="percentile", percentile=99.9)
    twin = IFNetworkTwin(conv.weights, conv.biases)
    with torch.no_grad():
        acc = {T: (twin(x_te.double(), steps=T).argmax(1) == y_te).float().mean().item() for T in (10, 100)}
    assert ann > 0.9
    assert acc[100] >= ann - 0.03
    assert acc[100] > acc[10] - 0.01


def test_twin_surrogate_gradient_reaches_the_input():
    net = _net()
    conv = normalise(net, torch.rand(50, 20))
    twin = IFNetworkTwin(conv.weights, conv.biases)
    x = torch.rand(4, 20, dtype=torch.float64, requires_grad=True)
    out = twin(x, steps=20)
    (g,) = torch.autograd.grad(out[:, 0].sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_bad_inputs_raise_errors_naming_the_layer():
    net = _net()
    ws, bs = export_weights(net)
    with pytest.raises(
        ValueError, match=r"layer 'layers.1': weight shape \(12, 15\) does not match the model's \(12, 16\)"
    ):
        import_weights([ws[0], ws[1][:, :15], ws[2]], bs, net)
    with pytest.raises(ValueError, match="3 Linear layers but 2 weight matrices"):
        import_weights(ws[:2], bs[:2], net)
    bad = [w.copy() for w in ws]
    bad[2][0, 0] = np.inf
    with pytest.raises(ValueError, match="layer 'layers.2': imported weights contain NaN or inf"):
        import_weights(bad, bs, net)
    nan_net = _net()
    with torch.no_grad():
        nan_net.layers[1].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="layer 'layers.1' has NaN"):
        export_weights(nan_net)
    with pytest.raises(ValueError, match="layer 1: weight expects 15 inputs but layer 0 has 16"):
        simulate_if([ws[0], ws[1][:, :15]], bs[:2], np.zeros((1, 16)), steps=3, target="numpy")
    with pytest.raises(ValueError, match="carries Brian2 units"):
        from bridges.ann2snn.weights import _dimensionless

        _dimensionless(np.ones(3) * b2.mV, "layer 0 weights")
    with pytest.raises(ValueError, match="skip connections"):
        normalise(rb.MLP(4, (3, 3), 2, skip=True), torch.rand(5, 4))
    with pytest.raises(ValueError, match="ReLU"):
        normalise(rb.MLP(4, (3,), 2, activation="tanh"), torch.rand(5, 4))
    with pytest.raises(ValueError, match="percentile must lie in"):
        normalise(net, torch.rand(5, 20), method="percentile", percentile=0)
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalise(net, torch.rand(5, 20), method="mean")
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        normalise(net, torch.rand(5, 20) * 3)
    with pytest.raises(ValueError, match="convolution"):
        export_weights(rb.LeNet(1, 10, 8))
    with pytest.raises(ValueError, match="'spikes' input must"):
        simulate_if(ws, bs, np.zeros((2, 20)), steps=3, mode="spikes", target="numpy")
    with pytest.raises(ValueError, match="unknown Brian2 target"):
        simulate_if(ws, bs, np.zeros((2, 16)), steps=3, target="gpu")


def test_old_name_iftwin_is_a_deprecated_alias():
    import bridges.ann2snn

    with pytest.warns(DeprecationWarning, match=r"bridges.ann2snn.IFTwin is deprecated; use .*IFNetworkTwin"):
        assert bridges.ann2snn.IFTwin is bridges.ann2snn.IFNetworkTwin
