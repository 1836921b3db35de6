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
    merge,
    summarise,
    train_task,
    verdicts,
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
    kinds = {(r["rule"], r["attack"], r["method"], r["source"]) for r in rows if r["role"] == "attack"}
    assert kinds == {
        ("bp", "whitebox", "fgsm", ""),
        ("bp", "whitebox", "pgd", ""),
        ("bp", "worst-case", "all", ""),
        ("fa", "whitebox", "fgsm", ""),
        ("fa", "whitebox", "pgd", ""),
        ("fa", "transfer", "fgsm", "bp"),
        ("fa", "transfer", "pgd", "bp"),
        ("fa", "worst-case", "all", ""),
    }
    assert all(r["simulator"] == "torch" and r["family"] == "rate" and r["n_eval"] == 120 for r in rows)
    assert all("torch" in r["versions"] and r["config"]["seed"] == r["seed"] for r in rows)
    # every row: per-sample results and a Wilson interval; the budgets where they apply
    assert all(len(r["correct"]) == 120 and r["ci_lo"] <= r["accuracy"] <= r["ci_hi"] for r in rows)
    assert {r["steps"] for r in rows if r["method"] == "pgd" and r["role"] == "attack"} == {3}
    assert not any("steps" in r for r in rows if r["method"] == "fgsm")
    # beside the table: PGD at the sanity epsilon 1.0 and twice PGD's steps at the largest epsilon
    extra = {(r["rule"], r["attack"], r["method"], r["epsilon"], r["role"], r.get("steps")) for r in rows}
    extra = {e for e in extra if e[4] != "attack"}
    assert extra == {
        (rule, "whitebox", "pgd", eps, role, steps)
        for rule in ("bp", "fa")
        for eps, role, steps in ((1.0, "sanity", 3), (0.3, "budget-check", 6))
    }
    # the gradients of both MLPs vanish nowhere
    assert {r["zero_grad_share"] for r in rows if r["attack"] == "whitebox"} == {0.0}


def test_epsilon_zero_is_clean_accuracy_and_accuracy_falls(finished):
    cfg, tasks, out = finished
    rows = merge(tasks, out)
    acc = {(r["rule"], r["attack"], r["method"], r["epsilon"]): r["accuracy"] for r in rows if r["role"] == "attack"}
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


def test_transfer_images_are_crafted_once_and_shared_by_the_targets(tmp_path):
    """FA and DFA are scored on the same images crafted on BP: one craft task (and file) per method
    and epsilon, which their evaluations depend on; each target's transfer row is its accuracy on
    exactly those images."""
    from bridges.compare import craft_task
    from bridges.compare.graph import _eval_data, _load, transfer_path

    cfg = _cfg(rules=("bp", "fa", "dfa"), epsilons=(0.0, 0.1, 0.3), methods=("fgsm", "pgd"), sanity_epsilon=None)
    tasks = build_tasks(cfg)
    crafts = [t for t in tasks if t.fn is craft_task]
    transfer = [t for t in tasks if t.fn is eval_task and t.spec["attack"] == "transfer"]
    assert len(crafts) == 2 * 2 and len(transfer) == 2 * 2 * 2  # (method, eps) crafts; x 2 targets evaluations
    assert {t.spec["craft_key"] for t in transfer} == {c.key for c in crafts}
    assert all(t.spec["craft_key"] in t.deps for t in transfer)
    run_tasks(tasks, tmp_path, executor="sequential")
    assert sorted(p.stem for p in transfer_path(tmp_path, "x").parent.glob("*.npz")) == sorted(c.key for c in crafts)
    t = next(t for t in transfer if t.spec["rule"] == "dfa" and t.spec["method"] == "pgd" and t.spec["epsilon"] == 0.3)
    x, y = _eval_data(t.spec)
    with np.load(transfer_path(tmp_path, t.spec["craft_key"])) as f:
        x_adv = torch.from_numpy(f["x_adv"])
    assert float((x_adv - x).abs().max()) == pytest.approx(0.3, abs=1e-6)
    dfa = _load(tmp_path, "rate", t.spec["config"])
    assert read_json(result_path(tmp_path, t.key))["result"]["accuracy"] == float(
        (np.asarray(dfa.predict(x_adv)) == y.numpy()).mean()
    )
    # the images are BP's own PGD: BP scores (nearly) nothing on them
    bp = _load(tmp_path, "rate", t.spec["source_config"])
    assert float((np.asarray(bp.predict(x_adv)) == y.numpy()).mean()) < 0.1


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
    assert "compare.py --test" in (tmp_path / "report.md").read_text()  # the report's text: test_report.py
    data = json.loads((tmp_path / "results.json").read_text())
    assert len(data["rows"]) == len(rows) and data["verdicts"].keys() == {"bp", "fa"}
    assert {v["verdict"] for v in data["verdicts"].values()} <= {"gradient attacks reliable", "masked", "inconclusive"}
    assert (tmp_path / "results.csv").read_text().count("\n") == len(rows) + 1
    assert all((tmp_path / p).stat().st_size > 1000 for p in rep["plots"])


def test_verdicts_of_a_small_comparison(finished):
    """bridges.compare.verdicts on a finished comparison (the rules: test_verdicts.py). FA's gradients
    are reliable (transfer from BP does not beat them, PGD reaches 0 at the sanity epsilon); BP's
    cannot be judged: without Square, nothing but its own gradients attacks it."""
    cfg, tasks, out = finished
    rows = merge(tasks, out)
    checks = verdicts(rows, summarise(rows), cfg)
    assert checks == verdicts(rows, None, cfg)  # the summary is derived from the rows when not given
    assert checks["fa"]["verdict"] == "gradient attacks reliable", checks["fa"]["reason"]
    assert checks["bp"]["verdict"] == "inconclusive"
    assert checks["bp"]["reason"].startswith("not measured: (a) no gradient-free or transfer attack")


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
        ({"methods": ("cw",)}, "unknown attack 'cw'; valid names: fgsm, pgd, apgd-ce, apgd-dlr, square"),
        (
            {"rules": ("bp", "hebb")},
            r"unknown rule 'hebb'; valid names \(rate: bp, .*; spiking: stdp-association, spiking-local\)",
        ),
        ({"seeds": ()}, "seeds is empty"),
        ({"sources": ("stdp-association",)}, "must be a rate-based rule"),
        ({"pgd_steps": 0}, "pgd_steps"),
        ({"apgd_steps": 0}, "apgd_steps must be an integer >= 1, got 0"),
        ({"square_queries": 1.5}, "square_queries must be an integer >= 1, got 1.5"),
        ({"eot_samples": 0}, "eot_samples must be an integer >= 1"),
        ({"n_eval_spiking": 0}, "n_eval_spiking must be an integer >= 1"),
        ({"sanity_epsilon": 0.0}, r"sanity_epsilon 0.0 must be a number in \(0, 1\]"),
        ({"methods": ()}, "methods is empty"),
    ],
    ids=[
        "neg-eps",
        "nan-eps",
        "method",
        "rule",
        "seeds",
        "source",
        "pgd-steps",
        "apgd-steps",
        "square-queries",
        "eot",
        "n-eval-spiking",
        "sanity-eps",
        "no-methods",
    ],
)
def test_bad_configs_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        _cfg(**kw)


@pytest.mark.parametrize(
    "dataset, n", [("digits", 100), ("iris", None), ("mnist", 1000), ("fashion-mnist", 1000)], ids=str
)
def test_spiking_samples_per_data_set(dataset, n):
    assert _cfg(dataset=dataset).n_eval_spiking == n
    assert _cfg(dataset=dataset, n_eval_spiking=250).n_eval_spiking == 250


def test_new_attack_kinds_and_budgets_in_the_graph():
    """Rate models: white-box gradient methods, Square on their scores, transfer; spiking models:
    surrogate (EOT) and rate-approximation gradients, Square through the twin, transfer. Each task
    carries its budget: PGD / APGD steps, Square queries, EOT draws."""
    cfg = _cfg(
        rules=("bp", "fa", "stdp-association"),
        methods=("fgsm", "pgd", "apgd-ce", "square"),
        epsilons=(0.0, 0.3),
        apgd_steps=7,
        square_queries=50,
        eot_samples=5,
    )
    evals = [t for t in build_tasks(cfg) if t.fn is eval_task and t.spec["role"] == "attack"]
    plan = {(t.spec["rule"], t.spec["attack"], t.spec["method"]): t.spec["budget"] for t in evals}
    assert plan == {
        **{(r, "whitebox", "fgsm"): {} for r in ("bp", "fa")},
        **{(r, "whitebox", "pgd"): {"steps": 3} for r in ("bp", "fa")},
        **{(r, "whitebox", "apgd-ce"): {"steps": 7} for r in ("bp", "fa")},
        **{(r, "score", "square"): {"queries": 50} for r in ("bp", "fa", "stdp-association")},
        **{(r, "transfer", "fgsm"): {} for r in ("fa", "stdp-association")},
        **{(r, "transfer", "pgd"): {"steps": 3} for r in ("fa", "stdp-association")},
        **{(r, "transfer", "apgd-ce"): {"steps": 7} for r in ("fa", "stdp-association")},
        ("stdp-association", "surrogate", "fgsm"): {"eot_samples": 5},
        ("stdp-association", "surrogate", "pgd"): {"steps": 3, "eot_samples": 5},
        ("stdp-association", "surrogate", "apgd-ce"): {"steps": 7, "eot_samples": 5},
        ("stdp-association", "rate-approx", "fgsm"): {},
        ("stdp-association", "rate-approx", "pgd"): {"steps": 3},
        ("stdp-association", "rate-approx", "apgd-ce"): {"steps": 7},
    }
    assert all(t.spec["epsilon"] == 0.3 for t in evals)  # epsilon 0: one clean evaluation per model
    checks = {
        (t.spec["rule"], t.spec["attack"], t.spec["method"], t.spec["epsilon"]): t.spec["budget"]
        for t in build_tasks(cfg)
        if t.fn is eval_task and t.spec["role"] == "budget-check"
    }
    assert checks == {  # APGD first; the surrogate doubles its EOT draws, the others their steps
        ("bp", "whitebox", "apgd-ce", 0.3): {"steps": 14},
        ("fa", "whitebox", "apgd-ce", 0.3): {"steps": 14},
        ("stdp-association", "surrogate", "apgd-ce", 0.3): {"steps": 7, "eot_samples": 10},
        ("stdp-association", "rate-approx", "apgd-ce", 0.3): {"steps": 14},
    }
    sanity = {
        (t.spec["rule"], t.spec["attack"], t.spec["method"], t.spec["epsilon"])
        for t in build_tasks(cfg)
        if t.fn is eval_task and t.spec["role"] == "sanity"
    }
    assert sanity == {
        ("bp", "whitebox", "pgd", 1.0),
        ("fa", "whitebox", "pgd", 1.0),
        ("stdp-association", "surrogate", "pgd", 1.0),
        ("stdp-association", "rate-approx", "pgd", 1.0),
    }
    # no sanity row: none; the sanity epsilon in the table: the table's row serves
    for kw in ({"sanity_epsilon": None}, {"epsilons": (0.0, 0.3, 1.0)}):
        assert not any(t.spec.get("role") == "sanity" for t in build_tasks(_cfg(**kw)))


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
    kinds = ("surrogate", "rate-approx", "transfer", "worst-case")
    assert {(r["rule"], r["attack"]) for r in spk if r["role"] == "attack"} == {
        (r, a) for r in ("stdp-association", "spiking-local") for a in kinds
    }
    assert all(r["n_eval"] == 16 and 0 <= r["accuracy"] <= 1 for r in spk)
    # every Brian2 score comes with the twin's score of the same images and their agreement
    assert all(0 <= r["twin_accuracy"] <= 1 and 0 <= r["agreement"] <= 1 for r in spk if r["attack"] != "worst-case")
    # and the two-sided McNemar p of twin against Brian2 correctness (bridges.stats.mcnemar_two_sided_p)
    assert all(0 < r["twin_p"] <= 1 for r in spk if r["attack"] != "worst-case")
    assert {r["eot_samples"] for r in spk if r["attack"] == "surrogate" and r["role"] == "attack"} == {2}
    clean = {(r["rule"], r["attack"]): r["accuracy"] for r in spk if r["epsilon"] == 0.0}
    for rule in ("stdp-association", "spiking-local"):
        assert clean[(rule, "surrogate")] == clean[(rule, "transfer")]  # eps 0: the same clean evaluation
    v = verdicts(rows, None, cfg)
    assert {rule: v[rule]["verdict"] in ("gradient attacks reliable", "masked", "inconclusive") for rule in v} == {
        r: True for r in cfg.rules
    }


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
    # digits: the same time grid (its presets: tests/bridges/test_presets.py)
    assert spiking_preset("digits", rule)["dt_ms"] == dt_ms


# --- findable models: models/index.csv and convert --comparison -----------------------------------


def _train_records(tasks, out):
    """What the compare command passes to write_report: each training's result, rule and seed."""
    return {
        t.key: read_json(result_path(out, t.key))["result"] | {"rule": t.spec["rule"], "seed": t.spec["config"]["seed"]}
        for t in tasks
        if t.fn is train_task
    }


def test_model_index_lists_every_model_and_find_model_resolves_it(finished):
    from bridges.compare.report import INDEX_FIELDS, find_model
    from bridges.runs.rate import load_rate_model

    cfg, tasks, out = finished
    write_report(out, cfg, merge(tasks, out), _train_records(tasks, out), "compare --test", {})
    lines = (out / "models" / "index.csv").read_text().splitlines()
    assert lines[0] == ",".join(INDEX_FIELDS) and len(lines) == 3  # bp and fa, seed 0
    for rule in ("bp", "fa"):
        train = next(t for t in tasks if t.fn is train_task and t.spec["rule"] == rule)
        entry = find_model(out, rule.upper(), 0)
        assert entry["path"] == _model_dir(out, "rate", train.spec["config"])
        assert (entry["family"], entry["dataset"], entry["key"]) == ("rate", "digits", entry["path"].name)
        assert entry["clean_accuracy"] == read_json(entry["path"] / "DONE.json")["clean_accuracy"] > 0.8
        assert load_rate_model(entry["path"])[1].rule == rule
    with pytest.raises(
        ValueError, match=r"no model of rule 'fa' and seed 3 .*; it holds: bp \(seed 0\); fa \(seed 0\)"
    ):
        find_model(out, "fa", 3)


def test_model_index_is_rebuilt_not_appended(tmp_path):
    from bridges.compare.report import find_model, model_index, write_model_index

    records = {
        "train-a": {"rule": "bp", "seed": 1, "model_dir": "models/rate-aaaa", "clean_accuracy": 0.9},
        "train-b": {"rule": "stdp-association", "seed": 0, "model_dir": "models/spiking-bbbb", "clean_accuracy": 0.5},
    }
    write_model_index(tmp_path, model_index("iris", records))
    assert find_model(tmp_path, "stdp-association", 0)["family"] == "spiking"
    write_model_index(tmp_path, model_index("iris", {"train-a": records["train-a"]}))
    assert (tmp_path / "models" / "index.csv").read_text() == (
        "rule,family,seed,dataset,key,path,clean_accuracy\nbp,rate,1,iris,rate-aaaa,models/rate-aaaa,0.9\n"
    )
    with pytest.raises(ValueError, match="is not a folder"):
        find_model(tmp_path / "missing", "bp", 1)
    with pytest.raises(ValueError, match="has no models/index.csv"):
        find_model(tmp_path / "models", "bp", 1)


def _convert(argv):
    from bridges.commands import convert

    return convert.main([*argv, "--target", "numpy", "--n-brian", "12", "--steps", "4,8", "--device", "cpu"])


def test_convert_takes_a_comparison_model_by_rule_and_seed(finished, tmp_path, capsys):
    from bridges.compare.report import find_model, model_index, write_model_index

    cfg, tasks, out = finished
    write_model_index(out, model_index(cfg.dataset, _train_records(tasks, out)))
    assert _convert(["--comparison", str(out), "--rule", "fa", "--seed", "0", "--out", str(tmp_path / "fa")]) == 0
    result = json.loads((tmp_path / "fa" / "conversion.json").read_text())
    assert result["model_dir"] == str(find_model(out, "fa", 0)["path"]) and result["rule"] == "fa"
    assert "phase 3/3" in capsys.readouterr().err  # the Brian2 phases: build, simulate, read
    assert _convert(["--comparison", str(out), "--rule", "fa", "--seed", "7", "--out", str(tmp_path / "x")]) == 2
    assert "no model of rule 'fa' and seed 7" in capsys.readouterr().err
    spiking = tmp_path / "spiking-comparison"
    record = {"rule": "stdp-association", "seed": 0, "model_dir": "models/spiking-cccc", "clean_accuracy": 0.5}
    write_model_index(spiking, model_index("digits", {"t": record}))
    assert _convert(["--comparison", str(spiking), "--rule", "stdp-association", "--out", str(tmp_path / "y")]) == 2
    assert "are spiking networks; convert takes a rate-based MLP" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# --- progress: the comparison's work estimate ---------------------------------------------------------


def test_work_estimate_weighs_tasks_by_expected_cost_and_learns_per_kind():
    from bridges.compare.graph import compile_task
    from bridges.compare.progress import WorkEstimate, task_kind

    cfg = _cfg(rules=("bp", "stdp-association"), seeds=(0, 1), epsilons=(0.0, 0.1), methods=("fgsm", "pgd"))
    work = WorkEstimate(build_tasks(cfg))
    by_kind = {}
    for t in work.tasks:
        by_kind.setdefault(task_kind(t), []).append(work.expected_s(t))
    assert by_kind["compile spiking stdp-association"] == [pytest.approx(80.0)]  # one for both seeds
    # a surrogate PGD attack on a spiking model costs seconds, a rate model's evaluation a tenth of one
    assert (
        max(by_kind["eval rate bp whitebox pgd"])
        < 0.1
        < 1
        < min(by_kind["eval spiking stdp-association surrogate pgd"])
    )
    assert work.total_s == pytest.approx(sum(sum(v) for v in by_kind.values()))
    # a compilation found in the project cache: its kind follows the measurement ...
    compile_t = next(t for t in work.tasks if t.fn is compile_task)
    train_bp = next(t for t in work.tasks if t.fn is train_task and t.spec["rule"] == "bp")
    assert work.finish(compile_t, {"seconds": 2.0}) and not work.finish(compile_t, {"seconds": 2.0})
    assert (work.done_s, work.n_done) == (2.0, 1)
    # ... and so does every spiking kind not measured yet (this machine's speed), not the rate models
    assert work.expected_s(train_bp) == pytest.approx(10 * 3.2 / 30)
    work.finish(train_bp, {"seconds": 2 * 3.2 / 3})  # bp trains at twice its prior: the rate models' factor
    other = next(t for t in work.tasks if t.fn is eval_task and t.spec["rule"] == "bp")
    assert work.expected_s(other) == pytest.approx(2 * 0.085 * 120 / 449)  # FGSM on 120 of digits' 449 images
    spiking_eval = next(t for t in work.tasks if t.fn is eval_task and t.spec["family"] == "spiking")
    assert work.expected_s(spiking_eval) == pytest.approx(work._prior[spiking_eval.key] * 2.0 / 80.0)  # compile's


def test_work_estimate_scales_with_samples_and_keeps_families_apart():
    """Full MNIST: priors scale with the training and test samples, and slow rate trainings (a
    784-256-256 MLP is ~30x digits' per sample) do not inflate the expected spiking evaluations."""
    from bridges.compare.progress import WorkEstimate

    cfg = _cfg(dataset="mnist", rules=("bp", "stdp-association"), epsilons=(0.0, 0.1), methods=("fgsm",), n_eval=None)
    work = WorkEstimate(build_tasks(cfg))
    train_bp = next(t for t in work.tasks if t.fn is train_task and t.spec["rule"] == "bp")
    eval_bp = next(t for t in work.tasks if t.fn is eval_task and t.spec["rule"] == "bp" and t.spec["epsilon"] > 0)
    epochs = train_bp.spec["config"]["epochs"]
    assert work.expected_s(train_bp) == pytest.approx(epochs * 3.2 / 30 * 60000 / 1348)
    assert work.expected_s(eval_bp) == pytest.approx(0.085 * 10000 / 449)  # FGSM on all 10,000 test images
    spk = [t for t in work.tasks if t.fn is eval_task and t.spec["family"] == "spiking"]
    before = [work.expected_s(t) for t in spk]
    work.finish(train_bp, {"seconds": 30 * work.expected_s(train_bp)})
    assert work.expected_s(eval_bp) == pytest.approx(30 * 0.085 * 10000 / 449)  # the rate family's factor
    assert [work.expected_s(t) for t in spk] == pytest.approx(before)  # no spiking kind measured: unchanged


def test_work_estimate_counts_tasks_finished_earlier_as_initial(finished):
    from bridges.compare.progress import WorkEstimate

    cfg, tasks, out = finished
    work = WorkEstimate(tasks, out)
    seconds = sum(read_json(result_path(out, t.key))["seconds"] for t in tasks)
    assert work.n_done == len(tasks) and work.initial_s == work.done_s == pytest.approx(seconds)
    assert work.total_s == pytest.approx(seconds)  # nothing left
