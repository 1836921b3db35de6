"""Twin-scored and Brian2-scored adversarial accuracy of a spiking model agree.

The comparison attacks spiking models through their snntorch twin and re-scores the adversarial
images in Brian2 (``bridges.compare.graph.eval_task``: Brian2's accuracy is the reported one, the
twin's score of the same images with fresh spike draws and its per-sample agreement are recorded
beside it, with a two-sided McNemar p-value ``twin_p``). Two statements, two tolerances:

1. **Same spike trains: exact.** Driven with the input spikes Brian2's evaluation drew, the twin
   predicts exactly what Brian2 predicted, sample for sample, tie-break included (tolerance 0: the
   float64 twin is bit-exact with Brian2's ``numpy`` target).
2. **Independent draws: within the draw noise.** With its own Poisson draws the twin's accuracy
   differs from Brian2's only by what independent draws explain: the two-sided exact McNemar test on
   the per-sample correctness gives ``p >= 0.01`` (for ``b + c`` discordant samples of ``n``, the
   gap ``|b - c| / n`` stays below about ``2.58 sqrt(b + c) / n``, ~6-7 points on these 600 images).
   The same check flags a wrong twin (weights halved), so the tolerance is not vacuous.

The network is hand-built so that it classifies (3 classes, each owning 4 inputs and a block of
neurons in every layer): ~95% clean, ~50% after a surrogate-gradient FGSM at eps 0.15.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from bridges.attacks import fgsm
from bridges.stats import mcnemar_two_sided_p
from bridges.twin import brian2_numpy_input_spikes, build_twin
from spiking.config import NetworkConfig
from spiking.model import SpikingClassifier, chunk_seed
from spiking.params import LIFParams, SimParams
from spiking.rules.local_error import LocalErrorParams
from spiking.rules.stdp_association import STDPAssociationParams
from spiking.state import init_state

N_CLASSES, PER_CLASS = 3, 4  # inputs per class
N_IN = N_CLASSES * PER_CLASS
N, COPIES, SEED, EPS = 600, 30, 3, 0.15
SIM = SimParams(dt_ms=0.5, t_present_ms=20.0, t_rest_ms=5.0)
PARAMS = {
    "spiking-local": LocalErrorParams(lif=LIFParams(tau_m_ms=15.0, t_ref_ms=1.0, v_reset_mV=-70.0)),
    "stdp-association": STDPAssociationParams(),
}
ALPHA = 0.01

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tiny tensors: intra-op threads only contend


def _block(rng, n_pre: int, n_post: int, per_pre: int, per_post: int, w_mV: float) -> np.ndarray:
    """Class-block weights: ``w_mV`` (+-20%) from a class's neurons to the same class's, -0.3 ``w_mV`` across."""
    same = (np.arange(n_pre) // per_pre)[:, None] == (np.arange(n_post) // per_post)[None, :]
    return np.where(same, w_mV, -0.3 * w_mV) * rng.uniform(0.8, 1.2, (n_pre, n_post))


def _network(rule: str) -> tuple[NetworkConfig, dict[str, np.ndarray]]:
    cfg = NetworkConfig(
        rule=rule,
        n_in=N_IN,
        hidden=(3 * N_CLASSES, 2 * N_CLASSES),
        n_out=N_CLASSES,
        sim=SIM,
        max_rate_hz=400.0,
        params=PARAMS[rule],
    )
    rng = np.random.default_rng(0)
    state = init_state(cfg, seed=0)
    state["W_in_h1"] = _block(rng, N_IN, 3 * N_CLASSES, PER_CLASS, 3, 8.0)
    state["W_h1_h2"] = _block(rng, 3 * N_CLASSES, 2 * N_CLASSES, 3, 2, 8.0)
    state["W_h2_out"] = _block(rng, 2 * N_CLASSES, N_CLASSES, 2, 1, 8.0)
    return cfg, state


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    """Features in [0, 1]: a sample's own class's inputs in [0.35, 0.85], the others in [0, 0.45]."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, N_CLASSES, (N,), generator=g)
    x = 0.45 * torch.rand(N, N_IN, generator=g, dtype=torch.float64)
    own = (torch.arange(N_IN)[None, :] // PER_CLASS) == y[:, None]
    return torch.where(own, 0.35 + 0.5 * torch.rand(N, N_IN, generator=g, dtype=torch.float64), x), y


@functools.cache
def _scored(rule: str) -> dict:
    """Adversarial images (surrogate FGSM through the twin, 8 EOT draws) scored by Brian2's numpy
    target in one chunk of 30 copies side by side, with the stimulus it drew its spikes from."""
    cfg, state = _network(rule)
    twin = build_twin(cfg, state)
    x, y = _data()
    x_adv = fgsm(twin, x, y, EPS, eot_samples=8, seed=0).to(torch.float64)
    with SpikingClassifier(cfg, seed=SEED, target="numpy", chunk_size=N, eval_copies=COPIES, state=state) as clf:
        brian_pred = clf.predict(x_adv.numpy())
        stim = clf.encode(x_adv.numpy())
    return dict(cfg=cfg, state=state, twin=twin, x=x, y=y, x_adv=x_adv, brian_pred=brian_pred, stim=stim)


@pytest.fixture(params=sorted(PARAMS))
def scored(request):
    return _scored(request.param)


def test_the_network_classifies_and_the_attack_hurts(scored):
    twin, y = scored["twin"], scored["y"].numpy()
    clean = float((twin.predict(scored["x"], seed=1).numpy() == y).mean())
    adv = float((scored["brian_pred"] == y).mean())
    assert clean >= 0.75  # spiking-local ~0.95, STDP (adaptive thresholds, inhibition) ~0.80
    assert 0.3 <= adv <= clean - 0.2  # the regime where twin and Brian2 could disagree


def test_on_brian2s_own_spike_draws_the_twin_predicts_what_brian2_predicted(scored):
    """Tolerance 0: the same spike trains give the same classes, sample for sample."""
    spikes = brian2_numpy_input_spikes(
        scored["cfg"], scored["stim"], rng_seed=chunk_seed(SEED, 0, 0, tag=1), n_copies=COPIES
    )
    replayed = scored["twin"].predict_spikes(torch.as_tensor(spikes)).numpy()
    np.testing.assert_array_equal(replayed, scored["brian_pred"])


def test_with_independent_draws_the_accuracies_differ_only_by_draw_noise(scored):
    y = scored["y"].numpy()
    brian = scored["brian_pred"] == y
    twin = scored["twin"].predict(scored["x_adv"], seed=11).numpy() == y
    discordant = int((brian != twin).sum())
    assert discordant >= 50  # the draws do matter near the boundary: the test is not trivially met
    assert mcnemar_two_sided_p(brian, twin) >= ALPHA
    assert abs(brian.mean() - twin.mean()) <= 2.58 * np.sqrt(discordant) / N


def test_the_agreement_check_flags_a_wrong_twin():
    """Power: a twin whose weights are halved scores the same adversarial images differently."""
    run = _scored("spiking-local")
    y = run["y"].numpy()
    wrong = build_twin(run["cfg"], {k: (v * 0.5 if k.startswith("W_") else v) for k, v in run["state"].items()})
    brian = run["brian_pred"] == y
    assert mcnemar_two_sided_p(brian, wrong.predict(run["x_adv"], seed=11).numpy() == y) < ALPHA
