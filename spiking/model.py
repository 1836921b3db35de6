"""High-level spiking classifier: chunked training and (parallel) evaluation on numpy data.

:class:`SpikingClassifier` owns the numpy state (weights ``W[pre, post]`` in mV, thresholds,
readouts) and drives an engine (:mod:`spiking.backend.engine`) chunk by chunk. Training is online,
sample after sample, in chunks of ``chunk_size`` samples per simulator run; after each chunk
the caller gets the state back (``on_chunk``) and can save it, and a run can resume at any
finished chunk (``start_chunk``) with bit-identical results: the sample order of an epoch
and the Brian2 random seed of each chunk are derived from ``(seed, epoch, chunk)`` only.

Example
-------
>>> import numpy as np
>>> from spiking import NetworkConfig, SimParams, SpikingClassifier
>>> cfg = NetworkConfig(rule="spiking-local", n_in=4, hidden=(6, 6), n_out=2,
...                     sim=SimParams(dt_ms=1.0, t_present_ms=20.0))
>>> x = np.random.default_rng(0).uniform(size=(6, 4)); y = np.array([0, 1] * 3)
>>> with SpikingClassifier(cfg, seed=0, target="numpy", chunk_size=3) as clf:
...     stats = clf.fit_epoch(x, y, epoch=0)
...     clf.predict(x).shape
(6,)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backend.device import resolve_target
from .backend.engine import ChunkResult, make_engine
from .config import NetworkConfig
from .encoders import as_features, check_rates, latency_steps, poisson_rates
from .state import all_projections, init_state, layer_names, normalise_state

__all__ = ["SpikingClassifier", "EpochStats", "predict_from_counts", "chunk_seed"]

logger = logging.getLogger(__name__)


def chunk_seed(seed: int, epoch: int, chunk: int, tag: int = 0) -> int:
    """Brian2 RNG seed of one chunk (a pure function of its arguments)."""
    ss = np.random.SeedSequence([int(seed), int(epoch), int(chunk), int(tag), 0xB2])
    return int(ss.generate_state(1, dtype=np.uint32)[0] % (2**31 - 1))


def predict_from_counts(counts: np.ndarray, drive: np.ndarray | None = None) -> np.ndarray:
    """Predicted class = output neuron with most spikes.

    Ties (including samples without any output spike) go to the tied neuron that received the
    most synaptic input during the sample (``drive``, mV) when given, else to the lowest index.

    Example
    -------
    >>> predict_from_counts(np.array([[1, 1, 0], [0, 2, 1]]), np.array([[3.0, 5.0, 9.0], [0, 0, 0]]))
    array([1, 1])
    """
    counts = np.asarray(counts, dtype=np.float64)
    if drive is None:
        return counts.argmax(axis=1)
    drive = np.asarray(drive, dtype=np.float64)
    if drive.shape != counts.shape:
        raise ValueError(f"drive must have the shape of counts {counts.shape}, got {drive.shape}")
    best = counts == counts.max(axis=1, keepdims=True)
    return np.where(best, drive, -np.inf).argmax(axis=1)


@dataclass
class EpochStats:
    """Summary of one training epoch (or of the chunks run in this call)."""

    n_samples: int
    rates_hz: dict[str, float]
    sim_wall_s: float
    n_chunks: int


class SpikingClassifier:
    """Train and evaluate a spiking network of either rule on numpy features.

    Parameters
    ----------
    config : NetworkConfig
    seed : int
        Seeds weights (numpy Generator), the sample order and every chunk's Brian2 RNG.
    target : str
        ``cpp_standalone`` (default), ``cython`` or ``numpy``; falls back to ``numpy`` with a
        warning where no compiler exists.
    cache_dir : path, optional
        Standalone project cache (default ``~/.cache/bioplausible/brian2``).
    chunk_size : int
        Training samples per simulator run.
    eval_copies : int
        Parallel network copies during evaluation.
    eval_chunk_size : int, optional
        Evaluation samples per run (multiple of ``eval_copies``; default ``chunk_size``).
    state : dict, optional
        Start from this state instead of a fresh :func:`spiking.state.init_state`.
    """

    def __init__(
        self,
        config: NetworkConfig,
        *,
        seed: int = 0,
        target: str = "cpp_standalone",
        cache_dir=None,
        chunk_size: int = 1000,
        eval_copies: int = 1,
        eval_chunk_size: int | None = None,
        state: dict[str, np.ndarray] | None = None,
    ) -> None:
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if chunk_size < 1 or eval_copies < 1:
            raise ValueError("chunk_size and eval_copies must be >= 1")
        eval_chunk_size = eval_chunk_size or max(chunk_size, eval_copies)
        if eval_chunk_size % eval_copies:
            raise ValueError(f"eval_chunk_size ({eval_chunk_size}) must be a multiple of eval_copies ({eval_copies})")
        self.config = config
        self.seed = int(seed)
        self.target = resolve_target(target)
        self.cache_dir = cache_dir
        self.chunk_size = int(chunk_size)
        self.eval_copies = int(eval_copies)
        self.eval_chunk_size = int(eval_chunk_size)
        self.state = (
            init_state(config, self.seed)
            if state is None
            else {k: np.array(v, dtype=np.float64) for k, v in state.items()}
        )
        self._engines: dict[str, object] = {}

    # ------------------------------------------------------------------ encoding
    def encode(self, x: np.ndarray) -> np.ndarray:
        """Features in [0, 1] -> stimulus (Poisson rates in Hz, or latency steps)."""
        feats = as_features(x, self.config.n_in)
        if self.config.encoding == "poisson":
            rates = poisson_rates(feats, self.config.max_rate_hz, self.config.total_rate_hz)
            return check_rates(rates, self.config.n_in, dt_ms=self.config.sim.dt_ms)
        return latency_steps(feats, self.config.sim.steps_present).astype(np.float64)

    def _labels(self, y: np.ndarray, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"y must have shape ({n},) to match x, got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.mod(y, 1) == 0):
                raise ValueError("y must hold integer class labels")
        if n and (y.min() < 0 or y.max() >= self.config.n_out):
            raise ValueError(
                f"labels must be in [0, {self.config.n_out - 1}] for n_out={self.config.n_out}; got range "
                f"[{y.min()}, {y.max()}] (relabel with bridges.data.subset, or set n_out)"
            )
        return y.astype(np.float64)

    # ------------------------------------------------------------------ engines
    def _engine(self, kind: str):
        if kind not in self._engines:
            if kind == "train":
                kw = dict(n_slots=self.chunk_size, n_copies=1, learning=True)
            elif kind == "eval" and self._reuse_train_for_eval():
                return self._engine("train")  # frozen by labels = -1: no second build needed
            elif kind == "eval":
                kw = dict(n_slots=self.eval_chunk_size // self.eval_copies, n_copies=self.eval_copies, learning=False)
            else:
                raise ValueError(f"unknown engine kind {kind!r}")
            self._engines[kind] = make_engine(self.config, self.target, cache_dir=self.cache_dir, **kw)
        return self._engines[kind]

    def _reuse_train_for_eval(self) -> bool:
        """A rule whose plasticity is event-driven (``RuleSpec.event_driven``: STDP) evaluates with
        the training network, every ``learn`` gate at 0, as fast as with a frozen one, and saves a
        build. The spiking-local update runs every ``update_every`` steps on every synapse (multiplied
        by 0, but computed), about 5-10x the cost of a frozen network's evaluation, so such rules (and
        parallel copies) get a frozen build, compiled once per configuration in the project cache
        and reused by every later evaluation."""
        return self.eval_copies == 1 and self.config.rule_spec.event_driven

    def compile(self) -> list[Path]:
        """Generate and compile the standalone projects that training and evaluation will run, now
        rather than on first use; returns their directories (empty for runtime targets).

        The projects depend on the configuration and the chunk shapes, not on the seed or the
        weights, so one call serves every seed of a configuration, in this process or any other
        that shares the project cache (:func:`spiking.backend.cache.default_cache_dir`). A sweep runs it as
        a task of its own, so that several configurations compile side by side.

        Example
        -------
        >>> import spiking as spk
        >>> cfg = spk.NetworkConfig(rule="stdp-association", n_in=4, hidden=(3,), n_out=2)
        >>> clf = spk.SpikingClassifier(cfg, target="numpy")
        >>> clf.compile()  # runtime targets compile as they run
        []
        """
        dirs: list[Path] = []
        for kind in ("train", "eval"):
            directory = self._engine(kind).prepare(self.state)
            if directory is not None and directory not in dirs:
                dirs.append(directory)
        return dirs

    def close(self) -> None:
        """Release the Brian2 device (standalone engines)."""
        for eng in self._engines.values():
            eng.close()
        self._engines.clear()

    def __enter__(self) -> SpikingClassifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ training
    def n_chunks(self, n_samples: int) -> int:
        """Number of training chunks for ``n_samples`` samples."""
        return -(-int(n_samples) // self.chunk_size)

    def epoch_order(self, n_samples: int, epoch: int) -> np.ndarray:
        """Sample order of an epoch (pure function of seed and epoch)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(epoch), 0x0D3]))
        return rng.permutation(int(n_samples))

    def fit_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        epoch: int = 0,
        start_chunk: int = 0,
        on_chunk: Callable[[int, int, dict[str, np.ndarray], ChunkResult], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> EpochStats:
        """Train one epoch online (in the epoch's fixed random order), chunk by chunk.

        Parameters
        ----------
        x : array (N, n_in) or (N, C, H, W), features in [0, 1]
        y : int array (N,), labels in ``[0, n_out)``
        epoch : int
            Epoch index (selects the sample order and seeds).
        start_chunk : int
            First chunk to run (to resume; earlier chunks are assumed done and in ``state``).
        on_chunk : callable(chunk_index, n_chunks, state, result), optional
            Called after every chunk with the new state (e.g. to save it atomically).
        progress : callable(n_samples_done_in_chunk), optional

        Returns
        -------
        EpochStats
        """
        stim_all = self.encode(x)
        labels_all = self._labels(y, len(stim_all))
        n = len(stim_all)
        order = self.epoch_order(n, epoch)
        n_chunks = self.n_chunks(n)
        if not 0 <= start_chunk <= n_chunks:
            raise ValueError(f"start_chunk must be in [0, {n_chunks}], got {start_chunk}")
        eng = self._engine("train")
        C = self.chunk_size
        totals = {name: 0 for name in layer_names(self.config)}
        done = 0
        wall = 0.0
        for c in range(start_chunk, n_chunks):
            idx = order[c * C : (c + 1) * C]
            stim = (
                np.zeros((C, self.config.n_in))
                if self.config.encoding == "poisson"
                else -np.ones((C, self.config.n_in))
            )
            labels = -np.ones(C)
            stim[: len(idx)] = stim_all[idx]
            labels[: len(idx)] = labels_all[idx]
            res = eng.run(self.state, stim, labels, chunk_seed(self.seed, epoch, c))
            self.state = normalise_state(self.config, res.state, previous=self.state)
            for name, cnt in res.layer_counts.items():
                totals[name] += int(cnt.sum())
            done += len(idx)
            wall += res.wall_s
            if on_chunk is not None:
                on_chunk(c, n_chunks, self.state, res)
            if progress is not None:
                progress(len(idx))
        return EpochStats(
            n_samples=done, rates_hz=self._rates(totals, done), sim_wall_s=wall, n_chunks=n_chunks - start_chunk
        )

    def _rates(self, totals: dict[str, int], n_samples: int) -> dict[str, float]:
        sizes = dict(zip(layer_names(self.config), self.config.layer_sizes))
        t_s = self.config.sim.t_present_ms * 1e-3
        return {name: (tot / (sizes[name] * n_samples * t_s) if n_samples else 0.0) for name, tot in totals.items()}

    # ------------------------------------------------------------------ evaluation
    def predict_counts(
        self, x: np.ndarray, *, progress: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Output spike counts ``(N, n_out)`` with plasticity off, and mean rates (Hz) per layer.

        Runs ``eval_copies`` frozen copies of the network side by side. Also sets
        ``last_hidden_counts`` (layer -> spikes per sample and neuron) and ``last_out_drive``
        (summed input per sample and output neuron, mV; see :func:`predict_from_counts`).
        """
        stim_all = self.encode(x)
        n = len(stim_all)
        eng = self._engine("eval")
        S, K = (self.eval_chunk_size, self.eval_copies) if not eng.learning else (self.chunk_size, 1)
        counts = np.zeros((n, self.config.n_out), dtype=np.int64)
        self.last_out_drive = np.zeros((n, self.config.n_out))
        totals = {name: 0 for name in layer_names(self.config)}
        self.last_hidden_counts = {
            name: np.zeros((n, size), dtype=np.int64)
            for name, size in zip(layer_names(self.config), self.config.layer_sizes)
        }
        for c in range(-(-n // S)):
            part = stim_all[c * S : (c + 1) * S]
            stim = (
                np.zeros((S, self.config.n_in))
                if self.config.encoding == "poisson"
                else -np.ones((S, self.config.n_in))
            )
            stim[: len(part)] = part
            labels = -np.ones(S) if eng.learning else None  # -1: every plasticity gate is 0
            res = eng.run(
                self.state, stim.reshape(S // K, K * self.config.n_in), labels, chunk_seed(self.seed, 0, c, tag=1)
            )
            counts[c * S : c * S + len(part)] = res.out_counts[: len(part)]
            self.last_out_drive[c * S : c * S + len(part)] = res.out_drive[: len(part)]
            for name, sc in res.sample_counts.items():
                self.last_hidden_counts[name][c * S : c * S + len(part)] = sc[: len(part)]
            for name, cnt in res.layer_counts.items():
                totals[name] += int(cnt.sum())
            if progress is not None:
                progress(len(part))
        # padded (blank) samples emit no spikes in a frozen network, so totals cover n samples
        return counts, self._rates(totals, n)

    def output_pathways(self, y: np.ndarray | None = None) -> dict[str, dict[str, float]]:
        """How much each projection into the output contributed in the last :meth:`predict_counts`.

        For every weight matrix ``W_<pre>_out`` (the chain's last projection, and the skip
        projection ``W_h1_out`` of an STDP network with ``skip_stdp``): ``drive_share``, the
        fraction of the summed output input ``sum(counts_pre @ W)`` it carried, and, given labels
        ``y``, ``accuracy_alone``, the accuracy of the argmax of its drive alone.

        Returns
        -------
        dict projection name -> {"drive_share": float[, "accuracy_alone": float]}
        """
        counts = getattr(self, "last_hidden_counts", None)
        if counts is None:
            raise RuntimeError("call predict_counts first")
        drives = {
            f"W_{pre}_out": counts[pre].astype(np.float64) @ self.state[f"W_{pre}_out"]
            for pre, post in all_projections(self.config)
            if post == "out"
        }
        total = sum(float(d.sum()) for d in drives.values())
        out: dict[str, dict[str, float]] = {}
        for name, d in drives.items():
            out[name] = {"drive_share": float(d.sum()) / total if total > 0 else 0.0}
            if y is not None:
                out[name]["accuracy_alone"] = float(np.mean(d.argmax(axis=1) == np.asarray(y)))
        return out

    def raster(self, x: np.ndarray, *, target: str = "numpy") -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Spikes of every layer (input included) for a few samples, plasticity off, for plots.

        Runs a separate small recording network (default: the ``numpy`` runtime target, which
        needs no build). Returns layer name -> (neuron index, spike time in ms).
        """
        stim = self.encode(x)
        eng = make_engine(
            self.config,
            resolve_target(target),
            n_slots=len(stim),
            learning=False,
            record=True,
            cache_dir=self.cache_dir,
        )
        try:
            return eng.run(self.state, stim, None, chunk_seed(self.seed, 0, 0, tag=2)).raster
        finally:
            eng.close()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels (output neuron with most spikes, ties broken by summed input)."""
        counts, _ = self.predict_counts(x)
        return predict_from_counts(counts, self.last_out_drive)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on ``(x, y)``."""
        y = self._labels(y, len(np.asarray(x)))
        return float(np.mean(self.predict(x) == y))

    def weights(self) -> dict[str, np.ndarray]:
        """Copies of the weight matrices, ``W[pre, post]`` in mV."""
        return {k: v.copy() for k, v in self.state.items() if k.startswith("W_")}
