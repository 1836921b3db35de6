"""`bioplausible train-spiking` end to end on IRIS (numpy target, tiny network): outputs and resume."""

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


def test_train_script_writes_metrics_weights_and_plots(tmp_path):
    mod = _load_script()
    out = tmp_path / "run"
    assert mod.main([*ARGS, "--out", str(out), "--plots"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert set(metrics["test_rates_hz"]) == {"h1", "h2", "out"}
    assert metrics["seed"] == 0 and metrics["config"]["rule"] == "stdp-association"
    paths = metrics["history"][-1]["test_output_pathways"]
    assert list(paths) == ["W_h2_out"] and paths["W_h2_out"]["drive_share"] == pytest.approx(1.0)
    assert metrics["dataset"]["classes"] == ["versicolor", "virginica"] and metrics["dataset"]["n_train"] > 50
    assert "brian2" in metrics["versions"]
    with np.load(out / "weights.npz") as z:
        assert z["W_in_h1"].shape == (4 * 8, 6) and z["W_h2_out"].shape == (4, 2)
    for name in metrics["plots"]:
        assert (out / name).stat().st_size > 1000
    assert not (out / "checkpoint.npz").exists()


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    mod = _load_script()
    clean = tmp_path / "clean"
    assert mod.main([*ARGS, "--out", str(clean)]) == 0

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
        mod.main([*ARGS, "--out", str(resumed)])
    assert (resumed / "checkpoint.npz").exists() and not (resumed / "metrics.json").exists()
    monkeypatch.setattr(spiking_run, "atomic_save_npz", real_save)
    assert mod.main([*ARGS, "--out", str(resumed)]) == 0
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
