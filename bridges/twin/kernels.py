"""Compiled CPU kernels of the spiking-network twin: one layer over all time steps, forward and backward.

Why a kernel. The twin's step loop (:func:`bridges.twin.dynamics.simulate`) issues ~20 small torch
operations per layer and time step; for the 784-400-400-10 network over 200 steps that per-step
overhead, the dense input product ``spikes @ W`` (input spikes are a few percent of the inputs per
step) and Python's loop bound the twin to a few hundred samples per second on two cores. The layers of
these networks only feed forward within a step (a layer sees the spikes of *earlier* layers of the
same step and its own state), so each layer can run over **all** steps at once, layer after layer:
:func:`layer_forward` takes the spike rasters of its sources and returns its own, adding one weight
row per presynaptic spike (event-driven), with every elementwise operation of a step fused in C.

Arithmetic. The C code performs the same IEEE operations in the same order as the torch step loop
(compiled with ``-ffp-contract=off``, no fast-math, float32 evaluated in float32; only the
``"matmul"`` sum of simultaneous presynaptic rows has its own order, as BLAS has):
``v <- A + (e * v + B)``, threshold ``v > thr``, the inhibition ``clip(v - k w_inh, v_floor, 1)``
(``"matmul"`` summation) or ``k`` clipped subtractions (``"sequential"``), and excitation
``v + sum_i W[i]`` (``"matmul"``: the presynaptic rows summed in ascending order, then added) or
``v += W[i]`` one row at a time in ascending order (``"sequential"``: Brian2's ``numpy.add.at``,
bit-exact with Brian2's numpy target).

Backward (:func:`layer_backward`). Reverse-time adjoint of the same step with the surrogate
derivative of :func:`bridges.twin.dynamics._spike_fn` (snntorch's fast sigmoid, slope 1:
``d s / d v = ok / (width (1 + |u|)^2)``, ``u = (v - thr) / width``), the gradient of the lateral
inhibition through the spike count ``k`` and of the clip; it returns, per step, the gradient of the
layer's summed synaptic input (``gexc``), from which the caller forms the gradients of the source
spikes with one matrix product per projection. The reference formulation is the torch loop, which
the tests compare with this one.

The C source is compiled once per machine with the system C compiler into
``$BIOPLAUSIBLE_TWIN_CACHE`` (default ``~/.cache/bioplausible/twin``); :func:`available` is False
(and the twin falls back to the torch loop) when no compiler is found.

Example
-------
One neuron (``v_rest = v_reset = -65 mV``, leak factor ``e = 0.5``, threshold 0.3 V) driven by one
input spiking in steps 0 and 2 through a 0.75 V synapse: the input of step 0 lifts ``v`` to
``0.5 * -0.065 + 0.75``, which crosses the threshold after the leak of step 1 (threshold before
input, as Brian2 schedules it), then the reset.

>>> import torch
>>> run = layer_forward(
...     consts=(0.0, 0.5, 0.0, -0.065, -0.065, -0.08, 0.0), R=0, sequential=False,
...     thr=torch.tensor([0.3], dtype=torch.float64),
...     sources=[(torch.tensor([[[1], [0], [1]]], dtype=torch.uint8), torch.tensor([[0.75]], dtype=torch.float64))],
...     steps=3, record_v=True)
>>> run.spikes.flatten().tolist(), run.counts.tolist(), run.v.flatten().tolist()
([0, 1, 0], [[1]], [0.7175, -0.065, 0.7175])
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["available", "layer_forward", "layer_backward", "LayerRun", "poisson_raster"]

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- C source
# One template, instantiated for double (_d) and float (_f). Arrays are C-contiguous:
# spikes/tapes (B, T, n) for every sample b in [b0, b1); weights (n_src, n).
_TEMPLATE = r"""
static inline int row_any_REALSUF(const unsigned char *row, long long n) {
    long long i = 0;
    for (; i + 8 <= n; i += 8) { unsigned long long w; memcpy(&w, row + i, 8); if (w) return 1; }
    for (; i < n; ++i) if (row[i]) return 1;
    return 0;
}

void layer_fwd_SUF(long long b0, long long b1, long long T, long long n, const double *cst, long long R,
                   int sequential, const REAL *thr, int n_src, const unsigned char **src, const long long *src_n,
                   const long long *src_T, const REAL **W, unsigned char *spk, REAL *vrec, REAL *tape_v,
                   unsigned char *tape_f, int *counts, REAL *work) {
    const REAL A = (REAL)cst[0], e = (REAL)cst[1], Bc = (REAL)cst[2], v_rest = (REAL)cst[3];
    const REAL v_reset = (REAL)cst[4], v_floor = (REAL)cst[5], w_inh = (REAL)cst[6], one = (REAL)1.0;
    REAL *v = work, *cur = work + n;
    int *last = (int *)(work + 2 * n);
    unsigned char *nr = (unsigned char *)(last + n);
    const int Ri = (int)R;
    for (long long b = b0; b < b1; ++b) {
        int *cnt = counts + b * n;
        for (long long j = 0; j < n; ++j) { v[j] = v_rest; last[j] = -(1 << 30); cnt[j] = 0; }
        for (int t = 0; t < (int)T; ++t) {
            const long long o = (b * T + t) * n;
            unsigned char *sp = spk + o;
            int k = 0;
            for (long long j = 0; j < n; ++j) {  /* leak, threshold (branch-free: vectorised) */
                const REAL x0 = v[j];
                const REAL y = A + (e * x0 + Bc);
                const int ok = (t - last[j]) >= Ri;
                const REAL x = ok ? y : x0;
                const int fired = ok & (x > thr[j]);
                v[j] = x;
                nr[j] = (unsigned char)(ok & !fired);
                sp[j] = (unsigned char)fired;
                last[j] = fired ? t : last[j];
                k += fired;
            }
            if (tape_v) memcpy(tape_v + o, v, n * sizeof(REAL));
            if (tape_f)
                for (long long j = 0; j < n; ++j) tape_f[o + j] = (unsigned char)((nr[j] | sp[j]) | (sp[j] << 1));
            if (w_inh > 0 && k > 0) {
                const REAL kw = (REAL)k * w_inh;
                for (long long j = 0; j < n; ++j) {
                    if (!nr[j]) continue;
                    int pass = 1;
                    REAL x = v[j];
                    if (sequential) {
                        for (long long r = 0; r < k; ++r) {
                            REAL y = x - w_inh;
                            if (!(y >= v_floor && y <= one)) pass = 0;
                            x = y < v_floor ? v_floor : y;
                            x = x > one ? one : x;
                        }
                    } else {
                        REAL y = x - kw;
                        pass = (y >= v_floor && y <= one);
                        x = y < v_floor ? v_floor : y;
                        x = x > one ? one : x;
                    }
                    v[j] = x;
                    if (tape_f) tape_f[o + j] |= (unsigned char)(4 | (pass << 3));
                }
            }
            for (int s = 0; s < n_src; ++s) {
                if (t >= src_T[s]) continue;
                const long long m = src_n[s];
                const unsigned char *row = src[s] + (b * src_T[s] + t) * m;
                if (!row_any_REALSUF(row, m)) continue;
                const REAL *w = W[s];
                if (sequential) {
                    for (long long i = 0; i < m; ++i) {
                        if (!row[i]) continue;
                        const REAL *wi = w + i * n;
                        for (long long j = 0; j < n; ++j) v[j] = nr[j] ? v[j] + wi[j] : v[j];
                    }
                } else {
                    int first = 1;
                    for (long long i = 0; i < m; ++i) {
                        if (!row[i]) continue;
                        const REAL *wi = w + i * n;
                        if (first) { for (long long j = 0; j < n; ++j) cur[j] = wi[j]; first = 0; }
                        else { for (long long j = 0; j < n; ++j) cur[j] = cur[j] + wi[j]; }
                    }
                    for (long long j = 0; j < n; ++j) v[j] = nr[j] ? v[j] + cur[j] : v[j];
                }
            }
            if (k > 0) for (long long j = 0; j < n; ++j) { v[j] = sp[j] ? v_reset : v[j]; cnt[j] += sp[j]; }
            if (vrec) memcpy(vrec + o, v, n * sizeof(REAL));
        }
    }
}

void layer_bwd_SUF(long long b0, long long b1, long long T, long long n, const double *cst, const REAL *thr,
                   const REAL *tape_v, const unsigned char *tape_f, const REAL *g_count, const REAL *g_down,
                   REAL *gexc, long long sum_steps, REAL *gsum, REAL *work, int n_low, const REAL **low_g,
                   const long long *low_m, const REAL **low_wt) {
    /* branch-free loops (vectorised); tape flags: 1 ok, 2 fired, 4 inhibited, 8 inside the clip.
       low_g[s] (B, T, m_s) with low_wt[s] (m_s, n): gradients from a small layer this one feeds, whose
       product low_g @ low_wt joins g_down here, step by step, instead of as a (B, T, n) array */
    const REAL e = (REAL)cst[1], w_inh = (REAL)cst[6], inv_w = (REAL)cst[7], one = (REAL)1.0, zero = (REAL)0.0;
    REAL *gv = work, *gdl = work + n;
    for (long long b = b0; b < b1; ++b) {
        const REAL *gc = g_count + b * n;
        for (long long j = 0; j < n; ++j) gv[j] = 0;
        for (long long t = T - 1; t >= 0; --t) {
            const long long o = (b * T + t) * n;
            const REAL *gdown = g_down ? g_down + o : 0;
            if (n_low > 0) {
                if (gdown) { for (long long j = 0; j < n; ++j) gdl[j] = gdown[j]; }
                else { for (long long j = 0; j < n; ++j) gdl[j] = zero; }
                for (int s = 0; s < n_low; ++s) {
                    const long long m = low_m[s];
                    const REAL *gs = low_g[s] + (b * T + t) * m;
                    for (long long k = 0; k < m; ++k) {
                        const REAL a = gs[k];
                        if (a == zero) continue;
                        const REAL *wk = low_wt[s] + k * n;
                        for (long long j = 0; j < n; ++j) gdl[j] = gdl[j] + a * wk[j];
                    }
                }
                gdown = gdl;
            }
            const unsigned char *f = tape_f + o;
            REAL gk = 0;
            int inhibited = 0;
            if (gexc) {
                for (long long j = 0; j < n; ++j) {  /* reset, excitation, clip */
                    const REAL g = (f[j] & 2) ? zero : gv[j];
                    gexc[o + j] = ((f[j] & 3) == 1) ? g : zero;
                    gv[j] = ((f[j] & 12) == 4) ? zero : g;
                    inhibited |= f[j] & 4;
                }
            } else if (t < sum_steps) {  /* only the sum over the first sum_steps steps is wanted */
                REAL *gs = gsum + b * n;
                for (long long j = 0; j < n; ++j) {
                    const REAL g = (f[j] & 2) ? zero : gv[j];
                    gs[j] += ((f[j] & 3) == 1) ? g : zero;
                    gv[j] = ((f[j] & 12) == 4) ? zero : g;
                    inhibited |= f[j] & 4;
                }
            } else {
                for (long long j = 0; j < n; ++j) {
                    const REAL g = (f[j] & 2) ? zero : gv[j];
                    gv[j] = ((f[j] & 12) == 4) ? zero : g;
                    inhibited |= f[j] & 4;
                }
            }
            if (inhibited) {  /* gradient of the spike count k through the inhibition */
                for (long long j = 0; j < n; ++j) gk += ((f[j] & 12) == 12) ? gv[j] : zero;
                gk = -(gk * w_inh);
            }
            if (gdown) {
                const REAL *gd = gdown;
                for (long long j = 0; j < n; ++j) {
                    REAL u = (tape_v[o + j] - thr[j]) * inv_w;
                    u = u < zero ? -u : u;
                    const REAL d = one + u;
                    const REAL upd = e * (gv[j] + ((gk + gc[j]) + gd[j]) * (inv_w / (d * d)));
                    gv[j] = (f[j] & 1) ? upd : gv[j];
                }
            } else {
                for (long long j = 0; j < n; ++j) {
                    REAL u = (tape_v[o + j] - thr[j]) * inv_w;
                    u = u < zero ? -u : u;
                    const REAL d = one + u;
                    const REAL upd = e * (gv[j] + (gk + gc[j]) * (inv_w / (d * d)));
                    gv[j] = (f[j] & 1) ? upd : gv[j];
                }
            }
        }
    }
}
"""
_SAMPLER = r"""
static inline unsigned long long mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void poisson_raster(long long r0, long long r1, long long n, long long steps, const double *p,
                    unsigned long long seed, long long row0, unsigned char *out) {
    for (long long r = r0; r < r1; ++r) {
        unsigned long long state = mix64(seed ^ mix64((unsigned long long)(row0 + r) + 0x632BE59BD9B4E019ULL));
        memset(out + r * steps * n, 0, (size_t)(steps * n));
        for (long long i = 0; i < n; ++i) {
            const double pi = p[r * n + i];
            if (!(pi > 0)) continue;
            if (pi >= 1) { for (long long t = 0; t < steps; ++t) out[(r * steps + t) * n + i] = 1; continue; }
            const double lq = log1p(-pi);
            long long pos = -1;
            for (;;) {
                state += 0x9E3779B97F4A7C15ULL;
                const double u = (double)((mix64(state) >> 11) + 1) * 0x1.0p-53;  /* (0, 1] */
                const double gap = floor(log(u) / lq);
                if (gap >= (double)(steps - 1 - pos)) break;
                pos += 1 + (long long)gap;
                out[(r * steps + pos) * n + i] = 1;
            }
        }
    }
}
"""
_SOURCE = (
    "#include <string.h>\n#include <math.h>\n"
    + _SAMPLER
    + "".join(
        _TEMPLATE.replace("REALSUF", suf).replace("REAL", real).replace("_SUF", "_" + suf)
        for real, suf in (("double", "d"), ("float", "f"))
    )
)
#: IEEE arithmetic as written (no fast-math, no fused multiply-add); vectorised for this machine's CPU
#: (-fno-trapping-math / -fno-math-errno change no result, they only let the compiler vectorise)
_FLAGS = [
    "-O3",
    "-march=native",
    "-fno-fast-math",
    "-ffp-contract=off",
    "-fno-trapping-math",
    "-fno-math-errno",
    "-fPIC",
    "-shared",
    "-std=gnu99",
]


def _cpu_id() -> str:
    """What ``-march=native`` depends on (the kernels are cached per CPU model and features)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "|".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() + platform.machine()


_LIB: ctypes.CDLL | None = None
_LIB_ERROR: str | None = None
_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_P = ctypes.c_void_p
_I = ctypes.c_longlong


def cache_dir() -> Path:
    """``$BIOPLAUSIBLE_TWIN_CACHE`` or ``~/.cache/bioplausible/twin``."""
    env = os.environ.get("BIOPLAUSIBLE_TWIN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "bioplausible" / "twin"


def _compile(target: Path) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise RuntimeError("no C compiler found (set CC)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "twin_kernels.c"
        src.write_text(_SOURCE)
        out = Path(tmp) / target.name
        for flags in (_FLAGS, [f for f in _FLAGS if f != "-march=native"]):  # a compiler without -march=native
            res = subprocess.run([cc, *flags, str(src), "-o", str(out), "-lm"], capture_output=True, text=True)
            if res.returncode == 0:
                os.replace(out, target)
                return
        raise RuntimeError(f"{cc} failed: {res.stderr.strip()[:500]}")


def _load() -> ctypes.CDLL | None:
    global _LIB, _LIB_ERROR
    with _LOCK:
        if _LIB is not None or _LIB_ERROR is not None:
            return _LIB
        key = hashlib.sha256((_SOURCE + " ".join(_FLAGS) + _cpu_id()).encode()).hexdigest()[:16]
        path = cache_dir() / f"twin_kernels_{key}.so"
        try:
            if not path.exists():
                _compile(path)
            lib = ctypes.CDLL(str(path))
            for suf in ("d", "f"):
                getattr(lib, f"layer_fwd_{suf}").argtypes = [_I, _I, _I, _I, _P, _I, ctypes.c_int, _P, ctypes.c_int]
                getattr(lib, f"layer_fwd_{suf}").argtypes += [_P] * 10
                getattr(lib, f"layer_bwd_{suf}").argtypes = [_I, _I, _I, _I] + [_P] * 7 + [_I, _P, _P]
                getattr(lib, f"layer_bwd_{suf}").argtypes += [ctypes.c_int, _P, _P, _P]
            lib.poisson_raster.argtypes = [_I, _I, _I, _I, _P, ctypes.c_ulonglong, _I, _P]
            _LIB = lib
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _LIB_ERROR = str(exc)
            logger.warning("twin kernels unavailable (%s); the twin uses its torch step loop", exc)
        return _LIB


def available() -> bool:
    """Whether the compiled kernels can be used (compiled on first call)."""
    return _load() is not None


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, n))
    edges = [n * k // parts for k in range(parts + 1)]
    return [(edges[k], edges[k + 1]) for k in range(parts) if edges[k + 1] > edges[k]]


def _parallel(fn, n: int, threads: int | None) -> None:
    """Run ``fn(b0, b1)`` over sample ranges on ``threads`` threads (ctypes releases the GIL)."""
    ranges = _split(n, threads or torch.get_num_threads())
    if len(ranges) <= 1:
        for b0, b1 in ranges:
            fn(b0, b1)
        return
    global _POOL
    with _LOCK:
        if _POOL is None or _POOL._max_workers < len(ranges):
            _POOL = ThreadPoolExecutor(len(ranges), thread_name_prefix="twin-kernels")
        pool = _POOL
    list(pool.map(lambda r: fn(*r), ranges))


@dataclass
class LayerRun:
    """What :func:`layer_forward` returns: spikes ``(B, T, n)`` uint8, spike counts ``(B, n)`` int32,
    and optionally the membrane after every step ``(B, T, n)`` and the backward tape (``v`` after the
    leak, flags)."""

    spikes: Tensor
    counts: Tensor
    v: Tensor | None = None
    tape_v: Tensor | None = None
    tape_f: Tensor | None = None


def _suffix(dtype: torch.dtype) -> str:
    if dtype == torch.float64:
        return "d"
    if dtype == torch.float32:
        return "f"
    raise ValueError(f"kernels run in float64 or float32, got {dtype}")


def layer_forward(
    *,
    consts: Sequence[float],
    R: int,
    sequential: bool,
    thr: Tensor,
    sources: Sequence[tuple[Tensor, Tensor]],
    steps: int,
    record_v: bool = False,
    tape: bool = False,
    threads: int | None = None,
) -> LayerRun:
    """One layer over all ``steps`` time steps (see the module doc).

    Parameters
    ----------
    consts : (A, e, B, v_rest, v_reset, v_floor, w_inh) in volts (:func:`~bridges.twin.dynamics.membrane_constants`)
    R : refractory steps; sequential : the summation (False: ``"matmul"``)
    thr : ``(n,)`` thresholds in volts, float64 or float32 (the dtype of the computation)
    sources : per incoming projection in Brian2's order, ``(spikes (B, T_src, n_src) uint8, W (n_src, n))``;
        a source with ``T_src < steps`` is silent from step ``T_src`` on (the input after ``t_present``)
    record_v, tape : also return the membranes after every step / the tape :func:`layer_backward` needs
    """
    lib = _load()
    if lib is None:
        raise RuntimeError(f"twin kernels unavailable: {_LIB_ERROR}")
    dtype = thr.dtype
    thr = thr.detach().contiguous()
    n = int(thr.shape[0])
    B = int(sources[0][0].shape[0]) if sources else 0
    srcs = [(s.contiguous(), w.detach().to(dtype).contiguous()) for s, w in sources]
    for s, w in srcs:
        if s.dtype != torch.uint8 or s.dim() != 3 or s.shape[0] != B or tuple(w.shape) != (s.shape[2], n):
            raise ValueError(f"bad source: spikes {tuple(s.shape)} {s.dtype}, weights {tuple(w.shape)}, layer {n}")
    spk = torch.empty((B, steps, n), dtype=torch.uint8)
    vrec = torch.empty((B, steps, n), dtype=dtype) if record_v else None
    tape_v = torch.empty((B, steps, n), dtype=dtype) if tape else None
    tape_f = torch.empty((B, steps, n), dtype=torch.uint8) if tape else None
    counts = torch.empty((B, n), dtype=torch.int32)
    cst = (ctypes.c_double * 7)(*[float(c) for c in consts])
    k = len(srcs)
    src_p = (ctypes.c_void_p * max(k, 1))(*[s.data_ptr() for s, _ in srcs])
    src_n = (ctypes.c_longlong * max(k, 1))(*[int(s.shape[2]) for s, _ in srcs])
    src_T = (ctypes.c_longlong * max(k, 1))(*[int(s.shape[1]) for s, _ in srcs])
    w_p = (ctypes.c_void_p * max(k, 1))(*[w.data_ptr() for _, w in srcs])
    fn = getattr(lib, f"layer_fwd_{_suffix(dtype)}")

    def call(b0: int, b1: int) -> None:
        work = torch.empty(4 * n + 8, dtype=torch.float64)  # v, cur (REAL), last (int32), nr (bytes)
        fn(
            b0,
            b1,
            steps,
            n,
            cst,
            int(R),
            int(bool(sequential)),
            thr.data_ptr(),
            k,
            src_p,
            src_n,
            src_T,
            w_p,
            spk.data_ptr(),
            _ptr(vrec),
            _ptr(tape_v),
            _ptr(tape_f),
            counts.data_ptr(),
            work.data_ptr(),
        )

    _parallel(call, B, threads)
    return LayerRun(spikes=spk, counts=counts, v=vrec, tape_v=tape_v, tape_f=tape_f)


def layer_backward(
    *,
    consts: Sequence[float],
    inv_width: float,
    thr: Tensor,
    run: LayerRun,
    g_count: Tensor | None,
    g_down: Tensor | None,
    sum_steps: int | None = None,
    threads: int | None = None,
    g_low: Sequence[tuple[Tensor, Tensor]] = (),
) -> Tensor:
    """Reverse-time adjoint of :func:`layer_forward` (run with ``tape=True``).

    ``g_count`` ``(B, n)``: gradient of the layer's spike counts; ``g_down`` ``(B, T, n)``: gradient of
    its spikes from the layers it feeds; ``g_low``: more of that gradient as factors ``(gexc (B, T, m),
    W (n, m))`` of small layers it feeds (their ``gexc @ W.T`` is added step by step, never stored:
    for a 10-neuron output that saves two ``(B, T, n)`` arrays and a skinny product).

    Returns ``gexc`` ``(B, T, n)``, the gradient of the summed synaptic input of every step (zero where
    the neuron ignores input); the gradient of a source's spikes is ``gexc @ W.T``. With ``sum_steps``,
    only ``gexc[:, :sum_steps].sum(1)`` ``(B, n)`` is returned (all a Poisson input needs: its
    straight-through gradient is the same in every step).
    """
    lib = _load()
    if lib is None:
        raise RuntimeError(f"twin kernels unavailable: {_LIB_ERROR}")
    dtype = thr.dtype
    B, T, n = run.tape_v.shape
    gexc = torch.empty((B, T, n), dtype=dtype) if sum_steps is None else None
    gsum = torch.zeros((B, n), dtype=dtype) if sum_steps is not None else None
    cst = (ctypes.c_double * 8)(*[float(c) for c in consts][:7], float(inv_width))
    gc = torch.zeros((B, n), dtype=dtype) if g_count is None else g_count.detach().to(dtype).contiguous()
    gd = None if g_down is None else g_down.detach().to(dtype).contiguous()
    thr = thr.detach().contiguous()
    low = [(g.detach().to(dtype).contiguous(), w.detach().to(dtype).T.contiguous()) for g, w in g_low]
    for g, wt in low:
        if g.dim() != 3 or g.shape[:2] != (B, T) or tuple(wt.shape) != (g.shape[2], n):
            raise ValueError(f"bad g_low factor: gexc {tuple(g.shape)}, W.T {tuple(wt.shape)}, layer ({B}, {T}, {n})")
    k = len(low)
    low_g = (ctypes.c_void_p * max(k, 1))(*[g.data_ptr() for g, _ in low])
    low_m = (ctypes.c_longlong * max(k, 1))(*[int(g.shape[2]) for g, _ in low])
    low_wt = (ctypes.c_void_p * max(k, 1))(*[wt.data_ptr() for _, wt in low])
    fn = getattr(lib, f"layer_bwd_{_suffix(dtype)}")

    def call(b0: int, b1: int) -> None:
        work = torch.empty(2 * n + 1, dtype=torch.float64)
        fn(
            b0,
            b1,
            T,
            n,
            cst,
            thr.data_ptr(),
            run.tape_v.data_ptr(),
            run.tape_f.data_ptr(),
            gc.data_ptr(),
            _ptr(gd),
            _ptr(gexc),
            int(sum_steps or 0),
            _ptr(gsum),
            work.data_ptr(),
            k,
            low_g,
            low_m,
            low_wt,
        )

    _parallel(call, B, threads)
    return gexc if sum_steps is None else gsum


def poisson_raster(p: Tensor, steps: int, seed: int, row0: int = 0, threads: int | None = None) -> Tensor:
    """Bernoulli spike trains ``(N, steps, n)`` uint8 with per-step probabilities ``p`` ``(N, n)``
    (float64, CPU), by geometric gap skipping with a counter-based generator (SplitMix64) seeded by
    ``seed`` and the row: row ``r`` (numbered from ``row0``) depends only on ``(seed, row0 + r, p[r])``,
    so a batch drawn in pieces equals the batch drawn at once."""
    lib = _load()
    if lib is None:
        raise RuntimeError(f"twin kernels unavailable: {_LIB_ERROR}")
    q = p.detach().to("cpu", torch.float64).contiguous()
    rows, n = q.shape
    out = torch.empty((rows, steps, n), dtype=torch.uint8)  # zeroed row by row in C (in the threads)
    seed = int(seed) % (1 << 64)
    _parallel(
        lambda r0, r1: lib.poisson_raster(r0, r1, n, steps, q.data_ptr(), seed, int(row0), out.data_ptr()),
        rows,
        threads,
    )
    return out
