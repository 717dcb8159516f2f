"""Interop with Hugging Face ``evaluate``, both ways.

**evaluate modules as plurieval metrics.** ``evaluate:<path-or-id>`` is accepted wherever a
metric name is (a run config's ``metrics``, ``plurieval score``, ``plurieval show``): a local
module folder or script (``evaluate:./metrics/my_f1``) or a hub id (``evaluate:f1``, which needs
the hub). The metric's params are the module's ``compute()`` kwargs (``average: macro``) plus
these fields:

- ``config_name``: the module configuration (``evaluate.load(path, config_name)``);
- ``score``: which key of ``compute()``'s result is the score (default: the only key, else the
  key named like the module);
- ``input``: what the metric consumes from a method's prediction (``label`` by default; ``text``,
  ``distribution`` or ``scores``);
- ``aggregate``: ``corpus`` (default: ``compute()`` over all examples, evaluate's own number;
  the per-example values are the (prediction, reference) pairs, so bootstrap intervals and
  leaderboard checks recompute it) or ``mean`` (``compute()`` per example, then the mean);
- ``higher_is_better`` (default: true, false for modules known to be errors such as wer).

Loading a module runs its code, like installing a plugin: load only modules you trust. The
manifest records the module's content hash as the metric's version.

**plurieval metrics from evaluate-style code.** ``load("js_distance", base="e")`` returns an
object with evaluate's ``compute(predictions=..., references=...)``, ``add`` and ``add_batch``
that returns ``{"js_distance": score}``; it also works inside ``evaluate.combine([...])``.

(This module is about the ``evaluate`` library; the explanation-benchmark loop is
``plurieval.evaluate``.)
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from plurieval.components import Metric, MetricContext
from plurieval.errors import ConfigError, DataError, PluriError
from plurieval.specs import MetricSpec

PREFIX = "evaluate:"

# evaluate's canonical modules whose score is an error (lower is better); any other module
# defaults to higher-is-better unless the run config says `higher_is_better: false`.
LOWER_IS_BETTER = frozenset({"wer", "cer", "ter", "mae", "mse", "mape", "smape", "perplexity", "brier_score",
                             "charcut_mt"})


class EvaluateModuleError(PluriError):
    """An evaluate module could not be found, loaded or computed."""


class EvaluateMetricConfig(BaseModel):
    """Config of an ``evaluate:`` metric; fields not listed here go to the module's ``compute()``."""

    model_config = ConfigDict(extra="allow")
    module: str = Field(..., description="local module folder/script or hub id (the part after 'evaluate:')")
    config_name: str | None = Field(None, description="module configuration, as evaluate.load(path, config_name)")
    score: str | None = Field(None, description="key of compute()'s result used as the score (default: the only key, "
                                                "else the one named like the module)")
    input: Literal["label", "text", "distribution", "scores"] = Field(
        "label", description="what the metric reads from a method's prediction in a run")
    aggregate: Literal["corpus", "mean"] = Field(
        "corpus", description="'corpus': compute() over all examples (evaluate's own number); 'mean': compute() per "
                              "example, then the mean")
    higher_is_better: bool | None = Field(None, description="default: true, false for error metrics such as wer")

    def compute_kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _truthy(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")


def is_reference(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


@functools.lru_cache(maxsize=32)
def _load(module: str, config_name: str | None) -> Any:
    """The loaded module (cached per process: loading imports its script)."""
    offline = _truthy("HF_HUB_OFFLINE") or _truthy("HF_EVALUATE_OFFLINE")
    if offline:  # evaluate reads only its own switch, and only when first imported
        os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    local = Path(module).expanduser()
    if not local.exists() and (module.startswith((".", "/", "~")) or module.endswith(".py")):
        raise EvaluateModuleError(f"evaluate module {module!r}: no such file or folder ({local.resolve()}); "
                                  "give a folder holding <folder name>.py, or the script itself")
    if not local.exists() and offline:  # a hub id such as "f1" or "user/metric", but no hub
        raise EvaluateModuleError(f"could not load evaluate module {module!r}: it is not a local path and the hub "
                                  "is off (HF_HUB_OFFLINE/HF_EVALUATE_OFFLINE); use a local module folder, "
                                  "evaluate:./path/to/module")
    target = str(local.resolve()) if local.exists() else module
    try:
        return evaluate.load(target, config_name, keep_in_memory=True)
    except Exception as err:  # evaluate raises FileNotFoundError, ConnectionError, ValueError, ...
        where = ("the hub is not reachable (offline, or HF_HUB_OFFLINE/HF_EVALUATE_OFFLINE set): use a local "
                 "module folder, evaluate:./path/to/module" if not local.exists() else "the module failed to load")
        raise EvaluateModuleError(f"could not load evaluate module {module!r}: {type(err).__name__}: "
                                  f"{str(err).splitlines()[0] if str(err) else ''} ({where})") from None


def _module_hash(module: Any) -> str:
    """Content hash of the module's code (its script folder), for the manifest."""
    import inspect

    from plurieval.hashing import content_hash

    try:
        path = Path(inspect.getfile(type(module)))
    except (TypeError, OSError):
        return "unknown"
    files = sorted(p for p in path.parent.glob("*.py"))
    return content_hash({p.name: p.read_text(encoding="utf-8", errors="replace") for p in files})[:12]


@dataclass(frozen=True, kw_only=True)
class EvaluateMetricSpec(MetricSpec):
    """A metric spec made on demand for ``evaluate:<module>``; its name is the whole reference."""

    module: str = ""

    def __post_init__(self) -> None:  # the name is a reference, not a registered name
        if not is_reference(self.name) or not self.module:
            raise ValueError(f"not an evaluate reference: {self.name!r}")
        object.__setattr__(self, "needs", frozenset())

    def make_config(self, params: Mapping[str, Any] | BaseModel | None = None, *, where: str = "") -> BaseModel:
        if isinstance(params, EvaluateMetricConfig):
            return params
        params = dict(params or {})
        if params.setdefault("module", self.module) != self.module:
            raise ConfigError(where or self.name, [(f"{where}.module" if where else "module",
                                                    f"the module is {self.module!r} (from the name), got {params['module']!r}")])
        return super().make_config(params, where=where)

    def _extra(self) -> dict[str, Any]:
        return {**super()._extra(), "module": self.module}


def spec_for(reference: str, params: Mapping[str, Any] | None = None) -> EvaluateMetricSpec:
    """The metric spec of ``evaluate:<module>`` (loads the module to describe it)."""
    module = reference[len(PREFIX):].strip()
    if not module:
        raise EvaluateModuleError(f"{reference!r}: name the module after 'evaluate:' (a local folder or a hub id)")
    params = dict(params or {})
    loaded = _load(module, params.get("config_name"))
    info = loaded.info
    import evaluate

    direction = params.get("higher_is_better")
    if direction is None:
        direction = loaded.name not in LOWER_IS_BETTER
    description = " ".join((info.description or "").split()) or f"evaluate module {loaded.name}"
    if info.inputs_description:
        description += "\n\n" + info.inputs_description.strip()
    return EvaluateMetricSpec(
        name=reference, module=module, factory=EvaluateModuleMetric, config=EvaluateMetricConfig,
        version=f"{evaluate.__version__}+{_module_hash(loaded)}", description=description,
        license=info.license or None, citation=(info.citation or "").strip() or None,
        higher_is_better=bool(direction), package="evaluate", plugin="evaluate",
        jsonl_form='{"prediction": ..., "reference": ...}  (one prediction and one reference as the module\'s '
                   'compute() takes them, e.g. labels)',
    )


def _number(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise EvaluateModuleError(f"{what} is {value!r}, not a number; pick a numeric key with `score`") from None
    if not math.isfinite(out):
        raise EvaluateModuleError(f"{what} is {out}, not a finite number")
    return out


class EvaluateModuleMetric(Metric):
    """A Hugging Face evaluate module behind plurieval's Metric protocol."""

    input: str = "label"

    def __init__(self, config: EvaluateMetricConfig):
        super().__init__(config)
        self.input = config.input
        self.module = _load(config.module, config.config_name)

    def _compute(self, predictions: Sequence[Any], references: Sequence[Any]) -> float:
        try:
            result = self.module.compute(predictions=list(predictions), references=list(references),
                                         **self.config.compute_kwargs())
        except Exception as err:
            raise DataError(f"evaluate module {self.module.name!r} could not score the inputs: "
                            f"{type(err).__name__}: {err}") from None
        if not isinstance(result, dict) or not result:
            raise EvaluateModuleError(f"evaluate module {self.module.name!r} returned {result!r}, not a dict of scores")
        key = self.config.score or (next(iter(result)) if len(result) == 1 else self.module.name)
        if key not in result:
            raise EvaluateModuleError(f"evaluate module {self.module.name!r} returned {sorted(result)}; "
                                      f"say which is the score with `score` (got {self.config.score!r})")
        return _number(result[key], f"{self.module.name}[{key!r}]")

    def score_examples(self, predictions: Sequence[Any], references: Sequence[Any],
                       context: MetricContext | None = None) -> list[Any]:
        if self.config.aggregate == "mean":
            return [self._compute([p], [r]) for p, r in zip(predictions, references, strict=True)]
        return [{"prediction": p, "reference": r} for p, r in zip(predictions, references, strict=True)]

    def aggregate(self, per_example: Sequence[Any]) -> float:
        if self.config.aggregate == "mean":
            return super().aggregate(per_example)
        pairs = [v for v in per_example if isinstance(v, dict)]
        if not pairs:
            return float("nan")
        return self._compute([v["prediction"] for v in pairs], [v["reference"] for v in pairs])


# --- plurieval metrics from evaluate-style code -----------------------------------------------

class EvaluateStyleMetric:
    """A plurieval metric with evaluate's interface: ``compute(predictions=..., references=...)``
    returns ``{name: score}`` (``return_per_example=True`` adds ``per_example``); ``add`` and
    ``add_batch`` collect inputs for a later ``compute()``. Config overrides may be given to
    ``compute`` as keyword arguments. Usable inside ``evaluate.combine``."""

    module_type: ClassVar[str] = "metric"

    def __init__(self, spec: MetricSpec, params: Mapping[str, Any]):
        if not spec.offline:
            raise PluriError(f"metric {spec.name!r} needs the {' and '.join(sorted(spec.needs))} under evaluation; "
                             "it can only be computed inside `plurieval run`")
        self.spec, self.params = spec, dict(params)
        self.config = spec.make_config(self.params, where=f"metric {spec.name!r} config")
        self.name = spec.name
        self.description = spec.description
        self.citation = spec.citation or ""
        self._predictions: list[Any] = []
        self._references: list[Any] = []

    def _feature_names(self) -> list[str]:
        return ["predictions", "references"]

    def add(self, *, prediction: Any = None, reference: Any = None, **kwargs: Any) -> None:
        self._predictions.append(prediction)
        self._references.append(reference)

    def add_batch(self, *, predictions: Sequence[Any] | None = None, references: Sequence[Any] | None = None,
                  **kwargs: Any) -> None:
        predictions, references = list(predictions or []), list(references or [])
        if len(predictions) != len(references):
            raise DataError(f"{self.name}: {len(predictions)} predictions but {len(references)} references")
        self._predictions.extend(predictions)
        self._references.extend(references)

    def compute(self, *, predictions: Sequence[Any] | None = None, references: Sequence[Any] | None = None,
                return_per_example: bool = False, **overrides: Any) -> dict[str, Any]:
        if predictions is not None or references is not None:
            self.add_batch(predictions=predictions, references=references)
        preds, refs = self._predictions, self._references
        self._predictions, self._references = [], []
        config = self.config if not overrides else self.spec.make_config({**self.params, **overrides},
                                                                         where=f"metric {self.name!r} config")
        result = self.spec.create(config).compute(preds, refs, MetricContext())
        out: dict[str, Any] = {self.name: result.score}
        if return_per_example:
            out["per_example"] = result.per_example
        return out

    def __repr__(self) -> str:
        return f"EvaluateStyleMetric({self.name!r}, {self.params!r})"


def load(name: str, host: Any = None, **params: Any) -> EvaluateStyleMetric:
    """A registered plurieval metric (or ``evaluate:<module>``) with evaluate's interface:
    ``load("kl_divergence", base="2").compute(predictions=p, references=r)``."""
    if host is None:
        from plurieval.host import get_host

        host = get_host()
    spec = spec_for(name, params) if is_reference(name) else host.get("metric", name)
    return EvaluateStyleMetric(spec, params)


__all__ = ["PREFIX", "EvaluateMetricConfig", "EvaluateMetricSpec", "EvaluateModuleMetric", "EvaluateStyleMetric",
           "is_reference", "load", "spec_for"]
