"""Run a built network over one chunk of samples, on any target, with the state in numpy.

Two engines share one interface, ``engine.run(state, stim, labels, rng_seed) -> ChunkResult``:

* :class:`StandaloneEngine` (``cpp_standalone``): the network for ``n_slots`` samples is
  generated and compiled **once** (``device.build(run=False)``) into a cached project
  directory; every chunk then re-runs the binary with ``device.run(run_args=...)``, which
  replaces the stimulus ``TimedArray``, the labels, the weights/thresholds and the RNG seed
  without recompiling. A second process with the same config reuses the compiled binary.
* :class:`RuntimeEngine` (``cython``/``numpy``): builds a fresh network per chunk (Brian2's
  runtime caches compiled code objects) and runs it in-process.

Brian2's device is global; an engine (re)activates it when it runs, so several engines in one
process work (a standalone engine that lost the device regenerates its project, which the
compile cache makes cheap) and :func:`spiking.backend.device.reset_device` runs after runtime chunks.

The network builder (:mod:`spiking.network`) uses this subpackage's integration cache, so the
engine imports the builder and the config serialisation when it first builds, not at import time:
:mod:`spiking.backend` depends on nothing else of ``spiking`` while it is imported.

Samples inside a chunk: slot ``s``, copy ``c`` holds sample ``s * n_copies + c``.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import brian2 as b2
import numpy as np
from brian2.codegen.cpp_prefs import get_compiler_and_args

from .cache import default_cache_dir, file_lock
from .device import claim_device, device_owner, reset_device, use_target
from .pch import pch_compile_args, pch_wanted, prepare_pch, remove_pch

if TYPE_CHECKING:
    from ..config import NetworkConfig
    from ..network import BuiltNetwork

__all__ = [
    "ChunkResult",
    "StandaloneEngine",
    "RuntimeEngine",
    "make_engine",
    "default_cache_dir",
    "keep_builds",
    "set_keep_builds",
    "same_up_to_clock_reset_order",
    "keep_equivalent_main",
    "remove_run_args_files",
]

logger = logging.getLogger(__name__)


@dataclass
class ChunkResult:
    """What one chunk produced.

    Attributes
    ----------
    state : dict of arrays
        State after the chunk (copy 0), same layout as the input state.
    out_counts : ndarray (n_slots * n_copies, n_out)
        Output spikes per sample (sample ``s * n_copies + c``).
    layer_counts : dict name -> ndarray (n_layer,)
        Spikes per neuron over the whole chunk, summed over copies (hidden and output layers).
    raster : dict name -> (neuron index, spike time in ms), only when recording.
    wall_s : float
        Wall time of the simulation (binary run or ``net.run``).
    sample_counts : dict name -> ndarray (n_slots * n_copies, n_layer)
        Spikes per sample and neuron of every hidden layer and the output.
    out_drive : ndarray (n_slots * n_copies, n_out)
        Summed synaptic input (mV) each output neuron received per sample (prediction
        tie-breaker).
    """

    state: dict[str, np.ndarray]
    out_counts: np.ndarray
    layer_counts: dict[str, np.ndarray]
    raster: dict[str, tuple[np.ndarray, np.ndarray]]
    wall_s: float
    sample_counts: dict[str, np.ndarray]
    out_drive: np.ndarray


def _collect(built: BuiltNetwork, wall_s: float, state: dict[str, np.ndarray]) -> ChunkResult:
    cfg, K = built.cfg, built.n_copies
    n_out = cfg.n_out
    mons = {**built.count_mons, "out": built.out_mon}
    sample_counts = {}
    for name, mon in mons.items():
        n = len(mon.source) // K
        i = np.asarray(mon.i[:], dtype=np.int64)
        step = np.rint(np.asarray(mon.t[:] / b2.ms, dtype=np.float64) / cfg.sim.dt_ms).astype(np.int64)
        sample = (step // cfg.sim.steps_per_sample) * K + i // n
        counts = np.zeros((built.n_slots * K, n), dtype=np.int64)
        np.add.at(counts, (sample, i % n), 1)
        sample_counts[name] = counts
    layer_counts = {name: c.sum(axis=0) for name, c in sample_counts.items()}
    counts = sample_counts["out"]
    # drive of slot s is recorded at the start of slot s + 1; the last one is the final value
    rec = np.asarray(built.drive_mon.drive[:] / b2.mV, dtype=np.float64).T  # (n_records, K * n_out)
    final = np.asarray(built.layers["out"].drive[:] / b2.mV, dtype=np.float64)[None, :]
    per_slot = np.vstack([rec[1 : built.n_slots], final])
    drive = per_slot.reshape(built.n_slots * K, n_out)
    raster = {
        name: (np.asarray(mon.i[:], dtype=np.int64), np.asarray(mon.t[:] / b2.ms, dtype=np.float64))
        for name, mon in built.raster_mons.items()
    }
    from ..state import read_state  # at call time: see the module doc

    new_state = {**{k: np.array(v, copy=True) for k, v in state.items()}, **read_state(built)}
    return ChunkResult(new_state, counts, layer_counts, raster, wall_s, sample_counts, drive)


def _check_chunk(
    built_cfg: NetworkConfig, n_slots: int, K: int, stim: np.ndarray, labels: np.ndarray | None, learning: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    stim = np.asarray(stim, dtype=np.float64)
    if stim.shape != (n_slots, K * built_cfg.n_in):
        raise ValueError(f"stim must have shape {(n_slots, K * built_cfg.n_in)}, got {stim.shape}")
    if learning:
        labels = -np.ones(n_slots) if labels is None else np.asarray(labels, dtype=np.float64)
        if labels.shape != (n_slots,):
            raise ValueError(f"labels must have shape ({n_slots},), got {labels.shape}")
    elif labels is not None and np.any(np.asarray(labels) >= 0):
        raise ValueError("this engine was built without learning; pass labels=None")
    return stim, labels if learning else None


class RuntimeEngine:
    """Runtime-mode engine (``cython`` or ``numpy``): one fresh ``Network`` per chunk."""

    def __init__(
        self,
        cfg: NetworkConfig,
        target: str,
        *,
        n_slots: int,
        n_copies: int = 1,
        learning: bool = True,
        record: bool = False,
    ) -> None:
        if target not in ("cython", "numpy"):
            raise ValueError(f"RuntimeEngine runs 'cython' or 'numpy', got {target!r}")
        self.cfg, self.target = cfg, target
        self.n_slots, self.n_copies, self.learning, self.record = n_slots, n_copies, learning, record

    def run(
        self, state: dict[str, np.ndarray], stim: np.ndarray, labels: np.ndarray | None, rng_seed: int
    ) -> ChunkResult:
        from ..network import build_network  # at call time: see the module doc

        stim, labels = _check_chunk(self.cfg, self.n_slots, self.n_copies, stim, labels, self.learning)
        use_target(self.target)
        try:
            built = build_network(
                self.cfg,
                state,
                n_slots=self.n_slots,
                n_copies=self.n_copies,
                learning=self.learning,
                record=self.record,
                stim_values=stim,
                label_values=labels,
            )
            b2.seed(int(rng_seed))
            t0 = time.perf_counter()
            built.net.run(built.duration, namespace={})
            return _collect(built, time.perf_counter() - t0, state)
        finally:
            reset_device()

    def prepare(self, state: dict[str, np.ndarray]) -> None:
        """Nothing to compile ahead: Brian2's runtime targets compile code objects as they run (kept
        for interface symmetry with :meth:`StandaloneEngine.prepare`)."""

    def close(self) -> None:
        """Nothing to release (kept for interface symmetry)."""


class StandaloneEngine:
    """``cpp_standalone`` engine: compile once, re-run the binary per chunk with ``run_args``.

    Parameters
    ----------
    cfg : NetworkConfig
    n_slots, n_copies, learning, record :
        Shape of the compiled network (see :func:`spiking.network.build_network`).
    cache_dir : path, optional
        Root of the project cache (default :func:`default_cache_dir`); the project lives in a
        sub-directory named by a hash of everything that changes the generated code.
    """

    def __init__(
        self,
        cfg: NetworkConfig,
        *,
        n_slots: int,
        n_copies: int = 1,
        learning: bool = True,
        record: bool = False,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        from ..config import config_to_dict  # at call time: see the module doc

        self.cfg = cfg
        self.n_slots, self.n_copies, self.learning, self.record = n_slots, n_copies, learning, record
        self.pch = pch_wanted(get_compiler_and_args()[0])
        key = json.dumps(
            {
                "cfg": config_to_dict(cfg),
                "n_slots": n_slots,
                "n_copies": n_copies,
                "learning": learning,
                "record": record,
                "brian2": b2.__version__,
                "layout": 1,
                "cflags": list(b2.prefs.codegen.cpp.extra_compile_args_gcc),
                "pch": self.pch,
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.directory = Path(cache_dir or default_cache_dir()) / f"{cfg.rule}-{digest}"
        self._built: BuiltNetwork | None = None
        self._parked = False
        self.build_s = 0.0

    def _ensure_built(self, state: dict[str, np.ndarray]) -> BuiltNetwork:
        owner = device_owner()
        if owner is self and self._built is not None:
            self._parked = False
            return self._built
        if (
            isinstance(owner, StandaloneEngine)
            and owner._parked
            and owner._built is not None
            and owner.directory == self.directory
        ):
            # the same project (same code, same shapes) is still on the device: every run sets the
            # whole state through run_args, so it serves this engine exactly like a next chunk
            self._built, owner._built, owner._parked = owner._built, None, False
            self.build_s = 0.0
            claim_device(self)
            logger.debug("reusing the parked build of %s", self.directory)
            return self._built
        from ..network import build_network  # at call time: see the module doc

        t0 = time.perf_counter()
        self.directory.mkdir(parents=True, exist_ok=True)
        with _dir_lock(self.directory):
            use_target("cpp_standalone", self.directory)
            # objects of an earlier build in this process must be gone, or Brian2 suffixes the new
            # code objects' names ("_1") and the cached project gets recompiled
            gc.collect()
            built = build_network(
                self.cfg,
                state,
                n_slots=self.n_slots,
                n_copies=self.n_copies,
                learning=self.learning,
                record=self.record,
            )
            dev = b2.get_device()
            dev.apply_run_args()
            seed_arr = dev.get_array_name(built.inp.variables["rng_seed"])
            n_threads = max(1, int(b2.prefs.devices.cpp_standalone.openmp_threads))
            dev.insert_code(
                "main",
                f"for (int _i=0; _i<{n_threads}; _i++) "
                f"brian::_random_generators[_i].seed((unsigned long) brian::{seed_arr}[0] + _i);",
            )
            built.net.run(built.duration, report=None, namespace={})
            # the machine is shared: compile with at most 2 parallel jobs (Brian2's default is -j)
            b2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{min(2, os.cpu_count() or 1)}"]
            extra = list(dev.extra_compile_args)
            if self.pch:  # see spiking.backend.pch: every translation unit starts with the precompiled header
                dev.extra_compile_args = extra + pch_compile_args()  # (the prefs' flags get filtered)
            try:
                dev.build(
                    directory=str(self.directory),
                    compile=False,
                    run=False,
                    with_output=False,
                    results_directory=f"results_{os.getpid()}",
                )
            finally:
                dev.extra_compile_args = extra
            keep_equivalent_main(self.directory)
            if self.pch:
                prepare_pch(self.directory, b2.prefs.devices.cpp_standalone.make_cmd_unix)
            try:
                dev.compile_source(str(self.directory), get_compiler_and_args()[0], False, False)
            finally:
                if self.pch:
                    remove_pch(self.directory)
            shutil.copy2(self.directory / "main.cpp", self.directory / _COMPILED_MAIN)
        self.build_s = time.perf_counter() - t0
        logger.info("standalone project %s ready in %.1f s", self.directory, self.build_s)
        self._built = built
        claim_device(self)
        return built

    def prepare(self, state: dict[str, np.ndarray]) -> Path:
        """Generate and compile the project now (a no-op for the compiler when the cache already
        holds it) instead of on the first :meth:`run`; returns the project directory. ``state``
        only gives the arrays their shapes: every run sets the whole state through ``run_args``."""
        self._ensure_built(state)
        return self.directory

    def run(
        self, state: dict[str, np.ndarray], stim: np.ndarray, labels: np.ndarray | None, rng_seed: int
    ) -> ChunkResult:
        stim, labels = _check_chunk(self.cfg, self.n_slots, self.n_copies, stim, labels, self.learning)
        built = self._ensure_built(state)
        K = self.n_copies
        unit = b2.Hz if self.cfg.encoding == "poisson" else 1
        run_args = {built.stim: stim * unit, built.inp.rng_seed: int(rng_seed) % (2**31 - 1)}
        if built.label is not None:
            run_args[built.label] = labels
        for name, (view, _scale) in built.state_views().items():
            run_args[view] = np.tile(np.asarray(state[name], dtype=np.float64).ravel(), K) * b2.mV
        for name, view in built.wsum.items():
            run_args[view] = np.asarray(state[name], dtype=np.float64).sum(axis=0) * b2.mV
        for view, name, transposed in built.fixed_views().values():
            M = np.asarray(state[name], dtype=np.float64)
            run_args[view] = (M.T if transposed else M).ravel()
        dev = b2.get_device()
        _drop_dead_cache_entries(dev)
        t0 = time.perf_counter()
        try:
            # shared: other processes may run the same cached binary at the same time (process-pool
            # or Ray workers); its run_args files are named by content and shared between them
            with _dir_lock(self.directory, shared=True):
                dev.run(directory=str(self.directory), with_output=False, run_args=run_args)
        finally:
            remove_run_args_files(self.directory)
        return _collect(built, time.perf_counter() - t0, state)

    def close(self) -> None:
        """Give the global device back (runtime mode) if this engine holds it; inside
        :func:`keep_builds`, leave the build on the device for the next engine of the same project."""
        if device_owner() is self:
            if _KEEP_BUILDS[0] and self._built is not None:
                self._parked = True
                return
            reset_device()
        self._built = None

    def device_released(self) -> None:
        """Called by :func:`spiking.backend.device.reset_device`: the build is gone from the device."""
        self._built = None
        self._parked = False


_KEEP_BUILDS = [False]


@contextlib.contextmanager
def keep_builds(enabled: bool = True):
    """Within this context, a closed :class:`StandaloneEngine` leaves its built network on Brian2's
    device, and the next engine of the same project (same code and shapes) in this process takes it
    over instead of building the network and generating its code again (~1 s per evaluation of a
    comparison). Building anything else resets the device as usual. On exit the device is reset if a
    build is still parked there. For processes that only run such tasks (sweep workers), see
    :func:`set_keep_builds`.

    Example
    -------
    >>> with keep_builds():
    ...     pass
    """
    previous = _KEEP_BUILDS[0]
    _KEEP_BUILDS[0] = bool(enabled)
    try:
        yield
    finally:
        _KEEP_BUILDS[0] = previous
        owner = device_owner()
        if not previous and isinstance(owner, StandaloneEngine) and owner._parked:
            reset_device()


def set_keep_builds(enabled: bool) -> None:
    """Process-wide form of :func:`keep_builds` (no reset at the end), for worker processes."""
    _KEEP_BUILDS[0] = bool(enabled)


#: Copy of the ``main.cpp`` the project's binary was last compiled from.
_COMPILED_MAIN = "main.cpp.compiled"
#: Lines of ``main.cpp`` that Brian2 2.9 emits in set-iteration order (one reset per clock), so
#: their order changes from process to process.
_CLOCK_RESET = re.compile(r"^\s*_array_\w+_(?:timestep|t)\[0\] = [^;]*;\s*$")


def same_up_to_clock_reset_order(a: str, b: str) -> bool:
    """True when two generated ``main.cpp`` texts differ at most in the order of their clock-reset
    lines (``_array_<clock>_timestep[0] = 0;`` / ``_array_<clock>_t[0] = 0.0;``) among the same
    line positions: independent assignments to different clocks' variables, whose order has no
    effect. A reset that moved across other code makes the texts different."""
    la, lb = a.splitlines(), b.splitlines()
    if len(la) != len(lb):
        return False
    slots = [i for i, ln in enumerate(la) if _CLOCK_RESET.match(ln)]
    if slots != [i for i, ln in enumerate(lb) if _CLOCK_RESET.match(ln)]:
        return False  # a reset moved across other code
    resets = set(slots)
    return all(x == y for i, (x, y) in enumerate(zip(la, lb)) if i not in resets) and sorted(
        la[i] for i in slots
    ) == sorted(lb[i] for i in slots)


def keep_equivalent_main(directory: Path) -> bool:
    """Put back the ``main.cpp`` the binary was compiled from (bytes and modification time) when the
    newly generated one differs only in the order of clock resets, so that ``make`` finds nothing
    to recompile. Brian2 iterates a ``set`` of clocks when it writes those resets, which made every
    build in a new process (or a second build in the same one) recompile ``main.cpp``: ~5 s per
    evaluation task. Returns True when the previous file was restored."""
    main, prev = Path(directory) / "main.cpp", Path(directory) / _COMPILED_MAIN
    if not (main.exists() and prev.exists()):
        return False
    new, old = main.read_text(), prev.read_text()
    if new == old or not same_up_to_clock_reset_order(new, old):
        return False
    st = prev.stat()
    main.write_text(old)
    os.utime(main, ns=(st.st_atime_ns, st.st_mtime_ns))
    return True


def _drop_dead_cache_entries(dev) -> None:
    """Work around Brian2 2.9 issue #1673 (fixed in 2.10): ``device.run(run_args=...)`` walks
    ``array_cache`` and dereferences each variable's owner, which raises ``ReferenceError`` once
    an owner (e.g. a temporary object of the build) has been garbage-collected."""
    for var in list(dev.array_cache):
        try:
            hasattr(var.owner, "name")
        except ReferenceError:
            del dev.array_cache[var]


def _dir_lock(directory: Path, shared: bool = False, blocking: bool = True):
    """Lock a cached project across processes: exclusive to build it (sources and static arrays are
    rewritten), shared to run its binary (several processes may run it at once)."""
    return file_lock(Path(directory) / ".build.lock", shared=shared, blocking=blocking)


def remove_run_args_files(directory: Path) -> int:
    """Delete the ``run_args`` files (``static_arrays/init_*.dat``) of finished runs, but only when no
    process is building or running the project (a non-blocking exclusive lock): Brian2 names these
    files by content and skips writing one that exists, so deleting it while another process's run
    is starting would leave that run reading a missing file. When the lock is busy, the last process
    to finish cleans up. Returns the number of files removed."""
    try:
        with _dir_lock(directory, blocking=False):
            removed = 0
            for f in (Path(directory) / "static_arrays").glob("init_*.dat"):
                with contextlib.suppress(FileNotFoundError):
                    f.unlink()
                    removed += 1
            return removed
    except BlockingIOError:
        return 0


def make_engine(cfg: NetworkConfig, target: str, **kwargs) -> StandaloneEngine | RuntimeEngine:
    """Engine for a resolved target (see :func:`spiking.backend.device.resolve_target`).

    Example
    -------
    >>> import spiking as spk
    >>> cfg = spk.NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
    >>> type(make_engine(cfg, "numpy", n_slots=2)).__name__
    'RuntimeEngine'
    >>> eng = make_engine(cfg, "cpp_standalone", n_slots=2)  # nothing is built yet
    >>> eng.directory.name.startswith("stdp-association-")
    True
    """
    if target == "cpp_standalone":
        return StandaloneEngine(cfg, **kwargs)
    kwargs.pop("cache_dir", None)
    return RuntimeEngine(cfg, target, **kwargs)
