"""The ``chaosnli`` benchmark: does the model reproduce the spread and the ranking of human NLI
judgements? Protocol (spec_version 1): ChaosNLI-MNLI test split (or ``split``), option order
[entailment, neutral, contradiction], the method's ``distribution`` for distributional metrics
and its ``scores`` for rank metrics, mean over items with 95 % bootstrap intervals, plus the
uniform-distribution baseline scored on the same items.

Data: CC BY-NC 4.0 (non-commercial use only).
"""

from __future__ import annotations

from typing import Any

from plurieval.api import Benchmark, Prediction, run_explanation_benchmark


class ChaosNLIBenchmark(Benchmark):
    def run(self, ctx: Any) -> dict[str, Any]:
        cfg = self.config
        # --set dataset=item-counts ... (RunConfig.dataset) overrides the data, as on every benchmark
        dataset = ctx.components.dataset("chaosnli", {"data_dir": cfg.data_dir, "split": cfg.split or "test"},
                                         where="chaosnli dataset (benchmark.params)")
        split = None if ctx.components.dataset_overridden else cfg.split or "test"
        examples = dataset.load(split)
        if ctx.config.limit:
            examples = examples[: ctx.config.limit]
        ctx.add_dataset(dataset.info(examples, split))

        baselines = {}
        if cfg.baseline:
            def uniform(ex):
                k = len(ex.input["options"])
                return Prediction(ex.id, distribution=[1.0 / k] * k, scores=[0.0] * k)
            baselines["uniform"] = uniform
        body = run_explanation_benchmark(ctx, examples, baselines=baselines)
        body["num_examples"] = len(examples)
        source = examples[0].metadata.get("source") if examples else None
        if source == "sample":  # no shared data: the packaged sample stood in for the split asked for
            split = "sample"
        body["data"] = {"split": split, "source": source,
                        "license": "CC BY-NC 4.0 (non-commercial)"}
        return body
