"""``bioplausible bench rate``: every rule timed against BP on the MLP and on conv nets (tiny runs).

Only the bookkeeping is asserted (which rules, ratios computed from the recorded times, the median of
the per-round ratios); never a timing.
"""

from __future__ import annotations

import json
import math
import statistics

import pytest

import ratebased as rb
from bridges.commands.bench_rate import main

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--synthetic", "--batches", "2", "--batch-size", "8", "--segments", "2", "--repeats", "2", "--threads", "1"]
CONV_RULES = ["bp", "fa", "dfa", "usf", "frsf", "brsf", "local"]


def _run(tmp_path, *extra) -> dict:
    out = tmp_path / "bench.json"
    assert main([*TINY, *extra, "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "model, extra, rules, left_out",
    [
        ("mlp", ["--hidden", "16"], list(rb.available_rules()), []),
        ("lenet", ["--synthetic-shape", "1,8,8", "--clock", "cpu"], CONV_RULES, ["dtp", "gait"]),
        ("resnet20", ["--synthetic-shape", "3,8,8", "--batches", "1"], CONV_RULES, ["dtp", "gait"]),
    ],
    ids=["mlp", "lenet", "resnet20"],
)
def test_every_applicable_rule_is_timed_against_bp(tmp_path, capsys, model, extra, rules, left_out):
    res = _run(tmp_path, "--model", model, *extra)
    assert sorted(res["ratio_to_bp"]) == sorted(rules) and sorted(res["left_out"]) == left_out
    assert (
        res["model_name"] == model
        and res["batches_per_epoch"] == (1 if model == "resnet20" else 2)
        and res["repeats"] == 2
    )
    err = capsys.readouterr().err
    for name in left_out:  # a note saying why, naming the rule and what it needs
        assert f"note: {name} left out: " in err and "needs a ratebased.MLP" in res["left_out"][name]
    seconds, rounds = res["seconds_per_epoch"], res["seconds_per_epoch_rounds"]
    for r in rules:
        assert res["ratio_to_bp"][r] == pytest.approx(seconds[r] / seconds["bp"], rel=1e-12)
        per_round = [a / b for a, b in zip(rounds[r], rounds["bp"])]
        assert len(per_round) == 2 and res["ratio_to_bp_rounds"][r] == pytest.approx(per_round, rel=1e-12)
        assert res["ratio_to_bp_median"][r] == pytest.approx(statistics.median(per_round), rel=1e-12)
        assert all(math.isfinite(v) and v > 0 for v in per_round)
    assert res["ratio_to_bp_median"]["bp"] == 1.0
    assert res["clock"] == ("cpu" if "cpu" in extra else "wall")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "lenet", "--synthetic-shape", "1,8,8", "--rules", "gait"], "rule gait cannot train --model lenet"),
        (["--model", "resnet21"], "unknown model 'resnet21'"),
        (["--batches", "0"], "--batches must be >= 1"),
        (["--synthetic-shape", "28,28"], "--synthetic-shape must be three positive sizes"),
    ],
    ids=["gait-on-lenet", "unknown-model", "zero-batches", "bad-shape"],
)
def test_bad_input_ends_in_one_error_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        code = main([*TINY, *argv])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
