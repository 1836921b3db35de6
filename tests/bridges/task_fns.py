"""Module-level task functions for tests/test_tasks.py (importable by worker processes)."""

import os
import signal
from pathlib import Path

import numpy as np
import torch


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
