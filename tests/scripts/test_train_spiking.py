"""`bioplausible train-spiking` end to end on IRIS (numpy target, tiny network): outputs, resume, and
the defaults each data set and rule gets when the command line leaves settings out."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bridges.runs.spiking as spiking_run
import spiking as spk


def _load_script():
    from bridges.commands import train_spiking

    return train_spiking


ARGS = [
    "--rule",
    "stdp-association",
    "--dataset",
    "iris",
    "--classes",
    "versicolor,virginica",
    "--hidden",
    "6,4",
    "--epochs",
    "1",
    "--seed",
    "0",
    "--target",
    "numpy",
    "--dt-ms",
    "1",
    "--t-present-ms",
    "20",
    "--pop-size",
    "8",
    "--chunk-size",
    "40",
    "--quiet",
]
#: the rule's own parameters (no preset): ``--preset none``
PLAIN = [*ARGS, "--preset", "none"]


def test_train_script_writes_metrics_weights_and_plots(tmp_path, capsys):
    """With no --preset, IRIS and STDP/association get the measured IRIS preset (a skip projection
    h1 -> out); metrics.json records it and the settings taken from the defaults."""
    mod = _load_script()
    out = tmp_path / "run"
    argv = [a for a in ARGS if a != "--quiet"]
    assert mod.main([*argv, "--out", str(out), "--plots"]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "epoch 0/" not in err  # epochs counted from 1 on screen
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert set(metrics["test_rates_hz"]) == {"h1", "h2", "out"}
    assert metrics["seed"] == 0 and metrics["config"]["rule"] == "stdp-association"
    assert metrics["preset"] == "stdp-iris-skip"
    assert metrics["defaults_applied"] == {"preset": "stdp-iris-skip", "max_rate_hz": 200.0, "total_rate_hz": 20000.0}
    assert "note: iris with stdp-association: --preset stdp-iris-skip (the measured defaults" in err
    assert [h["epoch"] for h in metrics["history"]] == [0]  # the stored history keeps its 0-based epochs
    paths = metrics["history"][-1]["test_output_pathways"]
    assert list(paths) == ["W_h1_out", "W_h2_out"]
    assert sum(p["drive_share"] for p in paths.values()) == pytest.approx(1.0)
    assert metrics["dataset"]["classes"] == ["versicolor", "virginica"] and metrics["dataset"]["n_train"] > 50
    assert "brian2" in metrics["versions"]
    with np.load(out / "weights.npz") as z:
        assert z["W_in_h1"].shape == (4 * 8, 6) and z["W_h2_out"].shape == (4, 2) and z["W_h1_out"].shape == (6, 2)
    for name in metrics["plots"]:
        assert (out / name).stat().st_size > 1000
    assert not (out / "checkpoint.npz").exists()


def test_plain_rule_parameters_have_no_skip_projection(tmp_path):
    mod = _load_script()
    out = tmp_path / "run"
    assert mod.main([*PLAIN, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["preset"] is None and set(metrics["defaults_applied"]) == {"max_rate_hz", "total_rate_hz"}
    paths = metrics["history"][-1]["test_output_pathways"]
    assert list(paths) == ["W_h2_out"] and paths["W_h2_out"]["drive_share"] == pytest.approx(1.0)


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    mod = _load_script()
    clean = tmp_path / "clean"
    assert mod.main([*PLAIN, "--out", str(clean)]) == 0

    real_save = spiking_run.atomic_save_npz
    calls = {"n": 0}

    def save_then_die(path, **arrays):
        real_save(path, **arrays)
        calls["n"] += 1
        if calls["n"] == 1:  # the first chunk's checkpoint is on disk: simulate a crash
            raise KeyboardInterrupt

    resumed = tmp_path / "resumed"
    monkeypatch.setattr(spiking_run, "atomic_save_npz", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        mod.main([*PLAIN, "--out", str(resumed)])
    assert (resumed / "checkpoint.npz").exists() and not (resumed / "metrics.json").exists()
    monkeypatch.setattr(spiking_run, "atomic_save_npz", real_save)
    assert mod.main([*PLAIN, "--out", str(resumed)]) == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (clean, resumed))
    assert a["accuracy"] == b["accuracy"]
    with np.load(clean / "weights.npz") as za, np.load(resumed / "weights.npz") as zb:
        assert set(za.files) == set(zb.files)
        for name in za.files:
            np.testing.assert_array_equal(za[name], zb[name], err_msg=name)


def test_checkpoint_of_another_run_is_refused(tmp_path, monkeypatch, capsys):
    mod = _load_script()
    out = tmp_path / "run"
    real_save = spiking_run.atomic_save_npz

    def save_then_die(path, **arrays):
        real_save(path, **arrays)
        raise KeyboardInterrupt

    monkeypatch.setattr(spiking_run, "atomic_save_npz", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        mod.main([*ARGS, "--out", str(out)])
    monkeypatch.setattr(spiking_run, "atomic_save_npz", real_save)
    capsys.readouterr()
    assert mod.main([*ARGS, "--out", str(out), "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "belongs to a different run" in err[0]
    assert (out / "checkpoint.npz").exists()  # the other run's checkpoint is left as it was


def test_params_accepts_presets_long_inline_json_and_files(tmp_path):
    """A JSON object longer than a file name may be (255 bytes) is read as JSON, not stat()ed as a path."""
    skip = {
        "eta_plus_mV": 0.25,
        "eta_minus_mV": 0.025,
        "eta_hold_mV": 0.25,
        "w_max_mV": 60.0,
        "norm_total_mV": 400.0,
        "w_init_max_mV": 1.0,
        "hold_gate_mV": 0.0,
        "ltp_stop_trace": 1.0,
    }
    text = json.dumps({"hidden_lif": {"theta_target_hz": 5.0}, "skip_stdp": skip, "output_stdp": skip})
    assert len(text) > 255

    def rule_params(rule, spec):
        return spk.replace_params(spk.get_rule(rule).params_type(), spiking_run.params_overrides(rule, spec))

    p = rule_params("stdp-association", text)
    assert p.skip_stdp.norm_total_mV == 400.0 and p.output_stdp.eta_hold_mV == 0.25
    f = tmp_path / "p.json"
    f.write_text(text)
    assert rule_params("stdp-association", str(f)) == p
    assert rule_params("stdp-association", "stdp-skip-400").skip_stdp.norm_total_mV == 2400.0
    with pytest.raises(ValueError, match="neither a JSON object nor a JSON file"):
        rule_params("stdp-association", "no-such-preset-or-file")
    with pytest.raises(ValueError, match="is for rule 'spiking-local', not 'stdp-association'"):
        rule_params("stdp-association", "spiking-local-out")


# ------------------------------------------------------------------------------ defaults per data set
@pytest.mark.parametrize(
    "dataset, rule, hidden, epochs, chunk_size, preset, max_rate_hz",
    [
        ("iris", "stdp-association", (20, 20), 3, 100, "stdp-iris-skip", 200.0),
        ("iris", "spiking-local", (20, 20), 3, 1000, None, 1000.0),
        ("mnist", "stdp-association", (400, 400), 1, 2000, "stdp-skip-400", 200.0),
        ("mnist", "spiking-local", (100, 100), 1, 2000, "spiking-local-out", 200.0),
        ("fashion-mnist", "stdp-association", (400, 400), 1, 2000, "stdp-skip-400", 200.0),
        ("digits", "stdp-association", (400, 100), 5, 1000, "stdp-digits-skip", 200.0),
        ("digits", "spiking-local", (100, 100), 7, 1000, "spiking-local-out", 1000.0),
    ],
    ids=["iris-stdp", "iris-local", "mnist-stdp", "mnist-local", "fashion-stdp", "digits-stdp", "digits-local"],
)
def test_left_out_settings_take_the_measured_defaults(dataset, rule, hidden, epochs, chunk_size, preset, max_rate_hz):
    args = _load_script().parse_args(["--rule", rule, "--dataset", dataset, "--out", "unused"])
    assert (args.hidden, args.epochs, args.chunk_size, args.preset) == (hidden, epochs, chunk_size, preset)
    assert args.max_rate_hz == max_rate_hz and args.dt_ms == spk.get_rule(rule).run_defaults["dt_ms"]
    assert {"hidden", "epochs", "chunk_size", "preset", "dt_ms", "max_rate_hz"} <= set(args.defaults_applied)


def test_the_default_data_set_is_digits():
    args = _load_script().parse_args(["--rule", "stdp-association", "--out", "unused"])
    assert args.dataset == "digits"


def test_flags_on_the_command_line_win_over_the_defaults():
    mod = _load_script()
    argv = ["--rule", "stdp-association", "--dataset", "iris", "--out", "unused"]
    args = mod.parse_args([*argv, "--hidden", "6,4", "--epochs", "2"])
    assert (args.hidden, args.epochs, args.chunk_size, args.preset) == ((6, 4), 2, 100, "stdp-iris-skip")
    assert {"chunk_size": 100, "preset": "stdp-iris-skip"}.items() <= args.defaults_applied.items()
    assert "hidden" not in args.defaults_applied and "epochs" not in args.defaults_applied
    # --params replaces the default preset (as before presets were defaults); --preset none drops it
    args = mod.parse_args([*argv, "--params", '{"inhibition_mV": 3}'])
    assert args.preset is None and mod.rule_params(args) == {"inhibition_mV": 3} and mod.preset_used(args) is None
    assert mod.parse_args([*argv, "--preset", "none"]).preset is None
    args = mod.parse_args([*argv, "--params", "stdp-iris-slow"])
    assert args.preset is None and mod.preset_used(args) == "stdp-iris-slow"


def test_rule_options_apply_on_top_of_the_preset():
    mod = _load_script()
    argv = ["--rule", "stdp-association", "--dataset", "iris", "--out", "unused"]
    args = mod.parse_args([*argv, "--rule-option", "hidden_lif.theta_target_hz=4", "--rule-option", "inhibition_mV=3"])
    params = mod.rule_params(args)
    preset = spiking_run.params_overrides("stdp-association", "stdp-iris-skip")
    assert params["hidden_lif"] == {**preset["hidden_lif"], "theta_target_hz": 4}
    assert params["inhibition_mV"] == 3 and params["output_stdp"] == preset["output_stdp"]
    p = spk.replace_params(spk.get_rule("stdp-association").params_type(), params)
    assert p.hidden_lif.theta_target_hz == 4 and p.inhibition_mV == 3
