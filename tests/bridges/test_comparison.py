"""The comparison: task graph, attack labelling, true-gradient white-box attacks, resume, checks."""

import json

import numpy as np
import pytest
import torch

import ratebased as rb
from bridges import attacks
from bridges.compare import (
    CompareConfig,
    build_tasks,
    eval_task,
    masking_checks,
    merge,
    summarise,
    train_task,
    write_report,
)
from bridges.compare.families import RateFamily
from bridges.compare.graph import _model_dir
from bridges.io import read_json
from bridges.tasks import result_path, run_tasks

FAST = {"epochs": 10, "hidden": [32, 32]}


def _cfg(**kw):
    base = dict(
        rules=("bp", "fa"),
        seeds=(0,),
        epsilons=(0.0, 0.1, 0.3),
        methods=("fgsm", "pgd"),
        pgd_steps=3,
        n_eval=120,
        rate=FAST,
    )
    base.update(kw)
    return CompareConfig(**base)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    cfg = _cfg()
    tasks = build_tasks(cfg)
    run_tasks(tasks, out, executor="sequential")
    return cfg, tasks, out


def test_graph_has_every_attack_kind_labelled(finished):
    cfg, tasks, out = finished
    rows = merge(tasks, out)
    kinds = {(r["rule"], r["attack"], r["method"], r["source"]) for r in rows}
    assert kinds == {
        ("bp", "whitebox", "fgsm", ""),
        ("bp", "whitebox", "pgd", ""),
        ("fa", "whitebox", "fgsm", ""),
        ("fa", "whitebox", "pgd", ""),
        ("fa", "transfer", "fgsm", "bp"),
        ("fa", "transfer", "pgd", "bp"),
    }
    assert all(r["simulator"] == "torch" and r["family"] == "rate" and r["n_eval"] == 120 for r in rows)
    assert all("torch" in r["versions"] and r["config"]["seed"] == r["seed"] for r in rows)


def test_epsilon_zero_is_clean_accuracy_and_accuracy_falls(finished):
    cfg, tasks, out = finished
    rows = merge(tasks, out)
    acc = {(r["rule"], r["attack"], r["method"], r["epsilon"]): r["accuracy"] for r in rows}
    for rule in ("bp", "fa"):
        clean = acc[(rule, "whitebox", "fgsm", 0.0)]
        assert clean > 0.8
        assert acc[(rule, "transfer" if rule == "fa" else "whitebox", "fgsm", 0.0)] == clean
        assert acc[(rule, "whitebox", "pgd", 0.3)] < acc[(rule, "whitebox", "fgsm", 0.1)] < clean


def test_whitebox_attack_on_fa_uses_the_true_gradient(finished):
    cfg, tasks, out = finished
    t = next(
        t
        for t in tasks
        if t.fn is eval_task
        and t.spec["rule"] == "fa"
        and t.spec["attack"] == "whitebox"
        and t.spec["method"] == "fgsm"
        and t.spec["epsilon"] == 0.1
    )
    fa_model = RateFamily.load(_model_dir(out, "rate", t.spec["config"]))
    from bridges.runs.rate import load_rate_model

    model, _, _ = load_rate_model(_model_dir(out, "rate", t.spec["config"]))
    plain = rb.with_feedback(model, "bp")  # an independent BP-autograd copy of the FA model
    assert not any(isinstance(m, rb.feedback.FeedbackLinear) for m in plain.modules())
    from bridges.compare.graph import _eval_data

    x, y = _eval_data(t.spec)
    x_true = attacks.fgsm(plain.eval(), x, y, 0.1, seed=t.spec["attack_seed"])
    x_feedback = attacks.fgsm(model.eval(), x, y, 0.1, seed=t.spec["attack_seed"])  # the FA backward path
    assert not torch.equal(x_true, x_feedback)
    acc_true = float((np.asarray(fa_model.predict(x_true)) == y.numpy()).mean())
    assert eval_task(t.spec, out)["accuracy"] == pytest.approx(acc_true, abs=0)


def test_rerun_recomputes_nothing(finished):
    cfg, tasks, out = finished
    before = {p.name: p.stat().st_mtime_ns for p in (out / "tasks").iterdir()}
    calls = []
    run_tasks(build_tasks(cfg), out, executor="sequential", on_done=lambda t, r: calls.append(t.key))
    after = {p.name: p.stat().st_mtime_ns for p in (out / "tasks").iterdir()}
    assert before == after and len(calls) == len(tasks)


def test_model_cache_is_keyed_by_config(finished, tmp_path):
    cfg, tasks, out = finished
    train = next(t for t in tasks if t.fn is train_task and t.spec["rule"] == "bp")
    rec = train_task(train.spec, out)  # cached: returns the stored record without training
    assert rec["model_dir"].startswith("models/rate-")
    other = dict(train.spec, config=dict(train.spec["config"], lr=0.01))
    assert _model_dir(out, "rate", other["config"]) != _model_dir(out, "rate", train.spec["config"])


def test_report_files(finished, tmp_path):
    cfg, tasks, out = finished
    rows = merge(tasks, out)
    rep = write_report(tmp_path, cfg, rows, {}, "compare.py --test", {"torch": torch.__version__})
    text = (tmp_path / "report.md").read_text()
    for needle in (
        "FGSM white-box (true gradient)",
        "PGD transfer from bp",
        "Gradient-masking checks",
        "| fa | torch |",
        "compare.py --test",
    ):
        assert needle in text
    data = json.loads((tmp_path / "results.json").read_text())
    assert len(data["rows"]) == len(rows) and data["masking_checks"].keys() == {"bp", "fa"}
    assert (tmp_path / "results.csv").read_text().count("\n") == len(rows) + 1
    assert all((tmp_path / p).stat().st_size > 1000 for p in rep["plots"])


def test_masking_checks_flag_transfer_beating_whitebox_and_pgd_plateaus():
    s = {
        ("a", "whitebox", "fgsm", "", 0.3): {"mean": 0.6, "std": 0, "n_seeds": 1},
        ("a", "transfer", "fgsm", "bp", 0.3): {"mean": 0.2, "std": 0, "n_seeds": 1},
        ("a", "whitebox", "pgd", "", 0.3): {"mean": 0.5, "std": 0, "n_seeds": 1},
        ("b", "whitebox", "fgsm", "", 0.3): {"mean": 0.1, "std": 0, "n_seeds": 1},
        ("b", "transfer", "fgsm", "bp", 0.3): {"mean": 0.3, "std": 0, "n_seeds": 1},
        ("b", "whitebox", "pgd", "", 0.3): {"mean": 0.0, "std": 0, "n_seeds": 1},
    }
    c = masking_checks(s, ("a", "b"), (0.0, 0.3))
    assert c["a"]["suspect"] and c["a"]["pgd_not_to_zero"] and c["a"]["transfer_beats_whitebox"][0]["epsilon"] == 0.3
    assert not c["b"]["suspect"]


def test_summary_mean_and_std_over_seeds():
    rows = [
        {
            "rule": "bp",
            "attack": "whitebox",
            "method": "fgsm",
            "source": "",
            "epsilon": 0.1,
            "accuracy": a,
            "family": "rate",
            "simulator": "torch",
        }
        for a in (0.5, 0.7, 0.9)
    ]
    v = summarise(rows)[("bp", "whitebox", "fgsm", "", 0.1)]
    assert v["mean"] == pytest.approx(0.7) and v["std"] == pytest.approx(0.2) and v["n_seeds"] == 3


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"epsilons": (0.1, -0.1)}, "epsilon -0.1"),
        ({"epsilons": (float("nan"),)}, "epsilon nan"),
        ({"methods": ("cw",)}, "unknown attack 'cw'; valid names: fgsm, pgd"),
        (
            {"rules": ("bp", "hebb")},
            r"unknown rule 'hebb'; valid names \(rate: bp, .*; spiking: stdp-association, spiking-local\)",
        ),
        ({"seeds": ()}, "seeds is empty"),
        ({"sources": ("stdp-association",)}, "must be a rate-based rule"),
        ({"pgd_steps": 0}, "pgd_steps"),
    ],
    ids=["neg-eps", "nan-eps", "method", "rule", "seeds", "source", "pgd-steps"],
)
def test_bad_configs_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        _cfg(**kw)


def test_old_spiking_rule_name_is_accepted_with_a_warning():
    with pytest.warns(DeprecationWarning, match="'local-error' is deprecated; use 'spiking-local'"):
        cfg = _cfg(rules=("bp", "local-error"))
    assert cfg.rules == ("bp", "spiking-local")


@pytest.mark.standalone
def test_spiking_configurations_compile_once_before_their_trainings():
    """One compilation task per spiking configuration, shared by its seeds, first in the graph; every
    spiking training depends on its configuration's; rate rules have none. Keys do not change."""
    from bridges.compare import compile_task

    cfg = _cfg(rules=("bp", "stdp-association", "spiking-local"), seeds=(0, 1), epsilons=(0.0,), methods=("fgsm",))
    tasks = build_tasks(cfg)
    compiles = [t for t in tasks if t.fn is compile_task]
    assert [t.spec["rule"] for t in compiles] == ["stdp-association", "spiking-local"]
    assert tasks[:2] == compiles and all("seed" not in t.spec["config"] for t in compiles)
    for t in tasks:
        if t.fn is train_task:
            want = tuple(c.key for c in compiles if c.spec["rule"] == t.spec["rule"])
            assert t.deps == want, t.spec["rule"]
            if want:  # the compiled configuration is the training's, less its seed
                c = next(c for c in compiles if c.key == want[0])
                assert {**c.spec["config"], "seed": t.spec["config"]["seed"]} == t.spec["config"]
    # the training and evaluation keys are those of a graph without compilation tasks
    rate_only = build_tasks(_cfg(rules=("bp",), seeds=(0, 1), epsilons=(0.0,), methods=("fgsm",)))
    assert {t.key for t in rate_only} <= {t.key for t in tasks}


@pytest.mark.slow
@pytest.mark.standalone
def test_spiking_rules_in_the_comparison_end_to_end(tmp_path):
    """Both spiking rules train in Brian2, are attacked through the snntorch twin (surrogate, EOT) and
    by transfer from BP, and are evaluated in Brian2."""
    cfg = _cfg(
        rules=("bp", "stdp-association", "spiking-local"),
        epsilons=(0.0, 0.2),
        methods=("fgsm",),
        n_eval_spiking=16,
        eot_samples=2,
        spiking={
            "n_train": 40,
            "hidden": [12, 12],
            "t_present_ms": 20.0,
            "dt_ms": 1.0,
            "chunk_size": 40,
            "target": "cpp_standalone",
        },
    )
    tasks = build_tasks(cfg)
    from bridges.compare import compile_task
    from spiking.backend.engine import default_cache_dir

    compiles = [t for t in tasks if t.fn is compile_task]
    run_tasks(compiles, tmp_path, executor="sequential")
    projects = [
        default_cache_dir() / p for t in compiles for p in read_json(result_path(tmp_path, t.key))["result"]["projects"]
    ]
    assert len(projects) == 3  # STDP: one build for training and evaluation; local errors: two
    built = {p / "main": (p / "main").stat().st_mtime_ns for p in projects}
    run_tasks(tasks, tmp_path, executor="sequential")
    assert {p: p.stat().st_mtime_ns for p in built} == built  # trainings and evaluations compiled nothing
    rows = merge(tasks, tmp_path)
    spk = [r for r in rows if r["family"] == "spiking"]
    assert {r["simulator"] for r in spk} == {"brian2"}
    assert {(r["rule"], r["attack"]) for r in spk} == {
        (r, a) for r in ("stdp-association", "spiking-local") for a in ("surrogate", "transfer")
    }
    assert all(r["n_eval"] == 16 and 0 <= r["accuracy"] <= 1 for r in spk)
    clean = {(r["rule"], r["attack"]): r["accuracy"] for r in spk if r["epsilon"] == 0.0}
    for rule in ("stdp-association", "spiking-local"):
        assert clean[(rule, "surrogate")] == clean[(rule, "transfer")]  # eps 0: the same clean evaluation


@pytest.mark.parametrize(
    "rule, preset, dt_ms, hidden",
    [("stdp-association", "stdp-skip-400", 0.5, [400, 400]), ("spiking-local", "spiking-local-out", 1.0, [100, 100])],
    ids=["stdp", "spiking-local"],
)
def test_mnist_spiking_presets_are_the_measured_script_settings(rule, preset, dt_ms, hidden):
    from bridges.runs.presets import spiking_preset
    from bridges.runs.spiking import network_config
    from spiking.presets import PRESETS, preset_params

    p = spiking_preset("mnist", rule)
    assert p["params"] == PRESETS[preset]["params"] and p["dt_ms"] == dt_ms and p["hidden"] == hidden
    cfg = network_config({**p, "rule": rule, "seed": 0, "dataset": "mnist"}, 784, 10)
    assert cfg.params == preset_params(preset)
    # a fresh dict each call: a caller's edit cannot leak into the next preset
    p["params"]["x"] = 1
    assert "x" not in spiking_preset("mnist", rule)["params"]
    # digits: the same time grid, the rule's default parameters
    d = spiking_preset("digits", rule)
    assert "params" not in d and d["dt_ms"] == dt_ms
