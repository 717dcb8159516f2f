"""Reference conventions: which sub-choices each reference implementation makes, per metric.

"Your number is not the paper's number" usually comes from a sub-choice nobody wrote down: the
log base, how zeros are smoothed, how ties are broken, what an undefined value counts as, how
the mean is rounded. Every HLV metric config takes ``convention=NAME``; the convention fills in
every sub-choice listed here for that metric, and any field given explicitly still wins
(``--set convention=chaosnli --set base=2``). ``plurieval show METRIC`` prints the presets and
docs/hlv.md carries the same table (``convention_table()``; a test keeps the two equal).

Each preset was derived from the reference code itself (the ``SOURCES`` below), not from the
papers' prose; where the two disagree the docs say so.

This module is plain data plus a renderer: no numpy, no pydantic (``plugin.py`` imports it).
"""

from __future__ import annotations

from typing import Any

DEFAULT = "plurieval"

SOURCES: dict[str, str] = {
    "plurieval": "this package's documented defaults (docs/hlv.md)",
    "chaosnli": "easonnie/ChaosNLI src/evaluation/tools.py (Nie et al. 2020)",
    "cot-hlv": "mainlp/CoT-HLV src/cot_hlv/metrics.py",
    "baan2022": "jsbaan/calibration-on-disagreement-data calibration_metrics.py + analysis_utils.py (Baan et al. 2022)",
    "lewidi2023": "LeWiDi 2023 (SemEval-2023 Task 11) starting kit, snippet 4 `cross_entropy`",
    "lewidi2025": "LeWiDi 2025 (3rd edition) evaluation script: average_MD, multilabel_average_MD, average_WS, "
                  "error_rate, multilabel_error_rate, mean_absolute_distance",
    "inseq": "inseq-team/inseq inseq/attr/step_functions.py (main @ a269ee8)",
}

_NO_SMOOTHING = {"epsilon": 0.0}
_STEP = {"plurieval": {"reduction": "mean"}, "inseq": {"reduction": "mean"}}
_STEP_LOG = {"plurieval": {"base": "e", "reduction": "mean"}, "inseq": {"base": "e", "reduction": "mean"}}

# metric -> convention -> {config field: value}. Every convention lists every sub-choice the
# metric has (the plurieval row equals the config defaults), so the table reads completely.
CONVENTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "kl_divergence": {
        "plurieval": {"direction": "human_model", "base": "e", "epsilon": 1e-12, "smoothing": "add",
                      "smoothed": "both"},
        # model_label_dist/normalize_dist: model probabilities below 1e-15 are set to 1e-15 and the
        # vector renormalised; the human side is untouched; scipy entropy(h, m) = KL(h||m), nats.
        "chaosnli": {"direction": "human_model", "base": "e", "epsilon": 1e-15, "smoothing": "floor",
                     "smoothed": "model"},
    },
    "js_distance": {
        "plurieval": {"base": "2", **_NO_SMOOTHING, "smoothing": "add", "smoothed": "model"},
        # distance.jensenshannon(h, m) with scipy's default base (e) on the floored model
        # distribution; reported as "JS div" but it is the distance (no square).
        "chaosnli": {"base": "e", "epsilon": 1e-15, "smoothing": "floor", "smoothed": "model"},
        # jensenshannon(pred, gold, base=2.0) on (z - min z)/sum(z - min z) of the logits.
        "cot-hlv": {"base": "2", **_NO_SMOOTHING, "smoothing": "add", "smoothed": "model",
                    "normalization": "shift_min"},
    },
    "js_divergence": {"plurieval": {"base": "2"}},
    "total_variation": {
        "plurieval": {},
        "baan2022": {},  # tvd(): sum |m - h| / 2 against the count MLE (eps=0): the same number
    },
    "cross_entropy": {
        "plurieval": {"base": "e", "epsilon": 1e-12, "smoothing": "add", "log_offset": 0.0},
        # clip(p, 1e-12, 1 - 1e-12), then -sum(t * log(p + 1e-9)) / N; no renormalisation.
        "lewidi2023": {"base": "e", "epsilon": 1e-12, "smoothing": "clip", "log_offset": 1e-9},
    },
    "entropy_calibration_error": {
        "plurieval": {"base": "e", "signed": False},
        # ent_ce(absolute=True) is what generate_table1 reports; absolute=False (signed=true)
        # gives H(model) - H(human) per item, the signed error the paper plots.
        "baan2022": {"base": "e", "signed": False},
    },
    "rank_spearman": {
        "plurieval": {"undefined": "skip", "few_options": "rank"},
        # spearman(): fewer than 3 options -> accuracy (argmax == argmax); NaN (a constant
        # vector) -> 0.0, kept in the mean.
        "cot-hlv": {"undefined": "zero", "few_options": "accuracy"},
    },
    "rank_kendall": {"plurieval": {"undefined": "skip"}},
    "rank_exact_match": {
        "plurieval": {"ties": "weak_order"},
        # np.all(model.argsort(-1) == votes.argsort(-1)): full permutations, ties in index order
        "baan2022": {"ties": "index"},
    },
    "accuracy_at_k": {
        "plurieval": {"mode": "top_k", "model_ties": "expected", "human_ties": "any"},
        # model_p_label == majority_label; the model label is the argmax of its logits
        "chaosnli": {"k": 1, "mode": "top_k", "model_ties": "first", "human_ties": "first"},
        # accuracy(): float(np.argmax(pred) == np.argmax(gold))
        "cot-hlv": {"k": 1, "mode": "top_k", "model_ties": "first", "human_ties": "first"},
        # acck(): np.argsort(p)[..., -k] == np.argsort(votes)[..., -k]: the k-th ranked class of
        # each, ties resolved to the last index (numpy's classic argsort keeps equal values in
        # index order; its AVX-512 sort for >= 4 elements does not: see docs/hlv.md)
        "baan2022": {"mode": "kth_rank", "model_ties": "last", "human_ties": "last"},
    },
    "ece": {
        "plurieval": {"bins": 10, "model_ties": "expected", "human_ties": "any"},
        # ece(probs, np.argmax(votes)): confidence = max p, prediction = np.argmax(p), bins
        # (a, b] from np.linspace(0, 1, n_bins + 1), empty bins skipped, count-weighted mean
        "baan2022": {"bins": 10, "model_ties": "first", "human_ties": "first"},
    },
    "manhattan_distance": {
        "plurieval": {"round_example": None, "round_mean": None},
        # average_MD: each distance round(., 5), their mean round(., 5); multilabel: the same per
        # label, per item, and over items
        "lewidi2025": {"round_example": 5, "round_mean": 5},
    },
    "wasserstein_distance": {
        "plurieval": {"round_example": None, "round_mean": None, "positions": None},
        # ot.emd2 with cost |i - j| (positions 0..K-1); only the mean is rounded to 5
        "lewidi2025": {"round_example": None, "round_mean": 5, "positions": None},
    },
    "error_rate": {
        "plurieval": {"round_example": None, "round_mean": None},
        # match_score = round(1 - (n - errors) / n, 5) per item (= errors / n), plain mean
        "lewidi2025": {"round_example": 5, "round_mean": None},
    },
    "mean_absolute_distance": {
        "plurieval": {},
        # absolute_distance(): sum |t - p| / n / scale; the script passes scale=11 (Par) and 6
        # (CSC), the number of label values, though its docstring says 10 and 5
        "lewidi2025": {},
    },
    "step_logit": _STEP,
    "step_probability": _STEP,
    "step_logprob": _STEP,
    "step_entropy": _STEP_LOG,  # torch Categorical(logits).entropy(): nats
    "step_crossentropy": _STEP_LOG,  # F.cross_entropy(logits, target): nats
    "step_perplexity": {
        "plurieval": {"reduction": "mean", "perplexity": "sequence"},
        # perplexity_fn = 2 ** crossentropy_fn, and crossentropy_fn is in nats: 2^(-ln p), not 1/p
        "inseq": {"reduction": "mean", "perplexity": "inseq"},
    },
}

# A convention asked of a metric its reference does not define: say where the number lives.
HINTS: dict[tuple[str, str], str] = {
    ("js_divergence", "chaosnli"): "ChaosNLI's 'JS div' is the JS *distance* (scipy jensenshannon, base e): "
                                   "use js_distance with convention=chaosnli",
    ("js_divergence", "cot-hlv"): "CoT-HLV's 'jsd' is the JS *distance* (jensenshannon, base 2): "
                                  "use js_distance with convention=cot-hlv",
    ("cross_entropy", "lewidi2025"): "LeWiDi 2025 scores soft labels with manhattan_distance or "
                                     "wasserstein_distance (convention=lewidi2025)",
    ("kl_divergence", "baan2022"): "Baan et al. score distributions with total_variation (DistCE)",
    ("accuracy_at_k", "lewidi2023"): "LeWiDi 2023's hard-label score is micro-F1, which for one label per "
                                     "item equals accuracy_at_k with k=1",
}


def conventions_for(metric: str) -> dict[str, dict[str, Any]]:
    return CONVENTIONS.get(metric, {DEFAULT: {}})


def unknown_convention_message(metric: str, name: str) -> str:
    known = ", ".join(conventions_for(metric))
    hint = HINTS.get((metric, name))
    if name in SOURCES:
        why = hint or f"{name} ({SOURCES[name]}) does not define {metric}"
        return f"{metric} has no {name!r} convention: {why}; conventions for {metric}: {known}"
    return f"unknown convention {name!r}; conventions for {metric}: {known}"


# --- the docs table ---------------------------------------------------------------------------

_COLUMNS: list[tuple[str, tuple[str, ...]]] = [
    ("normalisation", ("normalization",)),
    ("ε / clipping", ("epsilon", "smoothing", "smoothed", "log_offset")),
    ("base", ("base",)),
    ("ties", ("mode", "k", "model_ties", "human_ties", "ties")),
    ("undefined", ("undefined", "few_options")),
    ("averaging", ("reduction", "round_example", "round_mean", "bins")),
    ("other", ("direction", "signed", "positions", "perplexity")),
]


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value == 0:
        return "0"
    if isinstance(value, float) and value and (abs(value) < 1e-3):
        return f"{value:.0e}".replace("e-0", "e-")
    return str(value)


def convention_table() -> str:
    """The metric × convention table of docs/hlv.md (markdown), generated from ``CONVENTIONS``.
    A cell lists the sub-choices the convention sets; "·" = the metric has no such choice or
    the convention leaves it at the metric's default."""
    head = "| metric | convention | " + " | ".join(c for c, _ in _COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(_COLUMNS) + 2)]
    for metric, presets in CONVENTIONS.items():
        for conv, preset in presets.items():
            cells = []
            for _, fields in _COLUMNS:
                parts = [f"{f}={_fmt(preset[f])}" for f in fields if f in preset]
                cells.append(", ".join(parts) if parts else "·")
            lines.append(f"| `{metric}` | {conv} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
