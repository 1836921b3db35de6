"""The task engine: executors agree, dead workers are retried, finished tasks are never recomputed,
and a Ctrl-C ends the running tasks promptly without leaving a partial file."""

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import task_fns

import bridges.tasks
from bridges.tasks import TASK_THREADS, TERMINATE_GRACE_S, Task, result_path, run_tasks, seed_from_key, task_key

TESTS = str(Path(__file__).resolve().parent)


def _graph(fn=task_fns.random_numbers, n=6):
    first = [Task(f"train-{i}", fn, {"name": f"train-{i}"}) for i in range(n // 2)]
    second = [Task(f"eval-{i}", fn, {"name": f"eval-{i}"}, deps=(f"train-{i}",)) for i in range(n // 2)]
    return first + second


def _results(records):
    return {k: r["result"] for k, r in records.items()}


def _invocations(d: Path) -> Counter:
    p = d / "invocations.log"
    return Counter(p.read_text().split()) if p.exists() else Counter()


@pytest.fixture
def ray_env(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))


def test_local_executor_matches_sequential(tmp_path):
    seq = _results(run_tasks(_graph(), tmp_path / "seq", executor="sequential"))
    loc = _results(run_tasks(_graph(), tmp_path / "loc", executor="local", workers=2))
    assert seq == loc
    assert len({json.dumps(v["torch"]) for v in seq.values()}) == len(seq)  # every task seeded differently
    assert {v["threads"] for v in seq.values()} == {TASK_THREADS}  # same numerics under every executor


def test_local_executor_hands_the_highest_priority_ready_task_to_a_free_worker(tmp_path):
    """Longest first: one worker takes b (3), c (2), a (1), then d (10), which waits for a; the
    results are those of the sequential run (every task is seeded from its key)."""
    fn = task_fns.random_numbers
    tasks = [Task(k, fn, {"name": k}) for k in "abc"] + [Task("d", fn, {"name": "d"}, deps=("a",))]
    rank = {"a": 1, "b": 3, "c": 2, "d": 10}
    records = run_tasks(tasks, tmp_path / "loc", executor="local", workers=1, priority=lambda t: rank[t.key])
    assert (tmp_path / "loc" / "invocations.log").read_text().split() == ["b", "c", "a", "d"]
    assert _results(records) == _results(run_tasks(tasks, tmp_path / "seq", executor="sequential"))


def test_sequential_executor_restores_the_callers_thread_count(tmp_path):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        records = run_tasks(_graph(n=2), tmp_path, executor="sequential")
        assert {r["result"]["threads"] for r in records.values()} == {TASK_THREADS}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_ray_executor_matches_sequential(tmp_path, ray_env):
    seq = _results(run_tasks(_graph(), tmp_path / "seq", executor="sequential"))
    ray_res = _results(run_tasks(_graph(), tmp_path / "ray", executor="ray", workers=2))
    assert seq == ray_res


def test_local_executor_retries_a_killed_worker(tmp_path):
    tasks = _graph() + [Task("victim", task_fns.dies_once, {"name": "victim"}, deps=("train-0",))]
    records = run_tasks(tasks, tmp_path, executor="local", workers=2)
    assert set(records) == {t.key for t in tasks}
    assert records["victim"]["result"] == {"name": "victim", "survived": True}
    assert _invocations(tmp_path)["victim"] == 2
    files = sorted(p.name for p in (tmp_path / "tasks").iterdir())
    assert files == sorted(f"{t.key}.json" for t in tasks)  # every result present once


def test_ray_executor_retries_a_killed_worker(tmp_path, ray_env):
    tasks = _graph(n=2) + [Task("victim", task_fns.dies_once, {"name": "victim"})]
    records = run_tasks(tasks, tmp_path, executor="ray", workers=2)
    assert records["victim"]["result"]["survived"] is True
    assert _invocations(tmp_path)["victim"] == 2
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == sorted(f"{t.key}.json" for t in tasks)


def test_local_executor_gives_up_after_max_retries(tmp_path):
    always = Task("always", task_fns.dies_once, {"name": "always"})
    with pytest.raises(RuntimeError, match="lost its worker"):
        # max_retries=0: the first death is final
        run_tasks([always], tmp_path, executor="local", workers=1, max_retries=0)


@pytest.mark.parametrize("executor", ["sequential", "local"])
def test_interrupted_sweep_resumes_without_recomputing(tmp_path, executor):
    tasks = _graph(task_fns.fails_if_flagged)
    run_tasks(tasks[:3], tmp_path, executor=executor, workers=2)  # the train tasks finish
    (tmp_path / "interrupt").write_text("x")
    with pytest.raises(KeyboardInterrupt, match="simulated interruption"):
        run_tasks(tasks, tmp_path, executor="sequential")  # the eval tasks are interrupted
    (tmp_path / "interrupt").unlink()
    before = _invocations(tmp_path)
    records = run_tasks(tasks, tmp_path, executor=executor, workers=2)
    after = _invocations(tmp_path)
    assert set(records) == {t.key for t in tasks}
    for i in range(3):
        assert after[f"train-{i}"] == before[f"train-{i}"] == 1  # finished work never reruns
    assert sum(after[f"eval-{i}"] for i in range(3)) == sum(before[f"eval-{i}"] for i in range(3)) + 3


def test_on_done_reports_every_task_including_finished_ones(tmp_path):
    seen = []
    run_tasks(_graph(), tmp_path, on_done=lambda t, r: seen.append(t.key))
    seen2 = []
    run_tasks(_graph(), tmp_path, on_done=lambda t, r: seen2.append(t.key))
    assert sorted(seen) == sorted(seen2) == sorted(t.key for t in _graph())


def test_graph_errors_are_clear(tmp_path):
    a = Task("a", task_fns.random_numbers, {"name": "a"})
    with pytest.raises(ValueError, match="unknown tasks"):
        run_tasks([Task("b", task_fns.random_numbers, {"name": "b"}, deps=("zz",))], tmp_path)
    with pytest.raises(ValueError, match="cycle"):
        run_tasks(
            [Task("x", task_fns.random_numbers, {}, deps=("y",)), Task("y", task_fns.random_numbers, {}, deps=("x",))],
            tmp_path,
        )
    with pytest.raises(ValueError, match="share the key"):
        run_tasks([a, Task("a", task_fns.random_numbers, {"name": "other"})], tmp_path)
    with pytest.raises(ValueError, match="unknown executor 'dask'; valid names: sequential, local, ray"):
        run_tasks([a], tmp_path, executor="dask")
    with pytest.raises(ValueError, match="letters, digits"):
        Task("a/b", task_fns.random_numbers)


def test_missing_ray_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'bioplausible\[cluster\]'"):
        run_tasks([Task("a", task_fns.random_numbers, {"name": "a"})], tmp_path, executor="ray")


def test_keys_and_seeds_are_stable():
    assert task_key("train", {"b": 1, "a": 2}) == task_key("train", {"a": 2, "b": 1})
    assert task_key("train", {"a": 1}) != task_key("train", {"a": 2})
    assert seed_from_key("x") == int("2d711642", 16)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [p for p in pids if _alive(p)]


@contextlib.contextmanager
def _ctrl_c_once_started(results_dir: Path, names: list[str]):
    """Send SIGINT to this process (as a Ctrl-C does) once every task in ``names`` has started;
    yields a dict that gets the time of the signal (``"sent"``) and the started tasks' pids."""
    sent: dict = {}
    stop = threading.Event()

    def watch():
        deadline = time.monotonic() + 180
        files = [results_dir / "started" / n for n in names]
        while not stop.is_set() and time.monotonic() < deadline:
            if all(f.exists() for f in files):
                sent["pids"] = [int(v) for f in files for v in f.read_text().split()]
                sent["sent"] = time.monotonic()
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield sent
    finally:
        stop.set()
        watcher.join()
        signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.parametrize("executor", ["sequential", "local", "ray"])
def test_ctrl_c_ends_the_running_tasks_and_leaves_no_partial_file(tmp_path, executor, request):
    """Two tasks wait inside an atomic write (a third waits for a worker); SIGINT: run_tasks raises
    KeyboardInterrupt within seconds, every worker (and, for ``local``, the ``sleep`` each task
    started) is gone, the writers' temporary files are removed, no result file exists and the
    queued task never ran."""
    if executor == "ray":
        request.getfixturevalue("ray_env")
    running = ["hang-0"] if executor == "sequential" else ["hang-0", "hang-1"]
    child = executor == "local"  # the pool ends each worker's process group, children included
    tasks = [Task(n, task_fns.hangs_while_writing, {"name": n, "child": child}) for n in running]
    tasks.append(Task("queued", task_fns.random_numbers, {"name": "queued"}))
    with _ctrl_c_once_started(tmp_path, running) as ctrl_c, pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, tmp_path, executor=executor, workers=2)
    ended_after = time.monotonic() - ctrl_c["sent"]
    assert ended_after < TERMINATE_GRACE_S + 5.0
    workers = [p for p in ctrl_c["pids"] if p != os.getpid()]
    assert _wait_gone(workers, timeout=10.0) == []
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.tmp")) == []
    for name in running:
        assert not (tmp_path / f"{name}.out").exists() and not result_path(tmp_path, name).exists()
    assert _invocations(tmp_path)["queued"] == 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_ctrl_c_kills_a_local_worker_that_ignores_sigterm(tmp_path, monkeypatch, caplog):
    """A worker stuck past the grace period is killed with its group; the temporary file it leaves
    is removed by the main process."""
    monkeypatch.setattr(bridges.tasks, "TERMINATE_GRACE_S", 1.0)
    stuck = Task("stuck", task_fns.hangs_while_writing, {"name": "stuck", "child": True, "ignore_sigterm": True})
    with (
        caplog.at_level(logging.WARNING, logger="bridges.tasks"),
        _ctrl_c_once_started(tmp_path, ["stuck"]) as ctrl_c,
        pytest.raises(KeyboardInterrupt),
    ):
        run_tasks([stuck], tmp_path, executor="local", workers=1)
    assert 1.0 <= time.monotonic() - ctrl_c["sent"] < 1.0 + 5.0
    assert _wait_gone(ctrl_c["pids"], timeout=10.0) == []
    assert list(tmp_path.rglob("*.tmp")) == [] and not (tmp_path / "stuck.out").exists()
    assert "did not end within 1 s of SIGTERM" in caplog.text and "stuck.out" in caplog.text


def test_local_workers_leave_the_terminal_process_group(tmp_path):
    """A terminal's Ctrl-C goes to its foreground process group: only the main process gets it."""
    tasks = [Task(f"g{i}", task_fns.process_group, {"i": i}) for i in range(2)]
    records = run_tasks(tasks, tmp_path, executor="local", workers=2)
    for r in records.values():
        assert r["result"]["pgid"] == r["result"]["pid"] != os.getpgrp()
