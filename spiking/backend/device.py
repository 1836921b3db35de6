"""Brian2 code-generation targets and the (global) device state, handled safely.

Brian2 keeps one global device. :func:`use_target` switches to a target and
:func:`reset_device` puts Brian2 back into a clean runtime state (``device.reinit()`` then
``set_device('runtime')``), so tests and several simulations in one process do not leak
into each other. :func:`brian_device` is the context-manager form.

Targets (lower-case names, see :data:`TARGETS`):

* ``cpp_standalone`` - generate a C++ project, compile it once, run it as a binary (fastest
  for long runs; needs a C++ compiler).
* ``cython`` - runtime mode, Cython-compiled code objects (needs a compiler; the first
  compile takes ~20 s, then it is cached in ``~/.cython``).
* ``numpy`` - runtime mode, pure numpy (no compiler, fastest to start, slow per step).

When a compiled target is asked for and no C++ compiler exists, :func:`resolve_target`
falls back to ``numpy`` with a warning.

Example
-------
>>> resolve_target("NumPy")
'numpy'
>>> with brian_device("numpy"):
...     pass
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import brian2 as b2
from brian2.devices.device import runtime_device

# Brian2 installs a SIGINT handler at import that stops a running runtime simulation early (the run
# then returns a cut-short chunk) and that fails with TypeError when SIGINT was ignored by the parent
# (a background job). A Ctrl-C must stay a KeyboardInterrupt here: put the previous handler back.
_previous_sigint = getattr(signal.getsignal(signal.SIGINT), "previous_handler", None)
if _previous_sigint is not None and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _previous_sigint)

__all__ = [
    "TARGETS",
    "resolve_target",
    "has_cpp_compiler",
    "use_target",
    "reset_device",
    "brian_device",
    "claim_device",
    "device_owner",
]

logger = logging.getLogger(__name__)

TARGETS = ("cpp_standalone", "cython", "numpy")

_OWNER: list = [None]  # object that built the project the current device holds (see claim_device)


def claim_device(owner: object) -> None:
    """Record that ``owner`` built what the current device holds (cleared by every reset)."""
    _OWNER[0] = owner


def device_owner() -> object:
    """The object that last claimed the device since the last reset (None if none)."""
    return _OWNER[0]


@functools.lru_cache(maxsize=1)
def has_cpp_compiler() -> bool:
    """True if a C++ compiler (``$CXX``, ``c++``, ``g++`` or ``clang++``) is on the PATH."""
    candidates = [os.environ.get("CXX", ""), "c++", "g++", "clang++"]
    return any(c and shutil.which(c.split()[0]) for c in candidates)


@functools.lru_cache(maxsize=1)
def _has_cython() -> bool:
    try:
        import Cython  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_target(target: str) -> str:
    """Validate a target name and fall back to ``numpy`` (with a warning) if it cannot run here.

    Raises
    ------
    ValueError
        For an unknown name; the message lists :data:`TARGETS`.
    """
    if not isinstance(target, str):
        raise ValueError(f"target must be a string, one of {list(TARGETS)}; got {target!r}")
    name = target.strip().lower()
    if name not in TARGETS:
        raise ValueError(f"unknown Brian2 target {target!r}; choose one of {list(TARGETS)}")
    if name in ("cpp_standalone", "cython") and not has_cpp_compiler():
        warnings.warn(
            f"no C++ compiler found, so target {name!r} is unavailable; falling back to the slow 'numpy' "
            "runtime target (install g++ or clang++, or set $CXX, to get the fast path)",
            RuntimeWarning,
            stacklevel=2,
        )
        return "numpy"
    if name == "cython" and not _has_cython():
        warnings.warn(
            "Cython is not installed, so target 'cython' is unavailable; falling back to 'numpy' (pip install cython)",
            RuntimeWarning,
            stacklevel=2,
        )
        return "numpy"
    return name


def reset_device() -> None:
    """Forget every standalone project state and return Brian2 to runtime mode.

    The object that had claimed the device (:func:`claim_device`) is told through its
    ``device_released()`` method, if it has one, so that it drops what it built.
    """
    owner, _OWNER[0] = _OWNER[0], None
    release = getattr(owner, "device_released", None)
    if release is not None:
        release()
    dev = b2.get_device()
    if dev is not runtime_device:
        dev.reinit()
    b2.set_device("runtime")
    b2.prefs.codegen.target = "auto"


def use_target(target: str, directory: str | os.PathLike | None = None) -> str:
    """Reset the device and activate ``target`` (already resolved) for the objects built next.

    For ``cpp_standalone`` the project goes to ``directory`` (built later, explicitly, with
    ``build_on_run=False``). Returns the target.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown Brian2 target {target!r}; choose one of {list(TARGETS)}")
    reset_device()
    if target == "cpp_standalone":
        if directory is None:
            raise ValueError("cpp_standalone needs a project directory")
        Path(directory).mkdir(parents=True, exist_ok=True)
        b2.set_device("cpp_standalone", directory=str(directory), build_on_run=False)
    else:
        b2.prefs.codegen.target = target
    return target


@contextlib.contextmanager
def brian_device(target: str, directory: str | os.PathLike | None = None) -> Iterator[str]:
    """Context manager: activate ``target`` (validated, with fallback) and always reset after.

    Example
    -------
    >>> with brian_device("numpy") as tgt:
    ...     tgt
    'numpy'
    """
    name = use_target(resolve_target(target), directory)
    try:
        yield name
    finally:
        reset_device()
