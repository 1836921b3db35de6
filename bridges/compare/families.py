"""Model families of the comparison: how a family trains, compiles, loads and attacks its models.

A family is registered in :data:`FAMILIES` (the project's one registry mechanism); the comparison
knows nothing else of rate or spiking models. Each family's :meth:`load` returns a
:class:`LoadedModel`: a predictor in the family's own simulator and a differentiable torch module
whose input gradient drives attacks.

Example
-------
>>> FAMILIES.names()
('rate', 'spiking')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ratebased.registry import Registry

if TYPE_CHECKING:
    from bridges.compare.config import CompareConfig

__all__ = [
    "DEVICE_ENV",
    "FAMILIES",
    "LoadedModel",
    "RateFamily",
    "SpikingFamily",
    "torch_device",
]

#: environment variable naming the torch device of rate trainings and of the differentiable twins
#: (``bioplausible compare --device`` sets it for the run; pool and local Ray workers inherit it).
#: It is never part of a task key; unset, everything runs on the CPU (the published results).
DEVICE_ENV = "BIOPLAUSIBLE_DEVICE"


def torch_device() -> str:
    """The torch device this worker trains rate models and runs twins on (``$BIOPLAUSIBLE_DEVICE``,
    default ``cpu``)."""
    return os.environ.get(DEVICE_ENV) or "cpu"


class RateFamily:
    """Rate-based rules trained with ``bridges.runs.rate`` and evaluated in torch."""

    name = "rate"
    simulator = "torch"

    @staticmethod
    def has_rule(rule: str) -> bool:
        import ratebased as rb

        return rule in rb.RULES

    @staticmethod
    def canonical(rule: str) -> str:
        import ratebased as rb

        return rb.RULES.canonical(rule)

    @staticmethod
    def rule_names() -> tuple[str, ...]:
        import ratebased as rb

        return rb.available_rules()

    @staticmethod
    def run_config(cfg: CompareConfig, rule: str, seed: int) -> dict:
        from bridges.runs.presets import rate_preset
        from bridges.runs.rate import RateRunConfig

        d = rate_preset(cfg.dataset, rule)
        d.update(cfg.rate)
        d.update(cfg.rate_rules.get(rule, {}))
        d.update(rule=rule, seed=seed, dataset=cfg.dataset, classes=cfg.classes)
        return RateRunConfig(**d).to_dict()

    @staticmethod
    def compile_config(config: dict) -> None:
        """Nothing to compile ahead: torch needs no build step."""
        return None

    @staticmethod
    def train(spec: dict, model_dir: Path) -> dict:
        from bridges.runs.rate import RateRunConfig, save_rate_run, train_rate

        cfg = RateRunConfig.from_dict(spec["config"])
        res = train_rate(
            cfg, data_root=spec.get("data_root"), device=torch_device(), checkpoint_dir=model_dir, resume=True
        )
        save_rate_run(model_dir, res, cfg)
        return {
            "clean_accuracy": res.metrics["test_accuracy"],
            "train_seconds": sum(e["seconds"] for e in res.metrics["epochs"]),
        }

    @staticmethod
    def load(model_dir: Path) -> LoadedModel:
        import ratebased as rb
        from bridges.runs.rate import load_rate_model

        model, cfg, meta = load_rate_model(model_dir, torch_device())
        model.eval()
        twin = rb.true_gradient_view(model).eval()
        p = next(model.parameters())

        def predict(x: torch.Tensor) -> np.ndarray:
            with torch.no_grad():
                return model(x.to(p.device, p.dtype)).argmax(1).cpu().numpy()

        return LoadedModel(predict=predict, grad_model=twin, simulator="torch", stochastic=False)


class SpikingFamily:
    """Spiking rules trained and evaluated in Brian2 (``spiking.SpikingClassifier``); attacked
    through the snntorch twin (``bridges.twin``)."""

    name = "spiking"
    simulator = "brian2"

    @staticmethod
    def has_rule(rule: str) -> bool:
        import spiking as spk

        return rule in spk.RULES

    @staticmethod
    def canonical(rule: str) -> str:
        import spiking as spk

        return spk.RULES.canonical(rule)

    @staticmethod
    def rule_names() -> tuple[str, ...]:
        import spiking as spk

        return spk.available_rules()

    @staticmethod
    def run_config(cfg: CompareConfig, rule: str, seed: int) -> dict:
        from bridges.runs.presets import spiking_preset

        d = spiking_preset(cfg.dataset, rule)
        d.update(cfg.spiking)
        d.update(rule=rule, seed=seed, dataset=cfg.dataset, classes=None if cfg.classes is None else list(cfg.classes))
        return d

    @staticmethod
    def compile_config(config: dict) -> dict:
        """What the compiled Brian2 projects of a run depend on: the run without its seed."""
        return {k: v for k, v in config.items() if k != "seed"}

    @staticmethod
    def compile(spec: dict) -> dict:
        from bridges.runs.spiking import compile_spiking_run

        return compile_spiking_run(spec["config"], data_root=spec.get("data_root"))

    @staticmethod
    def train(spec: dict, model_dir: Path) -> dict:
        from bridges.runs.spiking import train_spiking_model

        return train_spiking_model(spec["config"], model_dir, data_root=spec.get("data_root"))

    @staticmethod
    def load(model_dir: Path) -> LoadedModel:
        from bridges.runs.spiking import load_spiking_model

        m = load_spiking_model(model_dir)
        twin = m.twin.to(torch_device())
        return LoadedModel(
            predict=m.predict, grad_model=twin, simulator="brian2", stochastic=True, rate_model=_rate_model(twin)
        )


def _rate_model(twin: torch.nn.Module) -> torch.nn.Module:
    """The differentiable rate approximation of a spiking twin (images in, expected output counts
    out; the equations uncalibrated: the evaluation tasks calibrate it on training images), the
    gradient source of the ``rate-approx`` attacks (:func:`bridges.twin.rate_approximation`)."""
    from bridges.twin.rate_approx import rate_approximation

    return rate_approximation(twin).eval()


@dataclass
class LoadedModel:
    """What an evaluation task needs of a trained model.

    ``predict(x) -> labels`` runs the model in its own simulator; ``grad_model`` is a differentiable
    torch module whose input gradient drives white-box attacks (``None``: not attackable white-box):
    the true-gradient view of a rate model, the surrogate-gradient snntorch twin of a spiking model
    (whose scores also drive the gradient-free attacks); ``rate_model`` is a spiking model's
    differentiable rate approximation (BPDA, the ``rate-approx`` attacks), ``None`` elsewhere.
    """

    predict: Any
    grad_model: torch.nn.Module | None
    simulator: str
    stochastic: bool = False
    rate_model: torch.nn.Module | None = None


FAMILIES: Registry = Registry("model family")
FAMILIES.register("rate", RateFamily)
FAMILIES.register("spiking", SpikingFamily)
