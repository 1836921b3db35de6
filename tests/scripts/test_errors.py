"""Mistakes on the command line: one ``error:`` line, exit status 2, no traceback, nothing created.

Every case runs through ``bridges.commands.main`` (the ``bioplausible`` command) in this process;
a few also run in a subprocess with a private ``TMPDIR``, to see what reaches a terminal (no
traceback, no Brian2 banner) and that nothing is left in the temporary folder. The last tests
check ``--help``: the valid names listed, each default shown once and readably, no machine paths.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bridges.commands import BENCHMARKS, SUBCOMMANDS, main

SPK = ["train-spiking", "--rule", "stdp-association"]

#: (id, argv without the output flag, a piece of the expected message)
CASES = [
    # train-spiking: the four, then the rest
    ("spiking-dataset-typo", [*SPK, "--dataset", "irs"], "invalid choice: 'irs'"),
    ("spiking-one-class", [*SPK, "--dataset", "iris", "--classes", "1"], "need at least two classes"),
    ("spiking-class-out-of-range", [*SPK, "--dataset", "digits", "--classes", "0,11"], "label 11 out of range"),
    ("spiking-hidden-zero", [*SPK, "--dataset", "iris", "--hidden", "0,5"], "hidden must be positive"),
    ("spiking-unknown-rule", ["train-spiking", "--rule", "stdp-asociation"], "unknown spiking rule 'stdp-asociation'"),
    ("spiking-unknown-preset", [*SPK, "--preset", "stdp-fast"], "unknown preset 'stdp-fast'"),
    ("spiking-preset-of-other-rule", [*SPK, "--preset", "spiking-local-out"], "is for rule 'spiking-local'"),
    ("spiking-bad-json-params", [*SPK, "--params", "{inhibition_mV: 3"], "neither a JSON object"),
    ("spiking-unknown-rule-option", [*SPK, "--rule-option", "inhibition=3"], "inhibition"),
    ("spiking-unknown-class-name", [*SPK, "--dataset", "iris", "--classes", "setosa,rose"], "rose"),
    ("spiking-negative-epochs", [*SPK, "--epochs", "-1"], "--epochs must be >= 1"),
    ("spiking-bad-target", [*SPK, "--target", "gpu"], "invalid choice: 'gpu'"),
    (
        "spiking-missing-data-root",
        [*SPK, "--dataset", "mnist", "--data-root", "{tmp}/no-such-dir"],
        "IDX files not found",
    ),
    # train-rate
    ("rate-unknown-rule", ["train-rate", "--rule", "fb"], "unknown learning rule 'fb'"),
    ("rate-option-without-value", ["train-rate", "--rule-option", "manhattan"], "expected KEY=VALUE"),
    ("rate-unknown-option-key", ["train-rate", "--rule", "fa", "--rule-option", "foo=1"], "does not accept options"),
    ("rate-negative-epochs", ["train-rate", "--epochs", "-1"], "epochs must be >= 1"),
    ("rate-bad-device", ["train-rate", "--device", "gpu"], "unknown torch device 'gpu'"),
    ("rate-gait-with-relu", ["train-rate", "--rule", "gait", "--activation", "relu"], "not invertible"),
    ("rate-gait-unequal-widths", ["train-rate", "--rule", "gait", "--hidden", "64,32"], "square"),
    ("rate-hidden-zero", ["train-rate", "--hidden", "0,5"], "0"),
    ("rate-class-by-unknown-name", ["train-rate", "--dataset", "iris", "--classes", "setosa,rose"], "rose"),
    ("rate-data-root-is-a-file", ["train-rate", "--dataset", "mnist", "--data-root", "{tmp}/a-file"], "not found"),
    ("rate-missing-out", ["train-rate", "--rule", "bp"], "the following arguments are required: --out"),
    # compare
    ("compare-unknown-rule", ["compare", "--rules", "bp,foo"], "unknown rule 'foo'"),
    ("compare-epsilon-above-1", ["compare", "--epsilons", "0,1.5"], "epsilon 1.5 must be a finite number in [0, 1]"),
    ("compare-unknown-attack", ["compare", "--methods", "cw"], "unknown attack 'cw'"),
    ("compare-unknown-executor", ["compare", "--executor", "dask"], "invalid choice: 'dask'"),
    ("compare-zero-workers", ["compare", "--workers", "0"], "--workers must be >= 1"),
    ("compare-unknown-rate-option", ["compare", "--rate-option", "epoch=3"], "unknown --rate-option key 'epoch'"),
    ("compare-bad-spiking-hidden", ["compare", "--spiking-option", "hidden=[0,5]"], "hidden must be positive"),
    ("compare-dataset-typo", ["compare", "--dataset", "digts"], "invalid choice: 'digts'"),
    ("compare-class-out-of-range", ["compare", "--classes", "0,11"], "label 11 out of range"),
    ("compare-bad-device", ["compare", "--device", "cuda:7"], "cuda"),
    ("compare-source-not-rate", ["compare", "--sources", "stdp-association"], "must be a rate-based rule"),
    ("compare-spiking-on-tabular", ["compare", "--dataset", "iris"], "attacks spiking models on image data sets only"),
    ("compare-unknown-model", ["compare", "--model", "resnet21"], "--model: unknown model 'resnet21'"),
    ("compare-zero-square-queries", ["compare", "--square-queries", "0"], "--square-queries must be >= 1"),
    # convert and the benchmarks
    ("convert-missing-model", ["convert", "--model", "{tmp}/no-model"], "config.json is missing"),
    ("convert-bad-steps", ["convert", "--model", "{tmp}/no-model", "--steps", "0,10"], "--steps must be positive"),
    ("bench-rate-unknown-rule", ["bench", "rate", "--rules", "foo"], "unknown learning rule 'foo'"),
    ("bench-rate-bad-device", ["bench", "rate", "--synthetic", "--device", "gpu"], "unknown torch device"),
    ("bench-spiking-one-naive-sample", ["bench", "spiking", "--n-naive", "1"], "--n-naive must be >= 2"),
    ("bench-executors-one-worker", ["bench", "executors", "--workers", "1"], "--workers must be >= 2"),
    ("bench-executors-bad-compare-args", ["bench", "executors", "--", "--rules", "foo"], "unknown rule 'foo'"),
]


#: cases that name no output at all (the mistake is the missing --out)
NO_OUTPUT = {"rate-missing-out"}


def _argv(case_id: str, case_argv: list[str], tmp: Path) -> tuple[list[str], Path]:
    """The case's arguments with ``{tmp}`` filled in and an output (``--out``, or a benchmark's
    ``--json``) inside ``tmp / "out"``."""
    argv = [a.replace("{tmp}", str(tmp)) for a in case_argv]
    out = tmp / "out"
    if case_id in NO_OUTPUT:
        return argv, out
    flag = ["--json", str(out / "bench.json")] if argv[0] == "bench" else ["--out", str(out)]
    at = argv.index("--") if "--" in argv else len(argv)  # bench executors: arguments after -- go to compare
    return argv[:at] + flag + argv[at:], out


def _run_in_process(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's exit (our parser prints one line first)
        return exc.code


@pytest.mark.parametrize("case_id, case_argv, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line(case_id, case_argv, message, tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    argv, out = _argv(case_id, case_argv, tmp_path)
    capsys.readouterr()
    status = _run_in_process(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert message in lines[0], lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists(), f"{out} was created"


@pytest.mark.parametrize(
    "case_id",
    ["spiking-dataset-typo", "spiking-one-class", "spiking-hidden-zero", "rate-bad-device", "convert-missing-model"],
)
def test_bad_input_in_a_terminal_leaves_nothing_behind(case_id, tmp_path):
    """A real process: no traceback, no Brian2 banner, nothing left in its temporary folder."""
    case_argv, message = next((c[1], c[2]) for c in CASES if c[0] == case_id)
    argv, out = _argv(case_id, case_argv, tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = subprocess.run(
        [sys.executable, "-m", "bridges.commands", *argv], capture_output=True, text=True, env=env, timeout=300
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "Brian" not in proc.stderr and not proc.stdout
    assert not out.exists()
    assert sorted(p.name for p in tmp.iterdir()) == []


def test_a_pure_torch_run_does_not_import_brian2(tmp_path):
    code = (
        "import sys; from bridges.commands import main; "
        f"rc = main(['train-rate', '--epochs', '1', '--hidden', '16', '--quiet', '--out', {str(tmp_path / 'r')!r}]); "
        "print('brian2 imported:', 'brian2' in sys.modules); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "brian2 imported: False" in proc.stdout
    assert (tmp_path / "r" / "metrics.json").exists()


def test_gait_without_an_activation_gets_an_invertible_one(tmp_path, capsys):
    """The default ReLU cannot be inverted: GAIT-prop gets leaky-ReLU (and says so) instead of failing."""
    import json

    out = tmp_path / "gait"
    argv = ["--rule", "gait", "--epochs", "2", "--hidden", "64,64", "--batch-size", "32", "--lr", "2e-3"]
    assert main(["train-rate", *argv, "--quiet", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "note: --rule gait needs --activation leaky_relu" in err
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["activation"] == "leaky_relu"
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] > 0.7  # chance is 0.1; 0.90 measured


def test_compare_device_reaches_workers_but_no_task_key(monkeypatch, tmp_path):
    """``compare --device`` is passed through the environment for the run, never hashed into a key."""
    from bridges.commands import compare

    seen = []

    def fake_run_tasks(tasks, out, **kw):
        seen.append((os.environ.get(compare.DEVICE_ENV), [t.key for t in tasks]))
        raise RuntimeError("stop here")

    monkeypatch.setattr(compare, "run_tasks", fake_run_tasks)
    monkeypatch.delenv(compare.DEVICE_ENV, raising=False)
    base = ["--rules", "bp,fa", "--seeds", "0", "--quiet", "--out", str(tmp_path / "c")]
    assert compare.main(base) == 2
    assert compare.main([*base, "--device", "auto"]) == 2
    assert [s[0] for s in seen] == ["cpu", "auto"]
    assert seen[0][1] == seen[1][1] and len(seen[0][1]) > 2
    assert compare.DEVICE_ENV not in os.environ  # restored after the run


# ------------------------------------------------------------------------------------------ help
LEAVES = [name for name, (module, _) in SUBCOMMANDS.items() if module] + [f"bench {b}" for b in BENCHMARKS]


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", LEAVES, ids=[c.replace(" ", "-") for c in LEAVES])
def test_help_shows_each_default_once_and_readably(command, capsys):
    text = _help(command, capsys)
    flat = " ".join(text.split())
    assert "default: None" not in flat and "(default: [])" not in flat
    assert not re.search(r"\(\d+(\.\d+)?, \d", flat), "a Python tuple as a default"
    assert not re.search(r"\(default: [^)]*\) \(default:", flat), "a default shown twice"
    assert "/work/" not in text and "/home/" not in text and "/root" not in text


@pytest.mark.parametrize(
    "command, names",
    [
        ("train-spiking", ["stdp-association", "spiking-local", "digits", "cpp_standalone", "stdp-iris-skip"]),
        ("train-rate", ["bp", "fa", "dfa", "usf", "dtp", "gait", "local", "leaky_relu", "fashion-mnist", "cuda:N"]),
        ("compare", ["stdp-association", "spiking-local", "gait", "fgsm", "pgd", "sequential", "ray", "cuda:N"]),
        ("convert", ["cpp_standalone", "cython", "numpy", "percentile", "cuda:N"]),
        ("bench rate", ["usf", "brsf", "cuda:N"]),
    ],
    ids=["train-spiking", "train-rate", "compare", "convert", "bench-rate"],
)
def test_help_lists_the_valid_names(command, names, capsys):
    flat = " ".join(_help(command, capsys).split()).replace("- ", "-")
    missing = [n for n in names if n not in flat]
    assert not missing


@pytest.mark.parametrize("command", ["train-spiking", "train-rate", "compare"])
def test_every_command_defaults_to_the_digits_data_set(command, capsys):
    assert "data set: mnist, fashion-mnist, kmnist, iris, digits, cifar10, svhn (default: digits)" in " ".join(
        _help(command, capsys).split()
    )
