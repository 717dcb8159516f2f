"""A test-only benchmark plugin for the leaderboard tests (registered with ``PluginHost.add_plugin``).

It runs the real runner end to end without a language model: a deterministic "skill" method
labels words, two metrics score them (a plain mean, and balanced accuracy whose per-example
values are dicts, so the leaderboard's recomputation is exercised on a non-mean aggregate),
and the benchmark writes results rows and a summary in the project's conventions.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field

from plurieval.components import Benchmark, Dataset, DatasetInfo, Example, ExplanationMethod, Metric, Prediction
from plurieval.hashing import content_hash
from plurieval.hookspecs import hookimpl
from plurieval.specs import BenchmarkSpec, DatasetSpec, MethodSpec, MetricSpec, ModelSpec

LABELS = ["noun", "verb", "adjective"]
LANGS = ["en", "de"]


class SkillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skill: float = Field(0.8, ge=0, le=1, description="share of examples labelled correctly")
    salt: str = ""


class ToyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = 40
    shift: int = Field(0, description="other labels for the same words: a stand-in for 'a sample, not the data'")


class NoModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def examples(size: int, shift: int = 0) -> list[Example]:
    return [Example(id=f"{LANGS[i % 2]}-{i}", input=f"word{i}", target=LABELS[(i * 7 + shift) % 3],
                    metadata={"language": LANGS[i % 2]}) for i in range(size)]


class ToyWords(Dataset):
    """The benchmark's data as a registered dataset, so a board can pin it."""

    def load(self, split=None):
        return examples(self.config.size, self.config.shift)

    def info(self, items, split):
        return DatasetInfo(id="toy-words", revision="1", content_hash=content_hash([e.to_dict() for e in items]),
                           split=split, num_examples=len(items), source="toybench")


class OfflineToyWords(ToyWords):
    """The same data, as a loader that cannot read it here (licence, size): boards then check
    rows against published digests."""

    def load(self, split=None):
        from plurieval.errors import DataError

        raise DataError("toy-words-offline: the data is not on this machine")


class Skill(ExplanationMethod):
    """Right on a fixed pseudo-random share ``skill`` of the examples, else a wrong label."""

    def predict(self, model, examples, run=None):
        out = []
        for e in examples:
            u = int(hashlib.sha256(f"{self.config.salt}{e.id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            label = e.target if u < self.config.skill else LABELS[(LABELS.index(e.target) + 1) % 3]
            out.append(Prediction(example_id=e.id, label=label))
        return out


class Accuracy(Metric):
    def score_examples(self, predictions, references, context=None):
        return [float(p == r) for p, r in zip(predictions, references, strict=True)]


class BalancedAccuracy(Metric):
    """Mean over classes of per-class recall; per-example values are {"label", "correct"}."""

    def score_examples(self, predictions, references, context=None):
        return [{"label": r, "correct": int(p == r)} for p, r in zip(predictions, references, strict=True)]

    def aggregate(self, per_example):
        by_class: dict[str, list[int]] = {}
        for v in per_example:
            by_class.setdefault(v["label"], []).append(v["correct"])
        return sum(sum(c) / len(c) for c in by_class.values()) / len(by_class) if by_class else float("nan")


class ToyBenchmark(Benchmark):
    def run(self, ctx):
        data = ToyWords(self.config)
        everything = data.load("test")
        ctx.add_dataset(data.info(everything, "test"))
        items = everything[: (ctx.config.limit or 10**9) * len(LANGS)]
        preds = ctx.method.predict(None, items, ctx)
        rows = []
        for e, p in zip(items, preds, strict=True):
            rows.append(ctx.record(e.id, {"example_id": e.id, "prediction": p.label, "reference": e.target,
                                          "metadata": e.metadata}))
        metrics, per_language = {}, {}
        scored = [dict(r, scores={}) for r in rows]
        for spec, metric in ctx.metrics():
            values = metric.score_examples([r["prediction"] for r in rows], [r["reference"] for r in rows])
            for row, v in zip(scored, values, strict=True):
                row["scores"][spec.name] = v
            metrics[spec.name] = metric.aggregate(values)
            for lang in LANGS:
                sub = [v for r, v in zip(rows, values, strict=True) if r["metadata"]["language"] == lang]
                per_language.setdefault(lang, {})[spec.name] = metric.aggregate(sub)
        ctx.results.rewrite(scored)
        return {"metrics": metrics, "per_language": per_language}


@hookimpl
def register_metrics(register):
    register(MetricSpec(name="toy-accuracy", factory=f"{__name__}:Accuracy", description="exact match"))
    register(MetricSpec(name="toy-balanced", factory=f"{__name__}:BalancedAccuracy", description="balanced accuracy"))


@hookimpl
def register_datasets(register):
    register(DatasetSpec(name="toy-words", factory=f"{__name__}:ToyWords", config=ToyConfig, description="toy words"))
    register(DatasetSpec(name="toy-words-offline", factory=f"{__name__}:OfflineToyWords", config=ToyConfig,
                         description="toy words, not available here"))


@hookimpl
def register_methods(register):
    register(MethodSpec(name="toy-skill", factory=f"{__name__}:Skill", config=SkillConfig, method_kind="explanation"))


@hookimpl
def register_models(register):
    register(ModelSpec(name="toy-model", factory=f"{__name__}:NoModel", description="never loaded"))


@hookimpl
def register_benchmarks(register):
    for name, version in (("toybench", "2"), ("toybench-lite", "1")):
        register(BenchmarkSpec(name=name, factory=f"{__name__}:ToyBenchmark", config=ToyConfig, spec_version=version,
                               method_kinds=("explanation",), metrics=("toy-accuracy", "toy-balanced")))
