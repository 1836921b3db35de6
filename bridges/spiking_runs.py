"""One spiking training run for the comparison: Brian2 training, Brian2 evaluation, snntorch twin.

A run is a JSON-serialisable dict (``rule``, ``seed``, ``dataset``, ``classes``, ``hidden``, ``epochs``
and optional ``target``, ``dt_ms``, ``t_present_ms``, ``t_rest_ms``, ``max_rate_hz``,
``total_rate_hz``, ``encoding``, ``chunk_size``, ``eval_copies``, ``n_train``, ``params`` (rule
parameter overrides)). :func:`compile_spiking_run` compiles its Brian2 projects ahead (once for
every seed); :func:`train_spiking_model` trains it in Brian2, checkpointing the state
atomically after every chunk (an interrupted run resumes at the last finished chunk), and saves
``state.npz`` + ``run.json``; :func:`load_spiking_model` gives the comparison a predictor that runs
in Brian2 and a differentiable snntorch twin (``bridges.spiking_twin``) for surrogate-gradient attacks.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from bridges.io import atomic_save_npz, atomic_write_json, read_json

__all__ = ["RUN_DEFAULTS", "network_config", "compile_spiking_run", "train_spiking_model", "load_spiking_model",
           "FlatTwin"]

RUN_DEFAULTS = {"target": "cpp_standalone", "dt_ms": 0.5, "t_present_ms": 100.0, "t_rest_ms": 0.0,
                "max_rate_hz": 200.0, "total_rate_hz": None, "encoding": "poisson", "chunk_size": 1000,
                "eval_copies": 1, "n_train": None, "params": {}}


def _override(obj, changes: dict):
    names = {f.name for f in dataclasses.fields(obj)}
    kwargs = {}
    for key, val in changes.items():
        if key not in names:
            raise ValueError(f"unknown {type(obj).__name__} field {key!r}; valid: {sorted(names)}")
        cur = getattr(obj, key)
        kwargs[key] = _override(cur, val) if dataclasses.is_dataclass(cur) and isinstance(val, dict) else val
    return dataclasses.replace(obj, **kwargs)


def _run(run: dict) -> dict:
    unknown = set(run) - set(RUN_DEFAULTS) - {"rule", "seed", "dataset", "classes", "hidden", "epochs"}
    if unknown:
        raise ValueError(f"unknown spiking-run keys {sorted(unknown)}; valid: "
                         f"{sorted(set(RUN_DEFAULTS) | {'rule', 'seed', 'dataset', 'classes', 'hidden', 'epochs'})}")
    return {**RUN_DEFAULTS, **run}


def network_config(run: dict, n_in: int, n_out: int):
    """The ``spiking.NetworkConfig`` of a run."""
    import spiking as spk

    r = _run(run)
    base = spk.STDPAssociationParams() if r["rule"] == "stdp-association" else spk.LocalErrorParams()
    return spk.NetworkConfig(
        rule=r["rule"], n_in=n_in, hidden=tuple(r["hidden"]), n_out=n_out, encoding=r["encoding"],
        max_rate_hz=r["max_rate_hz"], total_rate_hz=r["total_rate_hz"],
        sim=spk.SimParams(dt_ms=r["dt_ms"], t_present_ms=r["t_present_ms"], t_rest_ms=r["t_rest_ms"]),
        params=_override(base, r["params"]) if r["params"] else base)


def _data(run: dict, data_root):
    from bridges.data import limit, load_dataset, subset

    ds = load_dataset(run["dataset"], data_root)
    if run.get("classes") is not None:
        ds = subset(ds, run["classes"])
    if run.get("n_train"):
        ds = limit(ds, n_train=run["n_train"], seed=run["seed"])
    if ds.x_train.ndim == 2:
        raise ValueError(f"the comparison's spiking runs take image data sets; {run['dataset']!r} is tabular "
                         "(use scripts/train_spiking.py, which population-codes tabular features)")
    return ds, ds.x_train.reshape(len(ds.x_train), -1), ds.x_test.reshape(len(ds.x_test), -1)


def compile_spiking_run(run: dict, *, data_root=None) -> dict:
    """Generate and compile the Brian2 standalone projects of a run ahead of its training
    (:meth:`spiking.SpikingClassifier.compile`): they depend on the network and chunk shapes, not on
    the seed, so one call serves every seed (``run`` may leave ``seed`` out). Returns the project
    directories' names and the seconds taken."""
    import time

    import spiking as spk

    r = _run({"seed": 0, **run})
    ds, x_tr, _ = _data(r, data_root)
    cfg = network_config(r, x_tr.shape[1], ds.n_classes)
    t0 = time.perf_counter()
    with spk.SpikingClassifier(cfg, seed=r["seed"], target=r["target"], chunk_size=r["chunk_size"],
                               eval_copies=r["eval_copies"]) as clf:
        dirs = clf.compile()
    return {"projects": [Path(d).name for d in dirs], "compile_s": time.perf_counter() - t0}


def train_spiking_model(run: dict, model_dir: Path, *, data_root=None, progress=None) -> dict:
    """Train in Brian2 (resumable per chunk); returns clean test accuracy and timings."""
    import spiking as spk

    r = _run(run)
    ds, x_tr, x_te = _data(r, data_root)
    cfg = network_config(r, x_tr.shape[1], ds.n_classes)
    model_dir = Path(model_dir)
    ckpt = model_dir / "checkpoint.npz"
    clf = spk.SpikingClassifier(cfg, seed=r["seed"], target=r["target"], chunk_size=r["chunk_size"],
                                eval_copies=r["eval_copies"])
    epoch0, chunk0 = 0, 0
    if ckpt.exists():
        with np.load(ckpt) as z:
            meta = json.loads(str(z["__progress__"]))
            clf.state = {k: z[k] for k in z.files if k != "__progress__"}
        epoch0, chunk0 = meta["epoch"], meta["next_chunk"]
    n_chunks = clf.n_chunks(len(x_tr))
    wall = 0.0
    rates = {}
    with clf:
        for epoch in range(epoch0, r["epochs"]):
            def save(c, n, state, res, epoch=epoch):
                nxt = (epoch, c + 1) if c + 1 < n else (epoch + 1, 0)
                atomic_save_npz(ckpt, __progress__=np.array(json.dumps({"epoch": nxt[0], "next_chunk": nxt[1]})),
                                **state)

            stats = clf.fit_epoch(x_tr, ds.y_train, epoch=epoch, start_chunk=chunk0 if epoch == epoch0 else 0,
                                  on_chunk=save, progress=progress)
            wall += stats.sim_wall_s
            rates = stats.rates_hz
        acc = clf.score(x_te, ds.y_test)
        state = clf.state
    atomic_save_npz(model_dir / "state.npz", **state)
    atomic_write_json(model_dir / "run.json", {"run": r, "config": spk.config_to_dict(cfg)})
    return {"clean_accuracy": float(acc), "train_sim_wall_s": wall, "train_rates_hz": rates,
            "n_train": int(len(x_tr)), "n_chunks_per_epoch": n_chunks}


class FlatTwin(nn.Module):
    """The snntorch twin taking images ``(N, C, H, W)`` in [0, 1]; its Poisson draws use torch's
    global generator, so an attack seeded through ``torch.random.fork_rng`` is deterministic."""

    def __init__(self, twin: nn.Module) -> None:
        super().__init__()
        self.twin = twin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.twin(x.flatten(1).to(self.twin.dtype))


def load_spiking_model(model_dir: Path):
    """Predictor in Brian2 + the differentiable twin, for :mod:`bridges.comparison`."""
    import spiking as spk

    from bridges.comparison import LoadedModel
    from bridges.spiking_twin import build_twin

    model_dir = Path(model_dir)
    meta = read_json(model_dir / "run.json")
    cfg = spk.config_from_dict(meta["config"])
    with np.load(model_dir / "state.npz") as z:
        state = {k: z[k] for k in z.files}
    r = meta["run"]

    def predict(x: torch.Tensor) -> np.ndarray:
        feats = x.detach().cpu().numpy().reshape(len(x), -1).astype(np.float64)
        with spk.SpikingClassifier(cfg, seed=r["seed"], target=r["target"], chunk_size=r["chunk_size"],
                                   eval_copies=r["eval_copies"], state=state) as clf:
            return clf.predict(feats)

    # float32 suffices: the twin only steers the attack (its surrogate gradient) and every accuracy is
    # measured in Brian2; the float64 twin is the bit-exact one (tests/test_spiking_twin.py).
    twin = FlatTwin(build_twin(cfg, state, dtype=torch.float32)).eval()
    return LoadedModel(predict=predict, grad_model=twin, simulator="brian2", stochastic=True)
