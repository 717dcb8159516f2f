"""The ``litex`` benchmark (spec_version 1).

Examples: LiTEx-annotated explanations from e-SNLI, LiveNLI and VariErr, interleaved round-robin
by source so that ``--limit N`` covers every source. An *explanation generator* is scored on
text similarity to the human explanations of the same pair and label (chrF, BLEU, embedding
cosine; multi-reference), a *taxonomy classifier* on category agreement with the annotators
(Cohen's κ, macro-F1); metrics that do not apply to the method are listed in
``skipped_metrics``. Every metric is also reported per source.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from plurieval.api import Benchmark, Example, run_explanation_benchmark


def interleave(examples: list[Example], per_source: int | None = None) -> list[Example]:
    by_source: dict[str, list[Example]] = {}
    for ex in examples:
        by_source.setdefault(ex.metadata["source"], []).append(ex)
    lists = [v[:per_source] if per_source else v for v in by_source.values()]
    return [ex for group in zip_longest(*lists) for ex in group if ex is not None]


def reference_input(kind: str, target: Any) -> Any:
    if kind == "text":
        return target["references"]
    if kind == "label":
        return target["category"]
    return None


class LitexBenchmark(Benchmark):
    def run(self, ctx: Any) -> dict[str, Any]:
        cfg = self.config
        params = {"data_dir": cfg.data_dir}
        if cfg.sources:
            params["sources"] = cfg.sources
        # RunConfig.dataset (any registered dataset with LiTEx-shaped examples) or the litex set
        dataset = ctx.components.dataset("litex", params, where="litex dataset (benchmark.params)")
        examples = interleave(dataset.load(), cfg.per_source)
        if ctx.config.limit:
            examples = examples[: ctx.config.limit]
        ctx.add_dataset(dataset.info(examples, None))
        body = run_explanation_benchmark(ctx, examples, reference_input=reference_input, group_by="source")
        body["num_examples"] = len(examples)
        return body
