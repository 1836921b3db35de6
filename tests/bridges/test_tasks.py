"""The task engine: executors agree, dead workers are retried, finished tasks are never recomputed."""

import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
import task_fns

from bridges.tasks import TASK_THREADS, Task, run_tasks, seed_from_key, task_key

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
