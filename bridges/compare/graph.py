"""The comparison as a task graph: compilations, trainings and attacks, each a task of :mod:`bridges.tasks`.

One compilation task per spiking configuration (its Brian2 projects, shared by every seed), one
training task per (rule, data set, seed, config) and one evaluation task per (model, attack,
method, epsilon) run through :mod:`bridges.tasks` (sequential, local process pool or Ray), with a
model cache keyed by config and one result file per task. :func:`merge` turns the finished tasks
into result rows; :func:`masking_checks` flags suspect robustness; :func:`write_report` writes
``results.csv``, ``results.json``, ``report.md`` and PNG plots (:mod:`bridges.compare.report`).

Attacks (each row says which):

* ``whitebox``  - rate models, attacked through the **true** input gradient: a plain-autograd twin
  sharing the weights (never the feedback path of FA/DFA/sign-symmetry), evaluated in torch;
* ``transfer``  - adversarial examples crafted white-box on a source model (BP by default, same seed)
  and evaluated on every other model, rate or spiking;
* ``surrogate`` - spiking models, attacked through the snntorch twin's surrogate gradients averaged
  over input spike draws (expectation over transformation), the adversarial images then evaluated
  in Brian2.

Example
-------
>>> cfg = CompareConfig(rules=("bp", "fa"), seeds=(0,), epsilons=(0.0, 0.1), methods=("fgsm",))
>>> len(build_tasks(cfg))  # 2 trainings + bp: 2 whitebox; fa: 2 whitebox + 2 transfer
8
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bridges.compare.config import CompareConfig, family_of
from bridges.compare.families import FAMILIES, LoadedModel
from bridges.io import atomic_write_json, read_json
from bridges.tasks import Task, task_key

__all__ = ["build_tasks", "compile_task", "train_task", "eval_task", "worker_init", "worker_session"]


def _model_dir(results_dir: Path, family: str, config: dict) -> Path:
    return Path(results_dir) / "models" / task_key(family, config)


def compile_task(spec: dict, results_dir: Path) -> dict:
    """Task: compile the simulator code that every seed of one model configuration will run (Brian2
    standalone projects, into the shared project cache), ahead of the trainings that depend on it.
    Several configurations then compile side by side on separate workers, instead of one worker
    compiling while the next training of the same configuration waits for the project's lock."""
    return FAMILIES.get(spec["family"]).compile(spec)


def train_task(spec: dict, results_dir: Path) -> dict:
    """Task: train (or reuse from the cache) one model."""
    fam = FAMILIES.get(spec["family"])
    model_dir = _model_dir(results_dir, spec["family"], spec["config"])
    done = model_dir / "DONE.json"
    if done.exists():
        return read_json(done)
    out = fam.train(spec, model_dir)
    out = {**out, "model_dir": str(model_dir.relative_to(results_dir))}
    atomic_write_json(done, out)
    return out


def _eval_data(spec: dict):
    from bridges.data import load_dataset, subset

    ds = load_dataset(spec["dataset"], spec.get("data_root"))
    if spec.get("classes") is not None:
        ds = subset(ds, spec["classes"])
    n = spec.get("n_eval")
    x = torch.as_tensor(ds.x_test[:n] if n else ds.x_test, dtype=torch.float32)
    y = torch.as_tensor(ds.y_test[:n] if n else ds.y_test)
    return x, y


def _load(results_dir: Path, family: str, config: dict) -> LoadedModel:
    return FAMILIES.get(family).load(_model_dir(results_dir, family, config))


def eval_task(spec: dict, results_dir: Path) -> dict:
    """Task: accuracy of one model under one attack at one epsilon."""
    from bridges import attacks

    x, y = _eval_data(spec)
    target = _load(results_dir, spec["family"], spec["config"])
    eps = float(spec["epsilon"])
    kind = spec["attack"]
    if eps == 0 or kind == "clean":
        x_adv = x
    else:
        if kind == "transfer":
            source = _load(results_dir, "rate", spec["source_config"])
            grad_model = source.grad_model
        else:
            grad_model = target.grad_model
            if grad_model is None:
                raise RuntimeError(f"model {spec['rule']} has no differentiable twin for a {kind} attack")
        attack = attacks.get_attack(spec["method"])
        kw = {"seed": spec["attack_seed"], "input_range": (0.0, 1.0)}
        if kind == "surrogate":
            kw["eot_samples"] = spec["eot_samples"]
        if _accepts(attack, "steps"):  # the iteration budget of iterative attacks
            kw["steps"] = spec["pgd_steps"]
        x_adv = attack(grad_model, x, y, eps, **kw)
    pred = target.predict(x_adv)
    acc = float((np.asarray(pred) == y.numpy()).mean())
    return {"accuracy": acc, "n": int(len(y)), "simulator": target.simulator}


def _accepts(fn, name: str) -> bool:
    import inspect

    return name in inspect.signature(fn).parameters


def worker_init() -> None:
    """Set-up of a sweep worker process (``run_tasks(worker_init=...)``): consecutive spiking tasks
    of one Brian2 project reuse its build (:func:`spiking.keep_builds`); the worker exits with the
    sweep."""
    from spiking.backend.engine import set_keep_builds

    set_keep_builds(True)


def worker_session():
    """The in-process counterpart of :func:`worker_init` for the sequential executor: builds are
    kept during the sweep and the Brian2 device is reset when it ends."""
    from spiking.backend.engine import keep_builds

    return keep_builds()


def build_tasks(cfg: CompareConfig) -> list[Task]:
    """The whole graph: compilations (spiking models, one per configuration, shared by its seeds),
    trainings, then every (model, attack, method, epsilon) evaluation."""
    compiles: dict[str, Task] = {}  # one per configuration, whatever the number of seeds
    tasks: list[Task] = []
    train_keys: dict[tuple[str, int], tuple[str, str, dict]] = {}
    needed = list(dict.fromkeys(list(cfg.rules) + [s for s in cfg.sources]))
    for rule in needed:
        fam, inner = family_of(rule)
        family = FAMILIES.get(fam)
        for seed in cfg.seeds:
            conf = family.run_config(cfg, inner, seed)
            deps: tuple = ()
            cconf = family.compile_config(conf)
            if cconf is not None:
                ckey = task_key(f"compile-{rule}", {"family": fam, "config": cconf})
                compiles.setdefault(
                    ckey,
                    Task(
                        ckey, compile_task, {"family": fam, "rule": rule, "config": cconf, "data_root": cfg.data_root}
                    ),
                )
                deps = (ckey,)
            spec = {"family": fam, "rule": rule, "config": conf, "data_root": cfg.data_root}
            key = task_key(f"train-{rule}", {"family": fam, "config": conf})
            tasks.append(Task(key, train_task, spec, deps))
            train_keys[(rule, seed)] = (key, fam, conf)
    for rule in cfg.rules:
        fam, _ = family_of(rule)
        for seed in cfg.seeds:
            tkey, _, conf = train_keys[(rule, seed)]
            kinds = ["whitebox"] if fam == "rate" else ["surrogate"]
            kinds += ["transfer"]
            for kind in kinds:
                sources = [s for s in cfg.sources if s != rule] if kind == "transfer" else [None]
                for source in sources:
                    for method in cfg.methods:
                        for eps in cfg.epsilons:
                            spec = {
                                "family": fam,
                                "rule": rule,
                                "seed": seed,
                                "config": conf,
                                "attack": kind,
                                "method": method,
                                "epsilon": float(eps),
                                "source": source,
                                "source_config": train_keys[(source, seed)][2] if source else None,
                                "dataset": cfg.dataset,
                                "classes": None if cfg.classes is None else list(cfg.classes),
                                "n_eval": cfg.n_eval if fam == "rate" else cfg.n_eval_spiking,
                                "pgd_steps": cfg.pgd_steps,
                                "eot_samples": cfg.eot_samples,
                                "data_root": cfg.data_root,
                            }
                            spec["attack_seed"] = int(task_key("seed", spec)[-8:], 16)
                            deps = (tkey,) + ((train_keys[(source, seed)][0],) if source else ())
                            tasks.append(Task(task_key(f"eval-{rule}", spec), eval_task, spec, deps))
    return [*compiles.values(), *tasks]  # compilations first: every executor starts them before anything else
