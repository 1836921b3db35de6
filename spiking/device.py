# TEMPORARY SHIM (restructure): moved to spiking.backend.device; the integrator removes this file.
"""Old path of :mod:`spiking.backend.device` (re-exports; monkeypatch the new module instead)."""
from .backend.device import (  # noqa: F401
    _OWNER,
    TARGETS,
    _has_cython,
    brian_device,
    claim_device,
    device_owner,
    has_cpp_compiler,
    reset_device,
    resolve_target,
    use_target,
)
