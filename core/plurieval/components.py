"""The domain model: Dataset → Method → Metric, run by a Benchmark.

Small base classes a plugin subclasses. Each component is built as ``Component(config)`` from
its validated pydantic config, which the run manifest records verbatim. Nothing here imports
torch; the model layer (``plurieval.models``) does, and only when a model is used.

Two loops in core drive benchmarks, so a benchmark declares and never re-implements them:

- explanation benchmarks call ``plurieval.evaluate.run_explanation_benchmark``;
- steering benchmarks subclass :class:`SteeringBenchmark` (declare the task, the units, the
  selection rule and the test conditions); ``plurieval.steering.protocol.run_steering`` does
  extract → fit → candidates → select → test → score → record. A :class:`SteeringMethod`
  answers the few questions that loop asks (what to extract, how to fit on a contrast, which
  candidates its grid yields, and whether it can take part at all).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
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
    file, row and field; a dataset never silently drops rows.

    Provenance (``info``) comes from the config's ``id``/``revision`` when it has them, else the
    ``dataset_id``/``revision`` attributes (else the class name), and the ``license``/``source``
    attributes a subclass sets; the content hash is always of the examples actually read, so
    two runs that read the same rows record the same hash."""

    dataset_id: str | None = None
    revision: str | None = None
    license: str | None = None
    source: str | None = None

    @abstractmethod
    def load(self, split: str | None = None) -> list[Example]:
        ...

    def splits(self) -> list[str]:
        return ["test"]

    def info(self, examples: Sequence[Example], split: str | None) -> DatasetInfo:
        return DatasetInfo(
            id=getattr(self.config, "id", None) or self.dataset_id or type(self).__name__,
            revision=getattr(self.config, "revision", None) or self.revision,
            content_hash=content_hash([e.to_dict() for e in examples]),
            split=split,
            num_examples=len(examples),
            license=self.license,
            source=self.source,
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


# --- the steering protocol ----------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """How a steering benchmark's prompts become activations: through the model's chat template
    (``chat``) or as plain text, summarised per prompt as the mean over its tokens
    (``position="mean"``) or the residual at its last token (``"last"``: for a chat prompt, the
    end of the template, where the reply begins and refusal is decided)."""

    chat: bool = False
    position: Literal["mean", "last"] = "mean"


@dataclass(frozen=True)
class SteeringTask:
    """What a steering benchmark asks of a method, shown to the method before anything runs.

    ``kind``: what separates a contrast's groups ("language": prompts in different languages;
    "behaviour": e.g. harmful vs harmless prompts in one language). ``application``: how the
    benchmark applies what a method finds ("add": steer towards the positive group by adding;
    "ablate": remove a direction from the residual stream, and add it back to induce the
    behaviour, as the refusal-direction papers do). ``groups``: every fit prompt of the run by
    group label (one forward pass each, shared by every unit); ``group_languages``: the language
    of each group. ``layers``: the benchmark's layer grid (a method may narrow it).
    ``suffix_positions``: tokens the reading's chat template puts after a prompt (the
    "post-instruction" positions; 1 without a template)."""

    benchmark: str
    kind: Literal["language", "behaviour"]
    application: Literal["add", "ablate"]
    reading: Reading
    layers: tuple[int, ...]
    num_layers: int
    groups: Mapping[str, Sequence[str]]
    group_languages: Mapping[str, str] = field(default_factory=dict)
    suffix_positions: int = 1
    max_tokens_per_group: int = 4000
    seed: int = 0


@dataclass(frozen=True)
class Contrast:
    """What a method fits on: ``positive`` vs ``negative`` group labels of the task's fit
    prompts (target language vs source languages; harmful vs harmless). ``target``: the
    language steered towards, for language contrasts."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    target: str | None = None


@dataclass(frozen=True)
class ActivationRequest:
    """What a method needs extracted from the task's fit prompts (each prompt runs once and
    every request of the run is served from that pass).

    ``features``: one vector per prompt at each layer's ``resid_pre``, read as the task says
    (mean over tokens or last token); ``tokens``: a seeded subsample of token-level residuals
    per group (for dictionary learning); ``positions``: per-prompt residuals at these prompt
    positions counted from the end (``(-3, -2, -1)``); ``lape``: MLP activation statistics of
    every layer (language-specific neurons). ``layers``: default the task's layer grid."""

    features: bool = False
    tokens: bool = False
    positions: tuple[int, ...] = ()
    lape: bool = False
    layers: tuple[int, ...] | None = None

    @property
    def empty(self) -> bool:
        return not (self.features or self.tokens or self.positions or self.lape)


@dataclass
class Direction:
    """A unit ``vector`` at ``blocks.{layer}.{point}``. ``scale``: its natural magnitude, the
    gap between the group means projected on it (so ``scale · vector`` is the mean difference
    for DiffMean), used when a benchmark adds the direction back (induce); ``unit``: the
    layer's median token-residual norm / 10 (what α multiplies with ``alpha_unit="norm"``)."""

    vector: Any
    layer: int
    point: str = "resid_pre"
    scale: float = 1.0
    unit: float = 1.0


@dataclass
class Candidate:
    """One point of a method's grid for one contrast: the ``settings`` that name it (recorded
    on every result row, e.g. ``{"layer": 5, "alpha": 3.0}``), the ``intervention`` that applies
    it for the task's application (an ``Intervention`` or a :class:`PromptIntervention`), and
    the ``direction`` behind it when there is one (a benchmark may ablate or add it)."""

    settings: dict[str, Any]
    intervention: Any
    direction: Direction | None = None


class PromptIntervention(ABC):
    """An intervention that rewrites prompts instead of hooking the model (prompting
    baselines). Generation applies ``rewrite`` and runs without hooks; cache keys follow the
    rewritten text."""

    @abstractmethod
    def rewrite(self, prompts: list[str]) -> list[str]:
        ...

    def params(self) -> dict[str, Any]:
        return {}

    def tensors(self) -> dict[str, Any]:
        return {}


class NotApplicable(PluriError):
    """A method cannot take part in a benchmark's task: the loop raises it with the reason the
    method's :meth:`SteeringMethod.unsupported` gave (one clear line, naming both)."""


class SteeringMethod(Method[C], ABC):
    """A steering method as the core loop sees it: for a :class:`SteeringTask` it says whether
    it applies (``unsupported``), what to extract (``needs``), fits on one :class:`Contrast`
    (``prepare``: the expensive part, once per contrast) and yields its grid as
    :class:`Candidate` objects (``candidates``: cheap). The loop, not the method, chooses among
    them with the benchmark's selection rule.

    ``plurieval.steering.methods.DirectionMethod`` implements all of this for any estimator of
    one direction per layer; a direction method only writes ``direction(positive, negative)``."""

    kind: ClassVar[Literal["steering", "explanation"]] = "steering"

    def unsupported(self, task: SteeringTask) -> str | None:
        """Why this method cannot run on ``task`` (one sentence a user can act on), or None."""
        return None

    def needs(self, task: SteeringTask) -> ActivationRequest:
        """What to extract for ``task`` (default: nothing)."""
        return ActivationRequest()

    @abstractmethod
    def prepare(self, acts: Any, contrast: Contrast, task: SteeringTask) -> Any:
        """Fit on ``contrast`` from the run's ``ActivationSet`` (None when nothing was
        requested); the returned state goes to ``candidates``."""

    @abstractmethod
    def candidates(self, state: Any, acts: Any, contrast: Contrast, task: SteeringTask) -> list[Candidate]:
        """The method's grid for this contrast, in a fixed order (ties in a selection rule go
        to the first)."""


# --- metrics ----------------------------------------------------------------------------------

@dataclass
class MetricContext:
    """What a metric may use besides predictions and references. ``model`` and ``method`` are
    set only for metrics whose spec declares ``needs={"model", "method"}``; ``intervention`` is
    the one the predictions were generated under; ``examples`` the examples scored (their
    ``input`` is the prompt); ``computed`` holds metrics already scored on the same examples in
    this call (name → (config, per-example values)), so a combined metric can reuse its parts."""

    resources: Resources | None = None
    model: Any = None
    method: Any = None
    intervention: Any = None
    examples: Sequence[Example] | None = None
    computed: dict[str, tuple[Any, list[Any]]] = field(default_factory=dict)


@dataclass
class MetricOutput:
    """Per-example output of a metric: ``values`` (what ``aggregate`` combines) and, per
    example, ``details``: side results a reader needs to check or recompute the value (the
    detected language, a similarity, a judge's raw reply). Results rows keep them under
    ``details.<metric>``."""

    values: list[Any]
    details: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.details:
            self.details = [{} for _ in self.values]
        if len(self.details) != len(self.values):
            raise ValueError(f"{len(self.values)} values but {len(self.details)} details")


@dataclass
class MetricResult:
    score: float
    per_example: list[Any]
    details: dict[str, Any] = field(default_factory=dict)


class Metric(Component[C], ABC):
    """Scores each example, then aggregates. ``aggregate`` must be a function of the per-example
    values alone: leaderboards recompute every score and bootstrap interval from them.

    Override ``score_examples`` (values only), or ``score`` when the metric has per-example
    side results to report (then ``score_examples`` returns ``score(...).values``)."""

    def score_examples(
        self, predictions: Sequence[Any], references: Sequence[Any], context: MetricContext | None = None
    ) -> list[Any]:
        """One value per example (a float, ``None`` where undefined, or a dict of parts that
        ``aggregate`` combines)."""
        if type(self).score is Metric.score:
            raise NotImplementedError(f"{type(self).__name__} must implement score_examples or score")
        return self.score(predictions, references, context).values

    def score(
        self, predictions: Sequence[Any], references: Sequence[Any], context: MetricContext | None = None
    ) -> MetricOutput:
        """Values plus per-example details (default: ``score_examples`` and no details)."""
        return MetricOutput(list(self.score_examples(predictions, references, context)))

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
        out = self.score(predictions, references, context)
        details = {"per_example": out.details} if any(out.details) else {}
        return MetricResult(score=self.aggregate(out.values), per_example=list(out.values), details=details)


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


@dataclass
class Condition:
    """One set of test generations: ``examples`` (``input`` = prompt, ``target`` = the
    reference every metric receives, ``id`` = the row's ``example_id``) generated under
    ``intervention`` (None: unsteered) and scored by the run's metrics. ``keys`` are the
    unique result keys, parallel to ``examples``. ``settings`` (the chosen grid point) and
    ``metadata`` are copied onto every row."""

    name: str
    examples: list[Example]
    keys: list[str]
    intervention: Any = None
    settings: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.examples):
            raise ValueError(f"condition {self.name!r}: {len(self.keys)} keys for {len(self.examples)} examples")


@dataclass
class SteeringUnit:
    """One independent piece of a steering run (a target language, a direction language): its
    contrast, and ``metadata`` copied onto its rows. Given the run config and seed its records
    are deterministic, so a unit can run in another process and be merged."""

    name: str
    contrast: Contrast
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SteeringPlan:
    """What a steering benchmark declares for one run: the ``task`` a method sees, the
    ``units``, the unsteered ``baseline`` conditions (shared by every unit), the ``headline``
    condition (its rows are ``results.jsonl``; every other condition goes to
    ``conditions/<name>.jsonl``), generation ``settings`` for test prompts, and ``info`` the
    benchmark keeps for its own summary. ``artifact`` is the folder of a unit's saved chosen
    intervention and ``artifact_name`` its manifest name (``{unit}`` is replaced);
    ``unit_label`` names the nested tracking scope of a unit's selection (``target=de``);
    ``activation_store``: where extracted activations are shared (default OUTPUT/activations).
    ``metrics``/``metric_params``: the benchmark's default metrics for this run (default: its
    registered ones) and their params; ``RunConfig.metrics`` replaces them,
    ``RunConfig.extra_metrics`` adds to them."""

    task: SteeringTask
    units: list[SteeringUnit]
    headline: str
    baseline: list[Condition] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    artifact: str = "artifacts/intervention_{unit}"
    artifact_name: str = "{unit}"
    unit_label: str = "unit"
    activation_store: str | None = None
    metrics: tuple[str, ...] = ()
    metric_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Selection:
    """The outcome of a benchmark's selection rule for one unit: the chosen candidate's
    ``index``, one ``table`` row per candidate scored (benchmark-defined columns) and what the
    saved intervention's ``card`` should add (the winning score)."""

    index: int
    table: list[dict[str, Any]] = field(default_factory=list)
    card: dict[str, Any] = field(default_factory=dict)


class SteeringBenchmark(Benchmark[C], ABC):
    """A benchmark that declares a steering protocol; core's loop runs it
    (``plurieval.steering.protocol.run_steering``).

    It declares: the :class:`SteeringPlan` (task, units, baselines), the selection rule
    (``select``: which candidate of a unit wins, scored on the benchmark's selection prompts
    through ``ctx.generate_rows`` or ``ctx.next_token_scores``), the test ``conditions`` a
    chosen candidate is measured under, and the summary. Metrics are the run's (the
    benchmark's registered defaults, replaced or extended by ``RunConfig.metrics``)."""

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from plurieval.steering.protocol import run_steering

        return run_steering(ctx, self)

    @abstractmethod
    def plan(self, ctx: RunContext) -> SteeringPlan:
        ...

    @abstractmethod
    def select(self, unit: SteeringUnit, candidates: list[Candidate], plan: SteeringPlan,
               ctx: RunContext) -> Selection:
        ...

    @abstractmethod
    def conditions(self, unit: SteeringUnit, chosen: Candidate, plan: SteeringPlan,
                   ctx: RunContext) -> list[Condition]:
        ...

    @abstractmethod
    def summarize(self, outcome: Any, ctx: RunContext) -> dict[str, Any]:
        """The summary body from the loop's ``SteeringOutcome`` (rows, aggregates, choices)."""

    def probe(self, ctx: RunContext) -> Probe:
        """Prompts and metrics on which *another* benchmark's interventions can be measured
        (side effects, ``RunConfig.side_effects``). Default: not offered."""
        raise NotImplementedError(f"{type(self).__name__} offers no side-effect probe")


@dataclass
class Probe:
    """Prompts (``examples``, with references) and default ``metrics`` (registered names) on
    which a steering run measures its chosen interventions against no intervention, plus the
    generation ``settings``."""

    examples: list[Example]
    metrics: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)


__all__ = [
    "ActivationRequest",
    "Benchmark",
    "Candidate",
    "Component",
    "Condition",
    "Contrast",
    "Dataset",
    "DatasetInfo",
    "Direction",
    "Example",
    "ExplanationMethod",
    "Method",
    "Metric",
    "MetricContext",
    "MetricOutput",
    "MetricResult",
    "NotApplicable",
    "Prediction",
    "Probe",
    "PromptIntervention",
    "Reading",
    "RecordedMetric",
    "Selection",
    "SteeringBenchmark",
    "SteeringMethod",
    "SteeringPlan",
    "SteeringTask",
    "SteeringUnit",
    "attach_queries",
]
