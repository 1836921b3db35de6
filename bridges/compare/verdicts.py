"""Can a model's gradient attacks be trusted? One verdict per model, with its evidence.

A model looks robust either because it is, or because the attacks that follow its gradients fail
(gradient masking: Athalye, Carlini & Wagner 2018, "Obfuscated gradients give a false sense of
security", arXiv 1802.00420; Tramèr, Carlini, Brendel & Madry 2020, "On adaptive attacks to
adversarial example defenses", arXiv 2002.08347; the flags of Croce & Hein 2020, arXiv 2003.01690).
Four pieces of evidence, each tested beyond its noise:

(a) a gradient-free (``score``: Square) or ``transfer`` attack leaves significantly fewer samples
    correct than **every** attack on the model's own gradients at the same epsilon and seed
    (one-sided exact McNemar test on the same samples, :func:`bridges.stats.mcnemar_lower`, at
    ``alpha`` divided by the number of candidates tested: Bonferroni);
(b) accuracy does not approach 0 as epsilon grows: at the sanity epsilon (1.0 on [0, 1] inputs the
    attacker may draw any image, so any classifier can be fooled) the best own-gradient attack
    leaves more than :data:`SANITY_TOLERANCE` of the samples correct (Wilson lower bound above it;
    a few percent may survive on a stochastic model whose fresh spike draws restore some images);
(c) the input gradient vanishes (``max |grad| < 1e-12``, margin loss, at the clean input) for more
    than :data:`ZERO_GRAD_TOLERANCE` of the samples (Wilson lower bound above it);
(d) doubling the budget (steps, or EOT draws for the surrogate) at the largest epsilon leaves
    significantly fewer samples correct (McNemar, Bonferroni over the checks).

Verdict: **masked** when (a), (c) or (d) holds (the strongest attack is named); **gradient attacks
reliable** when none holds, each was measured and (b) passes; **inconclusive** otherwise, with why,
and for a model too inaccurate to attack (clean accuracy whose Wilson upper bound is at most
:data:`SANITY_TOLERANCE`: every attack "succeeds" on samples it already gets wrong).

Example
-------
>>> def row(attack, method, bits, eps=0.3, role="attack", **kw):
...     return dict(rule="m", seed=0, attack=attack, method=method, source="", epsilon=eps, role=role,
...                 accuracy=bits.count("1") / len(bits), n_eval=len(bits), correct=bits, **kw)
>>> rows = [row("whitebox", "pgd", "1" * 40, steps=10, zero_grad_share=1.0),     # PGD cannot move it
...         row("score", "square", "0" * 40, queries=100),                       # Square fools all
...         row("whitebox", "pgd", "1" * 40, eps=1.0, role="sanity"),
...         row("whitebox", "pgd", "1" * 40, role="budget-check", steps=20)]
>>> v = verdicts(rows, None, ("m",))["m"]
>>> v["verdict"], v["strongest"], v["evidence"]["a"]["flag"], v["evidence"]["c"]["flag"]
('masked', 'score square', True, True)
"""

from __future__ import annotations

import math

from bridges.stats import as_bits, mcnemar_p, wilson_interval

__all__ = [
    "OWN_KINDS",
    "OTHER_KINDS",
    "SANITY_TOLERANCE",
    "VERDICTS",
    "ZERO_GRAD_TOLERANCE",
    "verdicts",
]

#: the verdicts a model can get
VERDICTS = ("gradient attacks reliable", "masked", "inconclusive")

#: attack kinds that follow the model's own (exact, surrogate or approximate) gradients
OWN_KINDS = ("whitebox", "surrogate", "rate-approx")
#: attack kinds that do not: gradient-free and transferred
OTHER_KINDS = ("score", "transfer")

#: (b): the accuracy a working attack may leave at the sanity epsilon
SANITY_TOLERANCE = 0.05
#: (c): the share of samples whose input gradient may vanish
ZERO_GRAD_TOLERANCE = 0.01


def _label(r: dict) -> str:
    return " ".join(str(v) for v in (r["attack"], r["method"], r.get("source") or "") if v)


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _bits_ok(rows: list[dict]) -> bool:
    return all(r.get("correct") for r in rows) and len({len(r["correct"]) for r in rows}) == 1


def _evidence_a(table: list[dict], alpha: float) -> dict:
    cells: dict[tuple, dict[str, list[dict]]] = {}
    for r in table:
        if r["epsilon"] > 0:
            side = "own" if r["attack"] in OWN_KINDS else "other" if r["attack"] in OTHER_KINDS else None
            if side:
                cells.setdefault((r["seed"], r["epsilon"]), {"own": [], "other": []})[side].append(r)
    tests = [(k, o, c["own"]) for k, c in cells.items() if c["own"] for o in c["other"]]
    tests = [t for t in tests if _bits_ok([t[1], *t[2]])]
    level = alpha / max(1, len(tests))
    hits = []
    for (seed, eps), other, own in tests:
        p = max(mcnemar_p(other["correct"], g["correct"]) for g in own)
        if p < level:
            best = min(own, key=lambda g: g["accuracy"])
            hits.append(
                {
                    "seed": seed,
                    "epsilon": eps,
                    "attack": _label(other),
                    "accuracy": other["accuracy"],
                    "best_gradient_attack": _label(best),
                    "gradient_accuracy": best["accuracy"],
                    "p": p,
                }
            )
    return {"flag": bool(hits), "measured": bool(tests), "tests": len(tests), "alpha_each": level, "hits": hits}


def _evidence_b(rows: list[dict], sanity_epsilon: float | None) -> dict:
    own = [r for r in rows if r["attack"] in OWN_KINDS and r.get("role") in ("sanity", "attack")]
    if sanity_epsilon is None:
        sanity = [r for r in own if r.get("role") == "sanity"]
    else:
        sanity = [r for r in own if math.isclose(r["epsilon"], sanity_epsilon)]
    if not sanity:
        return {"flag": False, "measured": False, "tolerance": SANITY_TOLERANCE}
    per_seed: dict = {}
    for r in sanity:  # the best own-gradient attack of each seed
        if r["seed"] not in per_seed or r["accuracy"] < per_seed[r["seed"]]["accuracy"]:
            per_seed[r["seed"]] = r
    lows = {s: _wilson_lo(r) for s, r in per_seed.items()}
    flag = any(lo > SANITY_TOLERANCE for lo in lows.values())
    return {
        "flag": flag,
        "measured": True,
        "epsilon": sanity[0]["epsilon"],
        "tolerance": SANITY_TOLERANCE,
        "accuracy": {s: r["accuracy"] for s, r in per_seed.items()},
        "ci_lo": lows,
        "attack": {s: _label(r) for s, r in per_seed.items()},
        "by_attack": {f"{_label(r)} seed {r['seed']}": r["accuracy"] for r in sanity},
    }


def _wilson_lo(r: dict) -> float:
    if r.get("correct"):
        bits = as_bits(r["correct"])
        return wilson_interval(int(bits.sum()), bits.size)[0]
    return wilson_interval(int(round(r["accuracy"] * r["n_eval"])), int(r["n_eval"]))[0]


def _wilson_hi(r: dict) -> float:
    if r.get("correct"):
        bits = as_bits(r["correct"])
        return wilson_interval(int(bits.sum()), bits.size)[1]
    return wilson_interval(int(round(r["accuracy"] * r["n_eval"])), int(r["n_eval"]))[1]


def _evidence_c(rows: list[dict]) -> dict:
    shares: dict[tuple, tuple[float, int]] = {}
    for r in rows:
        if r["attack"] in OWN_KINDS and r.get("zero_grad_share") is not None and r.get("n_eval"):
            shares[(r["attack"], r["seed"])] = (float(r["zero_grad_share"]), int(r["n_eval"]))
    found = []
    for (kind, seed), (share, n) in sorted(shares.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        lo = wilson_interval(int(round(share * n)), n)[0]
        found.append({"attack": kind, "seed": seed, "share": share, "n": n, "ci_lo": lo})
    flagged = [f for f in found if f["ci_lo"] > ZERO_GRAD_TOLERANCE]
    return {
        "flag": bool(flagged),
        "measured": bool(found),
        "tolerance": ZERO_GRAD_TOLERANCE,
        "shares": found,
        "flagged": flagged,
    }


def _evidence_d(rows: list[dict], alpha: float) -> dict:
    base = {
        (r["seed"], r["attack"], r["method"], r["epsilon"]): r
        for r in rows
        if r.get("role", "attack") == "attack" and r["attack"] in OWN_KINDS
    }
    pairs = []
    for r in rows:
        if r.get("role") == "budget-check":
            b = base.get((r["seed"], r["attack"], r["method"], r["epsilon"]))
            if b is not None and _bits_ok([r, b]):
                pairs.append((r, b))
    level = alpha / max(1, len(pairs))
    checks = []
    for more, b in pairs:
        p = mcnemar_p(more["correct"], b["correct"])
        checks.append(
            {
                "seed": b["seed"],
                "attack": _label(b),
                "epsilon": b["epsilon"],
                "accuracy": b["accuracy"],
                "accuracy_2x": more["accuracy"],
                "budget": {k: b[k] for k in ("steps", "eot_samples") if k in b},
                "budget_2x": {k: more[k] for k in ("steps", "eot_samples") if k in more},
                "p": p,
                "flag": p < level,
            }
        )
    return {
        "flag": any(c["flag"] for c in checks),
        "measured": bool(checks),
        "alpha_each": level,
        "checks": checks,
    }


def _strongest(table: list[dict]) -> str:
    """The attack with the lowest mean accuracy over seeds at the largest epsilon > 0."""
    eps = [r["epsilon"] for r in table if r["epsilon"] > 0]
    if not eps:
        return ""
    top = max(eps)
    means: dict[str, list[float]] = {}
    for r in table:
        if r["epsilon"] == top:
            means.setdefault(_label(r), []).append(r["accuracy"])
    return min(sorted(means), key=lambda k: sum(means[k]) / len(means[k]))


def _reason_masked(ev: dict) -> str:
    parts = []
    for h in ev["a"]["hits"][:1]:
        parts.append(
            f"(a) {h['attack']} leaves {_pct(h['accuracy'])} at eps {h['epsilon']} where the best gradient "
            f"attack ({h['best_gradient_attack']}) leaves {_pct(h['gradient_accuracy'])} (seed {h['seed']}, "
            f"McNemar p={h['p']:.2g})"
        )
    for f in ev["c"]["flagged"][:1]:
        parts.append(f"(c) the {f['attack']} input gradient vanishes on {_pct(f['share'])} of the samples")
    for c in [c for c in ev["d"]["checks"] if c["flag"]][:1]:
        parts.append(
            f"(d) doubling the budget of {c['attack']} lowers accuracy from {_pct(c['accuracy'])} to "
            f"{_pct(c['accuracy_2x'])} at eps {c['epsilon']} (p={c['p']:.2g})"
        )
    return "; ".join(parts)


def verdicts(rows: list[dict], summary: dict | None, cfg, alpha: float = 0.05) -> dict[str, dict]:
    """One verdict per rule: ``gradient attacks reliable``, ``masked`` or ``inconclusive``.

    Parameters
    ----------
    rows : list of dict
        :func:`bridges.compare.results.merge`'s rows (table, sanity and budget-check rows, with
        per-sample ``correct`` strings and ``zero_grad_share`` on the own-gradient rows).
    summary : dict or None
        :func:`bridges.compare.results.summarise` of the rows (not needed: accepted so that callers
        pass what they have; the verdicts read the rows, whose per-sample results they test).
    cfg : CompareConfig or tuple of str
        The comparison (its ``rules`` and ``sanity_epsilon``), or just the rules to judge (the sanity
        rows are then those marked ``role="sanity"``).
    alpha : float
        Family-wise significance level of the tests of (a) and of (d) (Bonferroni inside each).

    Returns
    -------
    dict
        ``rule -> {"verdict", "strongest": "<attack method source>", "reason": one sentence,
        "evidence": {"a", "b", "c", "d", "clean"}}``; each of a-d a dict with a ``flag`` bool, a
        ``measured`` bool and its numbers; ``clean`` the clean accuracy per seed.
    """
    rules = tuple(cfg) if isinstance(cfg, (tuple, list)) else tuple(cfg.rules)
    sanity_epsilon = None if isinstance(cfg, (tuple, list)) else cfg.sanity_epsilon
    out = {}
    for rule in rules:
        mine = [r for r in rows if r["rule"] == rule]
        table = [r for r in mine if r.get("role", "attack") == "attack" and r["attack"] != "worst-case"]
        ev = {
            "a": _evidence_a(table, alpha),
            "b": _evidence_b(mine, sanity_epsilon),
            "c": _evidence_c(mine),
            "d": _evidence_d(mine, alpha),
        }
        strongest = _strongest(table)
        clean = {r["seed"]: r for r in table if r["epsilon"] == 0 and r["attack"] in OWN_KINDS}
        ev["clean"] = {s: r["accuracy"] for s, r in clean.items()}
        weak = [s for s, r in clean.items() if _wilson_hi(r) <= SANITY_TOLERANCE]
        if weak:
            verdict = "inconclusive"
            reason = (
                f"the model is not accurate enough to attack: clean accuracy {_pct(clean[weak[0]]['accuracy'])} "
                f"(seed {weak[0]}), within noise of {_pct(SANITY_TOLERANCE)} or less"
            )
        elif ev["a"]["flag"] or ev["c"]["flag"] or ev["d"]["flag"]:
            verdict, reason = "masked", _reason_masked(ev)
            reason += f"; the strongest attack is {strongest}" if strongest else ""
        else:
            missing = [k for k in "abcd" if not ev[k]["measured"]]
            if missing:
                verdict = "inconclusive"
                reason = "not measured: " + ", ".join(
                    {
                        "a": "(a) no gradient-free or transfer attack with per-sample results beside a gradient attack",
                        "b": "(b) no sanity row at an epsilon that fools any classifier",
                        "c": "(c) no vanishing-gradient measurement",
                        "d": "(d) no budget check (an iterative attack run with twice the steps or EOT draws)",
                    }[k]
                    for k in missing
                )
            elif ev["b"]["flag"]:
                verdict = "inconclusive"
                worst = max(ev["b"]["accuracy"].values())
                reason = (
                    f"(b) the gradient attacks leave {_pct(worst)} correct at eps {ev['b']['epsilon']}, where any "
                    f"classifier can be fooled (more than {_pct(SANITY_TOLERANCE)} beyond noise): they do not "
                    "find what exists"
                )
            else:
                verdict = "gradient attacks reliable"
                best = max(ev["b"]["accuracy"].values())
                reason = (
                    "no gradient-free or transfer attack beats the gradient attacks beyond noise, gradients do not "
                    f"vanish, twice the budget does not lower accuracy, and accuracy falls to {_pct(best)} at "
                    f"eps {ev['b']['epsilon']}"
                )
        out[rule] = {"verdict": verdict, "strongest": strongest, "reason": reason, "evidence": ev}
    return out
