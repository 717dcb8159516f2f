"""The components themselves, imported only when a run or a score needs them."""

from plurieval.api import Benchmark, Dataset, Example, ExplanationMethod, Metric, Prediction

WORDS = [("dog", "noun"), ("run", "verb"), ("blue", "adjective"), ("tree", "noun"),
         ("eat", "verb"), ("cat", "noun"), ("quick", "adjective"), ("house", "noun")]


class Words(Dataset):
    def load(self, split=None):
        return [Example(id=f"w{i}", input=w, target=t) for i, (w, t) in enumerate(WORDS[: self.config.size])]


class Guess(ExplanationMethod):
    def predict(self, model, examples, run=None):
        return [Prediction(example_id=e.id, label=self.config.guess) for e in examples]


class ExactMatch(Metric):
    def score_examples(self, predictions, references, context=None):
        norm = (lambda s: s) if self.config.case_sensitive else (lambda s: str(s).lower())
        return [float(norm(p) == norm(r)) for p, r in zip(predictions, references, strict=True)]


class WordsBenchmark(Benchmark):
    def run(self, ctx):
        from plurieval_example.plugin import WordsConfig

        dataset = Words(ctx.params("dataset") or WordsConfig())
        examples = dataset.load()[: ctx.config.limit]
        ctx.add_dataset(dataset.info(examples, None))
        todo = [e for e in examples if not ctx.results.done(e.id)]
        for example, pred in zip(todo, ctx.method.predict(None, todo, ctx), strict=True):
            ctx.record(example.id, {"example_id": example.id, "prediction": pred.label, "reference": example.target})
        rows = list(ctx.results.rows())
        metrics = {}
        for spec, metric in ctx.metrics():
            result = metric.compute([r["prediction"] for r in rows], [r["reference"] for r in rows])
            metrics[spec.name] = result.score
            ctx.log_metric(spec.name, result.score)
        return {"metrics": metrics}
