"""The differentiable rate approximation of the spiking networks (``bridges.twin.rate_approx``).

Identity checks (the same weight matrices as ``to_rate_mlp``; the mean membrane drive of the equations
against the twin's membrane traces; ``fidelity`` of the twin against itself), then behaviour on a small
hand-wired network whose classes are separable by design: argmax agreement with the twin, and a PGD
attack through the approximation that lowers the twin's accuracy more at epsilon 0.3 than at 0.05 and
more than random signs do.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bridges.attacks import pgd
from bridges.twin import FlattenedInput, build_twin, to_rate_mlp
from bridges.twin.rate_approx import (
    LayerCalibration,
    RateApproximation,
    _twin_counts,
    fidelity,
    rate_approximation,
)
from spiking.config import NetworkConfig
from spiking.params import SimParams
from spiking.rules.local_error import LocalErrorParams
from spiking.rules.stdp_association import STDPAssociationParams
from spiking.state import init_state

SIM = SimParams(dt_ms=0.5, t_present_ms=50.0)  # 100 steps
N_CLASSES, PER_CLASS, HIDDEN_PER_CLASS = 3, 4, 2
N_IN = N_CLASSES * PER_CLASS
N_HID = N_CLASSES * HIDDEN_PER_CLASS


pytestmark = pytest.mark.usefixtures("one_thread_module")  # tiny tensors: intra-op threads only contend


def _stdp_cfg(hidden=(5,), skip=False, **kw) -> NetworkConfig:
    params = STDPAssociationParams(skip_stdp={} if skip else None, **kw)
    return NetworkConfig(
        rule="stdp-association", n_in=6, hidden=hidden, n_out=3, sim=SIM, max_rate_hz=400.0, params=params
    )


def _local_cfg() -> NetworkConfig:
    return NetworkConfig(
        rule="spiking-local", n_in=6, hidden=(5, 4), n_out=3, sim=SIM, max_rate_hz=400.0, params=LocalErrorParams()
    )


def _random_state(cfg: NetworkConfig, scale: float) -> dict[str, np.ndarray]:
    state = {k: (v * scale if k.startswith("W_") else v) for k, v in init_state(cfg, seed=0).items()}
    rng = np.random.default_rng(1)
    for key in [k for k in state if k.startswith("theta_")]:
        state[key] = rng.uniform(0.0, 3.0, size=state[key].shape)
    return state


NO_SKIP = {
    "stdp-1-hidden": lambda: _stdp_cfg(),
    "stdp-2-hidden": lambda: _stdp_cfg(hidden=(5, 4)),
    "spiking-local": _local_cfg,
}


# ----------------------------------------------------------------------------- identities
@pytest.mark.parametrize("case", sorted(NO_SKIP))
def test_weights_are_to_rate_mlps(case):
    """(1) Same matrices as ``to_rate_mlp`` (``W.T / 1 mV``), layer by layer, bit for bit."""
    cfg = NO_SKIP[case]()
    state = _random_state(cfg, 3.0)
    approx = rate_approximation(build_twin(cfg, state))
    mlp = to_rate_mlp(cfg, state)
    assert len(mlp.layers) == len(approx.names)
    for lin, name in zip(mlp.layers, approx.names):
        (pre,) = approx.sources[name]
        assert torch.equal(approx.weights[name][pre], lin.weight.detach()), (case, name)


def test_mean_drive_matches_twin_membrane():
    """The drive ``mu = c * sum_i p_i W_ij`` is the exact mean depolarisation, averaged over the
    presentation, of a layer that never fires: compared with the twin's membrane traces (one image,
    600 Poisson draws), within 4 standard errors."""
    cfg = _stdp_cfg()
    state = _random_state(cfg, 3.0)
    state["theta_h1"] = np.full_like(state["theta_h1"], 500.0)  # unreachable threshold: h1 is silent
    twin = build_twin(cfg, state)
    x = torch.tensor([[0.9, 0.1, 0.5, 0.0, 0.7, 0.3]], dtype=torch.float64)
    approx = rate_approximation(twin)
    mu, _ = approx.drive("h1", {"in": approx.input_activity(x)})
    v = twin.membrane_traces(twin.encode(x.repeat(600, 1), seed=3))["h1"]  # (600, steps, 5) volts
    excess = (v[:, : twin.steps_present] * 1e3 - cfg.params.hidden_lif.v_rest_mV).mean(dim=1)  # mV, per draw
    mean, se = excess.mean(dim=0), excess.std(dim=0) / np.sqrt(len(excess))
    assert float(mu.min()) > 1.0  # a real depolarisation, not a vacuous 0 == 0
    assert torch.all((mu[0] - mean).abs() < 4 * se + 1e-9), (mu, mean, se)


# ----------------------------------------------------------------------------- the skip network
def test_skip_network_builds_with_finite_nonzero_gradients():
    """(2) The skip-connected STDP network (``h1 -> out``, which ``to_rate_mlp`` refuses): both
    pathways into ``out`` are held, the skip one matters, gradients are finite and non-zero."""
    cfg = _stdp_cfg(hidden=(5, 4), skip=True)
    state = _random_state(cfg, 3.0)
    with pytest.raises(ValueError, match="skip"):
        to_rate_mlp(cfg, state)
    approx = rate_approximation(build_twin(cfg, state))
    assert sorted(approx.weights["out"]) == ["h1", "h2"]
    assert torch.equal(approx.weights["out"]["h1"], torch.as_tensor(state["W_h1_out"].T))
    x = torch.rand(8, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64).requires_grad_(True)
    out = approx(x)
    (grad,) = torch.autograd.grad(out[:, 0].sum() - out[:, 1].sum(), x)
    assert torch.isfinite(grad).all() and (grad.abs().amax(dim=1) > 1e-8).all()
    no_skip = dict(state, W_h1_out=np.zeros_like(state["W_h1_out"]))
    assert not torch.allclose(rate_approximation(build_twin(cfg, no_skip))(x), out)


# ----------------------------------------------------------------------------- a separable network
def _wired(skip: bool):
    """STDP network whose classes are separable by design: input group ``k`` (4 pixels) drives the 2
    hidden neurons of class ``k``, which drive output ``k`` (through the skip projection when ``skip``)."""
    hidden = (N_HID, N_HID) if skip else (N_HID,)
    cfg = NetworkConfig(
        rule="stdp-association",
        n_in=N_IN,
        hidden=hidden,
        n_out=N_CLASSES,
        sim=SIM,
        max_rate_hz=400.0,
        params=STDPAssociationParams(skip_stdp={} if skip else None, inhibition_mV=2.0, output_inhibition_mV=2.0),
    )
    rng = np.random.default_rng(0)
    group_in = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    group_h = np.repeat(np.arange(N_CLASSES), HIDDEN_PER_CLASS)
    state = {k: np.zeros_like(v) for k, v in init_state(cfg, seed=0).items()}
    state["W_in_h1"] = np.where(group_in[:, None] == group_h[None], 1.2, 0.1) + rng.uniform(0, 0.1, (N_IN, N_HID))
    if skip:
        state["W_h1_h2"] = rng.uniform(0.0, 10.0, (N_HID, N_HID))  # an unstructured, active deeper layer
        state["W_h2_out"] = rng.uniform(0.0, 2.0, (N_HID, N_CLASSES))
        state["W_h1_out"] = np.where(group_h[:, None] == np.arange(N_CLASSES)[None], 9.0, 0.5)
    else:
        state["W_h1_out"] = np.where(group_h[:, None] == np.arange(N_CLASSES)[None], 9.0, 0.5)
    return cfg, state


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class ``k`` lights its group at 0.45-0.65 over a 0.05-0.25 background."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % N_CLASSES
    x = 0.05 + 0.2 * torch.rand(n, N_IN, generator=g, dtype=torch.float64)
    on = torch.arange(N_IN)[None] // PER_CLASS == y[:, None]
    x[on] = (0.45 + 0.2 * torch.rand(n, N_IN, generator=g, dtype=torch.float64))[on]
    return x, y


def _twin_accuracy(twin, x, y, draws=4) -> float:
    counts = _twin_counts(twin, x, draws, 99)["out"]
    return float((counts.argmax(dim=1) == y).double().mean())


@pytest.fixture(scope="module", params=[False, True], ids=["no-skip", "skip"])
def wired(request):
    cfg, state = _wired(request.param)
    twin = build_twin(cfg, state)
    x_cal, _ = _images(60, seed=10)
    approx = rate_approximation(twin, x_cal, n_draws=4, seed=0)
    return twin, approx


def test_argmax_agreement_on_a_separable_network(wired):
    """(3) On held-out images the approximation's argmax agrees with the twin's for >= 90% of them
    (chance: 1/3), and its counts correlate with the twin's (r >= 0.8)."""
    twin, approx = wired
    x, y = _images(60, seed=11)
    f = fidelity(twin, approx, x, y, n_draws=8, seed=1)
    assert f["twin_accuracy"] >= 0.9  # the network does what it was wired for
    assert f["argmax_agreement"] >= 0.9, f
    assert f["pearson"] >= 0.8, f


def test_calibration_lowers_the_first_layers_count_error(wired):
    """The least-squares fit never leaves a layer worse than the equations as written (checked on the
    first layer, whose inputs are the same for both)."""
    twin, approx = wired
    x, _ = _images(60, seed=10)
    target = _twin_counts(twin, x, 4, 0)["h1"]
    raw = RateApproximation(twin)
    err = {k: float(((m.layer_counts(x)["h1"] - target) ** 2).mean()) for k, m in (("raw", raw), ("cal", approx))}
    assert err["cal"] <= err["raw"] + 1e-12, err
    assert all(isinstance(c, LayerCalibration) for c in approx.calibration.values())


def test_pgd_through_the_approximation_fools_the_twin(wired):
    """(4) PGD with the approximation as gradient source, scored on the twin: accuracy falls as epsilon
    grows (0.3 well below 0.05, which stays near clean) and 0.3 beats random signs of the same size."""
    twin, approx = wired
    x, y = _images(30, seed=12)
    clean = _twin_accuracy(twin, x, y)
    acc = {
        eps: _twin_accuracy(twin, pgd(twin, x, y, eps, steps=10, grad_model=approx, seed=0), y) for eps in (0.05, 0.3)
    }
    signs = torch.sign(torch.rand(x.shape, generator=torch.Generator().manual_seed(5), dtype=x.dtype) - 0.5)
    noise = _twin_accuracy(twin, (x + 0.3 * signs).clamp(0, 1), y)
    assert clean >= 0.9
    assert acc[0.05] >= clean - 0.25, acc
    assert acc[0.3] <= acc[0.05] - 0.5, acc
    assert acc[0.3] <= noise - 0.4, (acc, noise)


def test_bad_input_is_refused():
    cfg = _stdp_cfg()
    twin = build_twin(cfg, _random_state(cfg, 1.0))
    with pytest.raises(TypeError, match="SpikingNetworkTwin"):
        rate_approximation(torch.nn.Linear(6, 3))
    with pytest.raises(ValueError, match="not both"):
        rate_approximation(twin, torch.rand(2, 6), calibration={})
    with pytest.raises(ValueError, match="layers"):
        rate_approximation(twin, calibration={"h9": LayerCalibration()})
    with pytest.raises(ValueError, match="gain"):
        LayerCalibration(gain=0.0)
    latency = dataclasses.replace(cfg, encoding="latency")
    with pytest.raises(ValueError, match="Poisson"):
        rate_approximation(build_twin(latency, _random_state(latency, 1.0)))


def test_fidelity_of_the_twin_against_itself(wired):
    """(5) ``fidelity`` of an oracle returning the twin's own mean counts (same draws) is exactly 1;
    of its negation, correlation -1; numbers stay in range for the approximation."""
    twin, approx = wired
    x, y = _images(12, seed=13)

    def oracle(z):
        return _twin_counts(twin, z, 3, 7)["out"]

    f = fidelity(twin, oracle, x, n_draws=3, seed=7)
    assert f["pearson"] == pytest.approx(1.0, abs=1e-12) and f["pearson_within"] == pytest.approx(1.0, abs=1e-12)
    assert f["argmax_agreement"] == 1.0 and f["n"] == 12
    assert fidelity(twin, lambda z: -oracle(z), x, n_draws=3, seed=7)["pearson"] == pytest.approx(-1.0, abs=1e-12)
    g = fidelity(twin, approx, x, y, n_draws=3, seed=7)
    assert -1.0 <= g["pearson"] <= 1.0 and -1.0 <= g["pearson_within"] <= 1.0
    assert 0.0 <= g["argmax_agreement"] <= 1.0 and 0.0 <= g["twin_tie_share"] <= 1.0
    assert 0.0 <= g["twin_accuracy"] <= 1.0 and 0.0 <= g["approx_accuracy"] <= 1.0


def test_images_and_the_float32_flattened_twin():
    """The approximation takes what the attacks pass (images ``(N, C, H, W)``, float32) from a
    ``FlattenedInput`` float32 twin, and gives the same scores as for the flat float64 features."""
    cfg = _stdp_cfg(hidden=(5, 4), skip=True)
    state = _random_state(cfg, 3.0)
    approx32 = rate_approximation(FlattenedInput(build_twin(cfg, state, dtype=torch.float32)))
    approx64 = rate_approximation(build_twin(cfg, state))
    x = torch.rand(4, 1, 2, 3, generator=torch.Generator().manual_seed(2))
    out = approx32(x)
    assert out.shape == (4, 3) and out.dtype == torch.float64
    torch.testing.assert_close(out, approx64(x.flatten(1).double()), rtol=1e-6, atol=1e-9)
