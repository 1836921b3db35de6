"""A precompiled header for Brian2's generated ``cpp_standalone`` projects (GCC only).

Brian2 writes one C++ translation unit per code object (~60 for a two-hidden-layer network), and
every one of them parses the same ~65,000 lines of headers (``objects.h`` with ``<random>``,
``<vector>``, ``<iostream>``, ...): with GCC 12 ~0.5 s of the ~0.6 s each unit takes, whatever the
optimisation level. Compiling those headers once into ``bioplausible_pch.h.gch`` and force-including
them (``-include bioplausible_pch.h``, which GCC replaces by the ``.gch``) cuts a project's compile
from ~49 to ~21 core-seconds (30 s to 14 s of wall time with ``make -j2`` here). The generated code
is unchanged, only parsed faster, so simulation results are bit-identical.

The ``.gch`` (~45 MB) lives only for one compile: :func:`prepare_pch` builds it, with the exact
flags the project's makefile uses, only when ``make`` has something to compile, and
:func:`remove_pch` deletes it afterwards. So a cached project costs no extra disk, and a ``.gch``
can never be stale (GCC does not check that the headers it was made from are unchanged). If
building it fails, the header is parsed as a plain header (slow but correct) and a warning is
logged. Set ``BIOPLAUSIBLE_BRIAN_PCH=0`` to switch it off; compilers other than GCC never use it.

Example
-------
>>> "-include" in pch_compile_args()
True
"""

from __future__ import annotations

import functools
import logging
import os
import shlex
import subprocess
from pathlib import Path

__all__ = [
    "PCH_HEADER",
    "PCH_ENV",
    "pch_compile_args",
    "pch_wanted",
    "compiler_is_gcc",
    "makefile_compiler",
    "needs_compile",
    "prepare_pch",
    "remove_pch",
]

logger = logging.getLogger(__name__)

#: Name of the header written into each project (force-included in every translation unit).
PCH_HEADER = "bioplausible_pch.h"
#: Environment variable; ``0`` disables the precompiled header.
PCH_ENV = "BIOPLAUSIBLE_BRIAN_PCH"

#: Text of :data:`PCH_HEADER`. Every object file of a project depends on it, so it must not change
#: (a change recompiles every cached project): it still names this module by its first path.
_HEADER_TEXT = """// Written by bioplausible (spiking/pch.py): the headers every Brian2 translation unit parses,
// compiled once into bioplausible_pch.h.gch and force-included with -include.
#ifndef BIOPLAUSIBLE_PCH_H
#define BIOPLAUSIBLE_PCH_H
#include "objects.h"
#include "brianlib/common_math.h"
#include "brianlib/stdint_compat.h"
#include <algorithm>
#include <climits>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>
#endif
"""


def pch_compile_args() -> list[str]:
    """Extra GCC arguments that make every translation unit start with the precompiled header."""
    return ["-include", PCH_HEADER]


@functools.lru_cache(maxsize=8)
def compiler_is_gcc(cxx: str) -> bool:
    """True when ``cxx --version`` identifies GCC (clang's ``g++`` alias and others: False)."""
    try:
        out = subprocess.run([*shlex.split(cxx), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError, ValueError):
        return False
    text = (out.stdout or "") + (out.stderr or "")
    return out.returncode == 0 and "Free Software Foundation" in text and "clang" not in text.lower()


def _default_cxx() -> str:
    return os.environ.get("CXX") or "g++"


def pch_wanted(compiler: str) -> bool:
    """Whether projects built with Brian2's ``compiler`` (``'unix'`` or ``'msvc'``) get the header:
    only GCC on unix, and not when ``$BIOPLAUSIBLE_BRIAN_PCH`` is ``0``."""
    if os.environ.get(PCH_ENV, "1").strip() == "0" or compiler != "unix":
        return False
    return compiler_is_gcc(_default_cxx())


def makefile_compiler(directory: str | os.PathLike, make_cmd: str = "make") -> tuple[list[str], list[str]]:
    """``(compiler command, compile flags)`` exactly as the project's makefile uses them (without
    ``-c`` and without the force-include of :data:`PCH_HEADER`)."""
    probe = "bioplausible-print-flags"
    res = subprocess.run(
        [
            *shlex.split(make_cmd),
            "-s",
            "--no-print-directory",
            f"--eval={probe}: ; @echo $(CXX) && echo $(CXXFLAGS)",
            probe,
        ],
        cwd=str(directory),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or len(lines) < 2:
        raise RuntimeError(f"could not read the compiler flags from {directory}/makefile: {res.stderr.strip()}")
    cxx, flags = shlex.split(lines[-2]), shlex.split(lines[-1])
    out: list[str] = []
    skip = False
    for i, f in enumerate(flags):
        if skip:
            skip = False
            continue
        if f == "-include" and i + 1 < len(flags) and flags[i + 1] == PCH_HEADER:
            skip = True
            continue
        if f == "-c":
            continue
        out.append(f)
    return cxx, out


def needs_compile(directory: str | os.PathLike, make_cmd: str = "make") -> bool:
    """True unless ``make -q`` says the project's binary is up to date."""
    res = subprocess.run([*shlex.split(make_cmd), "-q"], cwd=str(directory), capture_output=True, timeout=600)
    return res.returncode != 0


def prepare_pch(directory: str | os.PathLike, make_cmd: str = "make") -> bool:
    """Write :data:`PCH_HEADER` into a generated project and, when ``make`` has something to compile,
    build its ``.gch`` with the makefile's own compiler and flags. Call it after Brian2 wrote the
    project and before ``make``, holding the project's build lock, and :func:`remove_pch` after
    ``make``. Returns True when a ``.gch`` was built (False: nothing to compile, or the build failed
    and the header will be parsed as a plain header; results are the same)."""
    d = Path(directory)
    header = d / PCH_HEADER
    if not header.exists() or header.read_text() != _HEADER_TEXT:
        header.write_text(_HEADER_TEXT)  # every object file depends on it, even without a .gch
    gch = d / (PCH_HEADER + ".gch")
    gch.unlink(missing_ok=True)
    try:
        if not needs_compile(d, make_cmd):
            return False
        cxx, flags = makefile_compiler(d, make_cmd)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        logger.warning("no precompiled header for %s (%s); compiling without it", d, exc)
        return False
    tmp = d / f"{PCH_HEADER}.gch.{os.getpid()}.tmp"
    res = subprocess.run(
        [*cxx, *flags, "-x", "c++-header", PCH_HEADER, "-o", tmp.name], cwd=str(d), capture_output=True, text=True
    )
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        logger.warning("building the precompiled header of %s failed; compiling without it:\n%s", d, res.stderr[-2000:])
        return False
    os.replace(tmp, gch)
    return True


def remove_pch(directory: str | os.PathLike) -> None:
    """Delete the project's ``.gch`` (call after ``make``; a no-op when there is none)."""
    (Path(directory) / (PCH_HEADER + ".gch")).unlink(missing_ok=True)
