"""scripts/bench_executors.py: runs one comparison under both executors and reports honest numbers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_executors.py"


def test_rejects_one_worker():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--workers", "1"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--workers must be >= 2" in proc.stderr


@pytest.mark.slow
@pytest.mark.standalone
def test_small_comparison_under_both_executors(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--calibration-size",
            "0.02",
            "--work-dir",
            str(tmp_path / "work"),
            "--json",
            str(out),
            "--",
            "--dataset",
            "iris",
            "--rules",
            "bp,fa",
            "--seeds",
            "0",
            "--methods",
            "fgsm",
            "--epsilons",
            "0,0.1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    # 2 rules x 2 eps white-box + fa x 2 eps transfer from bp + each rule's sanity row at eps 1.0 (FGSM)
    assert r["identical_results"] is True and r["rows"] == 8
    assert r["seconds"]["sequential"] > 0 and r["seconds"]["local"] > 0
    assert r["ratio"] == pytest.approx(r["seconds"]["sequential"] / r["seconds"]["local"])
    assert r["task_slowdown"] == pytest.approx(r["task_seconds"]["local"] / r["task_seconds"]["sequential"])
    assert "ratio sequential / local (2 workers)" in proc.stdout
    # the fresh-start guard: the same work directory again is refused
    again = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--calibration-size",
            "0.02",
            "--work-dir",
            str(tmp_path / "work"),
            "--",
            "--dataset",
            "iris",
            "--rules",
            "bp",
            "--seeds",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode != 0 and "is not empty" in (again.stderr + again.stdout)
