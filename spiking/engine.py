# TEMPORARY SHIM (restructure): moved to spiking.backend.engine; the integrator removes this file.
"""Old path of :mod:`spiking.backend.engine` (re-exports; monkeypatch the new module instead)."""
from .backend.engine import (  # noqa: F401
    _COMPILED_MAIN,
    _KEEP_BUILDS,
    ChunkResult,
    RuntimeEngine,
    StandaloneEngine,
    _check_chunk,
    _collect,
    _dir_lock,
    _drop_dead_cache_entries,
    default_cache_dir,
    keep_builds,
    keep_equivalent_main,
    make_engine,
    remove_run_args_files,
    same_up_to_clock_reset_order,
    set_keep_builds,
)
