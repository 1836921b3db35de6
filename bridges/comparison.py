"""Robustness comparison across rules, rate-based (torch) and spiking (Brian2), as a task graph.

One compilation task per spiking configuration (its Brian2 projects, shared by every seed), one
training task per (rule, data set, seed, config) and one evaluation task per (model, attack,
method, epsilon) run through :mod:`bridges.tasks` (sequential, local process pool or Ray), with a
model cache keyed by config and one result file per task. :func:`merge` turns the finished tasks
into result rows; :func:`masking_checks` flags suspect robustness; :func:`write_report` writes
``results.csv``, ``results.json``, ``report.md`` and PNG plots.

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

import csv
import dataclasses
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from bridges.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from bridges.tasks import Task, result_path, task_key
from ratebased.registry import Registry

log = logging.getLogger(__name__)

__all__ = ["CompareConfig", "FAMILIES", "RULE_FAMILY", "build_tasks", "merge", "masking_checks", "summarise",
           "write_report", "DEFAULT_RULES", "ATTACK_KINDS"]

DEFAULT_RULES = ("bp", "fa", "dfa", "usf", "dtp", "gait", "local", "stdp-association", "spiking-local")
ATTACK_KINDS = ("whitebox", "transfer", "surrogate")
#: rule name in the comparison -> (family, rule name inside the family)
RULE_FAMILY = {"stdp-association": ("spiking", "stdp-association"), "spiking-local": ("spiking", "local-error")}


def _family_of(rule: str) -> tuple[str, str]:
    return RULE_FAMILY.get(rule, ("rate", rule))


@dataclass(frozen=True)
class CompareConfig:
    """What to compare. Per-data-set presets fill every field left at ``None``.

    Attributes
    ----------
    dataset, classes : data (``classes`` keeps and relabels a subset, e.g. (4, 9)).
    rules : rule names (rate rules from ``ratebased``, plus ``stdp-association`` and ``spiking-local``).
    epsilons, seeds : the sweep.
    methods : attack methods, ``fgsm`` and/or ``pgd`` (L-inf); ``pgd_steps`` iterations.
    sources : rules whose models craft transfer attacks (same seed).
    n_eval, n_eval_spiking : test samples attacked per rate / spiking model (``None``: all).
    eot_samples : spike draws averaged per surrogate gradient.
    rate : overrides of ``bridges.rate_runs.RateRunConfig`` fields for every rate rule.
    rate_rules : per-rule overrides (on top of ``rate``).
    spiking : overrides for the spiking runs (hidden, epochs, target, t_present_ms, ...).
    """

    dataset: str = "digits"
    classes: Optional[tuple] = None
    rules: tuple = DEFAULT_RULES
    epsilons: tuple = (0.0, 0.05, 0.1, 0.2, 0.3)
    seeds: tuple = (0, 1, 2)
    methods: tuple = ("fgsm", "pgd")
    pgd_steps: int = 10
    sources: tuple = ("bp",)
    n_eval: Optional[int] = None
    n_eval_spiking: Optional[int] = 100
    eot_samples: int = 4
    data_root: Optional[str] = None
    rate: dict = field(default_factory=dict)
    rate_rules: dict = field(default_factory=dict)
    spiking: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("rules", "epsilons", "seeds", "methods", "sources"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))
        if not self.rules:
            raise ValueError("rules is empty; name at least one rule")
        if not self.seeds:
            raise ValueError("seeds is empty; name at least one seed")
        for e in self.epsilons:
            if not (isinstance(e, (int, float)) and math.isfinite(e) and 0 <= e <= 1):
                raise ValueError(f"epsilon {e!r} must be a finite number in [0, 1] (inputs lie in [0, 1])")
        for m in self.methods:
            if m not in ("fgsm", "pgd"):
                raise ValueError(f"unknown attack method {m!r}; valid names: fgsm, pgd")
        if self.pgd_steps < 1:
            raise ValueError(f"pgd_steps must be >= 1, got {self.pgd_steps}")
        if self.eot_samples < 1:
            raise ValueError(f"eot_samples must be >= 1, got {self.eot_samples}")
        for s in self.sources:
            if _family_of(s)[0] != "rate":
                raise ValueError(f"transfer source {s!r} must be a rate-based rule")
        for r in self.rules:
            FAMILIES.get(_family_of(r)[0]).check_rule(_family_of(r)[1])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------
# model families

class RateFamily:
    """Rate-based rules trained with ``bridges.rate_runs`` and evaluated in torch."""

    name = "rate"
    simulator = "torch"

    @staticmethod
    def check_rule(rule: str) -> None:
        import ratebased as rb

        rb.get_rule(rule)

    @staticmethod
    def run_config(cfg: CompareConfig, rule: str, seed: int) -> dict:
        from bridges.presets import rate_preset
        from bridges.rate_runs import RateRunConfig

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
        from bridges.rate_runs import RateRunConfig, save_rate_run, train_rate

        cfg = RateRunConfig.from_dict(spec["config"])
        res = train_rate(cfg, data_root=spec.get("data_root"), device="cpu", checkpoint_dir=model_dir, resume=True)
        save_rate_run(model_dir, res, cfg)
        return {"clean_accuracy": res.metrics["test_accuracy"], "train_seconds": sum(e["seconds"] for e in res.metrics["epochs"])}

    @staticmethod
    def load(model_dir: Path) -> "LoadedModel":
        import ratebased as rb
        from bridges.rate_runs import load_rate_model

        model, cfg, meta = load_rate_model(model_dir, "cpu")
        model.eval()
        twin = rb.backprop_twin(model).eval()

        def predict(x: torch.Tensor) -> np.ndarray:
            with torch.no_grad():
                return model(x.to(next(model.parameters()).dtype)).argmax(1).numpy()

        return LoadedModel(predict=predict, grad_model=twin, simulator="torch", stochastic=False)


class SpikingFamily:
    """Spiking rules trained and evaluated in Brian2 (``spiking.SpikingClassifier``); attacked
    through the snntorch twin (``bridges.spiking_twin``)."""

    name = "spiking"
    simulator = "brian2"

    @staticmethod
    def check_rule(rule: str) -> None:
        if rule not in ("stdp-association", "local-error"):
            raise ValueError(f"unknown spiking rule {rule!r}; valid: stdp-association, local-error")

    @staticmethod
    def run_config(cfg: CompareConfig, rule: str, seed: int) -> dict:
        from bridges.presets import spiking_preset

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
        from bridges.spiking_runs import compile_spiking_run

        return compile_spiking_run(spec["config"], data_root=spec.get("data_root"))

    @staticmethod
    def train(spec: dict, model_dir: Path) -> dict:
        from bridges.spiking_runs import train_spiking_model

        return train_spiking_model(spec["config"], model_dir, data_root=spec.get("data_root"))

    @staticmethod
    def load(model_dir: Path) -> "LoadedModel":
        from bridges.spiking_runs import load_spiking_model

        return load_spiking_model(model_dir)


FAMILIES = Registry("model family")
FAMILIES.register("rate", RateFamily)
FAMILIES.register("spiking", SpikingFamily)


@dataclass
class LoadedModel:
    """What an evaluation task needs of a trained model.

    ``predict(x) -> labels`` runs the model in its own simulator; ``grad_model`` is a differentiable
    torch module whose input gradient drives white-box attacks (``None``: not attackable white-box).
    """

    predict: Any
    grad_model: Optional[torch.nn.Module]
    simulator: str
    stochastic: bool = False


# ----------------------------------------------------------------------------------------------
# tasks

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
        kw = {"seed": spec["attack_seed"], "input_range": (0.0, 1.0)}
        if kind == "surrogate":
            kw["eot_samples"] = spec["eot_samples"]
        if spec["method"] == "pgd":
            kw["steps"] = spec["pgd_steps"]
            x_adv = attacks.pgd(grad_model, x, y, eps, **kw)
        else:
            x_adv = attacks.fgsm(grad_model, x, y, eps, **kw)
    pred = target.predict(x_adv)
    acc = float((np.asarray(pred) == y.numpy()).mean())
    return {"accuracy": acc, "n": int(len(y)), "simulator": target.simulator}


def build_tasks(cfg: CompareConfig) -> list[Task]:
    """The whole graph: compilations (spiking models, one per configuration, shared by its seeds),
    trainings, then every (model, attack, method, epsilon) evaluation."""
    compiles: dict[str, Task] = {}  # one per configuration, whatever the number of seeds
    tasks: list[Task] = []
    train_keys: dict[tuple[str, int], tuple[str, str, dict]] = {}
    needed = list(dict.fromkeys(list(cfg.rules) + [s for s in cfg.sources]))
    for rule in needed:
        fam, inner = _family_of(rule)
        family = FAMILIES.get(fam)
        for seed in cfg.seeds:
            conf = family.run_config(cfg, inner, seed)
            deps: tuple = ()
            cconf = family.compile_config(conf)
            if cconf is not None:
                ckey = task_key(f"compile-{rule}", {"family": fam, "config": cconf})
                compiles.setdefault(ckey, Task(ckey, compile_task, {"family": fam, "rule": rule, "config": cconf,
                                                                    "data_root": cfg.data_root}))
                deps = (ckey,)
            spec = {"family": fam, "rule": rule, "config": conf, "data_root": cfg.data_root}
            key = task_key(f"train-{rule}", {"family": fam, "config": conf})
            tasks.append(Task(key, train_task, spec, deps))
            train_keys[(rule, seed)] = (key, fam, conf)
    for rule in cfg.rules:
        fam, _ = _family_of(rule)
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
                                "family": fam, "rule": rule, "seed": seed, "config": conf, "attack": kind,
                                "method": method, "epsilon": float(eps), "source": source,
                                "source_config": train_keys[(source, seed)][2] if source else None,
                                "dataset": cfg.dataset, "classes": None if cfg.classes is None else list(cfg.classes),
                                "n_eval": cfg.n_eval if fam == "rate" else cfg.n_eval_spiking,
                                "pgd_steps": cfg.pgd_steps, "eot_samples": cfg.eot_samples,
                                "data_root": cfg.data_root,
                            }
                            spec["attack_seed"] = int(task_key("seed", spec)[-8:], 16)
                            deps = (tkey,) + ((train_keys[(source, seed)][0],) if source else ())
                            tasks.append(Task(task_key(f"eval-{rule}", spec), eval_task, spec, deps))
    return [*compiles.values(), *tasks]  # compilations first: every executor starts them before anything else


# ----------------------------------------------------------------------------------------------
# results

ROW_FIELDS = ("dataset", "rule", "family", "simulator", "seed", "attack", "method", "source", "epsilon",
              "accuracy", "n_eval", "model_config_key", "task_key")


def merge(tasks: list[Task], results_dir: Path) -> list[dict]:
    """One row per finished evaluation task (plus provenance), sorted for stable output."""
    rows = []
    for t in tasks:
        if t.fn is not eval_task:
            continue
        rec = read_json(result_path(results_dir, t.key))
        s = t.spec
        rows.append({
            "dataset": s["dataset"], "rule": s["rule"], "family": s["family"], "simulator": rec["result"]["simulator"],
            "seed": s["seed"], "attack": s["attack"], "method": s["method"], "source": s["source"] or "",
            "epsilon": s["epsilon"], "accuracy": rec["result"]["accuracy"], "n_eval": rec["result"]["n"],
            "model_config_key": task_key(s["family"], s["config"]), "task_key": t.key,
            "config": s["config"], "versions": rec["versions"],
        })
    rows.sort(key=lambda r: (r["rule"], r["attack"], r["method"], r["source"], r["epsilon"], r["seed"]))
    return rows


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def summarise(rows: list[dict]) -> dict:
    """Mean and std over seeds of every (rule, attack, method, source, epsilon)."""
    groups: dict[tuple, list[float]] = {}
    meta: dict[tuple, dict] = {}
    for r in rows:
        k = (r["rule"], r["attack"], r["method"], r["source"], r["epsilon"])
        groups.setdefault(k, []).append(r["accuracy"])
        meta[k] = {"family": r["family"], "simulator": r["simulator"]}
    out = {}
    for k, v in groups.items():
        m, s = _mean_std(v)
        out[k] = {"mean": m, "std": s, "n_seeds": len(v), **meta[k]}
    return out


def masking_checks(summary: dict, rules: tuple, epsilons: tuple, large_eps_acc: float = 0.1) -> dict[str, dict]:
    """Gradient-masking checks per rule (Athalye et al. 2018, "Obfuscated Gradients Give a False Sense
    of Security", arXiv 1802.00420; Carlini et al. 2019, arXiv 1902.06705):

    * ``transfer_beats_whitebox``: a transfer attack lowers accuracy more than the model's own
      white-box (or surrogate) attack at some epsilon > 0 - its gradients are not informative;
    * ``pgd_not_to_zero``: the strongest PGD attack at the largest epsilon leaves more than
      ``large_eps_acc`` accuracy.

    A rule is ``suspect`` when either holds: its apparent robustness may be gradient masking.
    """
    out = {}
    eps_pos = [e for e in epsilons if e > 0]
    for rule in rules:
        own = {k: v for k, v in summary.items() if k[0] == rule and k[1] in ("whitebox", "surrogate")}
        tr = {k: v for k, v in summary.items() if k[0] == rule and k[1] == "transfer"}
        beats = []
        for (_, _, method, _, eps), v in tr.items():
            own_v = [w["mean"] for (r2, a2, m2, s2, e2), w in own.items() if m2 == method and e2 == eps]
            if eps > 0 and own_v and v["mean"] < min(own_v) - 1e-9:
                beats.append({"method": method, "epsilon": eps, "transfer": v["mean"], "own": min(own_v)})
        big = max(eps_pos) if eps_pos else None
        pgd = [v["mean"] for (r, a, m, s, e), v in summary.items() if r == rule and m == "pgd" and e == big]
        pgd_min = min(pgd) if pgd else None
        not_zero = pgd_min is not None and pgd_min > large_eps_acc
        out[rule] = {"transfer_beats_whitebox": beats, "pgd_largest_eps_accuracy": pgd_min,
                     "pgd_not_to_zero": not_zero, "pgd_checked": pgd_min is not None,
                     "suspect": bool(beats) or not_zero}
    return out


# ----------------------------------------------------------------------------------------------
# report

def _fmt(v: dict) -> str:
    return f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"


def _attack_label(attack: str, method: str, source: str) -> str:
    base = {"whitebox": "white-box (true gradient)", "transfer": f"transfer from {source}",
            "surrogate": "surrogate-gradient EOT (snntorch twin)"}[attack]
    return f"{method.upper()} {base}"


def plot_accuracy_vs_epsilon(summary: dict, rules: tuple, epsilons: tuple, attack_filter, title: str, ax=None):
    """Accuracy against epsilon, one line per rule (mean ± std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for rule in rules:
        pts = []
        for eps in epsilons:
            vals = [v for k, v in summary.items() if k[0] == rule and k[4] == eps and attack_filter(k, v)]
            if vals:
                pts.append((eps, vals[0]["mean"], vals[0]["std"]))
        if pts:
            e, m, s = map(np.asarray, zip(*pts))
            fam = _family_of(rule)[0]
            ax.errorbar(e, 100 * m, yerr=100 * s, marker="o" if fam == "rate" else "s",
                        ls="-" if fam == "rate" else "--", capsize=2, label=rule)
    ax.set_xlabel("epsilon (L-inf)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=7, ncol=2)
    return ax


def _png(ax) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    ax.figure.tight_layout()
    ax.figure.savefig(buf, format="png", dpi=120)
    plt.close(ax.figure)
    return buf.getvalue()


def write_report(out_dir: Path, cfg: CompareConfig, rows: list[dict], train_records: dict, command: str,
                 versions: dict, wall_s: Optional[float] = None) -> dict:
    """Write results.csv, results.json, report.md and the plots; returns the summary dict."""
    out_dir = Path(out_dir)
    summary = summarise(rows)
    checks = masking_checks(summary, cfg.rules, cfg.epsilons)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(out_dir / "results.csv", buf.getvalue())
    atomic_write_json(out_dir / "results.json", {
        "config": cfg.to_dict(), "command": command, "versions": versions, "wall_s": wall_s,
        "rows": rows, "training": train_records,
        "summary": [{"rule": k[0], "attack": k[1], "method": k[2], "source": k[3], "epsilon": k[4], **v}
                    for k, v in summary.items()],
        "masking_checks": checks,
    })
    plots = []
    for method in cfg.methods:
        own = plot_accuracy_vs_epsilon(summary, cfg.rules, cfg.epsilons,
                                       lambda k, v, m=method: k[2] == m and k[1] in ("whitebox", "surrogate"),
                                       f"{cfg.dataset}: {method.upper()} on each model's own gradient "
                                       "(rate: true gradient, torch; spiking: surrogate EOT, Brian2)")
        name = f"accuracy_vs_eps_{method}_whitebox.png"
        atomic_write_bytes(out_dir / name, _png(own))
        plots.append(name)
        for src in cfg.sources:
            tr = plot_accuracy_vs_epsilon(summary, cfg.rules, cfg.epsilons,
                                          lambda k, v, m=method, s=src: k[2] == m and k[1] == "transfer" and k[3] == s,
                                          f"{cfg.dataset}: {method.upper()} transferred from {src}")
            name = f"accuracy_vs_eps_{method}_transfer_{src}.png"
            atomic_write_bytes(out_dir / name, _png(tr))
            plots.append(name)
    # rate vs spiking: mean over the rules of each family, own-gradient FGSM
    lines = [f"# Robustness comparison: {cfg.dataset}", ""]
    lines += [f"Command: `{command}`", "",
              f"Seeds: {', '.join(map(str, cfg.seeds))}; epsilons: {', '.join(map(str, cfg.epsilons))}; "
              f"methods: {', '.join(cfg.methods)} (PGD: {cfg.pgd_steps} steps, step 2.5·eps/steps, random start); "
              f"transfer sources: {', '.join(cfg.sources)}; EOT samples (spiking): {cfg.eot_samples}.",
              f"Evaluated samples per model: rate {cfg.n_eval or 'all test'}, spiking {cfg.n_eval_spiking or 'all test'}.",
              "Values are accuracy in % as mean ± std over seeds.", ""]
    if wall_s is not None:
        lines += [f"Wall time: {wall_s:.0f} s.", ""]
    lines += ["## Clean accuracy", "", "| rule | family | simulator | clean accuracy |", "|---|---|---|---|"]
    for rule in cfg.rules:
        v = [val for k, val in summary.items() if k[0] == rule and k[4] == 0 and k[1] in ("whitebox", "surrogate")]
        if v:
            lines.append(f"| {rule} | {v[0]['family']} | {v[0]['simulator']} | {_fmt(v[0])} |")
    lines.append("")
    attacks_seen = sorted({(k[1], k[2], k[3]) for k in summary}, key=lambda t: (ATTACK_KINDS.index(t[0]), t[1], t[2]))
    for attack, method, source in attacks_seen:
        lines += [f"## {_attack_label(attack, method, source)}", "",
                  "| rule | simulator | " + " | ".join(f"eps {e}" for e in cfg.epsilons) + " |",
                  "|---|---|" + "---|" * len(cfg.epsilons)]
        for rule in cfg.rules:
            cells, sim = [], ""
            for e in cfg.epsilons:
                v = summary.get((rule, attack, method, source, e))
                cells.append(_fmt(v) if v else "")
                sim = v["simulator"] if v else sim
            if any(cells):
                lines.append(f"| {rule} | {sim} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Gradient-masking checks", "",
              "A model is **suspect** when a transfer attack beats its own white-box/surrogate attack, or PGD at "
              "the largest epsilon leaves more than 10% accuracy (Athalye et al. 2018, arXiv 1802.00420).", "",
              "| rule | transfer beats own attack | PGD acc. at largest eps | verdict |", "|---|---|---|---|"]
    for rule, c in checks.items():
        beats = ", ".join(f"{b['method']} eps {b['epsilon']}" for b in c["transfer_beats_whitebox"]) or "no"
        pgd = "not run" if not c["pgd_checked"] else f"{100 * c['pgd_largest_eps_accuracy']:.1f}%"
        lines.append(f"| {rule} | {beats} | {pgd} | {'**suspect**' if c['suspect'] else 'ok'} |")
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += ["## Provenance", "", "Every row of results.csv/results.json records its seed, the model's config key "
              "and the task key; results.json holds the full configs and the library versions:", "",
              "```", *(f"{k}: {v}" for k, v in sorted(versions.items())), "```", ""]
    atomic_write_text(out_dir / "report.md", "\n".join(lines))
    return {"summary": summary, "checks": checks, "plots": plots}
