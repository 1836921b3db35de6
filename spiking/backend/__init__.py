"""Where and how the Brian2 networks run: targets and the global device, the chunked engines,
the on-disk caches (compiled projects, exact integration) and the precompiled header.

* :mod:`~spiking.backend.device` - code-generation targets and Brian2's global device.
* :mod:`~spiking.backend.engine` - one chunk of samples per run: ``cpp_standalone`` compiled once
  and re-run with ``run_args``, or a runtime target.
* :mod:`~spiking.backend.cache` - the cache directory, file locks, and Brian2's ``exact``
  integration behind a persistent cache (:data:`EXACT`, used by the network builder).
* :mod:`~spiking.backend.pch` - a precompiled header for the generated C++ projects (GCC).

Nothing here imports the rest of :mod:`spiking` at import time (the engine imports the network
builder when it builds), so the builder can use :data:`EXACT` without an import ring.

Examples are in the modules.
"""

from .cache import EXACT, CachedExactIntegration, default_cache_dir, file_lock, integration_key
from .device import (
    TARGETS,
    brian_device,
    claim_device,
    device_owner,
    has_cpp_compiler,
    reset_device,
    resolve_target,
    use_target,
)
from .engine import (
    ChunkResult,
    RuntimeEngine,
    StandaloneEngine,
    keep_builds,
    keep_equivalent_main,
    make_engine,
    remove_run_args_files,
    same_up_to_clock_reset_order,
    set_keep_builds,
)
from .pch import (
    PCH_ENV,
    PCH_HEADER,
    compiler_is_gcc,
    makefile_compiler,
    needs_compile,
    pch_compile_args,
    pch_wanted,
    prepare_pch,
    remove_pch,
)

__all__ = [
    # device
    "TARGETS",
    "resolve_target",
    "has_cpp_compiler",
    "use_target",
    "reset_device",
    "brian_device",
    "claim_device",
    "device_owner",
    # engine
    "ChunkResult",
    "StandaloneEngine",
    "RuntimeEngine",
    "make_engine",
    "keep_builds",
    "set_keep_builds",
    "same_up_to_clock_reset_order",
    "keep_equivalent_main",
    "remove_run_args_files",
    # cache
    "default_cache_dir",
    "CachedExactIntegration",
    "EXACT",
    "integration_key",
    "file_lock",
    # pch
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
