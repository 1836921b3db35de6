# TEMPORARY SHIM (restructure): moved to spiking.backend.cache; the integrator removes this file.
"""Old path of :mod:`spiking.backend.cache` (re-exports; monkeypatch the new module instead)."""
from .backend.cache import (  # noqa: F401
    EXACT,
    CachedExactIntegration,
    _atomic_write,
    _read,
    default_cache_dir,
    exact,
    file_lock,
    integration_key,
)
