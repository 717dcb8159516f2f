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
    "SteeringMethod",
]
