"""On-disk caches of the spiking side: where they live, and Brian2's exact integration, cached.

Brian2 integrates the model equations symbolically (sympy) every time a process builds a network
kind for the first time: for the LIF groups of this package that is ~3 s per group, ~13 s per
network, paid again by every worker process of a parallel sweep. :data:`EXACT` is Brian2's
``exact`` state updater behind a persistent cache: the abstract code it returns is stored under
:func:`default_cache_dir` ``/integration``, keyed by everything the result depends on (Brian2's and
sympy's versions, the equations, the method options, and the kind, shape, constancy, unit and dtype
of every identifier of the equations), so a result computed by one process is reused by all later
ones.

Example
-------
>>> import brian2 as b2, tempfile
>>> cached = CachedExactIntegration(tempfile.mkdtemp())
>>> g = b2.NeuronGroup(2, "dv/dt = -v / (10*ms) : volt", method=cached)
>>> print(cached(g.equations, g.variables))
_v = v*exp(-dt/(10*ms))
v = _v
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import brian2 as b2
import sympy
from brian2.stateupdaters.base import StateUpdateMethod
from brian2.stateupdaters.exact import exact

__all__ = ["default_cache_dir", "CachedExactIntegration", "EXACT", "integration_key", "file_lock"]

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """Where compiled standalone projects and integration results are cached:
    ``$BIOPLAUSIBLE_BRIAN_CACHE`` or ``~/.cache/bioplausible/brian2``."""
    env = os.environ.get("BIOPLAUSIBLE_BRIAN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "bioplausible" / "brian2"


def _describe(var) -> list:
    return [
        type(var).__name__,
        bool(getattr(var, "scalar", False)),
        bool(getattr(var, "constant", False)),
        str(getattr(var, "dim", "")),
        str(getattr(var, "dtype", "")),
    ]


def integration_key(equations, variables: dict | None, method_options: dict | None) -> str:
    """SHA-256 of what Brian2's exact integration of ``equations`` depends on."""
    variables = variables or {}
    names = sorted(set(equations.identifiers) | set(equations.names) | {"t", "dt"})
    payload = {
        "brian2": b2.__version__,
        "sympy": sympy.__version__,
        "method": "exact",
        "equations": str(equations),
        "options": sorted((str(k), repr(v)) for k, v in (method_options or {}).items()),
        "variables": [[n, *_describe(variables[n])] for n in names if n in variables],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class CachedExactIntegration(StateUpdateMethod):
    """Brian2's ``exact`` state updater with a persistent cache of its results.

    Parameters
    ----------
    directory : path, optional
        Where the results live (default: ``default_cache_dir() / "integration"``, read at each call).
        Processes that need the same result at once wait for the first one (a file lock).

    Pass the instance as ``method=`` of a ``NeuronGroup`` or ``Synapses``; results are identical to
    ``method="exact"`` (tests: ``tests/test_spiking_cache.py``).
    """

    def __init__(self, directory: str | Path | None = None):
        self._directory = Path(directory) if directory is not None else None

    @property
    def directory(self) -> Path:
        return self._directory if self._directory is not None else default_cache_dir() / "integration"

    def can_integrate(self, equations, variables, method_options=None):  # pragma: no cover - brian2 API
        return exact.can_integrate(equations, variables, method_options)

    def __call__(self, equations, variables=None, method_options=None):
        key = integration_key(equations, variables, method_options)
        path = self.directory / f"exact-{key}.txt"
        code = _read(path)
        if code is not None:
            return code
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(path.with_suffix(".lock")):
            code = _read(path)  # another process may have written it while we waited
            if code is None:
                code = exact(equations, variables, method_options)
                _atomic_write(path, code)
                logger.debug("integrated %s symbolically; cached as %s", equations, path)
        return code

    def __repr__(self) -> str:
        return "exact (cached)"


def _read(path: Path) -> str | None:
    try:
        text = path.read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    # written atomically with an end marker: anything else (truncated, foreign) is recomputed
    body, sep, tail = text.rpartition("\n# end\n")
    return body if sep and not tail else None


def _atomic_write(path: Path, code: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(code + "\n# end\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(lock_path: Path, shared: bool = False, blocking: bool = True):
    """Hold an advisory lock on ``lock_path`` (created if missing) across processes: exclusive, or
    shared with other shared holders. With ``blocking=False`` a busy lock raises
    ``BlockingIOError`` instead of waiting."""
    with open(lock_path, "a") as f:
        fcntl.flock(f, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB))
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


#: The state updater the network builder uses (``method=EXACT``).
EXACT = CachedExactIntegration()
