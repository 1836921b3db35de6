"""The precompiled header of the standalone projects (spiking/backend/pch.py): built with the
makefile's own flags and only when make has work, used by GCC, removed after the compile, harmless
when it cannot be built, and without any effect on the simulation (same results with and without it)."""

from __future__ import annotations

import os
import subprocess
import time

import brian2 as b2
import numpy as np
import pytest

from spiking.backend import pch
from spiking.backend.engine import StandaloneEngine
from spiking.config import NetworkConfig
from spiking.state import init_state

pytestmark = pytest.mark.standalone  # every test here drives g++ or a cpp_standalone build

GCC = pch.compiler_is_gcc(os.environ.get("CXX") or "g++")
needs_gcc = pytest.mark.skipif(not GCC, reason="the precompiled header is GCC-only and no GCC is installed")

_MAKEFILE = """CXXFLAGS = -c -w -O0 -std=c++11 {extra} -include bioplausible_pch.h -I.
all: unit.o
%.o : %.cpp makefile
\t$(CXX) $(CXXFLAGS) $< -o $@
"""


def _project(tmp_path, extra=""):
    d = tmp_path / "proj"
    (d / "brianlib").mkdir(parents=True)
    (d / "objects.h").write_text("#ifndef OBJ_H\n#define OBJ_H\n#include <vector>\nconst int answer = 42;\n#endif\n")
    (d / "brianlib" / "common_math.h").write_text("#pragma once\n#include <cmath>\n")
    (d / "brianlib" / "stdint_compat.h").write_text("#pragma once\n#include <stdint.h>\n")
    (d / "unit.cpp").write_text('#include "objects.h"\nint get() { return answer; }\n')
    (d / "makefile").write_text(_MAKEFILE.format(extra=extra))
    return d


@needs_gcc
def test_makefile_flags_are_read_without_compile_and_force_include(tmp_path):
    d = _project(tmp_path, extra="-DFOO=1")
    cxx, flags = pch.makefile_compiler(d)
    assert cxx and flags == ["-w", "-O0", "-std=c++11", "-DFOO=1", "-I."]


@needs_gcc
def test_pch_is_built_only_for_a_compile_used_by_gcc_and_removed_after(tmp_path):
    d = _project(tmp_path)
    gch = d / "bioplausible_pch.h.gch"
    assert pch.needs_compile(d)
    assert pch.prepare_pch(d) is True and gch.exists()
    # GCC takes the .gch for the force-included header ("!" in -H's include trace)
    cxx, flags = pch.makefile_compiler(d)
    res = subprocess.run(
        [*cxx, *flags, *pch.pch_compile_args(), "-H", "-c", "unit.cpp", "-o", "unit.o"],
        cwd=d,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert "! ./bioplausible_pch.h.gch" in res.stderr
    pch.remove_pch(d)
    assert not gch.exists() and (d / "bioplausible_pch.h").exists()
    # up to date: nothing to compile, so no .gch is made
    assert not pch.needs_compile(d)
    assert pch.prepare_pch(d) is False and not gch.exists()
    # a changed source: built again (fresh, from the current headers)
    os.utime(d / "unit.cpp", ns=(time.time_ns() + 10**9,) * 2)
    assert pch.needs_compile(d) and pch.prepare_pch(d) is True and gch.exists()


@needs_gcc
def test_a_pch_that_cannot_be_built_leaves_none_behind(tmp_path, caplog):
    d = _project(tmp_path, extra="-DBROKEN")
    (d / "objects.h").write_text("#ifdef BROKEN\nthis is not C++;\n#endif\n")
    assert pch.prepare_pch(d) is False
    assert not (d / "bioplausible_pch.h.gch").exists()
    assert "precompiled header" in caplog.text


def test_pch_switches(monkeypatch):
    monkeypatch.setenv(pch.PCH_ENV, "0")
    assert pch.pch_wanted("unix") is False
    monkeypatch.setenv(pch.PCH_ENV, "1")
    assert pch.pch_wanted("msvc") is False
    assert pch.pch_wanted("unix") is GCC
    assert pch.compiler_is_gcc("no-such-compiler-xyz") is False


@needs_gcc
def test_standalone_results_identical_with_and_without_pch(tmp_path, monkeypatch):
    """Same network, state, stimulus and seed: the project compiled with the precompiled header gives
    bit-identical weights and spike counts to the one compiled without it."""
    old = list(b2.prefs.codegen.cpp.extra_compile_args_gcc)
    b2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O0", "-std=c++11"]
    try:
        cfg = NetworkConfig(rule="spiking-local", n_in=16, hidden=(8,), n_out=3)
        state = init_state(cfg, 0)
        stim = np.random.default_rng(0).uniform(50.0, 400.0, (4, 16))
        labels = np.array([0.0, 1.0, 2.0, 1.0])
        out = {}
        for flag in ("1", "0"):
            monkeypatch.setenv(pch.PCH_ENV, flag)
            eng = StandaloneEngine(cfg, n_slots=4, cache_dir=tmp_path)
            try:
                out[flag] = (eng.pch, eng.directory, eng.run(state, stim, labels, 3))
            finally:
                eng.close()
    finally:
        b2.prefs.codegen.cpp.extra_compile_args_gcc = old
    (on, d_on, r_on), (off, d_off, r_off) = out["1"], out["0"]
    assert on is True and off is False and d_on != d_off
    assert "-include bioplausible_pch.h" in (d_on / "makefile").read_text()
    assert "bioplausible_pch" not in (d_off / "makefile").read_text()
    assert not list(d_on.glob("*.gch"))  # removed after the compile: no 45 MB per cached project
    assert r_off.layer_counts["h1"].sum() > 0
    np.testing.assert_array_equal(r_on.out_counts, r_off.out_counts)
    for layer in r_off.layer_counts:
        np.testing.assert_array_equal(r_on.layer_counts[layer], r_off.layer_counts[layer], err_msg=layer)
    for name in r_off.state:
        assert not np.array_equal(r_off.state[name], state[name]) or name.startswith("M_"), name
        np.testing.assert_array_equal(r_on.state[name], r_off.state[name], err_msg=name)
