"""Module-level task functions for tests/test_tasks.py (importable by worker processes)."""

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from bridges.io import _atomic_target  # the writer's temporary-file window, held open


def _log(results_dir: Path, key: str) -> None:
    fd = os.open(results_dir / "invocations.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{key}\n".encode())
    finally:
        os.close(fd)


def random_numbers(spec: dict, results_dir: Path) -> dict:
    """Draws from torch and numpy (seeded by the runner from the task key) plus the deps' values."""
    _log(results_dir, spec["name"])
    return {
        "torch": torch.rand(3).tolist(),
        "numpy": np.random.rand(2).tolist(),
        "name": spec["name"],
        "threads": torch.get_num_threads(),
    }


def dies_once(spec: dict, results_dir: Path) -> dict:
    """Kills its own worker process the first time it runs, succeeds the second time."""
    _log(results_dir, spec["name"])
    marker = results_dir / f"died-{spec['name']}"
    if not marker.exists():
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"name": spec["name"], "survived": True}


def fails_if_flagged(spec: dict, results_dir: Path) -> dict:
    """Raises (an 'interruption') while the flag file exists."""
    _log(results_dir, spec["name"])
    if (results_dir / "interrupt").exists():
        raise KeyboardInterrupt("simulated interruption")
    return {"name": spec["name"]}


def hangs_while_writing(spec: dict, results_dir: Path) -> dict:
    """Opens an atomic write of ``<name>.out`` (its temporary file exists) and waits inside it until
    the task is ended. Before waiting it writes ``started/<name>`` holding its pid (and the pid of a
    ``sleep`` child with ``spec["child"]``). ``spec["ignore_sigterm"]``: a worker stuck in C code."""
    _log(results_dir, spec["name"])
    if spec.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids = [os.getpid()]
    if spec.get("child"):
        pids.append(subprocess.Popen(["sleep", "600"]).pid)
    with _atomic_target(results_dir / f"{spec['name']}.out") as fh:
        fh.write(b"partial")
        started = results_dir / "started"
        started.mkdir(exist_ok=True)
        (started / f".{spec['name']}").write_text(" ".join(map(str, pids)))
        os.replace(started / f".{spec['name']}", started / spec["name"])
        while True:
            time.sleep(0.02)


def process_group(spec: dict, results_dir: Path) -> dict:
    """The process group of the worker running the task."""
    return {"pgid": os.getpgid(0), "pid": os.getpid()}
