"""A sweep as a graph of tasks, run by a sequential, local (process pool) or Ray executor.

A :class:`Task` is a key, a module-level function, its JSON-serialisable ``spec`` and the keys it
depends on. Running a task means: if ``<results_dir>/tasks/<key>.json`` exists, it is finished and
never recomputed; otherwise seed torch, numpy and Brian2 from the key, call
``fn(spec, results_dir)``, and write the returned dict atomically to that file. Because every task
is seeded from its own key and writes its own file, the results are identical whichever executor
ran the tasks and in whatever order; an interrupted sweep, run again, does only what is missing.

Executors (:data:`EXECUTORS`):

* ``sequential``: one task after another in this process;
* ``local``: a pool of ``workers`` processes on this machine (``spawn`` start method); a worker
  that dies (killed, out of memory) breaks the pool: the pool is rebuilt and the unfinished tasks
  are submitted again, up to ``max_retries`` times each;
* ``ray``: tasks as Ray remote functions (``max_retries`` for lost workers or nodes) on a running
  cluster (``address``) or a local one started here. Ray is optional: ``pip install
  'bioplausible[cluster]'``. Every node must see ``results_dir`` (shared storage) and the code.

Interrupts (Ctrl-C): ``run_tasks`` re-raises ``KeyboardInterrupt`` promptly under every executor,
after ending the work it started. ``local`` workers run in process groups of their own, so the
terminal's SIGINT reaches only this process, which cancels the queued tasks, sends SIGTERM to each
worker's group (a running task unwinds: the atomic writers remove their temporary files) and
SIGKILL to any still alive after :data:`TERMINATE_GRACE_S`. ``ray`` cancels the running tasks (a
``KeyboardInterrupt`` in each, then a forced cancel) and shuts down a cluster started here. No
task leaves a partial result file: a task's file is written in one atomic step after it finished.

Examples
--------
>>> import tempfile
>>> from bridges.tasks import Task, run_tasks
>>> t = Task("demo", _echo, {"x": 1})
>>> run_tasks([t], tempfile.mkdtemp(), executor="sequential")["demo"]["result"]
{'x': 1}
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridges.io import atomic_write_json, read_json
from bridges.provenance import seed_everything, versions

log = logging.getLogger(__name__)

__all__ = [
    "Task",
    "task_key",
    "seed_from_key",
    "run_task",
    "run_tasks",
    "EXECUTORS",
    "result_path",
    "load_results",
    "default_executor",
    "TASK_THREADS",
    "TERMINATE_GRACE_S",
]

EXECUTORS = ("sequential", "local", "ray")


def task_key(prefix: str, spec: dict) -> str:
    """A stable key ``<prefix>-<16 hex>`` from a JSON-serialisable spec."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def seed_from_key(key: str) -> int:
    """The seed of a task: the first 32 bits of ``sha256(key)``."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class Task:
    """One unit of work.

    Attributes
    ----------
    key : str
        Unique, stable name; the result file is ``tasks/<key>.json``. Only ``[A-Za-z0-9._-]``.
    fn : callable
        A module-level function ``fn(spec: dict, results_dir: Path) -> dict`` (picklable by
        reference, so worker processes and Ray workers can import it).
    spec : dict
        JSON-serialisable arguments.
    deps : tuple of str
        Keys of tasks that must have finished before this one starts.
    """

    key: str
    fn: Callable[[dict, Path], dict]
    spec: dict = field(default_factory=dict)
    deps: tuple = ()

    def __post_init__(self) -> None:
        if not self.key or any(not (c.isalnum() or c in "._-") for c in self.key):
            raise ValueError(f"task key {self.key!r} must be non-empty and use only letters, digits, '.', '_', '-'")


def result_path(results_dir: str | os.PathLike, key: str) -> Path:
    return Path(results_dir) / "tasks" / f"{key}.json"


#: torch intra-op threads of every task, whichever executor runs it: a float reduction split over
#: another number of threads sums in another order, so fixing the count is what makes a task's
#: result bit-identical under ``sequential``, ``local`` and ``ray`` (parallelism comes from workers).
TASK_THREADS = 1


def run_task(task: Task, results_dir: str | os.PathLike, threads: int | None = TASK_THREADS) -> dict:
    """Run ``task`` unless its result file exists; return the stored record.

    ``threads`` (default :data:`TASK_THREADS`) is torch's intra-op thread count while the task
    runs; the caller's setting is restored afterwards. ``None`` keeps the current setting.
    """
    path = result_path(results_dir, task.key)
    if path.exists():
        return read_json(path)
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _execute(task, results_dir, path)
    finally:
        torch.set_num_threads(previous)


def _execute(task: Task, results_dir, path: Path) -> dict:
    seed_everything(seed_from_key(task.key))
    t0 = time.perf_counter()
    result = task.fn(task.spec, Path(results_dir))
    record = {
        "key": task.key,
        "spec": task.spec,
        "result": result,
        "seconds": time.perf_counter() - t0,
        "seed": seed_from_key(task.key),
        "versions": versions(),
    }
    atomic_write_json(path, record)
    return record


def load_results(results_dir: str | os.PathLike, keys: Iterable[str]) -> dict[str, dict]:
    """The stored records of ``keys`` (all must be finished)."""
    return {k: read_json(result_path(results_dir, k)) for k in keys}


def _check_graph(tasks: list[Task]) -> dict[str, Task]:
    by_key: dict[str, Task] = {}
    for t in tasks:
        if t.key in by_key:
            if by_key[t.key].spec != t.spec:
                raise ValueError(f"two different tasks share the key {t.key!r}")
            continue
        by_key[t.key] = t
    for t in by_key.values():
        missing = [d for d in t.deps if d not in by_key]
        if missing:
            raise ValueError(f"task {t.key!r} depends on unknown tasks {missing}")
    # cycle check (Kahn)
    indeg = {k: len(set(t.deps)) for k, t in by_key.items()}
    users: dict[str, list[str]] = {k: [] for k in by_key}
    for t in by_key.values():
        for d in set(t.deps):
            users[d].append(t.key)
    ready = [k for k, n in indeg.items() if n == 0]
    seen = 0
    while ready:
        k = ready.pop()
        seen += 1
        for u in users[k]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    if seen != len(by_key):
        raise ValueError("the task graph has a cycle")
    return by_key


def default_executor() -> str:
    """``local`` when more than one core is free to this process, else ``sequential``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        cores = os.cpu_count() or 1
    return "local" if cores > 1 else "sequential"


def run_tasks(
    tasks: Iterable[Task],
    results_dir: str | os.PathLike,
    *,
    executor: str = "sequential",
    workers: int | None = None,
    ray_address: str | None = None,
    max_retries: int = 3,
    on_done: Callable[[Task, dict], None] | None = None,
    worker_init: Callable[[], None] | None = None,
    session: Callable[[], ContextManager] | None = None,
    priority: Callable[[Task], float] | None = None,
) -> dict[str, dict]:
    """Run every task (dependencies first) and return ``{key: record}``.

    Parameters
    ----------
    executor : {"sequential", "local", "ray"}
    workers : int, optional
        Processes for ``local`` (default: the free cores) or CPUs for a local Ray cluster.
    ray_address : str, optional
        ``"auto"`` or ``"host:port"`` of a running Ray cluster; ``None`` starts a local one.
    max_retries : int
        Times a task whose worker died is submitted again.
    on_done : callable, optional
        Called in this process as ``on_done(task, record)`` for every task, finished earlier or now.
    worker_init : callable, optional
        A module-level function run once in every worker process before its first task (``local``
        and ``ray``); the engine itself knows nothing of what the tasks simulate. The comparison
        passes one that lets consecutive spiking tasks of a Brian2 project reuse its build.
    session : callable, optional
        A context-manager factory wrapping the whole ``sequential`` run in this process (the
        in-process counterpart of ``worker_init``, e.g. keep builds and clean up at the end).
    priority : callable, optional
        ``local``: a worker that falls free takes the ready task with the highest ``priority(task)``
        (the comparison passes the expected seconds: longest first, so that no long task starts
        last while the other workers idle); tasks are handed out one per free worker, none queued.
        Results do not depend on the order (every task is seeded from its key).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid names: {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    by_key = _check_graph(list(tasks))
    Path(results_dir, "tasks").mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    pending = {}
    for k, t in by_key.items():  # finished earlier: never recomputed, never sent to a worker
        p = result_path(results_dir, k)
        if p.exists():
            done[k] = read_json(p)
            if on_done is not None:
                on_done(t, done[k])
        else:
            pending[k] = t
    if not pending:
        return done
    runner = {"sequential": _run_sequential, "local": _run_local, "ray": _run_ray}[executor]
    runner(
        pending,
        done,
        results_dir,
        workers=workers,
        ray_address=ray_address,
        max_retries=max_retries,
        on_done=on_done,
        worker_init=worker_init,
        session=session,
        priority=priority,
    )
    return done


def _ready(pending: dict[str, Task], done: dict, running: set) -> list[Task]:
    return [t for k, t in pending.items() if k not in running and all(d in done for d in t.deps)]


_WORKER_READY = False


def _run_task_in_worker(
    task: Task, results_dir, threads: int | None = TASK_THREADS, worker_init: Callable[[], None] | None = None
) -> dict:
    global _WORKER_READY
    if worker_init is not None and not _WORKER_READY:
        worker_init()
        _WORKER_READY = True
    return run_task(task, results_dir, threads)


def _run_sequential(pending, done, results_dir, *, on_done, session=None, **_):
    # a Ctrl-C raises KeyboardInterrupt here, in the running task: it unwinds (the atomic writers
    # remove their temporary files) and the session context closes
    with session() if session is not None else contextlib.nullcontext():
        while pending:
            for t in _ready(pending, done, set()):
                done[t.key] = run_task(t, results_dir)
                del pending[t.key]
                if on_done is not None:
                    on_done(t, done[t.key])


def _free_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


#: seconds an interrupted ``local`` worker has to unwind after SIGTERM before it is killed (SIGKILL)
TERMINATE_GRACE_S = 3.0


class _Terminated(BaseException):
    """Raised by SIGTERM in a ``local`` worker's running task, so that the task unwinds (its
    ``finally`` blocks run, the atomic writers remove their temporary files) before the worker exits."""


_TASK_RUNNING = False


def _on_sigterm(signum, frame) -> None:
    if _TASK_RUNNING:
        raise _Terminated()
    os._exit(128 + signum)  # idle: nothing to unwind


def _start_local_worker(worker_init: Callable[[], None] | None) -> None:
    """Initializer of a ``local`` worker process.

    The worker leaves the terminal's foreground process group: a Ctrl-C reaches only the main
    process, which ends the workers itself (:func:`_end_workers`). Left in the group, a worker
    would get the SIGINT too: an idle one dies inside the pool's queue, a busy one reports a
    ``KeyboardInterrupt`` as its task's result and starts the next queued task, and a library's
    SIGINT handler (Brian2 ends a running simulation early) may turn it into a wrong result. In a
    group of its own, the worker and what it starts (compilers, simulator binaries) are ended
    together with one signal to the group.
    """
    try:
        os.setpgid(0, 0)
    except OSError:  # pragma: no cover - already a group or session leader
        pass
    signal.signal(signal.SIGTERM, _on_sigterm)
    if worker_init is not None:
        worker_init()


def _run_task_in_local_worker(task: Task, results_dir) -> dict:
    global _TASK_RUNNING
    _TASK_RUNNING = True
    try:
        return run_task(task, results_dir)
    except _Terminated:
        os._exit(128 + signal.SIGTERM)  # unwound: exit without reporting to the (ending) pool
    finally:
        _TASK_RUNNING = False


def _signal_group(pid: int, sig: int, alone: bool = True) -> None:
    """``sig`` to the process group led by worker ``pid`` (the worker and what it started); with
    ``alone``, to ``pid`` itself if it leads no group (a worker still starting). Gone: skipped."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        if alone:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    except PermissionError:  # pragma: no cover - not ours
        pass


def _remove_temporaries(results_dir) -> list[Path]:
    """Remove the temporary files (``.<name>.<random>.tmp``, :mod:`bridges.io`) that killed
    writers left under ``results_dir``; return them."""
    left = [p for p in Path(results_dir).rglob(".*.tmp") if p.is_file()]
    for p in left:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return left


def _end_workers(pool: cf.ProcessPoolExecutor, results_dir) -> None:
    """End an interrupted pool now: cancel its queued tasks, SIGTERM each worker's process group,
    SIGKILL what is left after :data:`TERMINATE_GRACE_S` (or at a second Ctrl-C), reap the
    workers, and remove the temporary files of killed writers."""
    # the pool's own processes (a private attribute, there since Python 3.2; 3.14 adds
    # terminate_workers(), which signals the workers but not the processes they started)
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        _signal_group(p.pid, signal.SIGTERM, alone=p.exitcode is None)
    deadline = time.monotonic() + TERMINATE_GRACE_S
    killed = []
    try:
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
    finally:  # also after a second Ctrl-C
        for p in procs:
            if p.exitcode is None:
                killed.append(p.pid)
            # the worker if still running, and what is left of its group (a child ignoring SIGTERM)
            _signal_group(p.pid, signal.SIGKILL, alone=p.exitcode is None)
        for p in procs:
            p.join(TERMINATE_GRACE_S)
        if killed:
            log.warning("killed worker(s) %s: they did not end within %.0f s of SIGTERM", killed, TERMINATE_GRACE_S)
            for tmp in _remove_temporaries(results_dir):
                log.warning("removed %s, left by a killed worker", tmp)


def _run_local(pending, done, results_dir, *, workers, max_retries, on_done, worker_init=None, priority=None, **_):
    workers = workers or _free_cores()
    attempts: dict[str, int] = {}
    ctx = mp.get_context("spawn")
    while pending:
        pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_start_local_worker, initargs=(worker_init,)
        )
        futures: dict[cf.Future, Task] = {}
        broken = False
        interrupted = False
        try:
            while pending and not broken:
                running = {t.key for t in futures.values()}
                ready = _ready(pending, done, running)
                if priority is not None:  # one task per free worker, the highest priority first
                    ready = sorted(ready, key=priority, reverse=True)[: max(0, workers - len(futures))]
                for t in ready:
                    futures[pool.submit(_run_task_in_local_worker, t, results_dir)] = t
                if not futures:
                    raise RuntimeError("no task is ready although some are pending (unfinished dependency)")
                finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    t = futures.pop(fut)
                    try:
                        record = fut.result()
                    except cf.process.BrokenProcessPool:
                        broken = True
                        futures[fut] = t  # counted below with the other in-flight tasks
                        continue
                    done[t.key] = record
                    del pending[t.key]
                    if on_done is not None:
                        on_done(t, record)
        except BaseException as exc:
            # Ctrl-C (KeyboardInterrupt), SystemExit: end the work now. A task's error: the other
            # running tasks finish (their results are kept), the queued ones are cancelled.
            interrupted = not isinstance(exc, Exception)
            raise
        finally:
            if interrupted:
                _end_workers(pool, results_dir)
            else:
                pool.shutdown(wait=not broken, cancel_futures=True)
        if broken:
            for t in futures.values():
                if result_path(results_dir, t.key).exists():  # finished just before the pool broke
                    continue
                attempts[t.key] = attempts.get(t.key, 0) + 1
                if attempts[t.key] > max_retries:
                    raise RuntimeError(f"task {t.key!r} lost its worker {attempts[t.key]} times; giving up")
                log.warning("a worker died; task %s will be retried (attempt %d)", t.key, attempts[t.key] + 1)
            # tasks whose files exist are collected on the next pass
            for k in list(pending):
                if result_path(results_dir, k).exists():
                    done[k] = read_json(result_path(results_dir, k))
                    t = pending.pop(k)
                    if on_done is not None:
                        on_done(t, done[k])


def _import_ray():
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ImportError(
            "the 'ray' executor needs Ray: pip install 'bioplausible[cluster]' (or pip install 'ray[default]'); "
            "use --executor local or sequential otherwise"
        ) from None
    return ray


def _run_ray(pending, done, results_dir, *, workers, ray_address, max_retries, on_done, worker_init=None, **_):
    ray = _import_ray()
    started_here = False
    if not ray.is_initialized():
        repo = str(Path(__file__).resolve().parents[1])
        env = {"PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        if ray_address is None:
            ray.init(
                num_cpus=workers or _free_cores(),
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": env},
            )
        else:
            ray.init(address=ray_address, log_to_driver=False, runtime_env={"env_vars": env})
        started_here = True
    remote = ray.remote(num_cpus=1, max_retries=max_retries)(_run_task_in_worker)
    results_dir = str(Path(results_dir).resolve())
    refs: dict[Any, Task] = {}
    try:
        while pending:
            running = {t.key for t in refs.values()}
            for t in _ready(pending, done, running):
                refs[remote.remote(t, results_dir, 1, worker_init)] = t
            if not refs:
                raise RuntimeError("no task is ready although some are pending (unfinished dependency)")
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                t = refs.pop(ref)
                record = ray.get(ref)
                done[t.key] = record
                del pending[t.key]
                if on_done is not None:
                    on_done(t, record)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # Ctrl-C, SystemExit: end the running tasks
            _cancel_ray_tasks(ray, list(refs), results_dir)
        raise
    finally:
        if started_here:
            ray.shutdown()


def _cancel_ray_tasks(ray, refs: list, results_dir) -> None:
    """Cancel interrupted Ray tasks: a ``KeyboardInterrupt`` in each running task (it unwinds, the
    atomic writers remove their temporary files), then a forced cancel of those still running after
    :data:`TERMINATE_GRACE_S` (their temporary files are removed here)."""
    if not refs:
        return
    try:
        for ref in refs:
            ray.cancel(ref, force=False)
        _, running = ray.wait(refs, num_returns=len(refs), timeout=TERMINATE_GRACE_S)
        for ref in running:
            ray.cancel(ref, force=True)
    except Exception as exc:  # pragma: no cover - a cluster gone away: nothing left to cancel
        log.warning("could not cancel the running Ray tasks: %s", exc)
        return
    if running:
        log.warning("forced %d Ray task(s) to end", len(running))
        for tmp in _remove_temporaries(results_dir):
            log.warning("removed %s, left by a killed task", tmp)


def _echo(spec: dict, results_dir: Path) -> dict:
    """A task function that returns its spec (used in examples and tests)."""
    return dict(spec)
