"""The ``degenerate_rate`` metric: share of generations the degenerate-text detector flags.

Per example 1 (degenerate: a repetition loop, replacement-character or symbol runs, almost no
letters, very low character diversity, or, with a reference language, the wrong script) or 0;
aggregate: the mean, a share in [0, 1] (lower is better). References are optional: a language
code, or a dict with ``language`` / ``lang`` (CLaS-Bench and PolyRefuse references) switches
on the script rule; anything else (None, a question, a label) is scored without it. The rules
and thresholds are ``plurieval.text.degenerate``'s (docs/judges.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plurieval.api import Metric, MetricContext, MetricOutput, check_degenerate

from .config import DegenerateRateConfig


def reference_language(reference: Any) -> str | None:
    if isinstance(reference, str):
        return reference if 2 <= len(reference) <= 8 and reference.replace("-", "").isalpha() else None
    if isinstance(reference, dict):
        value = reference.get("language") or reference.get("lang")
        return value if isinstance(value, str) else None
    return None


def _text(prediction: Any) -> str:
    if isinstance(prediction, str):
        return prediction
    if isinstance(prediction, dict):
        return str(prediction.get("text") or "")
    return str(getattr(prediction, "text", None) or "")


class DegenerateRate(Metric[DegenerateRateConfig]):
    def score(self, predictions: Sequence[Any], references: Sequence[Any],
              context: MetricContext | None = None) -> MetricOutput:
        cfg = self.config
        verdicts = [check_degenerate(_text(p), reference_language(r) if cfg.use_language else None, cfg)
                    for p, r in zip(predictions, references, strict=True)]
        # why each flagged output was flagged, in the results row's details
        return MetricOutput([float(v.degenerate) for v in verdicts],
                            [{"reasons": list(v.reasons)} if v.degenerate else {} for v in verdicts])


__all__ = ["DegenerateRate", "reference_language"]
