"""A differentiable rate approximation of the spiking STDP / spiking-local networks (BPDA-style attacks).

The spiking networks of :mod:`spiking.network` have no useful input gradient: spikes are step
functions, and the snntorch twin's surrogate gradient (:mod:`bridges.twin.dynamics`) is one choice
among many, which can be weak or misleading (robustness of SNNs has repeatedly turned out to be
masked gradients). The standard remedy is to differentiate a smooth model of what the network
*computes on average*: Athalye, Carlini & Wagner 2018, "Obfuscated Gradients Give a False Sense of
Security" (arXiv 1802.00420, BPDA: replace a non-differentiable component by a differentiable
approximation of it on the backward pass) and, for rate-coded SNNs, Bu, Ding, Li & Yu, "Rate Gradient
Approximation Attack Threats Deep Spiking Neural Networks" (CVPR 2023: the gradient of the spike
*rates* through a rate model of every layer). :func:`rate_approximation` builds such a model from the
twin's own weights, thresholds and neuron parameters, for every topology the twin runs, including
the skip-connected STDP network (``stdp-skip-400``: ``h1 -> out``) that
:func:`~bridges.twin.weights.to_rate_mlp` refuses.

The model (all potentials in mV above rest, activities ``p`` = expected spikes per time step while
the stimulus is on; the same symbols as :func:`spiking.equations.lif_update_semantics`)
----------------------------------------------------------------------------------------------------
* **Input**: the Poisson encoder's spike probability ``p_in = dt * rate(x)``
  (:meth:`SpikingNetworkTwin.spike_probability`, including the ``total_rate_hz`` normalisation, so a
  pixel's gradient also sees the normalisation's coupling with the other pixels).
* **Drive** (delta synapses: a presynaptic spike adds ``W[i, j]`` mV to ``v_j``; the membrane decays by
  ``e = exp(-dt / tau_m)`` per step): the mean jump per step is ``D_j = sum_src sum_i p_i W_src[i, j]``
  over every incoming projection (skip projections included) and its variance
  ``S_j = sum_src sum_i p_i (1 - p_i) W_src[i, j]^2``. The linear recursion ``v_t = e v_{t-1} + D``
  from rest gives the mean depolarisation averaged over the ``T = steps_present`` steps of a sample,
  ``mu = c D`` with ``c = (1/T) sum_{t=1..T} (1 - e^t) / (1 - e)`` (the effective integration time in
  steps: ``tau_m / dt`` for long presentations, less when the membrane has no time to settle), and the
  stationary shot-noise variance ``sigma^2 = S / (1 - e^2)``. (Exact for the mean while no neuron
  fires: ``tests/bridges/test_rate_approx.py`` checks ``mu`` against the twin's membrane traces.)
* **Lateral inhibition** (a spike of another neuron of the layer lowers ``v`` by ``w_inh``), linear:
  ``mu_j <- mu_j - kappa * w_inh * c * (P - p_j)`` with ``P = sum_k p_k``; the layer's activity is the
  fixed point, found by ``inhibition_iters`` damped iterations (differentiable, unrolled).
* **Transfer** (leaky integrate-and-fire with noise): the excess ``u = mu - g`` over the threshold gap
  ``g_j = v_thresh + theta_j - v_rest + b`` is smoothed by the membrane noise as the mean of a
  rectified noisy potential, ``E[relu(u + s xi)]`` (the diffusion approximation's smoothing of the f-I
  curve), with ``s = sqrt(lambda^2 sigma^2 + s0^2)`` and ``xi`` logistic of unit variance, for which
  it is ``beta softplus(u / beta)``, ``beta = s sqrt(3) / pi`` (a Gaussian ``xi`` gives
  ``u Phi(u/s) + s phi(u/s)``, whose ``exp(-u^2 / 2 s^2)`` tail underflows to zero gradients for
  classes far below threshold; the logistic's exponential tail does not). The excess becomes a rate the
  way an integrate-and-fire neuron turns drive into spikes: it fires once per ``g`` mV climbed,
  ``rho = a * E[relu(...)] / (g * c)`` per step (for large drive ``rho -> D / g - 1 / c``: the
  deterministic LIF's slope, minus the leak), and the refractory dead time of ``R`` steps caps it,
  ``p = rho / (1 + R rho)`` (``R >= 1``: at most one spike per step).
* **Scores**: expected output spike counts ``p_out * T`` ``(N, n_out)`` (the twin's output, whose argmax
  is the prediction); their gradient is the attack's gradient.

The weights are those of :func:`~bridges.twin.weights.to_rate_mlp` (``W.T / (1 mV)``, the same
matrices; identity-checked in the tests); only the physics around them differs.

Calibration (least squares per layer, optional but recommended)
---------------------------------------------------------------
Four scalars per layer, ``a`` (gain), ``b`` (threshold shift, mV), ``lambda`` (noise scale) and
``kappa`` (inhibition scale), default ``1, 0, 1, 1`` (the equations as written). With a calibration
batch ``x`` (clean training images), :func:`calibrate` runs the twin (``n_draws`` Poisson draws per
image, seeded), measures every layer's mean spike counts, and fits the scalars layer by layer, input
to output, by non-linear least squares (L-BFGS on the mean squared count error, with a small ridge
penalty ``ridge * mean(target^2) * (log a^2 + log lambda^2 + log kappa^2)`` towards the equations as
written: without it the output layer's fit ran to the gain bound with 50-400 x noise and inhibition on
the digits models, a degenerate linear regime) with the earlier layers
already calibrated *in the approximation* (not teacher-forced with measured rates: the attack
differentiates the chained approximation, so each layer absorbs the systematic error of the ones
before it). Gains are kept in ``[e^-6, e^6]`` so that no layer is fitted to silence (a zero gain
would be a masked gradient of the approximation's own making). Why calibrate: a neuron driven below
threshold fires whenever its noisy trajectory *crosses* the threshold once in the presentation (a
first-passage event), more often than the rectified mean potential says, and strong inhibition,
refractoriness and the membrane's start from rest bend the rates further; the equations as written
misestimate the rates (in the tests' wired network they underestimate the classes that are not
winning, whose gradients an untargeted attack needs, and the fit lowers every threshold by 4-6 mV:
uncalibrated PGD at epsilon 0.3 leaves the twin at 83-87 % accuracy, calibrated at 7 %).

Measured (digits, ``bioplausible train-spiking --dataset digits --rule stdp-association --epochs 1``,
200 calibration images from the training split, 8 draws; 200 test images, 8 draws): the skip network
(``--preset stdp-skip-400``, Brian2 accuracy 0.78): Pearson 0.86 (0.88 uncalibrated), argmax
agreement 0.845 (0.835); the default network (no skip, 0.52, 21 % tied outputs): Pearson 0.64 (0.25),
agreement 0.74 (0.655). PGD (10 steps) through the calibrated approximation, scored in Brian2:
0.78 -> 0.335 / 0.035 at epsilon 0.1 / 0.2 (skip), 0.515 -> 0.305 / 0.10 (default), where the
twin's surrogate gradient (PGD, 10 steps, 20 EOT draws) leaves 0.725 / 0.52 (skip) and 0.50 / 0.395
(default): the surrogate gradient of these networks is largely masked.

The approximation reads inputs through the twin's encoder (it keeps a reference to the twin, not a
copy): keep both on one device (``approx.to(device)`` moves only the approximation's own buffers).

:func:`fidelity` measures how well an approximation tracks the twin on given images: Pearson
correlation of the approximated and the twin's mean output counts (over all entries and within
samples), argmax agreement, and the twin's share of tied maxima.

Examples
--------
>>> import torch
>>> from spiking import NetworkConfig, STDPAssociationParams, init_state
>>> from bridges.twin import build_twin
>>> cfg = NetworkConfig(rule="stdp-association", n_in=6, hidden=(5, 4), n_out=3,
...                     params=STDPAssociationParams(skip_stdp={}))
>>> twin = build_twin(cfg, init_state(cfg, seed=0))
>>> approx = rate_approximation(twin)                   # h1 -> out skip projection included
>>> sorted(approx.weights["out"])
['h1', 'h2']
>>> x = torch.rand(4, 6, requires_grad=True)
>>> approx(x).shape
torch.Size([4, 3])
>>> approx(x).sum().backward(); bool(torch.isfinite(x.grad).all())
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .dynamics import membrane_constants, refractory_steps
from .module import FlattenedInput, SpikingNetworkTwin
from .weights import WEIGHT_UNIT_MV

__all__ = ["LayerCalibration", "RateApproximation", "rate_approximation", "calibrate", "fidelity"]

_LOG_GAIN_BOUND = 6.0
_LOGISTIC_SCALE = math.sqrt(3.0) / math.pi  # scale / standard deviation of the logistic distribution


@dataclass(frozen=True)
class LayerCalibration:
    """Per-layer scalars of the rate approximation (see the module doc); the defaults are the
    equations as written.

    Attributes
    ----------
    gain : float
        ``a``, multiplies the rate estimate (> 0).
    shift_mV : float
        ``b``, added to every neuron's threshold gap (mV).
    noise : float
        ``lambda``, multiplies the shot-noise standard deviation (> 0).
    inhibition : float
        ``kappa``, multiplies the lateral inhibition (>= 0).
    """

    gain: float = 1.0
    shift_mV: float = 0.0
    noise: float = 1.0
    inhibition: float = 1.0

    def __post_init__(self) -> None:
        for name in ("gain", "shift_mV", "noise", "inhibition"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"LayerCalibration.{name} must be finite, got {getattr(self, name)!r}")
        if self.gain <= 0 or self.noise <= 0 or self.inhibition < 0:
            raise ValueError(
                f"LayerCalibration needs gain > 0, noise > 0 and inhibition >= 0, got {self}; "
                "refit with calibrate(twin, x)"
            )


def _integration_factor(e: float, steps: int) -> float:
    """``c = (1/T) sum_{t=1..T} (1 - e^t) / (1 - e)``: mean depolarisation per unit jump per step,
    averaged over the ``T`` presentation steps of a sample that starts at rest."""
    t = np.arange(1, steps + 1, dtype=np.float64)
    return float(np.mean((1.0 - e**t) / (1.0 - e)))


def _rectified_mean(u: Tensor, s: Tensor) -> Tensor:
    """``E[relu(u + xi)]`` for logistic noise ``xi`` of standard deviation ``s``:
    ``b softplus(u / b)`` with ``b = s sqrt(3) / pi`` (the logistic's CDF is the sigmoid, whose integral
    is the softplus). Smooth in ``u``, and its exponential lower tail keeps gradients finite and
    non-zero far below threshold (a Gaussian's ``exp(-u^2 / 2 s^2)`` tail underflows there)."""
    b = s * _LOGISTIC_SCALE
    return b * torch.nn.functional.softplus(u / b)


def _unwrap(twin: nn.Module) -> SpikingNetworkTwin:
    if isinstance(twin, FlattenedInput):
        twin = twin.twin
    if not isinstance(twin, SpikingNetworkTwin):
        raise TypeError(
            f"twin must be a SpikingNetworkTwin (bridges.twin.build_twin) or a FlattenedInput around one, "
            f"got {type(twin).__name__}"
        )
    if twin.config.encoding != "poisson":
        raise ValueError(
            f"the rate approximation models Poisson rate codes; this network uses encoding={twin.config.encoding!r}"
        )
    return twin


class RateApproximation(nn.Module):
    """Differentiable rate model of a spiking network (see :mod:`bridges.twin.rate_approx`).

    Build it with :func:`rate_approximation`. Holds, per layer, the incoming weight matrices
    ``(n_post, n_pre)`` (dimensionless, ``W.T / (1 mV)``: :func:`~bridges.twin.weights.to_rate_mlp`'s),
    the threshold gaps ``v_thresh + theta - v_rest`` (mV) and the layer constants of the equations.

    Shapes
    ------
    ``forward``: images or features ``(N, ...)`` with ``n_in`` values in [0, 1] -> expected output spike
    counts ``(N, n_out)`` (dtype of the approximation); ``layer_counts``: dict layer -> ``(N, n_layer)``.
    """

    def __init__(
        self,
        twin: SpikingNetworkTwin,
        calibration: Mapping[str, LayerCalibration] | None = None,
        *,
        inhibition_iters: int = 12,
        damping: float = 0.5,
        noise_floor_mV: float = 0.5,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        twin = _unwrap(twin)
        if not (isinstance(inhibition_iters, int) and inhibition_iters >= 0):
            raise ValueError(f"inhibition_iters must be an int >= 0, got {inhibition_iters!r}")
        if not 0.0 < damping <= 1.0:
            raise ValueError(f"damping must lie in (0, 1], got {damping!r}")
        if not (math.isfinite(noise_floor_mV) and noise_floor_mV > 0):
            raise ValueError(f"noise_floor_mV must be a positive number, got {noise_floor_mV!r}")
        self._twin = [twin]  # not a submodule: the approximation owns copies of what it needs
        self.names = list(twin.names)
        self.sources = {name: list(pres) for name, pres in zip(twin.names, twin._incoming)}
        self.steps_present = int(twin.steps_present)
        self.inhibition_iters = int(inhibition_iters)
        self.damping = float(damping)
        self.noise_floor_mV = float(noise_floor_mV)
        self.dtype = dtype
        dt_ms = twin.config.sim.dt_ms
        self.consts: dict[str, dict[str, float]] = {}
        for name, spec in twin._specs.items():
            _, e, _ = membrane_constants(spec.lif, dt_ms, teacher_form=spec.teacher_form)
            for pre in self.sources[name]:
                w = getattr(twin, f"W_{pre}_{name}").detach().cpu().numpy().T / WEIGHT_UNIT_MV
                self.register_buffer(f"W_{pre}_{name}", torch.as_tensor(w, dtype=dtype).contiguous())
            theta = getattr(twin, f"theta_{name}").detach().cpu().numpy() if spec.adaptive else np.zeros(spec.n)
            gap = spec.lif.v_thresh_mV + theta - spec.lif.v_rest_mV
            self.register_buffer(f"gap_{name}", torch.as_tensor(gap, dtype=dtype))
            self.consts[name] = {
                "c": _integration_factor(e, self.steps_present),
                "var": 1.0 / (1.0 - e * e),
                "R": float(max(1, refractory_steps(spec.lif, dt_ms))),
                "w_inh": float(spec.inhibition_mV),
            }
        calibration = dict(calibration or {})
        unknown = sorted(set(calibration) - set(self.names))
        if unknown:
            raise ValueError(f"calibration names layers {unknown} the network does not have ({self.names})")
        self.calibration = {name: calibration.get(name, LayerCalibration()) for name in self.names}

    # ------------------------------------------------------------------ pieces
    @property
    def weights(self) -> dict[str, dict[str, Tensor]]:
        """layer -> source layer -> weight ``(n_post, n_pre)`` (dimensionless; the same as
        ``to_rate_mlp``'s ``layers[k].weight`` for the chain's projections)."""
        return {name: {pre: getattr(self, f"W_{pre}_{name}") for pre in self.sources[name]} for name in self.names}

    def input_activity(self, x: Tensor) -> Tensor:
        """Poisson spike probability per step ``(N, n_in)`` of images/features ``x`` in [0, 1]."""
        twin = self._twin[0]
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor of features in [0, 1], got {type(x).__name__}")
        device = getattr(self, f"gap_{self.names[0]}").device
        return twin.spike_probability(x.flatten(1)).to(device=device, dtype=self.dtype)

    def drive(self, name: str, acts: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Mean depolarisation ``mu`` and shot-noise variance ``sigma^2`` (mV, mV^2) of layer ``name``
        before inhibition, given the activities ``acts`` (``"in"`` and earlier layers, spikes per step)."""
        k = self.consts[name]
        mean = 0.0
        var = 0.0
        for pre in self.sources[name]:
            w = getattr(self, f"W_{pre}_{name}") * WEIGHT_UNIT_MV
            p = acts[pre]
            mean = mean + p @ w.T
            var = var + (p * (1.0 - p)) @ (w * w).T
        return k["c"] * mean, k["var"] * var

    def transfer(self, name: str, mu: Tensor, var: Tensor, cal: LayerCalibration | None = None) -> Tensor:
        """Spikes per step of layer ``name`` for depolarisation ``mu`` and variance ``var``
        (inhibition included in ``mu``), with the layer's calibration or ``cal``."""
        cal = self.calibration[name] if cal is None else cal
        return self._transfer(name, mu, var, *(torch.as_tensor(v, dtype=mu.dtype) for v in _params(cal)))

    def _transfer(self, name: str, mu: Tensor, var: Tensor, gain, shift, noise, inh=None) -> Tensor:
        k = self.consts[name]
        gap = torch.clamp(getattr(self, f"gap_{name}") + shift, min=1e-3)
        s = torch.sqrt(noise * noise * var + self.noise_floor_mV**2)
        rho = gain * _rectified_mean(mu - gap, s) / (gap * k["c"])
        return rho / (1.0 + k["R"] * rho)

    def _layer(self, name: str, acts: Mapping[str, Tensor], gain, shift, noise, inh) -> Tensor:
        mu, var = self.drive(name, acts)
        p = self._transfer(name, mu, var, gain, shift, noise)
        k = self.consts[name]
        if k["w_inh"] > 0 and self.inhibition_iters > 0:
            w = inh * k["w_inh"] * k["c"]
            for _ in range(self.inhibition_iters):
                others = p.sum(dim=1, keepdim=True) - p
                p_new = self._transfer(name, mu - w * others, var, gain, shift, noise)
                p = (1.0 - self.damping) * p + self.damping * p_new
        return p

    def layer_counts(self, x: Tensor) -> dict[str, Tensor]:
        """Expected spike counts per sample ``(N, n_layer)`` of every layer (``h1``.. ``out``)."""
        acts = {"in": self.input_activity(x)}
        for name in self.names:
            cal = self.calibration[name]
            acts[name] = self._layer(name, acts, *(torch.as_tensor(v, dtype=self.dtype) for v in _params(cal)))
        return {name: acts[name] * self.steps_present for name in self.names}

    def forward(self, x: Tensor) -> Tensor:
        return self.layer_counts(x)[self.names[-1]]

    def extra_repr(self) -> str:
        cal = {k: tuple(round(v, 4) for v in _params(c)) for k, c in self.calibration.items()}
        return f"layers={self.names}, skips={ {k: v[1:] for k, v in self.sources.items() if len(v) > 1} }, cal={cal}"


def _params(cal: LayerCalibration) -> tuple[float, float, float, float]:
    return cal.gain, cal.shift_mV, cal.noise, cal.inhibition


# ----------------------------------------------------------------------------- measuring the twin
@torch.no_grad()
def _twin_counts(twin: SpikingNetworkTwin, x: Tensor, n_draws: int, seed: int) -> dict[str, Tensor]:
    """Mean spike counts ``(N, n_layer)`` of every layer over ``n_draws`` seeded Poisson draws."""
    flat = twin.check_features(x.flatten(1))
    reps = flat.repeat(n_draws, 1)
    spikes = twin.encode(reps, seed=seed)
    counts = twin.run_spikes(spikes)
    n = flat.shape[0]
    return {k: v.reshape(n_draws, n, -1).mean(dim=0).double() for k, v in counts.items()}


def _check_draws(n_draws: int) -> int:
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive int, got {n_draws!r}")
    return n_draws


def _fit_layer(
    approx: RateApproximation, name: str, acts: Mapping[str, Tensor], want: Tensor, max_iter: int, ridge: float
) -> tuple[np.ndarray, float, float]:
    """L-BFGS least squares of layer ``name``'s counts on ``want`` over ``z = (log gain, shift, log noise,
    log inhibition)``, plus ``ridge * mean(want^2) * (z0^2 + z2^2 + z3^2)``; returns the fitted vector
    and the objective before and after."""
    z = torch.zeros(4, dtype=approx.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([z], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")
    scale = ridge * (float(torch.mean(want * want)) + 1e-12)

    def closure() -> Tensor:
        opt.zero_grad()
        gain = torch.exp(torch.clamp(z[0], -_LOG_GAIN_BOUND, _LOG_GAIN_BOUND))
        pred = approx._layer(name, acts, gain, z[1], torch.exp(z[2]), torch.exp(z[3])) * approx.steps_present
        loss = torch.mean((pred - want) ** 2) + scale * (z[0] ** 2 + z[2] ** 2 + z[3] ** 2)
        loss.backward()
        return loss

    with torch.enable_grad():
        before = float(closure().detach())
        opt.step(closure)
        after = float(closure().detach())
    return z.detach().cpu().numpy(), before, after


def calibrate(
    twin: nn.Module,
    x: Tensor,
    *,
    n_draws: int = 8,
    seed: int = 0,
    max_iter: int = 60,
    ridge: float = 0.01,
    **kwargs,
) -> dict[str, LayerCalibration]:
    """Fit the four scalars of every layer (see the module doc) to the twin's mean spike counts on ``x``.

    Parameters
    ----------
    twin : SpikingNetworkTwin or FlattenedInput
    x : Tensor ``(N, ...)`` in [0, 1]
        Calibration images (clean training images; not the images later attacked).
    n_draws : int
        Poisson draws per image whose mean counts are the targets.
    seed : int
        Seed of those draws.
    max_iter : int
        L-BFGS iterations per layer.
    ridge : float
        Weight of the penalty pulling the log-scalars towards the equations as written (relative to the
        mean squared target count; 0: plain least squares).
    **kwargs
        Passed to :class:`RateApproximation` (``inhibition_iters``, ``damping``, ...).

    Returns
    -------
    dict layer -> LayerCalibration

    Examples
    --------
    >>> import torch
    >>> from spiking import NetworkConfig, SimParams, init_state
    >>> from bridges.twin import build_twin
    >>> cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(3,), n_out=2, max_rate_hz=1000.0,
    ...                     sim=SimParams(dt_ms=1.0, t_present_ms=20.0))
    >>> twin = build_twin(cfg, {k: 4 * v for k, v in init_state(cfg, seed=0).items()})
    >>> sorted(calibrate(twin, torch.rand(8, 4), n_draws=2, max_iter=5))
    ['h1', 'out']
    """
    twin = _unwrap(twin)
    n_draws = _check_draws(n_draws)
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    if not (math.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    target = _twin_counts(twin, x, n_draws, int(seed))
    approx = RateApproximation(twin, **kwargs)
    fitted: dict[str, LayerCalibration] = {}
    with torch.no_grad():
        acts = {"in": approx.input_activity(x).detach()}
    for name in approx.names:
        want = target[name].to(approx.dtype)
        zz, before, after = _fit_layer(approx, name, acts, want, max_iter, ridge)
        if not (np.all(np.isfinite(zz)) and math.isfinite(after) and after <= before):
            warnings.warn(
                f"calibration of layer {name!r} did not improve the fit ({before:.4g} -> {after:.4g}); "
                "keeping the uncalibrated equations for it",
                stacklevel=2,
            )
            zz = np.zeros(4)
        if float(want.sum()) == 0.0:
            warnings.warn(
                f"layer {name!r} of the twin is silent on the calibration images; its calibration is "
                "meaningless (more or other images, or a network that fires)",
                stacklevel=2,
            )
        cal = LayerCalibration(
            gain=float(np.exp(np.clip(zz[0], -_LOG_GAIN_BOUND, _LOG_GAIN_BOUND))),
            shift_mV=float(zz[1]),
            noise=float(np.exp(zz[2])),
            inhibition=float(np.exp(zz[3])) if approx.consts[name]["w_inh"] > 0 else 1.0,
        )
        fitted[name] = cal
        with torch.no_grad():
            acts[name] = approx._layer(name, acts, *(torch.as_tensor(v, dtype=approx.dtype) for v in _params(cal)))
    return fitted


def rate_approximation(
    twin: nn.Module,
    calibration_x: Tensor | None = None,
    *,
    calibration: Mapping[str, LayerCalibration] | None = None,
    n_draws: int = 8,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    **kwargs,
) -> RateApproximation:
    """The differentiable rate approximation of a spiking network (see :mod:`bridges.twin.rate_approx`).

    Parameters
    ----------
    twin : SpikingNetworkTwin or FlattenedInput
        The network (its weights, thresholds, neuron parameters, skip projections).
    calibration_x : Tensor ``(N, ...)`` in [0, 1], optional
        Clean images to calibrate on (:func:`calibrate`); without them (and without ``calibration``)
        the equations are used as written.
    calibration : dict layer -> LayerCalibration, optional
        Already fitted scalars (exclusive with ``calibration_x``).
    n_draws, seed
        Poisson draws per calibration image and their seed.
    dtype : torch.float64 or torch.float32
    **kwargs
        ``inhibition_iters`` (12), ``damping`` (0.5), ``noise_floor_mV`` (0.5).

    Returns
    -------
    RateApproximation
        ``(N, ...)`` images in [0, 1] -> expected output spike counts ``(N, n_out)``; use it as the
        ``grad_model`` of an attack and score the adversarial images on the spiking network.

    Examples
    --------
    >>> import torch
    >>> from spiking import NetworkConfig, init_state
    >>> from bridges.twin import build_twin, to_rate_mlp
    >>> cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
    >>> state = init_state(cfg, seed=0)
    >>> approx = rate_approximation(build_twin(cfg, state))
    >>> torch.equal(approx.weights["h1"]["in"], to_rate_mlp(cfg, state).layers[0].weight)
    True
    """
    if calibration is not None and calibration_x is not None:
        raise ValueError("pass calibration_x (to fit) or calibration (already fitted), not both")
    if calibration_x is not None:
        calibration = calibrate(twin, calibration_x, n_draws=n_draws, seed=seed, dtype=dtype, **kwargs)
    return RateApproximation(_unwrap(twin), calibration, dtype=dtype, **kwargs)


# ----------------------------------------------------------------------------- fidelity
def _pearson(a: Tensor, b: Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    den = float(torch.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / den if den > 0 else float("nan")


def fidelity(
    twin: nn.Module,
    approx: nn.Module,
    x: Tensor,
    y: Tensor | None = None,
    *,
    n_draws: int = 8,
    seed: int = 0,
) -> dict[str, float]:
    """How well ``approx`` tracks the twin's mean output spike counts on images ``x``.

    Parameters
    ----------
    twin : SpikingNetworkTwin or FlattenedInput
    approx : callable ``(N, ...) -> (N, n_out)``
        Usually a :class:`RateApproximation`.
    x : Tensor ``(N, ...)`` in [0, 1]
    y : Tensor ``(N,)``, optional
        Labels: adds both models' accuracies.
    n_draws, seed
        Poisson draws per image of the twin's mean counts, and their seed.

    Returns
    -------
    dict with
        ``pearson`` (correlation over all ``N x n_out`` entries), ``pearson_within`` (correlation of the
        counts centred per sample: what the argmax sees), ``argmax_agreement`` (share of samples whose
        approximated argmax is one of the twin's maximal outputs), ``twin_tie_share`` (share of samples
        whose twin maximum is tied, silent outputs included), ``n``; with ``y`` also
        ``twin_accuracy`` (first maximum) and ``approx_accuracy``.

    Examples
    --------
    >>> import torch
    >>> from spiking import NetworkConfig, init_state
    >>> from bridges.twin import build_twin
    >>> cfg = NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
    >>> twin = build_twin(cfg, init_state(cfg, seed=0))
    >>> f = fidelity(twin, rate_approximation(twin), torch.rand(6, 4), n_draws=2)
    >>> sorted(f)
    ['argmax_agreement', 'n', 'pearson', 'pearson_within', 'twin_tie_share']
    """
    twin = _unwrap(twin)
    n_draws = _check_draws(n_draws)
    counts = _twin_counts(twin, x, n_draws, int(seed))[twin.names[-1]]
    with torch.no_grad():
        est = approx(x).detach().double().cpu()
    counts = counts.cpu()
    if est.shape != counts.shape:
        raise ValueError(f"approx returned shape {tuple(est.shape)}, the twin {tuple(counts.shape)}")
    top = counts.max(dim=1, keepdim=True).values
    is_max = counts == top
    pick = est.argmax(dim=1)
    out = {
        "pearson": _pearson(est, counts),
        "pearson_within": _pearson(est - est.mean(dim=1, keepdim=True), counts - counts.mean(dim=1, keepdim=True)),
        "argmax_agreement": float(is_max.gather(1, pick[:, None]).double().mean()),
        "twin_tie_share": float((is_max.sum(dim=1) > 1).double().mean()),
        "n": int(counts.shape[0]),
    }
    if y is not None:
        y = torch.as_tensor(y).cpu().long()
        out["twin_accuracy"] = float((counts.argmax(dim=1) == y).double().mean())
        out["approx_accuracy"] = float((pick == y).double().mean())
    return out
