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
from plurieval_hlv.config import HLVDatasetConfig
from plurieval_hlv.data import ChaosNLIDataset


class ChaosNLIBenchmark(Benchmark):
    def run(self, ctx: Any) -> dict[str, Any]:
        cfg = self.config
        dataset_params = ctx.params("dataset")
        if dataset_params is not None:  # --set dataset=item-counts ... overrides the data
            spec = ctx.components["dataset"][0]
            dataset = spec.create(dataset_params)
            split = None
        else:
            dataset = ChaosNLIDataset(HLVDatasetConfig(data_dir=cfg.data_dir, split=cfg.split or "test"))
            split = cfg.split or "test"
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
