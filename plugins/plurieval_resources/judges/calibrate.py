"""Choose the detector thresholds and the proxy's cut points on the *calibration* part only
(``plurieval judge calibrate``); the held-out part is never read here.

1. Degenerate-text detector: a small grid over its repetition and diversity thresholds; each
   setting is scored by the exact agreement of the two judges that use it (fluency: LID ==
   target and not degenerate; relevance: degenerate → 0, else the proxy at its best cut points),
   summed. Ties go to the setting nearer the documented defaults (listed first).
2. Relevance proxy: every (low, high) cut point pair on a 0.005 grid; the pair with the highest
   exact agreement among those whose |bias of the mean| is at most ``max_bias`` J points (else
   the smallest bias).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from plurieval.api import DegenerateConfig, MetricContext, Resources, text_features, verdict_from_features

from .dataset import load

DETECTOR_GRID = {
    "min_compression_ratio": [0.4, 0.3, 0.35, 0.45],
    "max_repeated_ngram_share": [0.3, 0.2, 0.4, 0.5],
    "min_char_entropy": [2.5, 2.0, 3.0],
}
CUTS = np.round(np.arange(0.70, 1.0, 0.005), 3)


def best_cuts(sims: np.ndarray, labels: np.ndarray, gate: np.ndarray, max_bias: float) -> dict[str, Any]:
    """Best (low, high) for ``judge = 0 if gate else (0 if s < low else 1 if s < high else 2)``:
    the highest exact agreement among pairs with |bias| <= ``max_bias`` (else all pairs), ties
    to the smaller |bias|, then to the first pair in grid order."""
    lo, hi = np.triu_indices(len(CUTS))
    low, high = CUTS[lo][:, None], CUTS[hi][:, None]
    s = sims[None, :]
    judged = np.where(gate[None, :], 0, np.where(s < low, 0, np.where(s < high, 1, 2)))  # [pairs, n]
    agree = (judged == labels[None, :]).mean(axis=1)
    bias = 50.0 * (judged.mean(axis=1) - labels.mean())
    ok = np.abs(bias) <= max_bias
    pool = np.flatnonzero(ok) if ok.any() else np.arange(len(agree))
    order = np.lexsort((np.arange(len(pool)), np.abs(bias[pool]), -agree[pool]))
    k = pool[order[0]]
    return {"low": float(CUTS[lo[k]]), "high": float(CUTS[hi[k]]), "exact_agreement": float(agree[k]),
            "bias": float(bias[k])}


def calibrate(host: Any, *, max_bias: float = 5.0) -> dict[str, Any]:
    rows = load("clasbench", "calibration")
    outputs = [r.output for r in rows]
    rel = np.array([r.labels.relevance for r in rows])
    fluent = np.array([int(r.labels.fluent) for r in rows])
    resources = Resources(host)
    lid = resources.get("language_identifier")
    detected = lid.detect(outputs)
    relevance = host.get("metric", "relevance").create({"mode": "embedding", "degenerate_check": False})
    scored = relevance.score(outputs, [{"question": r.question} for r in rows], MetricContext(resources=resources))
    sims = np.array([d["similarity"] for d in scored.details])
    empty = np.array([not o.strip() for o in outputs])
    results = []
    names = list(DETECTOR_GRID)
    plain = [text_features(o) for o in outputs]  # measured once; the grid only moves thresholds
    scripted = [text_features(o, r.target) for o, r in zip(outputs, rows, strict=True)]
    for values in itertools.product(*(DETECTOR_GRID[n] for n in names)):
        cfg = DegenerateConfig(**dict(zip(names, values, strict=True)))
        gate = np.array([verdict_from_features(f, cfg).degenerate for f in plain]) | empty
        flu = np.array([int(d == r.target and not verdict_from_features(f, cfg).degenerate)
                        for d, r, f in zip(detected, rows, scripted, strict=True)])
        cuts = best_cuts(sims, rel, gate, max_bias)
        results.append({"detector": dict(zip(names, values, strict=True)),
                        "fluency_exact_agreement": float((flu == fluent).mean()),
                        "relevance": cuts, "score": float((flu == fluent).mean()) + cuts["exact_agreement"]})
    chosen = max(results, key=lambda r: r["score"])  # max keeps the first of equals: the defaults come first
    ungated = best_cuts(sims, rel, empty, max_bias)
    return {"n": len(rows), "split": "calibration", "chosen": chosen, "proxy_without_detector": ungated,
            "top": sorted(results, key=lambda r: -r["score"])[:5], "refusal_score": refusal_thresholds()}


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Threshold t of ``refused = score > t`` with the highest exact agreement (ties: nearest 0)."""
    candidates = np.unique(np.concatenate([[0.0], scores]))
    best = max((float((((scores > t).astype(int)) == labels).mean()), -abs(float(t)), float(t)) for t in candidates)
    return {"threshold": best[2], "exact_agreement": best[0], "n": int(len(labels))}


def refusal_thresholds() -> dict[str, Any]:
    """Best threshold of the logit refusal score on the calibration part, overall and per language."""
    rows = [r for r in load("polyrefuse", "calibration") if "refusal_score" in r.recorded]
    if not rows:
        return {}
    scores = np.array([r.recorded["refusal_score"] for r in rows])
    labels = np.array([int(r.labels.refused) for r in rows])
    out = {"all": best_threshold(scores, labels)}
    for lang in sorted({r.language for r in rows}):
        idx = np.array([r.language == lang for r in rows])
        out[lang] = best_threshold(scores[idx], labels[idx])
    return out


__all__ = ["CUTS", "DETECTOR_GRID", "best_cuts", "calibrate"]
