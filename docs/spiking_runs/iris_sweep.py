"""Exploratory driver (session 5): IRIS versicolor-vs-virginica STDP recipes over split seeds.

Recipes are compared by their mean over split seeds 5-9 and reported on 0-4 (docs/SPIKING.md).
Usage, from the repository root: python docs/spiking_runs/iris_sweep.py docs/spiking_runs/iris_recipes.json 5
"""
import json, sys, time
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import spiking as spk
from spiking.presets import preset_params
from spiking.params import replace_params
from spiking.rules.stdp_association import STDPAssociationParams
from bridges.data import load_dataset, subset

recipes = json.loads(open(sys.argv[1]).read())
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
splits = list(range(10))
data = {}
for s in splits:
    ds = subset(load_dataset("iris", seed=s), (1, 2))
    lo, hi = ds.x_train.min(0), ds.x_train.max(0)
    xtr = spk.population_code(ds.x_train, 16, lo=lo, hi=hi).reshape(len(ds.x_train), -1)
    xte = spk.population_code(ds.x_test, 16, lo=lo, hi=hi).reshape(len(ds.x_test), -1)
    data[s] = (xtr, ds.y_train, xte, ds.y_test)
for name, r in recipes.items():
    base = preset_params(r["preset"]) if r.get("preset") else STDPAssociationParams()
    params = replace_params(base, r.get("over", {}))
    hidden = tuple(r.get("hidden", (20, 20)))
    cfg = spk.NetworkConfig(rule="stdp-association", n_in=64, hidden=hidden, n_out=2, max_rate_hz=200.0,
                            total_rate_hz=20000.0, sim=spk.SimParams(dt_ms=0.5, t_present_ms=r.get("tp", 150.0)), params=params)
    acc = np.zeros((len(splits), epochs))
    t0 = time.time()
    for i, s in enumerate(splits):
        xtr, ytr, xte, yte = data[s]
        with spk.SpikingClassifier(cfg, seed=0, target="cpp_standalone", chunk_size=100) as clf:
            for ep in range(epochs):
                clf.fit_epoch(xtr, ytr, epoch=ep)
                acc[i, ep] = clf.score(xte, yte)
    sel, rep = acc[5:].mean(0), acc[:5].mean(0)
    print(name, "sel(5-9)", np.round(sel, 3).tolist(), "rep(0-4)", np.round(rep, 3).tolist(), "split0", acc[0].tolist(), f"{time.time()-t0:.0f}s", flush=True)
