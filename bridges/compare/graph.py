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

Example: :mod:`bridges.compare` (the package docstring).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bridges.compare.config import CompareConfig, family_of
from bridges.compare.families import FAMILIES, LoadedModel
from bridges.io import atomic_write_json, read_json
from bridges.tasks import Task, task_key

__all__ = [
    "WorkEstimate",
    "build_tasks",
    "compile_task",
    "train_task",
    "eval_task",
    "task_kind",
    "task_prior_s",
    "worker_init",
    "worker_session",
]


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
        dev = _device_of(grad_model)  # the twin's device (--device); the CPU by default
        kw = {"seed": spec["attack_seed"], "input_range": (0.0, 1.0)}
        if kind == "surrogate":
            kw["eot_samples"] = spec["eot_samples"]
        if _accepts(attack, "steps"):  # the iteration budget of iterative attacks
            kw["steps"] = spec["pgd_steps"]
        x_adv = attack(grad_model, x.to(dev), y.to(dev), eps, **kw).cpu()
    pred = target.predict(x_adv)
    acc = float((np.asarray(pred) == y.numpy()).mean())
    return {"accuracy": acc, "n": int(len(y)), "simulator": target.simulator}


def _device_of(module: torch.nn.Module) -> torch.device:
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


def _accepts(fn, name: str) -> bool:
    import inspect

    return name in inspect.signature(fn).parameters


def worker_init() -> None:
    """Set-up of a sweep worker process (``run_tasks(worker_init=...)``): consecutive spiking tasks
    of one Brian2 project reuse its build (:func:`spiking.keep_builds`); the worker exits with the
    sweep. Brian2's expected messages are hidden unless the command was run with ``--verbose``
    (:func:`bridges.quiet.quiet_expected_warnings`, through the environment)."""
    from bridges.quiet import quiet_expected_warnings
    from spiking.backend.engine import set_keep_builds

    quiet_expected_warnings()
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


# --- how much work is left: the comparison's progress and ETA -------------------------------------

#: Seconds on one core of each kind of task in the default comparison (digits, 2 workers, measured
#: with ``bioplausible compare``), the priors of :class:`WorkEstimate`.
_PRIOR_S = {
    "compile": 80.0,  # one Brian2 standalone project (cold cache)
    "train rate": 3.2 / 30,  # per epoch (1348 samples)
    "train spiking": 9.0,  # per epoch (1348 samples)
    "eval rate": 0.085,  # one attack and epsilon on the whole test set
    "predict spiking": 9e-5,  # per sample and time step simulated in Brian2
    "gradient spiking": 2.7e-5,  # per sample, time step, input-spike draw and attack step of the twin
}


def task_kind(task: Task) -> str:
    """The kind of ``task`` for run-time estimates: ``compile <family> <rule>``, ``train <family>
    <rule>`` or ``eval <family> <rule> <attack> <method>`` (``eval <family> <rule> clean`` at
    epsilon 0)."""
    s = task.spec
    head = f"{s.get('family')} {s.get('rule')}"
    if task.fn is compile_task:
        return f"compile {head}"
    if task.fn is train_task:
        return f"train {head}"
    if task.fn is eval_task:
        if float(s["epsilon"]) == 0:
            return f"eval {head} clean"
        return f"eval {head} {s['attack']} {s['method']}"
    return task.key.split("-")[0]


def task_prior_s(task: Task) -> float:
    """Expected seconds of ``task`` on one core before any task of its kind has finished (the
    default comparison's measured costs, scaled by epochs, samples, time steps per sample, attack
    steps and EOT draws)."""
    s = task.spec
    if task.fn is compile_task:
        return _PRIOR_S["compile"]
    if task.fn is train_task:
        epochs = float(s["config"].get("epochs") or 1)
        return epochs * _PRIOR_S["train rate" if s["family"] == "rate" else "train spiking"]
    if task.fn is eval_task:
        if s["family"] == "rate":
            return _PRIOR_S["eval rate"]
        c = s["config"]
        steps = float(c.get("t_present_ms") or 100) / float(c.get("dt_ms") or 1)  # simulated per sample
        work = float(s.get("n_eval") or 100) * steps
        cost = work * _PRIOR_S["predict spiking"]
        if float(s["epsilon"]) != 0 and s["attack"] == "surrogate":
            iterations = 1 if s["method"] == "fgsm" else int(s.get("pgd_steps") or 1)
            cost += work * int(s.get("eot_samples") or 1) * iterations * _PRIOR_S["gradient spiking"]
        return cost
    return 1.0


class WorkEstimate:
    """The work of a comparison in seconds of one worker: what is done, and what is expected.

    Counting tasks misleads (a compilation takes minutes, an evaluation of a rate model a tenth of
    a second), so a progress bar counts expected seconds instead: every task is weighted by its
    prior (:func:`task_prior_s`) times a factor learnt from the finished tasks (measured seconds
    over priors): its kind's once a task of that kind has finished (a cache hit, a slow rule),
    else the median of the kinds' factors (this machine's speed). ``done_s / elapsed`` is then the
    sweep's rate in worker-seconds per second and ``(total_s - done_s)`` over that rate its
    remaining time, whatever the number of workers.

    Example
    -------
    >>> cfg = CompareConfig(rules=("bp", "fa"), seeds=(0,), epsilons=(0.0, 0.1), methods=("fgsm",))
    >>> work = WorkEstimate(build_tasks(cfg))
    >>> round(work.total_s, 2), work.done_s   # 2 trainings of 30 epochs (3.2 s) + 6 evaluations
    (6.91, 0.0)
    >>> train = next(t for t in work.tasks if t.fn is train_task)
    >>> work.finish(train, {"seconds": 6.4})   # this machine takes twice the prior
    True
    >>> round(work.done_s, 2), round(work.total_s, 2)   # so everything left is expected to, too
    (6.4, 13.82)
    """

    def __init__(self, tasks: list[Task], results_dir: str | Path | None = None) -> None:
        self.tasks = list(tasks)
        self._prior = {t.key: task_prior_s(t) for t in self.tasks}
        self._kind = {t.key: task_kind(t) for t in self.tasks}
        self._seconds: dict[str, float] = {}
        self._fit: dict[str, list[float]] = {}  # kind -> [measured seconds, prior seconds]
        #: seconds of the tasks already finished when the estimate was made (a resumed run)
        self.initial_s = 0.0
        if results_dir is not None:
            from bridges.tasks import result_path

            for t in self.tasks:
                path = result_path(results_dir, t.key)
                if path.exists():
                    self.finish(t, read_json(path))
            self.initial_s = self.done_s

    def finish(self, task: Task, record: dict) -> bool:
        """Count a finished task (its ``record`` holds the measured ``seconds``); False if counted already."""
        if task.key in self._seconds:
            return False
        seconds = record.get("seconds")
        if not isinstance(seconds, (int, float)) or seconds < 0:
            seconds = self.expected_s(task)
        self._seconds[task.key] = float(seconds)
        fit = self._fit.setdefault(self._kind[task.key], [0.0, 0.0])
        fit[0] += float(seconds)
        fit[1] += self._prior[task.key]
        return True

    def expected_s(self, task: Task) -> float:
        """Expected seconds of a task not yet finished: its prior times the learnt factor."""
        fit = self._fit.get(self._kind[task.key])
        if fit is not None and fit[1] > 0:
            return self._prior[task.key] * fit[0] / fit[1]
        return self._prior[task.key] * self._machine_factor()

    def _machine_factor(self) -> float:
        factors = sorted(m / p for m, p in self._fit.values() if p > 0)
        if not factors:
            return 1.0
        mid = len(factors) // 2
        return factors[mid] if len(factors) % 2 else (factors[mid - 1] + factors[mid]) / 2

    @property
    def n_done(self) -> int:
        return len(self._seconds)

    @property
    def done_s(self) -> float:
        """Measured seconds of the finished tasks."""
        return float(sum(self._seconds.values()))

    @property
    def total_s(self) -> float:
        """Finished seconds plus the expected seconds of every task not yet finished."""
        pending = sum(self.expected_s(t) for t in self.tasks if t.key not in self._seconds)
        return self.done_s + pending
