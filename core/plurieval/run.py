"""The run context a benchmark drives its protocol through.

It owns the things every benchmark needs and none should rebuild: the model (loaded on first
use), the method, the metrics, shared resources, the resumable results file, artifacts,
progress display, and the observer hooks (tracking, progress) fired at each step.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from plurieval.components import Metric, MetricContext
from plurieval.config import RunConfig
from plurieval.resources import Resources
from plurieval.results import ResultsFile
from plurieval.specs import ComponentSpec

T = TypeVar("T")


@dataclass
class RunContext:
    host: Any
    config: RunConfig
    run_id: str
    run_dir: Path
    components: dict[str, tuple[ComponentSpec, Any]]
    resumed: bool = False
    manifest: dict[str, Any] = field(default_factory=dict)
    _model: Any = None
    _method: Any = None

    def __post_init__(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.results = ResultsFile(self.run_dir / "results.jsonl")
        self.resources = Resources(self.host)
        self.metric_values: dict[str, Any] = {}

    # --- components -----------------------------------------------------------------------------

    @property
    def benchmark_spec(self) -> ComponentSpec:
        return self.components["benchmark"][0]

    def params(self, role: str) -> Any:
        """The validated config of a component (``benchmark``, ``model``, ``method`` ...)."""
        return self.components[role][1] if role in self.components else None

    @property
    def model(self) -> Any:
        """The language model, loaded the first time a benchmark asks for it."""
        if self._model is None:
            spec, cfg = self.components["model"]
            self._model = spec.create(cfg)
        return self._model

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    @property
    def method(self) -> Any:
        if self._method is None and "method" in self.components:
            spec, cfg = self.components["method"]
            self._method = spec.create(cfg)
        return self._method

    def metrics(self, default: Iterable[str] = ()) -> list[tuple[ComponentSpec, Metric]]:
        """The metrics to compute: the run config's override, else the benchmark's defaults."""
        if self.config.metrics is not None:
            pairs = [self.components[f"metrics.{i}"] for i in range(len(self.config.metrics))]
        else:
            pairs = []
            for name in default or self.benchmark_spec.metrics:
                spec = self.host.get("metric", name)
                pairs.append((spec, spec.make_config({})))
        return [(spec, spec.create(cfg)) for spec, cfg in pairs]

    def metric_context(self, spec: Any, **kw: Any) -> MetricContext:
        needs = getattr(spec, "needs", frozenset())
        return MetricContext(
            resources=self.resources,
            model=self.model if "model" in needs else None,
            method=self.method if "method" in needs else None,
            **kw,
        )

    # --- model work (every benchmark goes through these, so caching applies uniformly) --------

    def generate(self, prompts: list[str], *, intervention: Any = None, **settings: Any) -> list[Any]:
        """Generate with the run's model (``LanguageModel.generate`` settings)."""
        settings.setdefault("batch_size", self.config.batch_size)
        return self.model.generate(prompts, intervention=intervention, **settings)

    def extract(self, prompts: list[str], points: list[str], **kw: Any) -> dict[str, Any]:
        """Activations at hook points (``LanguageModel.extract``)."""
        kw.setdefault("batch_size", self.config.batch_size)
        return self.model.extract(prompts, points, **kw)

    def add_dataset(self, info: Any) -> None:
        """Record a dataset that was read (``DatasetInfo``) in the manifest."""
        entry = info.__dict__ if hasattr(info, "__dict__") else dict(info)
        datasets = self.manifest.setdefault("datasets", [])
        if entry not in datasets:
            datasets.append(entry)

    # --- results and events ---------------------------------------------------------------------

    def record(self, key: str, row: dict[str, Any]) -> dict[str, Any]:
        row = self.results.record(key, row)
        self.host.call_each("example_scored", run=self, key=key, record=row)
        return row

    def log_metric(self, name: str, value: float, step: int | None = None, **labels: str) -> None:
        self.host.call_each("metric_computed", run=self, name=name, value=float(value), step=step, labels=labels)

    def artifact_path(self, relpath: str) -> Path:
        path = self.run_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def artifact_written(self, path: Path, kind: str) -> None:
        self.host.call_each("artifact_written", run=self, path=str(path), kind=kind)

    def write_json(self, relpath: str, data: Any, kind: str = "table") -> Path:
        path = self.artifact_path(relpath)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        self.artifact_written(path, kind)
        return path

    def progress(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """A progress bar on stderr (off with PLURIEVAL_NO_PROGRESS=1 or when not a terminal)."""
        if os.environ.get("PLURIEVAL_NO_PROGRESS") or not sys.stderr.isatty():
            yield from items
            return
        from rich.progress import track

        yield from track(items, total=total, description=desc, transient=True)

    def close(self) -> None:
        self.results.close()
