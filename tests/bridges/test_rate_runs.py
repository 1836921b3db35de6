"""Rate-based runs: config validation, exact resume after interruption, the train_rate.py script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bridges.runs.rate import RateRunConfig, load_rate_model, save_rate_run, train_rate

REPO = Path(__file__).resolve().parents[2]


def _cfg(**kw):
    base = dict(
        rule="brsf", dataset="digits", hidden=(32, 32), epochs=3, batch_size=64, n_train=400, n_test=200, align_batch=64
    )
    base.update(kw)
    return RateRunConfig(**base)


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    cfg = _cfg()
    full = train_rate(cfg, device="cpu")

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_rate(cfg, device="cpu", checkpoint_dir=tmp_path, on_epoch=stop_after_first)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["epoch"] == 1
    resumed = train_rate(cfg, device="cpu", checkpoint_dir=tmp_path, resume=True)
    for (n, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), n
    assert resumed.metrics["train_losses"] == full.metrics["train_losses"]
    assert resumed.metrics["test_accuracy"] == full.metrics["test_accuracy"]


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    train_rate(_cfg(epochs=1), device="cpu", checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="different config"):
        train_rate(_cfg(epochs=1, lr=0.01), device="cpu", checkpoint_dir=tmp_path, resume=True)


def test_same_seed_same_result_and_metrics_record_provenance():
    a, b = train_rate(_cfg(epochs=1), device="cpu"), train_rate(_cfg(epochs=1), device="cpu")
    assert a.metrics["train_losses"] == b.metrics["train_losses"]
    m = a.metrics
    assert m["seed"] == 0 and m["config"]["rule"] == "brsf" and "torch" in m["versions"]
    assert set(m["epochs"][0]["alignment_deg"]) == {"layers.0", "layers.1", "layers.2"}
    assert m["epochs"][0]["alignment_deg"]["layers.2"] == pytest.approx(0.0, abs=1e-3)


def test_saved_model_reloads_identically(tmp_path):
    cfg = _cfg(rule="fa", epochs=1)
    res = train_rate(cfg, device="cpu")
    save_rate_run(tmp_path, res, cfg)
    model, cfg2, meta = load_rate_model(tmp_path)
    assert cfg2 == cfg
    for (n, a), (_, b) in zip(res.model.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), n


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"rule": "backprop"}, "unknown learning rule 'backprop'; valid names: bp"),
        ({"model": "vgg"}, "unknown model 'vgg'"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"dtype": "float16"}, "unknown dtype"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"rule_options": {"gamma": 1}}, "does not accept options"),
    ],
    ids=["rule", "model", "loss", "dtype", "epochs", "option"],
)
def test_bad_configs_raise_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        _cfg(**kw)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown config keys"):
        RateRunConfig.from_dict({"rule": "bp", "epochz": 3})


def test_train_rate_script_end_to_end(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        str(REPO / "scripts" / "train_rate.py"),
        "--rule",
        "usf",
        "--model",
        "lenet",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--n-train",
        "300",
        "--n-test",
        "100",
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"] == "lenet" and len(metrics["epochs"]) == 2
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert set(json.loads((out / "config.json").read_text())) >= {"config", "input_shape", "n_classes"}
    assert (out / "model.pt").exists() and (out / "checkpoint.pt").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "--resume" in again.stderr
    bad = subprocess.run(
        cmd[:2] + ["--rule", "nope", "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "valid names: bp, fa, dfa" in bad.stderr


def test_progress_callbacks_give_the_total_and_count_each_sample_once_across_a_resume(tmp_path):
    cfg = _cfg(epochs=2)  # 400 training samples per epoch
    starts, samples = [], []

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_rate(
            cfg,
            device="cpu",
            checkpoint_dir=tmp_path,
            on_start=lambda total, done: starts.append((total, done)),
            on_batch=samples.append,
            on_epoch=stop_after_first,
        )
    assert starts == [(800, 0)] and sum(samples) == 400 and len(samples) == 7  # ceil(400 / 64) batches
    train_rate(
        cfg,
        device="cpu",
        checkpoint_dir=tmp_path,
        resume=True,
        on_start=lambda total, done: starts.append((total, done)),
        on_batch=samples.append,
    )
    assert starts == [(800, 0), (800, 400)] and sum(samples) == 800


def test_train_rate_progress_bar_shows_the_total_over_all_epochs(tmp_path, capsys):
    from bridges.commands import train_rate as command

    argv = ["--rule", "fa", "--hidden", "16", "--epochs", "2", "--n-train", "100", "--n-test", "50"]
    assert command.main([*argv, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "200/200" in err and "100%" in err  # 2 epochs x 100 samples, a total rather than a bare count
