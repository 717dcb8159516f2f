"""The run context a benchmark drives its protocol through.

It owns the things every benchmark needs and none should rebuild: the model (loaded on first
use), the method, the metrics, shared resources, the resumable results file, artifacts,
progress display, and the observer hooks (tracking, progress) fired at each step.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
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
    # Set when the run is one point of a sweep: {"id": sweep id, "data": what sweep observers
    # shared with every run (the MLflow parent run, say)}. None for a standalone run.
    sweep: dict[str, Any] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    _model: Any = None
    _method: Any = None

    def __post_init__(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.results = ResultsFile(self.run_dir / "results.jsonl")
        self.resources = Resources(self.host)
        self.metric_values: dict[str, Any] = {}
        # Reproducibility plumbing (cache, model-loaded listeners, nested sweep scopes).
        from plurieval.cache import Cache

        self.cache: Cache | None = Cache() if self.config.cache else None
        self._model_listeners: list[Callable[[Any], None]] = []
        self._model_description: dict[str, Any] | None = None
        self.scope: list[str] = []

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
            for listener in list(self._model_listeners):
                listener(self._model)
        return self._model

    def on_model_loaded(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(model)`` when the model gets loaded (now, if it already is). The
        runner uses it to record ``model.describe()`` in the manifest the moment it is known."""
        self._model_listeners.append(listener)
        if self._model is not None:
            listener(self._model)

    def model_description(self) -> dict[str, Any]:
        """``model.describe()`` (loads the model), computed once: it may hash the weights."""
        if self._model_description is None:
            describe = getattr(self.model, "describe", None)
            self._model_description = dict(describe()) if callable(describe) else {"id": type(self.model).__name__}
            if not self._model_description.get("weights_hash") and hasattr(self.model, "hf"):
                # No loader-provided hash (e.g. a model built in memory): hash the weights
                # themselves, so the cache can never confuse two models that share a name.
                from plurieval.cache import state_dict_digest

                self._model_description["weights_hash"] = state_dict_digest(self.model.hf)
        return self._model_description

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
        """Generate with the run's model (``LanguageModel.generate`` settings). Served from the
        content-addressed cache per prompt when the run config allows it."""
        settings.setdefault("batch_size", self.config.batch_size)
        if settings.get("seed") is not None:  # the manifest lists every sampling seed used
            used = self.manifest.setdefault("seeds", {}).setdefault("generation", [])
            if settings["seed"] not in used:
                used.append(settings["seed"])
        if self.cache is not None:
            from plurieval.cache import cached_generate

            return cached_generate(self, list(prompts), intervention, settings)
        return self.model.generate(prompts, intervention=intervention, **settings)

    def extract(self, prompts: list[str], points: list[str], **kw: Any) -> dict[str, Any]:
        """Activations at hook points (``LanguageModel.extract``)."""
        kw.setdefault("batch_size", self.config.batch_size)
        if self.cache is not None:
            from plurieval.cache import cached_extract

            return cached_extract(self, list(prompts), list(points), kw)
        return self.model.extract(prompts, points, **kw)

    def cached(self, kind: str, key_parts: Any, compute_fn: Callable[[], T], *, include_model: bool = True) -> T:
        """``compute_fn()``, or its cached value. The key combines ``kind``, ``key_parts`` (say
        the layer and the training-data hash), the method config, the benchmark version and,
        unless ``include_model=False``, the model identity. Values: a tensor, a dict of
        tensors, an intervention, or JSON. Use it for fitted directions."""
        if self.cache is None:
            return compute_fn()
        from plurieval.cache import cached_value

        return cached_value(self, kind, key_parts, compute_fn, include_model)

    def add_intervention(self, name: str, path_or_hash: str | Path) -> str:
        """Record an intervention artifact (a safetensors file, a saved intervention folder, or
        a ``sha256:`` digest) in the manifest; files are reported to observers (tracking
        uploads them). Returns the digest."""
        from plurieval.hashing import content_hash, file_hash

        text = str(path_or_hash)
        entry: dict[str, Any] = {"name": name}
        if text.startswith("sha256:"):
            entry["hash"] = text
        else:
            path = Path(text)
            if not path.exists():
                raise FileNotFoundError(f"intervention {name!r}: {path} does not exist (pass a path or a sha256: digest)")
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            hashes = {p.relative_to(path).as_posix() if path.is_dir() else p.name: file_hash(p) for p in files}
            entry.update(path=str(path), files=hashes,
                         hash=next(iter(hashes.values())) if not path.is_dir() and hashes else content_hash(hashes))
            for p in files:
                self.artifact_written(p, "intervention")
        items = [e for e in self.manifest.setdefault("interventions", []) if e.get("name") != name]
        self.manifest["interventions"] = [*items, entry]
        return entry["hash"]

    @contextlib.contextmanager
    def child_run(self, label: str) -> Iterator[None]:
        """A nested scope for one point of a sweep (``"layer=3,alpha=4"``). Metrics logged
        inside carry ``run.scope``; the MLflow tracker maps each scope to a nested run. Without a
        tracker it only labels events."""
        self.scope.append(label)
        try:
            yield
        finally:
            self.scope.pop()

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
        from plurieval.datafiles import atomic_write

        path = self.artifact_path(relpath)
        atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        self.artifact_written(path, kind)
        return path

    def progress(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """A progress bar on stderr; when stderr is not a terminal (a log file, CI), a plain line
        at most every ``PLURIEVAL_PROGRESS_EVERY`` seconds (default 30) instead, so long runs
        still show they are alive. Off with PLURIEVAL_NO_PROGRESS=1."""
        if os.environ.get("PLURIEVAL_NO_PROGRESS"):
            yield from items
            return
        if not sys.stderr.isatty():
            yield from _progress_lines(items, total, desc, float(os.environ.get("PLURIEVAL_PROGRESS_EVERY", "30")))
            return
        from rich.progress import track

        yield from track(items, total=total, description=desc, transient=True)

    def close(self) -> None:
        self.results.close()
        if self.cache is not None:
            self.cache.close()


def _progress_lines(items: Iterable[T], total: int | None, desc: str, every: float) -> Iterator[T]:
    import time

    started = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every:
            last = now
            of = f"/{total}" if total else ""
            print(f"{desc or 'progress'}: {done}{of} ({now - started:.0f} s)", file=sys.stderr, flush=True)
    if done and time.monotonic() - started >= every:
        print(f"{desc or 'progress'}: done, {done} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)

