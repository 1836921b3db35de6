"""The comparison as a task graph: compilations, trainings and attacks, each a task of :mod:`bridges.tasks`.

One compilation task per spiking configuration (its Brian2 projects, shared by every seed), one
training task per (rule, data set, seed, config) and one evaluation task per (model, attack,
method, epsilon) run through :mod:`bridges.tasks` (sequential, local process pool or Ray), with a
model cache keyed by config and one result file per task. :func:`~bridges.compare.results.merge`
turns the finished tasks into result rows (with per-sample worst cases);
:func:`~bridges.compare.verdicts.verdicts` judges each model's attacks;
:mod:`bridges.compare.report` writes the report.

Attacks (each row says which):

* ``whitebox``  - rate models, attacked through the **true** input gradient: a plain-autograd twin
  sharing the weights (never the feedback path of FA/DFA/sign-symmetry), evaluated in torch;
* ``transfer``  - adversarial examples crafted white-box on a source model (BP by default, same seed)
  and evaluated on every other model, rate or spiking; crafted once per source, method, epsilon and
  set of test samples by a craft task (:func:`craft_task`) that every target's evaluation reads;
* ``surrogate`` - spiking models, attacked through the snntorch twin's surrogate gradients averaged
  over input spike draws (expectation over transformation), the adversarial images then evaluated
  in Brian2;
* ``rate-approx`` - spiking models, attacked through a differentiable rate approximation of the
  network (same weights; BPDA, Athalye et al. 2018, arXiv 1802.00420), evaluated in Brian2;
* ``score`` - every model, attacked by the gradient-free Square attack on its scores (rate: torch;
  spiking: the twin with common spike draws while searching), evaluated in the model's simulator.

Every model also gets one clean evaluation (the rows at epsilon 0 of every attack; the share of
vanishing input gradients), a sanity row at ``sanity_epsilon`` (1.0: any classifier can be fooled)
and a budget check at the largest epsilon (twice the iterations and EOT draws), the evidence of the
masking verdicts (:mod:`bridges.compare.verdicts`). Spiking evaluations also score the inputs on the
twin (``twin_accuracy``, ``agreement`` with Brian2).

Example: :mod:`bridges.compare` (the package docstring).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bridges.compare.config import CompareConfig, family_of
from bridges.compare.families import FAMILIES, LoadedModel
from bridges.io import atomic_save_npz, atomic_write_json, read_json
from bridges.tasks import Task, task_key

__all__ = [
    "budget_of",
    "build_tasks",
    "compile_task",
    "craft_task",
    "train_task",
    "transfer_path",
    "TRANSFER_DIR",
    "eval_task",
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


def _train_images(spec: dict, n: int) -> torch.Tensor:
    """The first ``n`` training images of the evaluation's data set (and classes)."""
    from bridges.data import load_dataset, subset

    ds = load_dataset(spec["dataset"], spec.get("data_root"))
    if spec.get("classes") is not None:
        ds = subset(ds, spec["classes"])
    return torch.as_tensor(ds.x_train[:n], dtype=torch.float32)


#: clean training images the rate approximation of a spiking model is calibrated on
#: (:func:`bridges.twin.rate_approx.calibrate`; never the attacked test images), and their spike draws
RATE_CALIBRATION_N = 256
RATE_CALIBRATION_DRAWS = 8


def _calibrate_rate_model(target: LoadedModel, spec: dict, results_dir: Path) -> None:
    """Replace ``target.rate_model`` by the rate approximation calibrated on training images. The
    fitted scalars are kept in the model's folder (``rate_calibration.json``, written atomically;
    the fit is deterministic, so a task that reads them gets what it would have computed)."""
    import dataclasses

    from bridges.twin.rate_approx import LayerCalibration, calibrate, rate_approximation

    path = _model_dir(results_dir, spec["family"], spec["config"]) / "rate_calibration.json"
    if path.exists():
        cal = {layer: LayerCalibration(**v) for layer, v in read_json(path).items()}
    else:
        dev = _device_of(target.grad_model)
        x_cal = _train_images(spec, RATE_CALIBRATION_N).to(dev)
        cal = calibrate(target.grad_model, x_cal, n_draws=RATE_CALIBRATION_DRAWS, seed=0)
        atomic_write_json(path, {layer: dataclasses.asdict(c) for layer, c in cal.items()})
    target.rate_model = rate_approximation(target.grad_model, calibration=cal).eval()


def _load(results_dir: Path, family: str, config: dict) -> LoadedModel:
    return FAMILIES.get(family).load(_model_dir(results_dir, family, config))


def eval_task(spec: dict, results_dir: Path) -> dict:
    """Task: one model under one attack at one epsilon, sample by sample.

    The result holds ``accuracy``, ``n``, ``simulator`` and ``correct`` (a ``"0110..."`` string, one
    character per test sample in test-set order); spiking models' results also the accuracy of the
    same inputs on the snntorch twin with fresh spike draws (``twin_accuracy``) and the share of
    samples on which twin and Brian2 predict the same class (``agreement``), and the twin's
    per-sample correctness (``twin_correct``, the same ``"0110..."`` form). The clean task
    (``attack="clean"``) records ``zero_grad_share``: per gradient kind of the model, the share of
    samples whose input gradient of the margin loss at the clean input is vanishing
    (``max |grad| < 1e-12``; the margin loss, not cross-entropy, because a confident prediction
    saturates float32 cross-entropy to an exact zero gradient whatever the model).
    """
    x, y = _eval_data(spec)
    target = _load(results_dir, spec["family"], spec["config"])
    eps = float(spec["epsilon"])
    kind = spec["attack"]
    out: dict = {}
    if target.rate_model is not None and "rate-approx" in (kind, *spec.get("gradient_kinds", ())):
        _calibrate_rate_model(target, spec, results_dir)
    if kind == "clean":
        x_adv = x
        out["zero_grad_share"] = {
            k: _zero_grad_share(_gradient_source(k, target, None), x, y, spec, k)
            for k in spec.get("gradient_kinds", ())
        }
    elif eps == 0:
        x_adv = x
    else:
        x_adv = _craft(spec, target, x, y, results_dir)
    pred = np.asarray(target.predict(x_adv))
    correct = pred == y.numpy()
    out.update(accuracy=float(correct.mean()), n=int(len(y)), simulator=target.simulator, correct=_bits(correct))
    if target.stochastic and target.grad_model is not None:  # spiking: the twin's score of the same inputs
        twin_pred = _twin_predict(target.grad_model, x_adv, seed=int(spec.get("attack_seed", 0)) + 1)
        twin_correct = twin_pred == y.numpy()
        out["twin_accuracy"] = float(twin_correct.mean())
        out["agreement"] = float((twin_pred == pred).mean())
        out["twin_correct"] = _bits(twin_correct)
    return out


def _bits(correct: np.ndarray) -> str:
    return (np.asarray(correct, dtype=np.uint8) + ord("0")).tobytes().decode("ascii")


#: attack kind -> (target, transfer source) -> the module whose input gradient (or, for ``score``,
#: whose scores) the attack follows
_GRADIENT_SOURCES = {
    "whitebox": lambda target, source: target.grad_model,
    "surrogate": lambda target, source: target.grad_model,
    "score": lambda target, source: target.grad_model,
    "rate-approx": lambda target, source: target.rate_model,
    "transfer": lambda target, source: source.grad_model,
}


def _gradient_source(kind: str, target: LoadedModel, source: LoadedModel | None) -> torch.nn.Module:
    model = _GRADIENT_SOURCES[kind](target, source)
    if model is None:
        raise RuntimeError(f"this {target.simulator} model has no differentiable module for a {kind} attack")
    return model


def craft_task(spec: dict, results_dir: Path) -> dict:
    """Task: the adversarial images of one transfer attack, crafted on the source model (a rate
    model's true input gradient) for the test samples of ``spec`` and written to
    ``<results>/transfer/<key>.npz`` (``x_adv``) for every target the comparison scores on them
    (:func:`eval_task` of a ``transfer`` attack reads them). Returns where, and how many images."""
    x, y = _eval_data(spec)
    source = _load(results_dir, "rate", spec["source_config"])
    x_adv = _attack(spec, _gradient_source("transfer", source, source), x, y)
    key = task_key("craft", {k: v for k, v in spec.items() if k != "attack_seed"})
    path = transfer_path(results_dir, key)
    atomic_save_npz(path, x_adv=x_adv.numpy())
    return {"images": path.relative_to(results_dir).as_posix(), "n": int(len(x_adv))}


def transfer_path(results_dir: str | Path, craft_key: str) -> Path:
    """Where :func:`craft_task` ``craft_key`` keeps its images."""
    return Path(results_dir) / TRANSFER_DIR / f"{craft_key}.npz"


def _craft(spec: dict, target: LoadedModel, x: torch.Tensor, y: torch.Tensor, results_dir: Path) -> torch.Tensor:
    """Adversarial images of one evaluation: a transfer attack's are its craft task's, the others
    are crafted here on the target's own gradients or scores."""
    if spec["attack"] != "transfer":
        return _attack(spec, _gradient_source(spec["attack"], target, None), x, y)
    path = transfer_path(results_dir, spec["craft_key"])
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing although its craft task finished; delete tasks/{spec['craft_key']}.json in the "
            "results folder and run the comparison again to recompute it"
        )
    with np.load(path) as f:
        return torch.from_numpy(f["x_adv"])


def _attack(spec: dict, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``spec``'s attack (method, epsilon, budget, seed) on ``model``'s input gradient or scores."""
    from bridges import attacks

    attack = attacks.get_attack(spec["method"])
    dev = _device_of(model)  # the twin's device (--device); the CPU by default
    kw = {"seed": spec["attack_seed"], "input_range": (0.0, 1.0)}
    budget = spec.get("budget", {})
    for name in ("steps", "eot_samples", "queries"):
        if name in budget and _accepts(attack, name):
            kw[name] = budget[name]
    if spec["attack"] == "score" and _accepts(attack, "fixed_noise"):
        kw["fixed_noise"] = True  # common random numbers while searching; Brian2 re-scores with fresh draws
    return attack(model, x.to(dev), y.to(dev), float(spec["epsilon"]), **kw).cpu()


#: samples per batch when the twin scores or measures input gradients (bounds its memory)
TWIN_BATCH = 256


def _twin_predict(model: torch.nn.Module, x: torch.Tensor, seed: int) -> np.ndarray:
    """Classes the twin predicts for ``x`` with fresh spike draws (torch's global RNG, seeded in a fork)."""
    dev = _device_of(model)
    out = []
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        was = model.training
        model.eval()
        twin = getattr(model, "twin", model)  # FlattenedInput wraps the twin
        for i in range(0, len(x), TWIN_BATCH):
            xb = x[i : i + TWIN_BATCH].to(dev).flatten(1).to(twin.dtype)
            out.append(twin.predict(xb).cpu().numpy())  # Brian2's tie-break: the most output drive
        model.train(was)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


#: an input gradient counts as vanishing below this magnitude (every pixel of the sample)
ZERO_GRAD_ABS = 1e-12


def _zero_grad_share(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, spec: dict, kind: str) -> float:
    from bridges.attacks import input_gradient

    dev = _device_of(model)
    eot = int(spec.get("eot_samples") or 1) if kind == "surrogate" else 1
    zero = []
    for i in range(0, len(x), TWIN_BATCH):
        g = input_gradient(
            model,
            x[i : i + TWIN_BATCH].to(dev),
            y[i : i + TWIN_BATCH].to(dev),
            loss="margin",
            eot_samples=eot,
            seed=int(spec.get("attack_seed", 0)),
        )
        zero.append((g.reshape(len(g), -1).abs().amax(dim=1) < ZERO_GRAD_ABS).cpu().numpy())
    return float(np.concatenate(zero).mean()) if zero else 0.0


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
    trainings, the transfer attacks' images (:func:`craft_task`, one per source model, method,
    epsilon and set of test samples, shared by every target), then every (model, attack, method,
    epsilon) evaluation."""
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
    crafts: dict[str, Task] = {}  # transfer images: one per source, method, epsilon and sample set
    evals: list[Task] = []
    for rule in cfg.rules:
        fam, _ = family_of(rule)
        for seed in cfg.seeds:
            evals += _eval_tasks(cfg, rule, fam, seed, train_keys, crafts)
    # compilations first: every executor starts them before anything else
    return [*compiles.values(), *tasks, *crafts.values(), *evals]


#: the kinds of attack on a model of each family that follow the model's own gradients
OWN_GRADIENT_KINDS = {"rate": ("whitebox",), "spiking": ("surrogate", "rate-approx")}

#: the iterative method the budget check (masking evidence (d)) doubles, in order of preference
CHECK_METHODS = ("apgd-ce", "pgd", "apgd-dlr")


def _own_kinds(fam: str) -> tuple[str, ...]:
    return OWN_GRADIENT_KINDS[fam]


def budget_of(cfg: CompareConfig, kind: str, method: str, factor: int = 1) -> dict:
    """The budget an attack runs with, as its rows state it: ``steps`` (iterative methods: of the
    source model's attack for ``transfer``), ``eot_samples`` (``surrogate``), ``queries`` (Square);
    ``factor`` multiplies the EOT draws of ``surrogate`` attacks and the steps of every other kind
    (the budget check: one of the two doubled at a time keeps its cost at twice one attack's)."""
    from bridges.attacks import get_attack

    out = {}
    steps = cfg.steps_of(method)
    if steps is not None:  # surrogate: the check doubles the EOT draws instead of the steps
        out["steps"] = steps * (factor if kind != "surrogate" else 1)
    if kind == "surrogate":
        out["eot_samples"] = cfg.eot_samples * factor
    if _accepts(get_attack(method), "queries"):
        out["queries"] = cfg.square_queries
    return out


#: fields of an evaluation's spec that name its target model: a transfer attack's images depend on
#: the rest only (source model, method, epsilon, budget, test samples), so targets share them
_TARGET_FIELDS = ("family", "rule", "seed", "config")

#: folder (in the results folder) of the transfer attacks' adversarial images, one ``.npz`` per
#: crafting (``craft_key``)
TRANSFER_DIR = "transfer"


def _eval_tasks(
    cfg: CompareConfig, rule: str, fam: str, seed: int, train_keys: dict, crafts: dict[str, Task]
) -> list[Task]:
    """The evaluations of one model: one clean evaluation, every (kind, method, source) at every
    epsilon > 0, the sanity row at ``cfg.sanity_epsilon`` (PGD, else the first gradient method) and
    the budget check at the largest epsilon (each own-gradient kind, the first iterative method of
    :data:`CHECK_METHODS`, twice the EOT draws or steps: :func:`budget_of`); masking evidence (b)
    and (d)."""
    tkey, _, conf = train_keys[(rule, seed)]
    own = _own_kinds(fam)
    acfg = cfg.attack_config(fam)  # the family's attack suite and budgets (spiking: smaller)
    grad_methods, score_methods = acfg.gradient_methods, acfg.score_methods
    surrogate = grad_methods if acfg.surrogate_methods is None else acfg.surrogate_methods
    plan = [(k, m, None) for k in own for m in (surrogate if k == "surrogate" else grad_methods)]
    plan += [("score", m, None) for m in score_methods]
    # transfer attacks are crafted on a rate source model: the rate models' suite and budgets
    plan += [("transfer", m, s) for s in cfg.sources if s != rule for m in cfg.gradient_methods]
    base = {
        "family": fam,
        "rule": rule,
        "seed": seed,
        "config": conf,
        "dataset": cfg.dataset,
        "classes": None if cfg.classes is None else list(cfg.classes),
        "n_eval": cfg.n_eval if fam == "rate" else cfg.n_eval_spiking,
        "data_root": cfg.data_root,
        "record": "per-sample",  # results hold per-sample correctness (keys differ from 0.2's)
    }

    def task(spec: dict, source: str | None = None, extra: dict | None = None) -> Task:
        spec = {**base, **spec}
        deps: tuple = (tkey,)
        if spec["attack"] == "transfer":  # crafted once on the source (craft_task), shared by every target
            craft = {k: v for k, v in spec.items() if k not in _TARGET_FIELDS}
            ckey = task_key("craft", craft)
            craft["attack_seed"] = int(ckey[-8:], 16)
            crafts.setdefault(ckey, Task(ckey, craft_task, craft, (train_keys[(source, seed)][0],)))
            spec["craft_key"], spec["attack_seed"] = ckey, craft["attack_seed"]
            deps += (ckey,)
        else:
            spec["attack_seed"] = int(task_key("seed", spec)[-8:], 16)
        key = task_key(f"eval-{rule}", spec)
        return Task(key, eval_task, {**spec, **(extra or {})}, deps)

    # the clean evaluation: eps 0 of every (kind, method, source) (rows written by merge), and the
    # share of vanishing input gradients of each own-gradient kind (masking evidence (c))
    def budget(kind, method, factor=1):
        return budget_of(cfg if kind == "transfer" else acfg, kind, method, factor)

    zero_rows = [[k, m, s or "", budget(k, m)] for k, m, s in plan] if 0.0 in cfg.epsilons else []
    clean = {"attack": "clean", "method": "", "epsilon": 0.0, "source": None, "source_config": None, "role": "clean"}
    if not acfg.is_attacked(seed):  # a family's attacks may run on its first seeds only (spiking, digits):
        return []  # the other seeds' models are trained, their clean test accuracy recorded by the training
    clean.update(gradient_kinds=list(own), eot_samples=acfg.eot_samples if "surrogate" in own else 1)
    out = [task(clean, extra={"rows_at_zero": zero_rows})]

    def attack(kind, method, source, eps, role, factor=1):
        spec = {
            "attack": kind,
            "method": method,
            "epsilon": float(eps),
            "source": source,
            "source_config": train_keys[(source, seed)][2] if source else None,
            "budget": budget(kind, method, factor),
            "role": role,
        }
        return task(spec, source)

    for kind, method, source in plan:
        for eps in cfg.epsilons:
            if eps > 0:
                out.append(attack(kind, method, source, eps, "attack"))
    if grad_methods and cfg.sanity_epsilon is not None and cfg.sanity_epsilon not in cfg.epsilons:
        for kind in own:  # PGD where the kind runs it, else its first method
            methods = (surrogate if kind == "surrogate" else grad_methods) or grad_methods
            out.append(attack(kind, "pgd" if "pgd" in methods else methods[0], None, cfg.sanity_epsilon, "sanity"))
    largest = max(cfg.epsilons, default=0.0)
    if largest > 0:
        for kind in own:
            methods = surrogate if kind == "surrogate" else grad_methods
            iterative = [m for m in CHECK_METHODS if m in methods and acfg.steps_of(m) is not None]
            iterative += [m for m in methods if acfg.steps_of(m) is not None and m not in iterative]
            method = iterative[0] if iterative else (grad_methods[0] if kind == "surrogate" and grad_methods else None)
            if method is not None:
                out.append(attack(kind, method, None, largest, "budget-check", factor=2))
    return out
