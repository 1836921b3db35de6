"""Fixtures and markers shared by the test suite.

Markers (``pyproject.toml``): ``slow`` (left out of the default run; ``pytest -m slow``) and
``standalone`` (builds a Brian2 ``cpp_standalone`` project, so it needs a C++ compiler; where none is
found such a test is skipped with that reason, never silently).
"""

from __future__ import annotations

import shutil

import pytest


def _has_cpp_compiler() -> bool:
    return any(shutil.which(cc) for cc in ("g++", "c++", "clang++"))


def pytest_collection_modifyitems(config, items):
    if _has_cpp_compiler():
        return
    skip = pytest.mark.skip(reason="needs a C++ compiler for Brian2 cpp_standalone (install g++)")
    for item in items:
        if "standalone" in item.keywords:
            item.add_marker(skip)


def _single_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def one_thread():
    """Small matrices: one torch thread is fastest, and avoids spinning threads on a shared CPU."""
    yield from _single_torch_thread()


@pytest.fixture(scope="module")
def one_thread_module():
    """:func:`one_thread` for a whole module (``pytestmark = pytest.mark.usefixtures("one_thread_module")``)."""
    yield from _single_torch_thread()


@pytest.fixture
def quick_compile():
    """Compile Brian2 test projects without optimisation (much faster to build; the flags are part of
    the project cache key, so no optimised project is ever confused with these)."""
    import brian2 as b2

    old = list(b2.prefs.codegen.cpp.extra_compile_args_gcc)
    b2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O0", "-std=c++11"]
    yield
    b2.prefs.codegen.cpp.extra_compile_args_gcc = old


@pytest.fixture
def fresh_brian_integration_memo():
    """Brian2 memoises ``apply_stateupdater`` in memory for the whole process, so equations that an
    earlier test already integrated would never reach the state updater; empty that memo for the
    test and put it back afterwards."""
    from brian2.stateupdaters.base import StateUpdateMethod

    memo = StateUpdateMethod.apply_stateupdater._cache
    saved = dict(memo)
    memo.clear()
    yield
    memo.clear()
    memo.update(saved)
