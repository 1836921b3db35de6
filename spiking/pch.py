# TEMPORARY SHIM (restructure): moved to spiking.backend.pch; the integrator removes this file.
"""Old path of :mod:`spiking.backend.pch` (re-exports; monkeypatch the new module instead)."""
from .backend.pch import (  # noqa: F401
    _HEADER_TEXT,
    PCH_ENV,
    PCH_HEADER,
    _default_cxx,
    compiler_is_gcc,
    makefile_compiler,
    needs_compile,
    pch_compile_args,
    pch_wanted,
    prepare_pch,
    remove_pch,
)
