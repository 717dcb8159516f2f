"""The run context a benchmark drives its protocol through: a few small collaborators.

- ``ctx.components`` (:class:`Components`): the validated components of the run: the method,
  the metrics (the benchmark's defaults, replaced or extended by ``RunConfig.metrics``), the
  dataset (``RunConfig.dataset`` or the benchmark's default), component configs.
- ``ctx.inference`` (:class:`Inference`): the model (loaded on first use) and every piece of
  model work: ``generate``, ``generate_rows`` (rows with their own interventions),
  ``next_token_scores``, ``extract``, ``cached``. All of it goes through the content-addressed
  cache when the run allows, keyed by a small :class:`plurieval.cache.CacheScope`.
- ``ctx.records`` (:class:`Records`): the resumable results files (``results.jsonl`` and
  ``conditions/<name>.jsonl``), metrics and artifacts, each reported to observers.
- ``ctx.provenance`` (:class:`Provenance`): the manifest, the one place that writes it.
- ``ctx.progress`` (:class:`plurieval.progress.RunProgress`): the run's one progress display,
  in stages (load, extraction, baseline, selection, test, scoring) counted in rows with ETA;
  calling it on an iterable tracks a loop (``PLURIEVAL_NO_PROGRESS=1`` silences it).

The short names a benchmark used before (``ctx.model``, ``ctx.generate``, ``ctx.record``,
``ctx.add_dataset`` ...) remain as shortcuts to these collaborators. Observers (the lifecycle
hooks) never see this object: they get a read-only :class:`RunView`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from plurieval.components import Metric, MetricContext, PromptIntervention
from plurieval.config import RunConfig
from plurieval.errors import PluriError
from plurieval.progress import RunProgress
from plurieval.resources import Resources
from plurieval.results import ResultsFile
from plurieval.specs import ComponentSpec

T = TypeVar("T")

# Whether the row seams (``generate_rows``, ``next_token_scores``) send rows of different
# interventions through ONE batched model call (``interventions=``, one per row) or one call per
# distinct intervention. The second, the per-intervention path, is kept to test and measure
# against: in float32 both give the same tokens.
ROW_BATCHING = True
# Rows whose [vocab] next-token log-probabilities ``next_token_scores`` holds at once.
SCORE_CHUNK_ROWS = 512


# --- components -----------------------------------------------------------------------------------

class Components(Mapping[str, tuple[ComponentSpec, Any]]):
    """The run's validated components by role (``benchmark``, ``model``, ``method``, ``dataset``,
    ``metrics.N``, ``extra_metrics.N``) → (spec, config), plus the instances built from them."""

    def __init__(self, host: Any, config: RunConfig, resolved: dict[str, tuple[ComponentSpec, Any]]):
        self.host = host
        self.config = config
        self._resolved = dict(resolved)
        self._method: Any = None

    def __getitem__(self, role: str) -> tuple[ComponentSpec, Any]:
        return self._resolved[role]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resolved)

    def __len__(self) -> int:
        return len(self._resolved)

    @property
    def benchmark_spec(self) -> ComponentSpec:
        return self._resolved["benchmark"][0]

    def params(self, role: str) -> Any:
        """The validated config of a component (``benchmark``, ``model``, ``method`` ...)."""
        return self._resolved[role][1] if role in self._resolved else None

    @property
    def method(self) -> Any:
        if self._method is None and "method" in self._resolved:
            spec, cfg = self._resolved["method"]
            self._method = spec.create(cfg)
        return self._method

    @property
    def method_name(self) -> str | None:
        return self._resolved["method"][0].name if "method" in self._resolved else None

    def metric_specs(self, default: Iterable[str] = (),
                     params: Mapping[str, Mapping[str, Any]] | None = None) -> list[tuple[ComponentSpec, Any]]:
        """(spec, config) of every metric of the run: ``RunConfig.metrics`` when given (it
        replaces the defaults), else ``default`` or the benchmark's registered metrics, each
        with the ``params`` the benchmark gives it; then ``RunConfig.extra_metrics`` (added on
        every benchmark)."""
        if self.config.metrics is not None:
            pairs = [self._resolved[f"metrics.{i}"] for i in range(len(self.config.metrics))]
        else:
            pairs = []
            for name in default or getattr(self.benchmark_spec, "metrics", ()):
                spec = self.host.get("metric", name)
                pairs.append((spec, spec.make_config(dict((params or {}).get(name) or {}),
                                                     where=f"{self.benchmark_spec.name}'s {name} metric")))
        pairs += [self._resolved[f"extra_metrics.{i}"] for i in range(len(self.config.extra_metrics or []))]
        return pairs

    def metrics(self, default: Iterable[str] = (),
                params: Mapping[str, Mapping[str, Any]] | None = None) -> list[tuple[ComponentSpec, Metric]]:
        """The metrics to compute, built (see ``metric_specs``)."""
        return [(spec, spec.create(cfg)) for spec, cfg in self.metric_specs(default, params)]

    def dataset(self, default: str, params: Mapping[str, Any] | None = None, *, where: str = "") -> Any:
        """The run's dataset: ``RunConfig.dataset`` when given (any registered dataset, with its
        own params), else the benchmark's ``default`` with ``params``. The one way every
        benchmark resolves its data."""
        if "dataset" in self._resolved:
            spec, cfg = self._resolved["dataset"]
            return spec.create(cfg)
        spec = self.host.get("dataset", default)
        return spec.create(dict(params or {}), where=where or f"benchmark {self.benchmark_spec.name!r} dataset params")

    @property
    def dataset_overridden(self) -> bool:
        return "dataset" in self._resolved


# --- model work -------------------------------------------------------------------------------------

class Inference:
    """The model and every piece of work done with it. ``generate_rows`` and
    ``next_token_scores`` take one row per (prompt, intervention) so a benchmark hands a whole
    grid over at once (the model layer may batch heterogeneous rows)."""

    def __init__(self, components: Components, config: RunConfig, provenance: Provenance,
                 progress: RunProgress | None = None):
        self.components = components
        self.config = config
        self.provenance = provenance
        # Model calls count their rows here (``advance`` after each batch, cached rows at once).
        self.progress = progress if progress is not None else RunProgress(enabled=False)
        from plurieval.cache import Cache

        self.cache: Cache | None = Cache() if config.cache else None
        self._model: Any = None
        self._model_listeners: list[Callable[[Any], None]] = []
        self._description: dict[str, Any] | None = None
        self._scope: Any = None
        self.rows_generated = 0  # prompts handed to the model's generate (after de-duplication)

    # --- the model ----------------------------------------------------------------------------------

    @property
    def model(self) -> Any:
        """The language model, loaded the first time anything asks for it."""
        if self._model is None:
            spec, cfg = self.components["model"]
            with self.progress.stage("load"):
                self._model = spec.create(cfg)
            for listener in list(self._model_listeners):
                listener(self._model)
        return self._model

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    def on_model_loaded(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(model)`` when the model gets loaded (now, if it already is)."""
        self._model_listeners.append(listener)
        if self._model is not None:
            listener(self._model)

    def model_description(self) -> dict[str, Any]:
        """``model.describe()`` (loads the model), computed once: it may hash the weights."""
        if self._description is None:
            describe = getattr(self.model, "describe", None)
            self._description = dict(describe()) if callable(describe) else {"id": type(self.model).__name__}
            if not self._description.get("weights_hash") and hasattr(self.model, "hf"):
                # No loader-provided hash (e.g. a model built in memory): hash the weights
                # themselves, so the cache can never confuse two models that share a name.
                from plurieval.cache import state_dict_digest

                self._description["weights_hash"] = state_dict_digest(self.model.hf)
        return self._description

    @property
    def scope(self) -> Any:
        """What every cache key of this run shares (model identity, benchmark, method)."""
        if self._scope is None:
            from plurieval.cache import CacheScope

            self._scope = CacheScope.of(self.model_description(), self.components)
        return self._scope

    # --- generation -----------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str], *, intervention: Any = None, interventions: Sequence[Any] | None = None,
                 **settings: Any) -> list[Any]:
        """Generate with the run's model (``LanguageModel.generate`` settings): ``intervention``
        for every row, or ``interventions`` one per prompt (``None`` = plain; many settings in
        one batch). Served from the content-addressed cache per (prompt, intervention,
        settings) when the run config allows it; rows count in the run's progress."""
        settings.setdefault("batch_size", self.config.batch_size)
        if self.config.decode_lanes is not None and accepts(self.model.generate, "lanes"):
            settings.setdefault("lanes", self.config.decode_lanes)
        if settings.get("seed") is not None:  # the manifest lists every sampling seed used
            self.provenance.note_generation_seed(settings["seed"])
        prompts = list(prompts)
        self.rows_generated += len(prompts)
        self.progress.expect(len(prompts))
        if accepts(self.model.generate, "progress"):
            settings["progress"] = self.progress.advance
        if interventions is not None:
            settings["interventions"] = list(interventions)
        if self.cache is not None:
            from plurieval.cache import cached_generate

            return cached_generate(self.cache, self.scope, self.model, prompts, intervention, settings)
        return self.model.generate(prompts, intervention=intervention, **settings)

    def generate_rows(self, prompts: Sequence[str], interventions: Sequence[Any], **settings: Any) -> list[Any]:
        """One generation per row ``(prompts[i], interventions[i])``; ``None`` = unsteered, a
        ``PromptIntervention`` rewrites the prompt and runs without hooks; a row given twice is
        generated once. Every distinct row goes through ONE ``generate`` call with a setting
        per row (the model layer batches them together and drops finished rows), so a whole
        grid shares the batches; each row is cached under its own (prompt, intervention,
        settings) key, the key a plain call with that intervention alone uses."""
        if not accepts(self.model.generate, "interventions"):  # a model without per-row settings
            settings["row_batching"] = False
        return generate_rows(self.generate, prompts, interventions, **settings)

    def next_token_scores(self, prompts: Sequence[str], interventions: Sequence[Any],
                          scorers: Sequence[Callable[[Any], Any]], *, chat: bool = True) -> list[Any]:
        """``scorers[i](logprobs)`` for each row, where ``logprobs`` is the ``[vocab]``
        next-token log-distribution after ``prompts[i]`` under ``interventions[i]`` (e.g. a
        refusal score, or a KL divergence against an unsteered row). Rows of every
        intervention share batches (one model call per ``SCORE_CHUNK_ROWS`` rows); never
        cached (the values are cheap to recompute and large to store)."""
        return next_token_scores(self.model, prompts, interventions, scorers, chat=chat,
                                 batch_size=self.config.batch_size, progress=self.progress)

    def extract(self, prompts: Sequence[str], points: Sequence[str], **kw: Any) -> dict[str, Any]:
        """Activations at hook points (``LanguageModel.extract``), cached per prompt."""
        kw.setdefault("batch_size", self.config.batch_size)
        if self.cache is not None:
            from plurieval.cache import cached_extract

            return cached_extract(self.cache, self.scope, self.model, list(prompts), list(points), kw)
        return self.model.extract(list(prompts), list(points), **kw)

    def cached(self, kind: str, key_parts: Any, compute_fn: Callable[[], T], *, include_model: bool = True) -> T:
        """``compute_fn()``, or its cached value. The key combines ``kind``, ``key_parts`` (say
        the layer and the training-data hash), the method config, the benchmark version and,
        unless ``include_model=False``, the model identity. Values: a tensor, a dict of
        tensors, an intervention, or JSON. Use it for fitted directions."""
        if self.cache is None:
            return compute_fn()
        from plurieval.cache import CacheScope, cached_value

        scope = self.scope if include_model else CacheScope.of(None, self.components)
        return cached_value(self.cache, scope, kind, key_parts, compute_fn)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the keyword ``name`` (or any keyword)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _distinct_rows(prompts: Sequence[str], interventions: Sequence[Any]) -> tuple[list[str], list[Any], list[int]]:
    """The distinct (text, intervention) rows: a ``PromptIntervention`` rewrites its prompt and
    runs without hooks; a row given twice is computed once. Returns the texts, their
    interventions and, for each given row, the index of its distinct row."""
    texts: list[str] = []
    ivs: list[Any] = []
    seen: dict[tuple[int, str], int] = {}
    where = []
    for prompt, iv in zip(prompts, interventions, strict=True):
        if isinstance(iv, PromptIntervention):
            prompt, iv = iv.rewrite([prompt])[0], None
        key = (id(iv), prompt)
        if key not in seen:
            seen[key] = len(texts)
            texts.append(prompt)
            ivs.append(iv)
        where.append(seen[key])
    return texts, ivs, where


def _by_intervention(ivs: Sequence[Any]) -> list[tuple[Any, list[int]]]:
    groups: dict[int, tuple[Any, list[int]]] = {}
    for i, iv in enumerate(ivs):
        groups.setdefault(id(iv), (iv, []))[1].append(i)
    return list(groups.values())


def generate_rows(generate: Callable[..., list[Any]], prompts: Sequence[str], interventions: Sequence[Any],
                  *, row_batching: bool | None = None, **settings: Any) -> list[Any]:
    """Rows ``(prompt, intervention)`` → one generation each (see ``Inference.generate_rows``):
    ONE ``generate(texts, interventions=[...])`` call for every distinct row, or with
    ``row_batching=False`` (default: :data:`ROW_BATCHING`) ``generate(texts, intervention=iv)``
    once per distinct intervention, in order of first appearance."""
    if len(prompts) != len(interventions):
        raise PluriError(f"generate_rows: {len(prompts)} prompts but {len(interventions)} interventions")
    texts, ivs, where = _distinct_rows(prompts, interventions)
    if not texts:
        return []
    if ROW_BATCHING if row_batching is None else row_batching:
        gens = generate(texts, interventions=ivs, **settings)
    else:
        gens = [None] * len(texts)
        for iv, idx in _by_intervention(ivs):
            for i, g in zip(idx, generate([texts[i] for i in idx], intervention=iv, **settings), strict=True):
                gens[i] = g
    return [gens[w] for w in where]


def next_token_scores(model: Any, prompts: Sequence[str], interventions: Sequence[Any],
                      scorers: Sequence[Callable[[Any], Any]], *, chat: bool = True, batch_size: int | None = None,
                      progress: RunProgress | None = None, row_batching: bool | None = None) -> list[Any]:
    """Rows ``(prompt, intervention, scorer)`` → ``scorer(next-token logprobs)`` (see
    ``Inference.next_token_scores``). Rows of every intervention share batches, taken in order
    of prompt length, at most :data:`SCORE_CHUNK_ROWS` distributions held at once; with
    ``row_batching=False`` one model call per distinct intervention."""
    if not (len(prompts) == len(interventions) == len(scorers)):
        raise PluriError(f"next_token_scores: {len(prompts)} prompts, {len(interventions)} interventions, "
                         f"{len(scorers)} scorers")
    texts, ivs, where = _distinct_rows(prompts, interventions)
    users: list[list[int]] = [[] for _ in texts]
    for row, w in enumerate(where):
        users[w].append(row)
    out: list[Any] = [None] * len(prompts)
    if progress is not None:
        progress.expect(len(texts))
    advance = progress.advance if progress is not None else None

    def score(idx: list[int], **kw: Any) -> None:
        logprobs = model.next_token_logprobs([texts[i] for i in idx], chat=chat, batch_size=batch_size,
                                             progress=advance, **kw)
        for j, i in enumerate(idx):
            for row in users[i]:
                out[row] = scorers[row](logprobs[j])

    if ROW_BATCHING if row_batching is None else row_batching:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), SCORE_CHUNK_ROWS):
            idx = order[start:start + SCORE_CHUNK_ROWS]
            score(idx, interventions=[ivs[i] for i in idx])
    else:
        for iv, idx in _by_intervention(ivs):
            score(idx, intervention=iv)
    return out


class ModelWork:
    """``generate_rows`` and ``next_token_scores`` on a bare model, without a run (no cache):
    what a method or a selection rule uses when it is called on its own."""

    def __init__(self, model: Any, batch_size: int | None = None):
        self.model = model
        self.batch_size = batch_size  # None: the model chooses (a memory bound)

    def generate_rows(self, prompts: Sequence[str], interventions: Sequence[Any], **settings: Any) -> list[Any]:
        settings.setdefault("batch_size", self.batch_size)
        return generate_rows(self.model.generate, prompts, interventions, **settings)

    def next_token_scores(self, prompts: Sequence[str], interventions: Sequence[Any],
                          scorers: Sequence[Callable[[Any], Any]], *, chat: bool = True) -> list[Any]:
        return next_token_scores(self.model, prompts, interventions, scorers, chat=chat, batch_size=self.batch_size)

    def progress(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterable[T]:
        return items


# --- records ------------------------------------------------------------------------------------------

class Records:
    """Resumable per-example results, metrics and artifacts, each reported to observers.

    ``results`` is ``results.jsonl`` (the benchmark's headline rows, what leaderboards read);
    ``condition(name)`` another resumable file, ``conditions/<name>.jsonl`` (a steering run's
    baselines and side conditions)."""

    def __init__(self, run_dir: Path, notify: Callable[..., None]):
        self.run_dir = run_dir
        self._notify = notify
        self.results = ResultsFile(run_dir / "results.jsonl")
        self._conditions: dict[str, ResultsFile] = {}
        self.scope: list[str] = []

    def condition(self, name: str) -> ResultsFile:
        if name not in self._conditions:
            if not name.replace("-", "").replace("_", "").isalnum():
                raise PluriError(f"condition name {name!r} must be letters, digits, '-' or '_'")
            self._conditions[name] = ResultsFile(self.run_dir / "conditions" / f"{name}.jsonl")
        return self._conditions[name]

    def record(self, key: str, row: dict[str, Any]) -> dict[str, Any]:
        """Append one headline row to ``results.jsonl`` (observers get ``example_scored``)."""
        row = self.results.record(key, row)
        self._notify("example_scored", key=key, record=_frozen(row))
        return row

    def log_metric(self, name: str, value: float, step: int | None = None, **labels: str) -> None:
        self._notify("metric_computed", name=name, value=float(value), step=step, labels=dict(labels))

    @contextlib.contextmanager
    def child_run(self, label: str) -> Iterator[None]:
        """A nested scope for one point of a sweep (``"layer=3,alpha=4"``). Metrics logged
        inside carry ``run.scope``; the MLflow tracker maps each scope to a nested run."""
        self.scope.append(label)
        try:
            yield
        finally:
            self.scope.pop()

    def artifact_path(self, relpath: str) -> Path:
        path = self.run_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def artifact_written(self, path: Path, kind: str) -> None:
        self._notify("artifact_written", path=str(path), kind=kind)

    def write_json(self, relpath: str, data: Any, kind: str = "table") -> Path:
        from plurieval.datafiles import atomic_write

        path = self.artifact_path(relpath)
        atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        self.artifact_written(path, kind)
        return path

    def close(self) -> None:
        self.results.close()
        for f in self._conditions.values():
            f.close()


# --- provenance ---------------------------------------------------------------------------------------

class Provenance:
    """The run manifest and the one place that writes ``manifest.json`` (validated each time)."""

    def __init__(self, run_dir: Path, notify_artifact: Callable[[Path, str], None]):
        self.run_dir = run_dir
        self.manifest: dict[str, Any] = {}
        self._artifact = notify_artifact
        self._attempt_started: float | None = None
        self._attempt_ended: float | None = None

    def begin_attempt(self, earlier: Sequence[dict[str, Any]], results_at_start: int) -> None:
        """This process starts working on the run, after the ``earlier`` attempts (a resumed run);
        every :meth:`write` then records its time and status in ``manifest["attempts"]``."""
        from plurieval.manifest import timestamp

        self._attempt_started = time.time()
        self.manifest["attempts"] = [*earlier, {"started_at": timestamp(), "seconds": 0.0, "status": "running",
                                                "results_at_start": int(results_at_start)}]

    def end_attempt(self) -> None:
        """This process's work is done: its time stops here (the summary's ``duration_s`` and
        the manifest's last write agree)."""
        self._attempt_ended = time.time()

    def _attempt_seconds(self) -> float:
        if self._attempt_started is None:
            return 0.0
        return (self._attempt_ended or time.time()) - self._attempt_started

    def total_seconds(self) -> float:
        """Wall time of every attempt so far, this one up to now (a run's ``duration_s``)."""
        earlier = self.manifest.get("attempts", [])[:-1] if self._attempt_started is not None else []
        return round(sum(float(a["seconds"]) for a in earlier) + round(self._attempt_seconds(), 3), 3)

    def write(self, status: str, error: str | None = None) -> None:
        from plurieval.datafiles import atomic_write
        from plurieval.manifest import timestamp, validate_manifest

        if self._attempt_started is not None and self.manifest.get("attempts"):
            self.manifest["attempts"][-1].update(seconds=round(self._attempt_seconds(), 3), status=status)
        self.manifest["status"] = status
        self.manifest["updated_at"] = timestamp()
        if error:
            self.manifest["error"] = error
        validate_manifest(self.manifest)
        atomic_write(self.run_dir / "manifest.json",
                     json.dumps(self.manifest, indent=2, ensure_ascii=False, default=str) + "\n")

    def add_dataset(self, info: Any) -> None:
        """Record a dataset that was read (``DatasetInfo``) in the manifest."""
        entry = dict(info.__dict__) if hasattr(info, "__dict__") else dict(info)
        datasets = self.manifest.setdefault("datasets", [])
        if entry not in datasets:
            datasets.append(entry)

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
                self._artifact(p, "intervention")
        items = [e for e in self.manifest.setdefault("interventions", []) if e.get("name") != name]
        self.manifest["interventions"] = [*items, entry]
        return entry["hash"]

    def note_generation_seed(self, seed: int) -> None:
        used = self.manifest.setdefault("seeds", {}).setdefault("generation", [])
        if seed not in used:
            used.append(seed)

    def annotate(self, section: str, value: Any) -> None:
        """An observer's own section of the manifest (tracking records where it uploads); the
        sections the run itself writes cannot be replaced this way."""
        from plurieval.manifest import Manifest

        if section in Manifest.model_fields and section not in ("tracking",):
            raise PluriError(f"manifest section {section!r} belongs to the run; observers may add their own sections "
                             "or 'tracking'")
        self.manifest[section] = json.loads(json.dumps(value, default=str))


# --- the context --------------------------------------------------------------------------------------

class RunContext:
    """Everything a benchmark drives its protocol through (see the module docstring)."""

    def __init__(self, host: Any, config: RunConfig, run_id: str, run_dir: Path,
                 components: Mapping[str, tuple[ComponentSpec, Any]], resumed: bool = False,
                 sweep: dict[str, Any] | None = None):
        self.host = host
        # Set when the run is one point of a sweep: {"id": sweep id, "data": what sweep observers
        # shared with every run (the MLflow parent run, say)}. None for a standalone run.
        self.sweep = sweep
        self.config = config
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.resumed = resumed
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.components = components if isinstance(components, Components) else Components(host, config, dict(components))
        self.resources = Resources(host)
        self.view = RunView(self)
        self.records = Records(self.run_dir, self._notify)
        self.provenance = Provenance(self.run_dir, self.records.artifact_written)
        # One progress display for the whole run: ``progress.stage(name, total_rows)``,
        # ``progress.advance(n)``; calling it on an iterable tracks a loop (plurieval.progress).
        self.progress = RunProgress()
        self.inference = Inference(self.components, config, self.provenance, self.progress)

    def _notify(self, hook: str, **kwargs: Any) -> None:
        self.host.call_each(hook, run=self.view, **kwargs)

    # --- metrics --------------------------------------------------------------------------------------

    def metric_context(self, spec: Any, **kw: Any) -> MetricContext:
        """The context a metric is scored in: resources always; the model and method only for
        metrics whose spec declares ``needs``."""
        needs = getattr(spec, "needs", frozenset())
        return MetricContext(
            resources=self.resources,
            model=self.inference.model if "model" in needs else None,
            method=self.components.method if "method" in needs else None,
            **kw,
        )

    # --- progress -------------------------------------------------------------------------------------

    def close(self) -> None:
        self.progress.close()
        self.records.close()
        self.inference.close()

    # --- shortcuts (the names benchmarks used before the collaborators existed) -------------------

    @property
    def benchmark_spec(self) -> ComponentSpec:
        return self.components.benchmark_spec

    def params(self, role: str) -> Any:
        return self.components.params(role)

    @property
    def method(self) -> Any:
        return self.components.method

    def metrics(self, default: Iterable[str] = (),
                params: Mapping[str, Mapping[str, Any]] | None = None) -> list[tuple[ComponentSpec, Metric]]:
        return self.components.metrics(default, params)

    @property
    def model(self) -> Any:
        return self.inference.model

    @property
    def model_loaded(self) -> bool:
        return self.inference.model_loaded

    def on_model_loaded(self, listener: Callable[[Any], None]) -> None:
        self.inference.on_model_loaded(listener)

    def model_description(self) -> dict[str, Any]:
        return self.inference.model_description()

    @property
    def cache(self) -> Any:
        return self.inference.cache

    def generate(self, prompts: list[str], *, intervention: Any = None, **settings: Any) -> list[Any]:
        return self.inference.generate(prompts, intervention=intervention, **settings)

    def generate_rows(self, prompts: Sequence[str], interventions: Sequence[Any], **settings: Any) -> list[Any]:
        return self.inference.generate_rows(prompts, interventions, **settings)

    def next_token_scores(self, prompts: Sequence[str], interventions: Sequence[Any],
                          scorers: Sequence[Callable[[Any], Any]], *, chat: bool = True) -> list[Any]:
        return self.inference.next_token_scores(prompts, interventions, scorers, chat=chat)

    def extract(self, prompts: list[str], points: list[str], **kw: Any) -> dict[str, Any]:
        return self.inference.extract(prompts, points, **kw)

    def cached(self, kind: str, key_parts: Any, compute_fn: Callable[[], T], *, include_model: bool = True) -> T:
        return self.inference.cached(kind, key_parts, compute_fn, include_model=include_model)

    @property
    def results(self) -> ResultsFile:
        return self.records.results

    def record(self, key: str, row: dict[str, Any]) -> dict[str, Any]:
        return self.records.record(key, row)

    def log_metric(self, name: str, value: float, step: int | None = None, **labels: str) -> None:
        self.records.log_metric(name, value, step, **labels)

    @property
    def scope(self) -> list[str]:
        return self.records.scope

    def child_run(self, label: str) -> contextlib.AbstractContextManager[None]:
        return self.records.child_run(label)

    def artifact_path(self, relpath: str) -> Path:
        return self.records.artifact_path(relpath)

    def artifact_written(self, path: Path, kind: str) -> None:
        self.records.artifact_written(path, kind)

    def write_json(self, relpath: str, data: Any, kind: str = "table") -> Path:
        return self.records.write_json(relpath, data, kind)

    @property
    def manifest(self) -> dict[str, Any]:
        return self.provenance.manifest

    def add_dataset(self, info: Any) -> None:
        self.provenance.add_dataset(info)

    def add_intervention(self, name: str, path_or_hash: str | Path) -> str:
        return self.provenance.add_intervention(name, path_or_hash)


class RunView:
    """What observers (lifecycle hooks) see of a run: read-only. ``config`` and ``manifest`` are
    copies and ``scope`` a tuple, so an observer cannot change what the run computes or
    records; its one write is ``annotate(section, value)``, a section of its own in the
    manifest (the MLflow tracker records where it uploads)."""

    def __init__(self, ctx: RunContext):
        self._ctx = ctx
        self._config: RunConfig | None = None

    @property
    def run_id(self) -> str:
        return self._ctx.run_id

    @property
    def run_dir(self) -> Path:
        return self._ctx.run_dir

    @property
    def resumed(self) -> bool:
        return self._ctx.resumed

    @property
    def sweep(self) -> Mapping[str, Any] | None:
        """``{"id", "data"}`` when the run is one point of a sweep (read-only copy), else None."""
        return _frozen(self._ctx.sweep) if self._ctx.sweep is not None else None

    @property
    def config(self) -> RunConfig:
        if self._config is None:
            self._config = self._ctx.config.model_copy(deep=True)
        return self._config

    @property
    def benchmark(self) -> str:
        return self._ctx.components.benchmark_spec.name

    @property
    def scope(self) -> tuple[str, ...]:
        return tuple(self._ctx.records.scope)

    @property
    def manifest(self) -> Mapping[str, Any]:
        return _frozen(self._ctx.provenance.manifest)

    def annotate(self, section: str, value: Any) -> None:
        self._ctx.provenance.annotate(section, value)


def _frozen(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only deep copy: changing it cannot reach what the run records."""
    return types.MappingProxyType(copy.deepcopy(dict(data)))


__all__ = ["Components", "Inference", "ModelWork", "Provenance", "Records", "RunContext", "RunView",
           "generate_rows", "next_token_scores"]
