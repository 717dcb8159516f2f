"""Which words a removal-based faithfulness metric removes or keeps, per convention (pure).

ERASER (DeYoung et al. 2020, ``rationale_benchmark/metrics.py`` and its reference models) and
ferret (Attanasio et al. 2023, ``ferret/evaluators/faithfulness_measures.py``) compute the same
named metrics from different rationales. Everything here is a function of the attribution
scores (and, for ERASER's ``k``, the human rationale's length), so the masks a run recorded can
be recomputed and checked by anyone.

=====================  =========================================  ==========================================
                       ``eraser``                                 ``ferret``
=====================  =========================================  ==========================================
ranking                by score, descending, every word eligible  by score, descending; only words with a
                       (the reference models take                 score > 0 are eligible (``only_pos``,
                       ``heapq.nlargest`` of the raw score)       ferret's default)
ties                   earlier word first (ERASER does not say;   later word first (the order of numpy's
                       its model breaks ties by token id)         ascending ``argsort`` reversed)
single-k rationale     k = number of words in the item's human    top k = 5 words (ferret's
(comprehensiveness,    rationale ("k is determined by human        ``top_k_rationale``); fewer if fewer are
sufficiency)           rationales"); without one, ⌊0.2·n⌋         positive
AOPC thresholds        fractions 1, 5, 10, 20, 50 %               fractions 10, 20, …, 100 %
words per threshold    ⌊fraction·n⌋; 0 words is kept (the empty   ⌊fraction·n⌋; 0 words is skipped, a
                       rationale counts); the full rationale is   rationale equal to the previous one is
                       never reached                              skipped, 100 % (the full rationale) counts
no rationale at all    (cannot happen)                            comprehensiveness 0, sufficiency 1
                                                                  (ferret's return values)
=====================  =========================================  ==========================================

Both remove by *deletion* by default (ERASER's models drop the rationale tokens; ferret's
``remove_tokens=True``); ``removal="mask"`` replaces them by a mask token instead, as ferret's
``remove_tokens=False`` does. Both define sufficiency as p(y|x) − p(y|r), lower is better, and
keep negative values (no clipping at 0 as in normalised variants).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

Convention = Literal["eraser", "ferret"]
ERASER_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)
FERRET_THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(1, 11))
FERRET_TOP_K = 5
ERASER_FALLBACK_FRACTION = 0.2


def ranking(scores: Sequence[float], convention: Convention) -> list[int]:
    """Word indices by importance (the eligible ones only, under ``ferret``)."""
    idx = range(len(scores))
    if convention == "eraser":
        return sorted(idx, key=lambda i: (-scores[i], i))
    return sorted((i for i in idx if scores[i] > 0), key=lambda i: (-scores[i], -i))


def top(scores: Sequence[float], k: int, convention: Convention) -> list[int]:
    return ranking(scores, convention)[: max(0, k)]


def count_at(fraction: float, n: int) -> int:
    """⌊fraction·n⌋, robust to binary fractions (0.3·10 is 3, not 2)."""
    return int(math.floor(fraction * n + 1e-9))


def to_mask(selected: Sequence[int], n: int, keep_selected: bool) -> str:
    chosen = set(selected)
    return "".join(("1" if (i in chosen) == keep_selected else "0") for i in range(n))


def single_rationale(scores: Sequence[float], convention: Convention, k: int | float | None,
                     human: Sequence[int] | None) -> list[int] | None:
    """The rationale of ``comprehensiveness``/``sufficiency``; ``None`` = no rationale."""
    n = len(scores)
    if k is None:
        if convention == "eraser":
            k = sum(1 for h in human if h) if human is not None else count_at(ERASER_FALLBACK_FRACTION, n)
        else:
            k = FERRET_TOP_K
    elif isinstance(k, float):
        k = count_at(k, n)
    chosen = top(scores, min(int(k), n), convention)
    return None if convention == "ferret" and not chosen else chosen


def aopc_rationales(scores: Sequence[float], convention: Convention,
                    thresholds: Sequence[float] | None) -> list[tuple[float, list[int]]]:
    """(threshold, rationale) pairs an AOPC averages over, in threshold order."""
    n = len(scores)
    out: list[tuple[float, list[int]]] = []
    if convention == "eraser":
        for t in thresholds or ERASER_BINS:
            out.append((float(t), top(scores, count_at(t, n), convention)))
        return out
    previous: set[int] | None = None
    for t in thresholds or FERRET_THRESHOLDS:
        k = count_at(t, n)
        if k <= 0 or k > n:
            continue
        chosen = top(scores, k, convention)
        if not chosen or (previous is not None and set(chosen) == previous):
            continue
        previous = set(chosen)
        out.append((float(t), chosen))
    return out
