"""The one spiking training run: Brian2 training, Brian2 evaluation, checkpoints, the snntorch twin.

Used by ``scripts/train_spiking.py`` and by the comparison. A run is a JSON-serialisable dict:
``rule``, ``seed``, ``dataset``, ``classes``, ``hidden``, ``epochs`` and optional ``target``,
``dt_ms``, ``t_present_ms``, ``t_rest_ms``, ``max_rate_hz``, ``total_rate_hz``, ``encoding``,
``chunk_size``, ``eval_copies``, ``n_train`` and ``params`` (rule-parameter overrides, nested like the
rule's parameter dataclass; :func:`params_overrides` turns a preset name, JSON text or JSON file into
one) (:data:`RUN_DEFAULTS`), plus ``n_test``, ``split_seed`` and ``pop_size``
(:data:`OPTIONAL_DEFAULTS`), which only enter the dict when given, so that the keys of stored runs
never change.

Data: :func:`load_run_data` loads the set (embedded sets are split with ``split_seed``, stratified
subsets ``n_train``/``n_test`` are drawn with it), keeps ``classes``, flattens images and
population-codes tabular features (Gaussian receptive fields, ``pop_size`` per feature, centres
from the training split).

:func:`train_spiking_run` trains in Brian2, checkpointing the state and progress atomically after
every chunk in one format (``checkpoint.npz``: the state arrays plus ``__progress__``, a JSON record
of the next epoch and chunk, the run's key and the evaluation history); an interrupted run resumes at
the last finished chunk with a bit-identical result. It writes ``weights.npz`` (the state:
``W_<pre>_<post>[pre, post]`` in mV, ``theta_<layer>`` in mV, ``M_<layer>``) and ``run.json`` (the
run and its ``spiking.NetworkConfig``). :func:`load_spiking_model` gives a predictor that runs in
Brian2 and a differentiable snntorch twin for surrogate-gradient attacks.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bridges.io import atomic_save_npz, atomic_write_json, read_json

__all__ = [
    "RUN_DEFAULTS",
    "OPTIONAL_DEFAULTS",
    "SpikingRunResult",
    "complete_run",
    "params_overrides",
    "network_config",
    "load_run_data",
    "compile_spiking_run",
    "train_spiking_run",
    "train_spiking_model",
    "load_spiking_model",
    "SpikingModel",
    "load_checkpoint",
    "save_checkpoint",
]

#: optional run fields and their defaults (missing ones are filled in, never written back)
RUN_DEFAULTS = {
    "target": "cpp_standalone",
    "dt_ms": 0.5,
    "t_present_ms": 100.0,
    "t_rest_ms": 0.0,
    "max_rate_hz": 200.0,
    "total_rate_hz": None,
    "encoding": "poisson",
    "chunk_size": 1000,
    "eval_copies": 1,
    "n_train": None,
    "params": {},
}
#: further optional fields: test subset, seed of the embedded split and of subsets, population code
OPTIONAL_DEFAULTS = {"n_test": None, "split_seed": 0, "pop_size": 16}
_REQUIRED = ("rule", "seed", "dataset", "classes", "hidden", "epochs")


def complete_run(run: Mapping[str, Any]) -> dict:
    """``run`` with every default filled in; unknown keys raise ``ValueError`` naming the valid ones."""
    valid = set(RUN_DEFAULTS) | set(OPTIONAL_DEFAULTS) | set(_REQUIRED)
    unknown = set(run) - valid
    if unknown:
        raise ValueError(f"unknown spiking-run keys {sorted(unknown)}; valid: {sorted(valid)}")
    missing = [k for k in _REQUIRED if k not in run and k != "classes"]
    if missing:
        raise ValueError(f"the spiking run lacks {missing}")
    return {"classes": None, **copy.deepcopy(RUN_DEFAULTS), **OPTIONAL_DEFAULTS, **copy.deepcopy(dict(run))}


def params_overrides(rule: str, spec: str | None) -> dict:
    """Rule-parameter overrides from a preset name (``spiking.presets``), a JSON object or a JSON file.

    Examples
    --------
    >>> params_overrides("stdp-association", '{"inhibition_mV": 3}')
    {'inhibition_mV': 3}
    >>> sorted(params_overrides("stdp-association", "stdp-skip-400"))[:2]
    ['hidden_lif', 'hidden_stdp']
    """
    import spiking as spk
    from spiking.presets import PRESETS, preset_name

    if not spec:
        return {}
    if preset_name(spec) is not None:
        spec = preset_name(spec)
        owner = spk.get_rule(PRESETS[spec]["rule"]).name
        if owner != spk.get_rule(rule).name:
            raise ValueError(f"preset {spec!r} is for rule {owner!r}, not {rule!r}")
        return copy.deepcopy(PRESETS[spec]["params"])
    # inline JSON first: a long JSON string is not a valid path (stat raises "File name too long")
    text = spec if spec.lstrip().startswith("{") else (Path(spec).read_text() if Path(spec).is_file() else spec)
    try:
        changes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"--params is neither a JSON object nor a JSON file ({exc}), nor a preset name; presets: "
            f"{', '.join(sorted(PRESETS))}"
        ) from None
    if not isinstance(changes, dict):
        raise ValueError(f"--params must be a JSON object of parameter overrides, got {type(changes).__name__}")
    return changes


def network_config(run: Mapping[str, Any], n_in: int, n_out: int):
    """The ``spiking.NetworkConfig`` of a run (the rule's parameters with the run's overrides)."""
    import spiking as spk

    r = complete_run(run)
    base = spk.get_rule(r["rule"]).params_type()
    return spk.NetworkConfig(
        rule=r["rule"],
        n_in=n_in,
        hidden=tuple(r["hidden"]),
        n_out=n_out,
        encoding=r["encoding"],
        max_rate_hz=r["max_rate_hz"],
        total_rate_hz=r["total_rate_hz"],
        sim=spk.SimParams(dt_ms=r["dt_ms"], t_present_ms=r["t_present_ms"], t_rest_ms=r["t_rest_ms"]),
        params=spk.replace_params(base, r["params"]) if r["params"] else base,
    )


@dataclass
class RunData:
    """A run's data: the data set, flattened (or population-coded) inputs and what was done to them."""

    dataset: Any
    x_train: np.ndarray
    x_test: np.ndarray
    input_note: str


def load_run_data(run: Mapping[str, Any], data_root=None) -> RunData:
    """Load, subset, flatten and (tabular sets) population-code the data of a run."""
    import spiking as spk
    from bridges.data import limit, load_dataset, subset

    r = complete_run(run)
    ds = load_dataset(r["dataset"], root=data_root, seed=r["split_seed"])
    if r["classes"] is not None:
        ds = subset(ds, r["classes"])
    if r["n_train"] or r["n_test"]:
        ds = limit(ds, r["n_train"], r["n_test"], seed=r["split_seed"])
    x_tr, x_te = ds.x_train, ds.x_test
    note = "pixels"
    if x_tr.ndim == 2:  # tabular: Gaussian population code with the training split's range
        lo, hi = x_tr.min(axis=0), x_tr.max(axis=0)
        x_tr = spk.population_code(x_tr, r["pop_size"], lo=lo, hi=hi)
        x_te = spk.population_code(x_te, r["pop_size"], lo=lo, hi=hi)
        note = f"population code, {r['pop_size']} Gaussian fields per feature"
    return RunData(ds, x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1), note)


def _classifier(r: dict, cfg, *, cache_dir=None, state=None):
    import spiking as spk

    return spk.SpikingClassifier(
        cfg,
        seed=r["seed"],
        target=r["target"],
        cache_dir=cache_dir,
        chunk_size=r["chunk_size"],
        eval_copies=r["eval_copies"],
        state=state,
    )


def compile_spiking_run(run: Mapping[str, Any], *, data_root=None, cache_dir=None) -> dict:
    """Generate and compile the Brian2 standalone projects of a run ahead of its training
    (:meth:`spiking.SpikingClassifier.compile`): they depend on the network and chunk shapes, not on
    the seed, so one call serves every seed (``run`` may leave ``seed`` out). Returns the project
    directories' names and the seconds taken."""
    r = complete_run({"seed": 0, **run})
    data = load_run_data(r, data_root)
    cfg = network_config(r, data.x_train.shape[1], data.dataset.n_classes)
    t0 = time.perf_counter()
    with _classifier(r, cfg, cache_dir=cache_dir) as clf:
        dirs = clf.compile()
    return {"projects": [Path(d).name for d in dirs], "compile_s": time.perf_counter() - t0}


# ----------------------------------------------------------------------------------------------
# the checkpoint format


def run_key(run: Mapping[str, Any]) -> str:
    """A short hash of everything that determines a run's result (its checkpoint belongs to it)."""
    blob = json.dumps(complete_run(run), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_checkpoint(path: Path, state: Mapping[str, np.ndarray], progress: Mapping[str, Any]) -> None:
    """Write the state arrays and the progress record (JSON) to ``path`` in one atomic write."""
    atomic_save_npz(path, __progress__=np.array(json.dumps(dict(progress))), **state)


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """``(state, progress)`` from a checkpoint written by :func:`save_checkpoint`."""
    with np.load(path) as z:
        progress = json.loads(str(z["__progress__"]))
        state = {k: z[k] for k in z.files if k != "__progress__"}
    return state, progress


# ----------------------------------------------------------------------------------------------
# training


@dataclass
class SpikingRunResult:
    """What a finished run returns: the final state, the evaluation history and the run's facts."""

    run: dict
    config: Any
    state: dict
    accuracy: float
    history: list = field(default_factory=list)
    train_rates_hz: dict = field(default_factory=dict)
    test_rates_hz: dict = field(default_factory=dict)
    train_sim_wall_s: float = 0.0
    n_train: int = 0
    n_test: int = 0
    n_chunks_per_epoch: int = 0
    target: str = ""
    data: RunData | None = None


def train_spiking_run(
    run: Mapping[str, Any],
    out_dir: str | Path,
    *,
    data_root=None,
    cache_dir=None,
    evaluate_each_epoch: bool = True,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_chunk: Callable[[int, int, Any], None] | None = None,
    keep_classifier: Callable[[Any, RunData], None] | None = None,
) -> SpikingRunResult:
    """Train a spiking run in Brian2 (resumable per chunk) and evaluate it on the test split.

    Parameters
    ----------
    run : mapping
        The run (see the module docstring).
    out_dir : path
        Holds ``checkpoint.npz`` while training (removed at the end) and receives ``weights.npz``
        and ``run.json``.
    evaluate_each_epoch : bool
        Evaluate on the test split after every epoch (the history of ``scripts/train_spiking.py``);
        otherwise only once, after the last epoch. Evaluation never changes the state or the
        random streams of training.
    progress : callable, optional
        ``progress(n_samples)`` after every simulated chunk.
    on_start : callable, optional
        ``on_start(total_samples, samples_done)`` once the data are loaded (and a checkpoint read):
        the training samples of all epochs, and how many of them a resumed run has behind it.
    on_chunk : callable, optional
        ``on_chunk(chunk_index, n_chunks, chunk_result)`` after every checkpointed chunk.
    keep_classifier : callable, optional
        ``keep_classifier(classifier, data)`` is called with the trained classifier before it is
        closed (plots, diagnostics).

    Returns
    -------
    SpikingRunResult
    """
    import spiking as spk

    r = complete_run(run)
    out_dir = Path(out_dir)
    data = load_run_data(r, data_root)
    ds, x_tr, x_te = data.dataset, data.x_train, data.x_test
    cfg = network_config(r, x_tr.shape[1], ds.n_classes)
    key = run_key(r)
    ckpt = out_dir / "checkpoint.npz"
    clf = _classifier(r, cfg, cache_dir=cache_dir)
    epoch0, chunk0, history = 0, 0, []
    if ckpt.exists():
        state, meta = load_checkpoint(ckpt)
        if meta.get("run_key", key) != key:
            raise ValueError(
                f"{ckpt} belongs to a different run (config, seed or data differ); use another output "
                "folder or delete the checkpoint"
            )
        clf.state = state
        epoch0, chunk0, history = meta["epoch"], meta["next_chunk"], meta.get("history", [])
    n_chunks = clf.n_chunks(len(x_tr))
    if on_start is not None:
        on_start(r["epochs"] * len(x_tr), epoch0 * len(x_tr) + min(chunk0 * r["chunk_size"], len(x_tr)))
    wall, train_rates, test_rates, acc = 0.0, {}, {}, None
    with clf:
        for epoch in range(epoch0, r["epochs"]):
            t0 = time.perf_counter()

            def save(c, n, state, res, epoch=epoch):
                nxt = (epoch, c + 1) if c + 1 < n else (epoch, n)
                save_checkpoint(
                    ckpt, state, {"run_key": key, "epoch": nxt[0], "next_chunk": nxt[1], "history": history}
                )
                if on_chunk is not None:
                    on_chunk(c, n, res)

            if chunk0 < n_chunks:
                stats = clf.fit_epoch(
                    x_tr, ds.y_train, epoch=epoch, start_chunk=chunk0, on_chunk=save, progress=progress
                )
                train_rates, sim_s = stats.rates_hz, stats.sim_wall_s
            else:
                sim_s = 0.0
            wall += sim_s
            t_train = time.perf_counter() - t0
            chunk0 = 0
            if evaluate_each_epoch or epoch == r["epochs"] - 1:
                counts, test_rates = clf.predict_counts(x_te)
                pred = spk.predict_from_counts(counts, clf.last_out_drive)
                acc = float(np.mean(pred == ds.y_test))
                history.append(
                    {
                        "epoch": epoch,
                        "test_accuracy": acc,
                        "train_wall_s": t_train,
                        "train_sim_s": sim_s,
                        "train_ms_per_sample": 1e3 * t_train / len(x_tr),
                        "eval_wall_s": time.perf_counter() - t0 - t_train,
                        "train_rates_hz": train_rates,
                        "test_rates_hz": test_rates,
                        "test_no_spike_fraction": float(np.mean(counts.sum(axis=1) == 0)),
                        "test_accuracy_without_tie_break": float(np.mean(spk.predict_from_counts(counts) == ds.y_test)),
                        "test_output_pathways": clf.output_pathways(ds.y_test),
                    }
                )
            save_checkpoint(ckpt, clf.state, {"run_key": key, "epoch": epoch + 1, "next_chunk": 0, "history": history})
        if acc is None:  # every epoch had finished before a resume: evaluate the stored state
            acc = float(clf.score(x_te, ds.y_test))
        state = clf.state
        if keep_classifier is not None:
            keep_classifier(clf, data)
        target = clf.target
    atomic_save_npz(out_dir / "weights.npz", **state)
    atomic_write_json(out_dir / "run.json", {"run": r, "config": spk.config_to_dict(cfg)})
    ckpt.unlink(missing_ok=True)
    return SpikingRunResult(
        run=r,
        config=cfg,
        state=state,
        accuracy=acc,
        history=history,
        train_rates_hz=train_rates,
        test_rates_hz=test_rates,
        train_sim_wall_s=wall,
        n_train=int(len(x_tr)),
        n_test=int(len(x_te)),
        n_chunks_per_epoch=n_chunks,
        target=target,
        data=data,
    )


def train_spiking_model(run: Mapping[str, Any], model_dir: Path, *, data_root=None, progress=None) -> dict:
    """The comparison's training task: :func:`train_spiking_run` evaluated once, at the end; returns
    the clean test accuracy and timings."""
    res = train_spiking_run(run, model_dir, data_root=data_root, evaluate_each_epoch=False, progress=progress)
    return {
        "clean_accuracy": res.accuracy,
        "train_sim_wall_s": res.train_sim_wall_s,
        "train_rates_hz": res.train_rates_hz,
        "n_train": res.n_train,
        "n_chunks_per_epoch": res.n_chunks_per_epoch,
    }


class SpikingModel(NamedTuple):
    """A trained spiking run, ready to be scored and attacked."""

    predict: Callable[[Any], np.ndarray]  #: images or features (N, ...) -> labels (N,), run in Brian2
    twin: Any  #: the differentiable snntorch twin taking images (N, ...), float32
    config: Any  #: the run's ``spiking.NetworkConfig``
    run: dict  #: the run, defaults filled in


def load_spiking_model(model_dir: Path) -> SpikingModel:
    """A trained run: a predictor that runs in Brian2 and the differentiable snntorch twin (float32:
    it only steers attacks, every accuracy is measured in Brian2; the float64 twin is the bit-exact
    one)."""
    import torch

    import spiking as spk
    from bridges.twin import FlattenedInput, build_twin

    model_dir = Path(model_dir)
    meta = read_json(model_dir / "run.json")
    cfg = spk.config_from_dict(meta["config"])
    weights = model_dir / "weights.npz"
    if not weights.exists():  # model folders written before the one run driver
        weights = model_dir / "state.npz"
    with np.load(weights) as z:
        state = {k: z[k] for k in z.files}
    r = complete_run(meta["run"])

    def predict(x) -> np.ndarray:
        feats = x.detach().cpu().numpy().reshape(len(x), -1).astype(np.float64)
        with _classifier(r, cfg, state=state) as clf:
            return clf.predict(feats)

    twin = FlattenedInput(build_twin(cfg, state, dtype=torch.float32)).eval()
    return SpikingModel(predict=predict, twin=twin, config=cfg, run=r)
