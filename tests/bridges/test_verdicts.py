"""Result rows, per-sample worst cases and the masking verdicts: synthetic rows, then a real tiny run
of a BP MLP and of the same MLP behind a zero-gradient input quantisation."""

import shutil

import numpy as np
import pytest
import torch

from bridges.compare import CompareConfig, build_tasks, merge, summarise, verdicts, worst_case_rows
from bridges.compare.families import LoadedModel, RateFamily
from bridges.stats import wilson_interval
from bridges.tasks import run_tasks

# --- synthetic rows -----------------------------------------------------------------------------


def _row(attack, method, bits, eps=0.3, role="attack", seed=0, rule="m", source="", **kw):
    bits = "".join(map(str, bits)) if not isinstance(bits, str) else bits
    return dict(
        rule=rule,
        family="rate",
        simulator="torch",
        seed=seed,
        attack=attack,
        method=method,
        source=source,
        epsilon=eps,
        role=role,
        accuracy=bits.count("1") / len(bits),
        n_eval=len(bits),
        correct=bits,
        **kw,
    )


def _bits(n_correct, n, start=0):
    """n bits, ``n_correct`` ones from ``start`` on (cyclically)."""
    b = np.zeros(n, dtype=int)
    b[(start + np.arange(n_correct)) % n] = 1
    return "".join(map(str, b))


def _healthy(n=400, pgd_ok=40, square_ok=44, sanity_ok=0, zero=0.0, check_ok=40):
    """A model whose gradient attacks work: Square leaves a few more samples than PGD."""
    return [
        _row("whitebox", "pgd", _bits(pgd_ok, n), steps=10, zero_grad_share=zero),
        _row("score", "square", _bits(square_ok, n), queries=1000),
        _row("whitebox", "pgd", _bits(sanity_ok, n), eps=1.0, role="sanity", steps=10),
        _row("whitebox", "pgd", _bits(check_ok, n), role="budget-check", steps=20),
    ]


def test_worst_case_is_the_per_sample_and_never_above_any_attack():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 60))
        rows = [
            _row(kind, m, rng.integers(0, 2, n), eps=e, seed=s)
            for s in (0, 1)
            for e in (0.1, 0.3)
            for kind, m in (("whitebox", "pgd"), ("whitebox", "fgsm"), ("score", "square"), ("transfer", "pgd"))
        ]
        worst = worst_case_rows(rows)
        assert len(worst) == 4  # one per (seed, epsilon)
        for w in worst:
            group = [r for r in rows if (r["seed"], r["epsilon"]) == (w["seed"], w["epsilon"])]
            want = np.logical_and.reduce([np.array(list(r["correct"])) == "1" for r in group])
            assert w["correct"] == "".join("1" if b else "0" for b in want)
            assert w["accuracy"] <= min(r["accuracy"] for r in group)
            assert (w["attack"], w["method"], w["source"], len(w["attacks"])) == ("worst-case", "all", "", 4)
            assert (w["ci_lo"], w["ci_hi"]) == wilson_interval(int(want.sum()), n)


def test_worst_case_ignores_sanity_and_budget_rows_and_warns_without_bits():
    rows = _healthy()
    worst = worst_case_rows(rows)
    assert [(w["epsilon"], w["attacks"]) for w in worst] == [(0.3, ["score square", "whitebox pgd"])]
    old = [dict(r, correct=None) for r in rows]
    with pytest.warns(RuntimeWarning, match="lack per-sample results"):
        assert worst_case_rows(old) == []


def test_summary_wilson_for_one_seed_t_over_seeds():
    one = summarise([_row("whitebox", "pgd", _bits(95, 100))])[("m", "whitebox", "pgd", "", 0.3)]
    assert (one["lo"], one["hi"]) == pytest.approx((0.888250, 0.978456), abs=2e-6)
    assert one["interval"] == "wilson" and one["n_seeds"] == 1 and one["gradient"] == "exact"
    three = summarise([_row("surrogate", "pgd", _bits(k, 10), seed=s) for s, k in ((0, 5), (1, 7), (2, 9))])
    v = three[("m", "surrogate", "pgd", "", 0.3)]
    # mean 0.7, s = 0.2, t(0.975, 2) = 4.302653: 0.7 - 0.496827, upper clipped to 1
    assert (v["mean"], v["lo"], v["hi"]) == pytest.approx((0.7, 0.203173, 1.0), abs=2e-6)
    assert v["interval"] == "t over 3 seeds" and v["per_seed"] == {0: 0.5, 1: 0.7, 2: 0.9}
    assert v["gradient"] == "surrogate"
    # budget checks stay out of the summary; sanity rows are in, marked
    s = summarise(_healthy())
    assert ("m", "whitebox", "pgd", "", 1.0) in s and s[("m", "whitebox", "pgd", "", 1.0)]["role"] == "sanity"
    assert s[("m", "whitebox", "pgd", "", 0.3)]["budget"] == {"steps": 10}


def test_healthy_model_is_reliable():
    v = verdicts(_healthy(), None, ("m",))["m"]
    assert v["verdict"] == "gradient attacks reliable", v["reason"]
    assert not any(v["evidence"][k]["flag"] for k in "abcd")
    assert v["strongest"] == "whitebox pgd"


def test_small_gaps_are_noise_not_masking():
    # the example: a transfer attack 0.8 points below the own attack on 449 samples
    n = 449
    rows = _healthy(n=n)
    rows.append(_row("transfer", "pgd", _bits(36, n, start=10), source="bp"))  # 36 vs PGD's 40, other samples
    v = verdicts(rows, None, ("m",))["m"]
    assert not v["evidence"]["a"]["flag"] and v["verdict"] == "gradient attacks reliable"


@pytest.mark.parametrize(
    "change, flag",
    [
        ({"square_ok": 10}, "a"),  # Square fools 30 samples PGD does not: p = 2^-30
        ({"zero": 0.25}, "c"),  # a quarter of the input gradients vanish
        ({"check_ok": 20}, "d"),  # twice the steps fool 20 more samples
    ],
    ids=["gradient-free-beats-gradient", "vanishing-gradients", "more-steps-keep-lowering"],
)
def test_each_piece_of_evidence_alone_makes_a_model_masked(change, flag):
    v = verdicts(_healthy(**change), None, ("m",))["m"]
    assert v["verdict"] == "masked" and v["evidence"][flag]["flag"], v["reason"]
    assert [k for k in "acd" if v["evidence"][k]["flag"]] == [flag]
    assert f"({flag})" in v["reason"]


def test_sanity_failure_or_missing_evidence_is_inconclusive():
    v = verdicts(_healthy(sanity_ok=60), None, ("m",))["m"]  # 15% survive eps 1: Wilson lo 11.8% > 5%
    assert v["verdict"] == "inconclusive" and v["evidence"]["b"]["flag"] and "(b)" in v["reason"]
    v = verdicts(_healthy(sanity_ok=8), None, ("m",))["m"]  # 2%: within the tolerance
    assert v["verdict"] == "gradient attacks reliable"
    no_sanity = [r for r in _healthy() if r["role"] != "sanity"]
    v = verdicts(no_sanity, None, ("m",))["m"]
    assert v["verdict"] == "inconclusive" and "(b) no sanity row" in v["reason"]
    no_check = [r for r in _healthy() if r["role"] != "budget-check"]
    assert "(d) no budget check" in verdicts(no_check, None, ("m",))["m"]["reason"]


@pytest.mark.parametrize("clean_ok, verdict", [(2, "inconclusive"), (300, "gradient attacks reliable")], ids=str)
def test_a_model_too_inaccurate_to_attack_is_inconclusive(clean_ok, verdict):
    # 2 of 400 correct: Wilson upper bound 1.8% <= 5%, every attack "succeeds" on what it already gets wrong
    rows = [*_healthy(pgd_ok=0, square_ok=0, check_ok=0), _row("whitebox", "pgd", _bits(clean_ok, 400), eps=0.0)]
    v = verdicts(rows, None, ("m",))["m"]
    assert v["verdict"] == verdict and v["evidence"]["clean"] == {0: clean_ok / 400}
    if verdict == "inconclusive":
        assert v["reason"].startswith("the model is not accurate enough to attack: clean accuracy 0.5%")


def test_many_candidates_are_corrected_for_multiple_testing():
    # a transfer attack fooling 6 samples PGD leaves (p = 2^-6 = 0.016) flags beside Square alone (2 candidates,
    # alpha 0.025 each); among 10 candidates (alpha 0.005 each) it does not
    n = 100
    base = _healthy(n=n, pgd_ok=20, square_ok=20, check_ok=20)
    lone = [*base, _row("transfer", "pgd", _bits(14, n), source="bp")]
    assert verdicts(lone, None, ("m",))["m"]["evidence"]["a"]["flag"]
    many = base + [_row("transfer", "pgd", _bits(14, n), source=f"s{i}") for i in range(9)]
    ev = verdicts(many, None, ("m",))["m"]["evidence"]["a"]
    assert ev["tests"] == 10 and not ev["flag"]


# --- a real tiny run: a BP MLP, and the same MLP behind a zero-gradient input quantisation ---------


class Quantise(torch.nn.Module):
    """Rounds inputs to 4 levels: forward-exact, input gradient exactly zero (torch.round)."""

    def forward(self, x):
        return torch.round(x * 3) / 3


def _quantised_load(original):
    def load(model_dir):
        m = original(model_dir)
        net = torch.nn.Sequential(Quantise(), m.grad_model).eval()

        def predict(x):
            with torch.no_grad():
                return net(x).argmax(1).numpy()

        return LoadedModel(predict=predict, grad_model=net, simulator="torch", stochastic=False)

    return staticmethod(load)


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    cfg = CompareConfig(
        rules=("bp",),
        seeds=(0,),
        epsilons=(0.0, 0.3),
        methods=("pgd", "square"),
        pgd_steps=10,
        square_queries=300,
        n_eval=150,
        rate={"epochs": 5, "hidden": [32, 32]},
    )
    tasks = build_tasks(cfg)
    plain = tmp_path_factory.mktemp("plain")
    run_tasks(tasks, plain, executor="sequential")
    masked = tmp_path_factory.mktemp("masked")
    shutil.copytree(plain / "models", masked / "models")  # the same trained MLP
    mp = pytest.MonkeyPatch()
    mp.setattr(RateFamily, "load", _quantised_load(RateFamily.load))
    try:
        with pytest.warns(RuntimeWarning, match="150 of 150 samples have an exactly zero input gradient"):
            run_tasks(tasks, masked, executor="sequential")
    finally:
        mp.undo()
    return cfg, merge(tasks, plain), merge(tasks, masked)


def test_real_bp_mlp_gradient_attacks_are_reliable(real_runs):
    cfg, rows, _ = real_runs
    v = verdicts(rows, summarise(rows), cfg)["bp"]
    assert v["verdict"] == "gradient attacks reliable", v["reason"]
    acc = {(r["attack"], r["method"], r["epsilon"], r["role"]): r["accuracy"] for r in rows}
    assert acc[("whitebox", "pgd", 0.0, "attack")] > 0.85  # the clean MLP
    assert acc[("whitebox", "pgd", 0.3, "attack")] < 0.05 and acc[("whitebox", "pgd", 1.0, "sanity")] == 0.0
    assert v["evidence"]["c"]["shares"][0]["share"] == 0.0
    assert {r["queries"] for r in rows if r["attack"] == "score"} == {300}
    assert {r["steps"] for r in rows if r["role"] == "budget-check"} == {20}


def test_real_quantised_mlp_is_masked_and_square_is_strongest(real_runs):
    cfg, plain, rows = real_runs
    v = verdicts(rows, summarise(rows), cfg)["bp"]
    acc = {(r["attack"], r["method"], r["epsilon"], r["role"]): r["accuracy"] for r in rows}
    # PGD cannot move a zero-gradient model (only its random start moves the inputs); Square can
    assert acc[("whitebox", "pgd", 0.3, "attack")] > 0.5 > 0.2 > acc[("score", "square", 0.3, "attack")]
    assert v["verdict"] == "masked" and v["strongest"] == "score square", v["reason"]
    assert v["evidence"]["a"]["flag"] and v["evidence"]["c"]["flag"]
    assert v["evidence"]["c"]["shares"][0]["share"] == 1.0
    # the worst case is the per-sample AND of PGD and Square, never above either
    worst = next(r for r in rows if r["attack"] == "worst-case" and r["epsilon"] == 0.3)
    singles = [r for r in rows if r["epsilon"] == 0.3 and r["role"] == "attack" and r["attack"] != "worst-case"]
    assert worst["accuracy"] <= min(r["accuracy"] for r in singles)
    assert worst["attacks"] == ["score square", "whitebox pgd"]
