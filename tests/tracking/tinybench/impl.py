"""The test benchmark: generate continuations of fixed prompts (optionally steered with a
direction fitted from activations, cached with ``ctx.cached``), score them, log per-group and
per-layer metrics. Every prompt has the same length, so no padding: batch composition (which
differs after a resume) cannot change greedy outputs."""

from __future__ import annotations

import time

from plurieval.components import Benchmark, DatasetInfo, Example, Metric
from plurieval.hashing import content_hash


def make_model(config):
    from plurieval.models.testing import tiny_model

    return tiny_model(config.arch, seed=config.seed)


class ByteDiversity(Metric):
    def score_examples(self, predictions, references, context=None):
        return [len(set(p)) / len(p) if p else 0.0 for p in predictions]


class TinyEcho(Benchmark):
    def examples(self) -> list[Example]:
        words = ["alpha", "bravo", "delta", "gamma"]
        return [Example(id=f"ex{i:03d}", input=f"Prompt {i:03d} {words[i % 4]}", metadata={"group": "ab"[i % 2]})
                for i in range(self.config.n)]

    def run(self, ctx):
        cfg = self.config
        examples = self.examples()
        ctx.add_dataset(DatasetInfo(id="tiny-echo-prompts", revision="1", split="test", num_examples=len(examples),
                                    content_hash=content_hash([e.to_dict() for e in examples]), source="generated"))
        intervention = None
        if cfg.alpha:
            from plurieval.models import AddVector

            point = f"blocks.{cfg.layer}.resid_pre"

            def fit():
                acts = ctx.extract([e.input for e in examples], [point])[point]
                groups = [e.metadata["group"] for e in examples]
                a = acts[[g == "a" for g in groups]].mean(0)
                b = acts[[g == "b" for g in groups]].mean(0)
                return a - b

            direction = ctx.cached("direction", {"point": point, "data": content_hash([e.input for e in examples])}, fit)
            intervention = AddVector(direction, layers=[cfg.layer], alpha=cfg.alpha)
            folder = ctx.artifact_path("artifacts/intervention")
            intervention.save(folder, card={"method": "diff-mean-test", "layer": cfg.layer})
            ctx.add_intervention("steer", folder)
        todo = [e for e in examples if not ctx.results.done(e.id)]
        size = ctx.config.batch_size or 8
        for start in ctx.progress(range(0, len(todo), size), total=-(-len(todo) // size), desc="generating"):
            batch = todo[start:start + size]
            gens = ctx.generate([e.input for e in batch], intervention=intervention,
                                max_new_tokens=cfg.max_new_tokens, chat=False)
            for e, g in zip(batch, gens, strict=True):
                ctx.record(e.id, {"example_id": e.id, "prediction": g.text, "reference": None,
                                  "metadata": e.metadata})
            if cfg.delay_s:
                time.sleep(cfg.delay_s)
        rows = [ctx.results.get(e.id) for e in examples]
        preds = [r["prediction"] for r in rows]
        metrics, per_group = {}, {}
        for spec, metric in ctx.metrics():
            per = metric.score_examples(preds, [None] * len(preds), ctx.metric_context(spec))
            metrics[spec.name] = metric.aggregate(per)
            ctx.log_metric(spec.name, metrics[spec.name])
            for g in ("a", "b"):
                value = metric.aggregate([v for v, e in zip(per, examples, strict=True) if e.metadata["group"] == g])
                per_group.setdefault(g, {})[spec.name] = value
                ctx.log_metric(spec.name, value, group=g)
            for r, v in zip(rows, per, strict=True):
                r.setdefault("scores", {})[spec.name] = v
        ctx.results.rewrite(rows)
        for layer in cfg.sweep:
            with ctx.child_run(f"layer={layer}"):
                point = f"blocks.{layer}.resid_post"
                acts = ctx.extract([e.input for e in examples], [point])[point]
                value = float(acts.norm(dim=-1).mean())
                ctx.log_metric("resid_norm", value, step=layer)
                metrics[f"resid_norm/layer{layer}"] = value
        metrics["mean_length"] = sum(len(p) for p in preds) / len(preds)
        return {"metrics": metrics, "per_group": per_group}
