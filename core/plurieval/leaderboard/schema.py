"""The leaderboard's two documents: a board spec (``board.yaml``) and a submission entry.

Both are pydantic models with ``extra="forbid"``: a field the schema does not know is an error,
never silently carried along (a smuggled ``"verified": true`` must not reach a board). The
entry's JSON Schema is exported to ``leaderboards/entry.schema.json`` so submitters can check a
file without installing plurieval (``plurieval leaderboard schema --write``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plurieval.errors import ConfigError, PluriError
from plurieval.specs import format_validation_error

ENTRY_SCHEMA_VERSION = 1
# A results file lives *beside* its entry: one plain name, no folders, no dot-files.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


class _Strict(BaseModel):
    # allow_inf_nan=False: NaN and ±inf are refused in every number (an `Infinity` score ranked first)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NonFiniteNumber(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a number JSON allows (use null for an undefined value)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise NonFiniteNumber(f"{text} is not a finite number")
    return value


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and numbers too large for a float (which
    Python would read as infinity): a submitted file holds finite numbers or ``null``."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


# --- board spec ---------------------------------------------------------------------------------

class BoardMetric(_Strict):
    """A metric shown on the board. ``name`` is the registered metric (``plurieval list
    metrics``) and the key of ``scores`` in each results row; ``params`` its config."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    rescore: bool = Field(
        True, description="re-score every row's prediction against its reference and compare with its stored "
                          "score (skipped for metrics that need the model under evaluation)")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class Aggregation(_Strict):
    """How a board turns per-example values into one number (published beside the board).

    ``metric``: the registered metric's own ``aggregate`` over all examples (what benchmarks
    report by default). ``macro``: the mean over groups (``metadata[group_by]``, e.g. languages)
    of the metric's aggregate within each group, so every language weighs the same."""

    kind: Literal["metric", "macro"] = "metric"
    group_by: str = Field("language", description="metadata field that defines groups (per_language tables, macro)")


class Bootstrap(_Strict):
    """Percentile bootstrap over examples (``plurieval.stats.bootstrap_ci``). Validation reruns
    it with exactly these settings, so an entry's intervals are reproducible to the last bit."""

    seed: int = 0
    resamples: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, gt=0, lt=1)


class Limits(_Strict):
    max_entry_bytes: int = Field(5 * 2**20, ge=1)
    max_results_bytes: int = Field(50 * 2**20, ge=1)
    max_rows: int = Field(200_000, ge=1)


class RowTemplate(_Strict):
    """How each results row follows from one example of the pinned data (see ``leaderboard.pins``).

    Values are templates over the example (``{example.id}``, ``{example.input}``,
    ``{example.target}``, ``{example.metadata.FIELD}``, dotted paths into dicts) and the
    ``for_each`` variables (``{target}``). A string that is one placeholder stands for the value
    itself (a list stays a list); any other string is formatted; dicts and lists are templates
    item by item."""

    example_id: Any = Field("{example.id}", description="the row's example_id")
    reference: Any = Field("{example.target}", description="the row's reference, re-derived from the data")
    metadata: dict[str, Any] = Field(default_factory=dict, description="row metadata fields that must match")
    where: dict[str, Any] = Field(default_factory=dict, description="only examples whose fields equal these")
    for_each: dict[str, list[Any]] = Field(default_factory=dict,
                                           description="one row per example and value (e.g. each target language)")
    interleave_by: str | None = Field(None, description="order examples round-robin by this field, as the benchmark "
                                                        "does before --limit (e.g. example.metadata.source)")
    coverage: Literal["prefix", "any"] = Field(
        "prefix", description="prefix: the rows cover the first N examples in order (what --limit N gives), every "
                              "for_each value of each; any: any examples, still every for_each value of each")


class DataPin(_Strict):
    """The data a board's numbers are about. The validator loads it with the registered dataset
    and re-derives every row's reference (and pinned metadata) from it; when the data is not
    available where validation runs (licence, size), it checks each row against the per-example
    digests published beside board.yaml instead (``reference_digests``)."""

    dataset: str = Field(description="registered dataset (plurieval list datasets) the validator loads")
    params: dict[str, Any] = Field(default_factory=dict, description="its config")
    split: str | None = Field(description="split passed to load(); also the split the run's manifest records")
    id: str = Field(description="DatasetInfo.id the run's manifest must record")
    revision: str | None = None
    content_hash: str = Field(description="DatasetInfo.content_hash of the whole split as loaded")
    num_examples: int = Field(ge=1, description="examples in the split")
    min_examples: int = Field(1, ge=1, description="results rows an entry needs at least")
    obtain: str = Field("", description="how a submitter gets this data (shown when an entry used other data)")
    rows: RowTemplate = Field(default_factory=RowTemplate)
    reference_digests: str | None = Field(
        None, description="file beside board.yaml with a digest per expected row (written by `plurieval leaderboard "
                          "pin --digests`), for data that cannot be redistributed")

    @field_validator("content_hash")
    @classmethod
    def _hash_format(cls, value: str) -> str:
        if not SHA256.match(value):
            raise ValueError("must be 'sha256:' followed by 64 lower-case hex digits")
        return value

    @field_validator("reference_digests")
    @classmethod
    def _safe_digest_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_safe_name(value)
        return value

    def describe(self) -> str:
        at = f" at {self.revision}" if self.revision else ""
        split = f" split {self.split!r}" if self.split else ""
        return f"{self.id}{split}{at} ({self.num_examples} examples, content hash {self.content_hash[:19]}…)"


class BoardSpec(_Strict):
    """``leaderboards/<benchmark>/board.yaml``."""

    benchmark: str
    spec_version: str
    title: str | None = None
    description: str = ""
    metrics: list[BoardMetric] = Field(min_length=1, description="required metrics, in display order")
    ranking_metric: str
    higher_is_better: bool | None = Field(None, description="default: the ranking metric's registration")
    aggregation: Aggregation = Field(default_factory=Aggregation)
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)
    limits: Limits = Field(default_factory=Limits)
    data: DataPin | None = Field(None, description="the pinned data; a board without it accepts no entry")

    @field_validator("spec_version", mode="before")
    @classmethod
    def _version_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value  # YAML reads `1` as an int

    @model_validator(mode="after")
    def _ranking_is_listed(self) -> BoardSpec:
        names = [m.name for m in self.metrics]
        if self.ranking_metric not in names:
            raise ValueError(f"ranking_metric {self.ranking_metric!r} is not one of the metrics {names}")
        if self.data is not None and self.aggregation.group_by not in self.data.rows.metadata:
            raise ValueError(f"aggregation.group_by {self.aggregation.group_by!r} must be derived from the data too: "
                             f"add it to data.rows.metadata (else an entry could regroup its rows at will)")
        return self

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def metric(self, name: str) -> BoardMetric:
        return next(m for m in self.metrics if m.name == name)


def load_board(board_dir: str | Path) -> BoardSpec:
    path = Path(board_dir) / "board.yaml"
    if not path.is_file():
        raise PluriError(f"{path} not found: a board folder holds board.yaml, entries/ and the generated pages")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return BoardSpec.model_validate(data)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise PluriError(f"{path} is not valid YAML: {err}") from None
    except RecursionError:
        raise PluriError(f"{path} is nested too deeply to be a board spec") from None
    except ValidationError as err:
        raise ConfigError(str(path), format_validation_error(err)) from None


# --- entry --------------------------------------------------------------------------------------

class Submitter(_Strict):
    name: str = Field(min_length=1)
    contact: str | None = None
    affiliation: str | None = None


class MethodInfo(_Strict):
    """The method as installed when the run happened: its registered name and the plugin
    distribution (+ version) that provided it, so anyone can install the same code."""

    name: str | None = Field(None, description="registered method name; null for a benchmark run without a method")
    distribution: str | None = None
    version: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class ModelInfo(_Strict):
    id: str
    revision: str | None = None
    weights_hash: str | None = None


class MetricValue(_Strict):
    """Aggregate plus percentile bootstrap interval; ``null`` where undefined (NaN)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int = Field(ge=0)


class ResultsRef(_Strict):
    """Per-example results: a JSONL file beside the entry (``file``) or the rows inline.
    ``sha256`` is of the file's bytes, or of the canonical JSON of the inline rows."""

    file: str | None = None
    rows: list[dict[str, Any]] | None = None
    sha256: str
    num_rows: int = Field(ge=0)

    @field_validator("sha256")
    @classmethod
    def _hash_format(cls, value: str) -> str:
        if not SHA256.match(value):
            raise ValueError("must be 'sha256:' followed by 64 lower-case hex digits")
        return value

    @field_validator("file")
    @classmethod
    def _safe_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_safe_name(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ResultsRef:
        if (self.file is None) == (self.rows is None):
            raise ValueError("give exactly one of 'file' (a JSONL file beside the entry) or 'rows' (inline)")
        return self


class Links(_Strict):
    mlflow_run: str | None = None
    paper: str | None = None
    code: str | None = None


class Entry(_Strict):
    """One leaderboard submission (``leaderboards/<benchmark>/entries/<name>.json``)."""

    schema_version: Literal[1] = ENTRY_SCHEMA_VERSION
    benchmark: str
    spec_version: str
    submitter: Submitter
    method: MethodInfo
    model: ModelInfo
    created_at: str | None = None
    manifest: dict[str, Any] = Field(description="the run's manifest.json, verbatim")
    bootstrap: Bootstrap
    metrics: dict[str, MetricValue]
    per_language: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    results: ResultsRef
    links: Links = Field(default_factory=Links)

    @property
    def label(self) -> str:
        return f"{self.method.name or '(no method)'} · {self.model.id}"


def check_safe_name(name: str) -> None:
    """A results file name must be one plain file name: no folders, no '..', no absolute path."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise ValueError(f"{name!r} is an absolute path; give a file name beside the entry")
    if "/" in name or "\\" in name or ".." in name:
        raise ValueError(f"{name!r} is not a plain file name (no folders or '..'; path traversal is refused)")
    if not SAFE_NAME.match(name):
        raise ValueError(f"{name!r} is not a safe file name (letters, digits, '.', '_', '-'; at most 128)")


def entry_json_schema() -> dict[str, Any]:
    schema = Entry.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://plurieval.org/schemas/leaderboard-entry-v1.json"
    return schema


def render_entry_schema() -> str:
    return json.dumps(entry_json_schema(), indent=2, ensure_ascii=False) + "\n"
