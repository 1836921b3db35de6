"""Atomic writers (``bridges.io``): results get the mode of any new file (the umask), never ``0o600``."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from bridges.io import atomic_save_npz, atomic_torch_save, atomic_write_bytes, atomic_write_json, read_json

WRITERS = {
    "json": lambda p: atomic_write_json(p, {"accuracy": 0.9}),
    "bytes": lambda p: atomic_write_bytes(p, b"\x89PNG"),
    "npz": lambda p: atomic_save_npz(p, w=np.eye(2)),
    "torch": lambda p: atomic_torch_save(p, {"w": torch.eye(2)}),
}


@pytest.fixture
def umask():
    """Set the process umask for one test and put the caller's back afterwards."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("writer", list(WRITERS), ids=list(WRITERS))
def test_result_files_are_readable_by_group_and_others_under_umask_022(tmp_path, umask, writer):
    umask(0o022)
    path = tmp_path / "results" / f"out.{writer}"
    WRITERS[writer](path)
    assert _mode(path) == 0o644
    assert _mode(path) & (stat.S_IRGRP | stat.S_IROTH) == stat.S_IRGRP | stat.S_IROTH
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


@pytest.mark.parametrize("mask, expected", [(0o002, 0o664), (0o077, 0o600)], ids=["umask-002", "umask-077"])
def test_mode_follows_the_umask_both_ways(tmp_path, umask, mask, expected):
    umask(mask)
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"a": 1})
    assert _mode(path) == expected


def test_replacing_a_private_file_gives_the_umask_mode(tmp_path, umask):
    """An earlier ``0o600`` result (written before the fix) is replaced by a readable one."""
    umask(0o022)
    path = tmp_path / "metrics.json"
    path.write_text("{}")
    os.chmod(path, 0o600)
    atomic_write_json(path, {"accuracy": 0.5})
    assert _mode(path) == 0o644 and read_json(path) == {"accuracy": 0.5}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, umask, monkeypatch):
    umask(0o022)
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"accuracy": 0.5})

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # the temporary file exists when this fails
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(path, {"accuracy": 0.9})
    assert read_json(path) == {"accuracy": 0.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
