"""The domain model: Dataset → Method → Metric, run by a Benchmark.

Small base classes a plugin subclasses. Each component is built as ``Component(config)`` from
its validated pydantic config, which the run manifest records verbatim. Nothing here imports
torch; the model layer (``plurieval.models``) does, and only when a model is used.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel

from plurieval.errors import DataError, PluriError
from plurieval.hashing import content_hash

if TYPE_CHECKING:
    from plurieval.resources import Resources
    from plurieval.run import RunContext

C = TypeVar("C", bound=BaseModel)


class Component(Generic[C]):
    def __init__(self, config: C):
        self.config = config


# --- data -------------------------------------------------------------------------------------

@dataclass
class Example:
    """One evaluation item. ``input`` is what the model sees (a prompt, or a dict of fields);
    ``target`` the reference (a label, a distribution, an explanation, ...)."""

    id: str
    input: Any
    target: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "input": self.input, "target": self.target, "metadata": self.metadata}


@dataclass
class DatasetInfo:
    """Provenance for the manifest: where the data came from and exactly what was read."""

    id: str
    revision: str | None
    content_hash: str
    split: str | None
    num_examples: int
    license: str | None = None
    source: str | None = None


class Dataset(Component[C], ABC):
    """A dataset loads examples per split. Rows that do not parse raise ``DataError`` naming the
    file, row and field; a dataset never silently drops rows."""

    @abstractmethod
    def load(self, split: str | None = None) -> list[Example]:
        ...

    def splits(self) -> list[str]:
        return ["test"]

    def info(self, examples: Sequence[Example], split: str | None) -> DatasetInfo:
        return DatasetInfo(
            id=getattr(self.config, "id", type(self).__name__),
            revision=getattr(self.config, "revision", None),
            content_hash=content_hash([e.to_dict() for e in examples]),
            split=split,
            num_examples=len(examples),
        )


# --- methods ----------------------------------------------------------------------------------

@dataclass
class Prediction:
    """What an explanation method returns for one example. Fields a method does not produce
    stay ``None``; ``scores`` are per-option scores (a ranking), ``distribution`` sums to 1."""

    example_id: str
    text: str | None = None
    label: str | None = None
    distribution: list[float] | None = None
    scores: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != {}}


class Method(Component[C], ABC):
    kind: ClassVar[Literal["steering", "explanation"]]


class SteeringMethod(Method[C], ABC):
    """Fit on examples → an intervention artifact (``plurieval.models.interventions``) that the
    model layer applies through forward hooks while generating."""

    kind: ClassVar[Literal["steering", "explanation"]] = "steering"

    @abstractmethod
    def fit(self, model: Any, examples: Sequence[Example], run: RunContext | None = None) -> Any:
        """Return an ``Intervention``. ``examples`` carry what the method needs in ``metadata``
        (for example the language, or harmful/harmless)."""


class ExplanationMethod(Method[C], ABC):
    """Produces explanations, label distributions or rankings, one ``Prediction`` per example."""

    kind: ClassVar[Literal["steering", "explanation"]] = "explanation"

    def fit(self, model: Any, examples: Sequence[Example], run: RunContext | None = None) -> None:
        """Optional: use training examples (few-shot pools, calibration). Default: nothing."""

    @abstractmethod
    def predict(
        self, model: Any, examples: Sequence[Example], run: RunContext | None = None
    ) -> list[Prediction]:
        ...


# --- metrics ----------------------------------------------------------------------------------

@dataclass
class MetricContext:
    """What a metric may use besides predictions and references. ``model`` and ``method`` are
    set only for metrics whose spec declares ``needs={"model", "method"}``."""

    resources: Resources | None = None
    model: Any = None
    method: Any = None
    intervention: Any = None
    examples: Sequence[Example] | None = None


@dataclass
class MetricResult:
    score: float
    per_example: list[Any]
    details: dict[str, Any] = field(default_factory=dict)


class Metric(Component[C], ABC):
    """Scores each example, then aggregates. ``aggregate`` must be a function of the per-example
    values alone: leaderboards recompute every score and bootstrap interval from them."""

    @abstractmethod
    def score_examples(
        self, predictions: Sequence[Any], references: Sequence[Any], context: MetricContext | None = None
    ) -> list[Any]:
        """One value per example (a float, ``None`` where undefined, or a dict of parts that
        ``aggregate`` combines)."""

    def aggregate(self, per_example: Sequence[Any]) -> float:
        """Default: mean over the defined (non-None, non-NaN) values."""
        vals = [float(v) for v in per_example if v is not None and not _isnan(v)]
        return sum(vals) / len(vals) if vals else float("nan")

    def compute(
        self, predictions: Sequence[Any], references: Sequence[Any], context: MetricContext | None = None
    ) -> MetricResult:
        if len(predictions) != len(references):
            raise ValueError(
                f"{type(self).__name__}: {len(predictions)} predictions but {len(references)} references"
            )
        per_example = self.score_examples(predictions, references, context)
        return MetricResult(score=self.aggregate(per_example), per_example=list(per_example))


class RecordedMetric(Metric[C], ABC):
    """A model-in-the-loop metric that anyone can recompute without the model.

    It works in two steps. ``query`` asks the model under evaluation (``context.model``) what the
    metric needs, per example (perturbed inputs, their outputs) and returns one JSON-able record
    per example. The loop that runs it (``run_explanation_benchmark``) stores each record in the
    prediction it scores, under ``prediction["queries"][<metric name>]`` together with
    ``settings`` (``query_settings()``: which metric, which conventions), and writes it to
    ``results.jsonl``. ``score_record`` then turns (prediction, reference, record) into the
    per-example value *without the model*; it must check that the record is the one the
    prediction calls for (e.g. that the masks follow from the attributions), because a results
    file may be edited. ``plurieval score`` and leaderboard validation call ``score_examples``,
    which finds each prediction's record by its settings and never needs the model.

    Register such a metric with ``MetricSpec(needs={"model"}, recorded=True, ...)``.
    """

    QUERIES: ClassVar[str] = "queries"
    # It scores the whole prediction dict: that is where its records live.
    input: ClassVar[str] = "prediction"

    def query_settings(self) -> dict[str, Any]:
        """What identifies a record of this metric: its class and every config field (override
        to leave out fields that change only the scoring, not the queries)."""
        return {"metric": type(self).__name__, **self.config.model_dump(mode="json")}

    @abstractmethod
    def query(self, predictions: Sequence[Any], references: Sequence[Any], context: MetricContext) -> list[dict[str, Any]]:
        """Ask ``context.model``; one record (JSON-able dict) per example."""

    @abstractmethod
    def score_record(self, prediction: Any, reference: Any, record: dict[str, Any]) -> Any:
        """The per-example value from the prediction, the reference and the recorded queries
        (pure: no model). Raise ``DataError`` for a record that does not fit the prediction."""

    def find_record(self, prediction: Any, index: int = 0) -> dict[str, Any] | None:
        """This metric's record in ``prediction["queries"]`` (matched by ``settings``)."""
        queries = prediction.get(self.QUERIES) if isinstance(prediction, dict) else None
        if not isinstance(queries, dict):
            return None
        want = self.query_settings()
        for record in queries.values():
            if isinstance(record, dict) and record.get("settings") == want:
                return record
        return None

    def score_examples(self, predictions: Sequence[Any], references: Sequence[Any],
                       context: MetricContext | None = None) -> list[Any]:
        records = [self.find_record(p, i) for i, p in enumerate(predictions)]
        missing = [i for i, r in enumerate(records) if r is None]
        if missing and context is not None and context.model is not None:
            fresh = self.query([predictions[i] for i in missing], [references[i] for i in missing], context)
            for i, record in zip(missing, fresh, strict=True):
                records[i] = {"settings": self.query_settings(), **record}
            missing = []
        if missing:
            i = missing[0]
            recorded = [r.get("settings") for r in ((predictions[i] or {}).get(self.QUERIES) or {}).values()
                        if isinstance(r, dict)] if isinstance(predictions[i], dict) else []
            hint = (f"; it holds records made with {recorded} (score with the same settings, e.g. --set "
                    f"convention=...)") if recorded else "; records are written by `plurieval run`"
            raise DataError(f"example {i}: prediction has no recorded queries for {self.query_settings()}{hint}")
        return [self.score_record(p, r, rec) for p, r, rec in zip(predictions, references, records, strict=True)]


def attach_queries(metric: RecordedMetric, name: str, predictions: Sequence[dict[str, Any]],
                   references: Sequence[Any], context: MetricContext) -> None:
    """Run ``metric.query`` and store each record in its prediction dict (in place), under
    ``queries[name]`` with the metric's ``settings``."""
    if context.model is None:
        raise PluriError(f"metric {name!r} queries the model; its spec must declare needs={{'model'}}")
    records = metric.query(predictions, references, context)
    if len(records) != len(predictions):
        raise DataError(f"metric {name!r} returned {len(records)} query records for {len(predictions)} predictions")
    settings = metric.query_settings()
    for pred, record in zip(predictions, records, strict=True):
        pred.setdefault(RecordedMetric.QUERIES, {})[name] = {"settings": settings, **record}


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


# --- benchmarks -------------------------------------------------------------------------------

class Benchmark(Component[C], ABC):
    """Dataset + protocol + metrics under a versioned spec. ``run`` drives the protocol through
    the ``RunContext`` (which owns the model, method, metrics, results file and observers) and
    returns the summary that becomes ``summary.json``."""

    @abstractmethod
    def run(self, ctx: RunContext) -> dict[str, Any]:
        ...


__all__ = [
    "Benchmark",
    "Component",
    "Dataset",
    "DatasetInfo",
    "Example",
    "ExplanationMethod",
    "Method",
    "Metric",
    "MetricContext",
    "MetricResult",
    "Prediction",
    "RecordedMetric",
    "SteeringMethod",
    "attach_queries",
]
