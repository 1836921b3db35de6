"""Run train_spiking.py configurations in parallel; write $OUT/summary.json (device helper)."""
import json, os, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
runs = json.load(open(sys.argv[1]))
limit = float(sys.argv[2]) if len(sys.argv) > 2 else 540
out = os.environ["OUT"]
res = {}
def one(r):
    name, args = r["name"], r["args"]
    d = f"/tmp/runs/{name}"
    cmd = [sys.executable, "scripts/train_spiking.py", "--data-root", ".dev_data", "--quiet", "--seed", "0",
           "--out", d, "--cache-dir", f"/tmp/cache/{name}"] + args
    t0 = time.time()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit - (time.time() - T0), env=env)
        rc, tail = p.returncode, (p.stdout + p.stderr)[-600:]
    except subprocess.TimeoutExpired as e:
        rc, tail = "timeout", str(e.stderr or "")[-400:]
    info = {"cmd": " ".join(cmd[1:]), "rc": rc, "wall_s": round(time.time() - t0, 1)}
    try:
        m = json.load(open(f"{d}/metrics.json"))
        info["acc"] = m["accuracy"]
        info["hist"] = [{k: h[k] for k in ("test_accuracy", "test_accuracy_without_tie_break", "test_rates_hz",
                          "train_rates_hz", "train_ms_per_sample", "test_no_spike_fraction", "eval_wall_s", "train_wall_s")}
                        for h in m["history"]]
    except Exception as exc:
        info["tail"] = tail
    res[name] = info
    json.dump(res, open(f"{out}/summary.json", "w"), indent=1)
T0 = time.time()
with ThreadPoolExecutor(int(os.environ.get("NPAR", "15"))) as ex:
    list(ex.map(one, runs))
for k, v in res.items():
    print(k, v.get("acc"), v["wall_s"], v["rc"])
