"""A steering method and a metric that take part in any steering benchmark through the public
protocol alone: ``plurieval.api.DirectionMethod`` turns a direction into the candidates a
benchmark's task asks for (added × α on CLaS-Bench, ablated on PolyRefuse)."""

from plurieval.api import DirectionMethod, Metric, MetricOutput


class RandomDirection(DirectionMethod):
    """Baseline: a seeded random unit direction, signed towards the positive group. Whatever a
    real direction gains over it is what the estimate is worth."""

    estimator = "example-random"

    def direction(self, positive, negative, *, acts, layer, contrast):
        import torch

        generator = torch.Generator().manual_seed(self.config.seed * 1000 + layer)
        v = torch.randn(positive.shape[1], generator=generator, dtype=torch.float64)
        v = v / v.norm()
        if float((positive.double().mean(0) - negative.double().mean(0)) @ v) < 0:
            v = -v
        return v.to(positive.dtype)


class AnswerWords(Metric):
    """Words per answer (a verbosity check beside any benchmark's own metrics). Details per
    example: the word count's ratio to the question's, when the reference carries one."""

    def score(self, predictions, references, context=None):
        values, details = [], []
        for p, r in zip(predictions, references, strict=True):
            words = len(str(p).split())
            values.append(float(words))
            question = r.get("question") if isinstance(r, dict) else None
            details.append({"ratio_to_question": words / max(1, len(question.split()))} if question else {})
        return MetricOutput(values, details)
