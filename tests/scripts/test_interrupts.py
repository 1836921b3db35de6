"""Ctrl-C stops every long command promptly and resumably.

Each test starts a command in a session of its own, sends SIGINT to its process group when part of
the work is on disk (as a terminal does on Ctrl-C), and checks that

* every process of the session (the command, its pool workers, what they started) has ended
  within :data:`LIMIT_S`;
* the exit status is 130 and the last line printed says what is kept and how to resume;
* nothing half-written is left (no temporary ``.*.tmp`` file; every result file is complete);
* running the command again finishes with the results of an uninterrupted run, bit for bit.

The uninterrupted run goes on alongside (another folder), so each test takes about as long as one
run and a half. The measured time from SIGINT to the last process gone is printed (``pytest -s``).
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bridges.cli import sigint_kept

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds the processes of the command's session in /proc"
)

REPO = Path(__file__).resolve().parents[2]
#: the longest a command may take from SIGINT until its last process is gone
LIMIT_S = 30.0
#: the longest a command may take to get to the point where the test interrupts it (a loaded machine)
START_S = 240.0


@pytest.mark.parametrize("wrapper", sorted((REPO / "scripts").glob("*.py")), ids=lambda p: p.name)
def test_wrappers_run_their_command(wrapper, monkeypatch, capsys):
    """``scripts/X.py`` runs its subcommand through the same handling as ``bioplausible`` (``--help``
    names the wrapper)."""
    monkeypatch.setattr(sys, "argv", [str(wrapper), "--help"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(wrapper), run_name="__main__")
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: scripts/{wrapper.name}")


def test_ctrl_c_in_any_command_is_one_line_and_status_130(monkeypatch, capsys):
    """A command that has not said what it keeps: the generic line (nothing to resume)."""
    from bridges.commands import convert, main

    def interrupted(argv, prog=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "main", interrupted)
    assert main(["convert", "--help"]) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "interrupted: nothing was kept; run the same command again to start over\n"


def test_sigint_kept_undoes_a_handler_installed_inside():
    """What Brian2 does at import: install its own SIGINT handler."""
    before = signal.getsignal(signal.SIGINT)
    with sigint_kept():
        signal.signal(signal.SIGINT, lambda signum, frame: None)
    assert signal.getsignal(signal.SIGINT) is before


def _session_processes(sid: int) -> list[str]:
    """The live (not zombie) processes of session ``sid``, as ``"pid name"``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ..., session id
            found.append(f"{entry} {name}")
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    """``bioplausible <argv>`` in a new session (its own process group, as a terminal's job),
    stdout and stderr to ``log``. One torch thread per process: two runs go on side by side."""
    with open(log, "w") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "bridges.commands", *argv],
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            # as from a terminal: SIGINT handled by default even where this test runs in a background job
            # of a shell without job control (which starts its jobs with SIGINT ignored, inherited here)
            preexec_fn=_default_sigint,
        )


def _finish(proc: subprocess.Popen, log: Path, timeout: float = START_S) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"{proc.args} did not finish within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
    assert proc.returncode == 0, log.read_text()[-3000:]


def _interrupt_when(
    proc: subprocess.Popen, log: Path, ready: Callable[[], bool], sig: int = signal.SIGINT, group: bool = True
) -> float:
    """Wait until ``ready()``, send ``sig`` to the command's process group (``group=False``: to the
    command's own process only, as ``kill PID`` does), wait until every process of its session has
    ended; return the seconds from the signal to the last one gone."""
    deadline = time.monotonic() + START_S
    while not ready():
        if proc.poll() is not None:
            pytest.fail(
                f"the command ended (status {proc.returncode}) before it could be interrupted:\n{log.read_text()}"
            )
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"nothing to interrupt after {START_S:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)
    if group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    t0 = time.monotonic()
    while True:
        proc.poll()  # reap the command itself
        left = _session_processes(proc.pid)
        elapsed = time.monotonic() - t0
        if not left and proc.returncode is not None:
            return elapsed
        if elapsed > LIMIT_S:
            for pid in [int(p.split()[0]) for p in left]:
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"still running {LIMIT_S:.0f} s after SIGINT: {left}\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def _last_line(log: Path) -> str:
    return [line for line in log.read_text().splitlines() if line.strip()][-1]


def _no_temporaries(out: Path) -> None:
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.tmp")) == []


def _report(command: str, seconds: float) -> None:
    print(f"\n{command}: {seconds:.2f} s from SIGINT to the last process gone")


def _without_timings(obj):
    """``obj`` less what differs between two runs of the same training: wall times and the command line."""
    if isinstance(obj, dict):
        return {
            k: _without_timings(v) for k, v in obj.items() if "second" not in k and "wall" not in k and k != "command"
        }
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def test_compare_with_a_process_pool(tmp_path):
    sweep = [
        "compare",
        *("--rules", "bp,fa", "--seeds", "0,1", "--epsilons", "0,0.1", "--methods", "fgsm"),
        *("--rate-option", "epochs=8", "--quiet"),
    ]
    argv = [*sweep, "--executor", "local", "--workers", "2"]
    ref, out = tmp_path / "reference", tmp_path / "interrupted"
    # the reference runs in one process (results do not depend on the executor: tests/bridges/test_tasks.py)
    reference = _start([*sweep, "--executor", "sequential", "--out", str(ref)], tmp_path / "reference.log")
    proc = _start([*argv, "--out", str(out)], tmp_path / "run.log")

    def some_tasks_done() -> bool:
        return any((out / "tasks").glob("train-*.json"))

    seconds = _interrupt_when(proc, tmp_path / "run.log", some_tasks_done)
    _report("compare (local, 2 workers)", seconds)
    assert proc.returncode == 130, (tmp_path / "run.log").read_text()
    assert _last_line(tmp_path / "run.log") == (
        f"interrupted: finished work is kept in {out}; run the same command again to resume"
    )
    _no_temporaries(out)
    _finish(reference, tmp_path / "reference.log")
    expected = {p.name: _without_timings(json.loads(p.read_text())["result"]) for p in (ref / "tasks").glob("*.json")}
    kept = {p.name: _without_timings(json.loads(p.read_text())["result"]) for p in (out / "tasks").glob("*.json")}
    assert 0 < len(kept) < len(expected), "the interrupt came before any task or after the last one"
    assert {name: expected[name] for name in kept} == kept  # every kept file is whole and right
    assert not (out / "results.csv").exists()

    runs = json.loads((out / "invocations.json").read_text())  # the interrupted run is on record
    assert [(r["outcome"], r["tasks_run"] == len(kept)) for r in runs] == [("interrupted", True)]

    rerun = _start([*argv, "--out", str(out)], tmp_path / "rerun.log")
    _finish(rerun, tmp_path / "rerun.log")
    assert (out / "results.csv").read_text() == (ref / "results.csv").read_text()
    runs = json.loads((out / "invocations.json").read_text())
    assert [r["outcome"] for r in runs] == ["interrupted", "finished"]
    assert runs[1]["tasks_run"] == len(expected) - len(kept)
    total = sum(r["wall_s"] for r in runs)  # the report gives both runs, not only the one that wrote it
    assert f"all 2 runs of it on this folder: {total:.0f} s" in (out / "report.md").read_text()
    # header + rows: per seed, bp: white-box at eps 0 and 0.1, the sanity row (eps 1.0) and the worst case at
    # 0 and 0.1 (5); fa: the same plus the transfer from bp at 0 and 0.1 (7); FGSM has no budget check
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2 * (5 + 7)


SPIKING = [
    "train-spiking",
    *("--rule", "stdp-association", "--dataset", "iris", "--classes", "versicolor,virginica"),
    *("--hidden", "6,4", "--epochs", "1", "--seed", "0", "--target", "numpy", "--dt-ms", "1"),
    *("--t-present-ms", "20", "--pop-size", "8", "--chunk-size", "20", "--quiet"),
]


def test_train_spiking(tmp_path):
    ref, out = tmp_path / "reference", tmp_path / "interrupted"
    reference = _start([*SPIKING, "--out", str(ref)], tmp_path / "reference.log")
    proc = _start([*SPIKING, "--out", str(out)], tmp_path / "run.log")
    seconds = _interrupt_when(proc, tmp_path / "run.log", lambda: (out / "checkpoint.npz").exists())
    _report("train-spiking (numpy target)", seconds)
    assert proc.returncode == 130, (tmp_path / "run.log").read_text()
    assert _last_line(tmp_path / "run.log") == (
        f"interrupted: finished chunks are kept in {out / 'checkpoint.npz'}; run the same command again to resume"
    )
    _no_temporaries(out)
    assert not (out / "weights.npz").exists() and not (out / "metrics.json").exists()
    with np.load(out / "checkpoint.npz") as z:  # whole: it loads
        assert len(z.files) > 0

    rerun = _start([*SPIKING, "--out", str(out)], tmp_path / "rerun.log")
    _finish(rerun, tmp_path / "rerun.log")
    _finish(reference, tmp_path / "reference.log")
    with np.load(ref / "weights.npz") as za, np.load(out / "weights.npz") as zb:
        assert sorted(za.files) == sorted(zb.files)
        for name in za.files:
            np.testing.assert_array_equal(za[name], zb[name], err_msg=name)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (ref, out))
    assert a["accuracy"] == b["accuracy"] and a["history"][-1]["test_accuracy"] == b["history"][-1]["test_accuracy"]


RATE = [
    "train-rate",
    *("--rule", "fa", "--dataset", "digits", "--hidden", "64,64", "--epochs", "20", "--batch-size", "32"),
    *("--seed", "0", "--device", "cpu", "--quiet"),
]


def test_train_rate(tmp_path):
    import torch

    ref, out = tmp_path / "reference", tmp_path / "interrupted"
    reference = _start([*RATE, "--out", str(ref)], tmp_path / "reference.log")
    proc = _start([*RATE, "--out", str(out)], tmp_path / "run.log")
    seconds = _interrupt_when(proc, tmp_path / "run.log", lambda: (out / "checkpoint.pt").exists())
    _report("train-rate", seconds)
    assert proc.returncode == 130, (tmp_path / "run.log").read_text()
    assert _last_line(tmp_path / "run.log") == (
        f"interrupted: finished epochs are kept in {out / 'checkpoint.pt'}; "
        "run the same command again with --resume to continue"
    )
    _no_temporaries(out)
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()
    epochs_done = torch.load(out / "checkpoint.pt", weights_only=False)["epoch"]
    assert 1 <= epochs_done < 20

    rerun = _start([*RATE, "--out", str(out), "--resume"], tmp_path / "rerun.log")
    _finish(rerun, tmp_path / "rerun.log")
    _finish(reference, tmp_path / "reference.log")
    a, b = (torch.load(d / "model.pt", weights_only=True) for d in (ref, out))
    assert list(a) == list(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (ref, out))
    assert _without_timings(ma) == _without_timings(mb)


def test_sigterm_to_the_command_alone_stops_its_workers(tmp_path):
    """``kill PID`` (SIGTERM to the main process only) ends a process-pool comparison like a Ctrl-C:
    the workers go too (none is left running as an orphan), finished work is kept, exit status 130."""
    out = tmp_path / "out"
    argv = [
        *("compare", "--rules", "bp,fa", "--seeds", "0,1", "--epsilons", "0,0.1", "--methods", "fgsm"),
        *("--rate-option", "epochs=8", "--quiet", "--executor", "local", "--workers", "2", "--out", str(out)),
    ]
    proc = _start(argv, tmp_path / "run.log")
    seconds = _interrupt_when(
        proc, tmp_path / "run.log", lambda: any((out / "tasks").glob("train-*.json")), signal.SIGTERM, group=False
    )
    _report("compare (local, 2 workers), SIGTERM to the main process", seconds)
    assert proc.returncode == 130, (tmp_path / "run.log").read_text()
    assert _last_line(tmp_path / "run.log") == (
        f"interrupted: finished work is kept in {out}; run the same command again to resume"
    )
    _no_temporaries(out)
