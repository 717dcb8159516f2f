"""The steering loop, owned by core: every steering benchmark runs through it.

A :class:`plurieval.components.SteeringBenchmark` declares a plan (the task a method sees, the
units, the unsteered baselines), a selection rule and the test conditions; a
:class:`plurieval.components.SteeringMethod` says what it needs and which candidates its grid
yields. The loop does the rest, in this order:

1. **plan**: ``benchmark.plan(ctx)``; the method may decline with its own reason
   (``method.unsupported(task)``), before anything is computed;
2. **extract once**: exactly what ``method.needs(task)`` asks for, one forward pass per fit
   prompt, stored (``OUTPUT/activations/<key>.safetensors``) and shared by later runs;
3. **units**, each independent (a target language, a direction language): fit
   (``method.prepare``) → ``method.candidates`` → the benchmark's ``select`` (its selection
   prompts go through ``ctx.generate_rows`` / ``ctx.next_token_scores`` in one call), the
   choice recorded at once (``units/<unit>.json``) → the chosen candidate's test
   ``conditions``;
4. **test**: the plan's unsteered baselines and every unit's test conditions, generated in ONE
   ``generate_rows`` call (a unit's ten test rows alone would be a batch too small to keep the
   CPU busy) and scored with the run's metrics → a :class:`UnitResult` per unit; then
   **merge**: rows recorded (baselines first, then unit by unit), the chosen interventions
   saved. A unit's result depends only on the config and seed, so units can run elsewhere and
   be merged;
5. **side effects** (``RunConfig.side_effects``): each chosen intervention on another
   benchmark's probe prompts, against no intervention, with paired bootstrap intervals;
6. **summary**: ``benchmark.summarize(outcome, ctx)``.

Resume: rows already in a results file are neither generated nor scored again; a unit whose
choice was saved (``units/<unit>.json``) skips its selection.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plurieval.components import (
    Candidate,
    Condition,
    Contrast,
    Example,
    MetricOutput,
    NotApplicable,
    Reading,
    Selection,
    SteeringBenchmark,
    SteeringMethod,
    SteeringPlan,
    SteeringTask,
    SteeringUnit,
)
from plurieval.errors import PluriError
from plurieval.hashing import content_hash

_ACTIVATION_MEMO: dict[str, list[Any]] = {}  # within one process: prompts/model/reading key → sets


@dataclass
class NamedMetric:
    name: str  # unique within the run ("relevance", "relevance#2")
    spec: Any
    metric: Any


@dataclass
class UnitResult:
    """What one unit produced, before it is merged into the run's records."""

    unit: SteeringUnit
    candidates: list[Candidate]
    chosen: Candidate
    selection: Selection
    conditions: list[Condition]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # condition → new rows
    resumed_choice: bool = False


@dataclass
class SteeringOutcome:
    """Everything a benchmark's ``summarize`` needs: the plan, each unit's result, every row of
    every condition (recorded this run or earlier) in plan order, the activation set, and how
    much model work was done."""

    plan: SteeringPlan
    method_name: str
    metrics: list[NamedMetric]
    units: dict[str, UnitResult]
    rows: dict[str, list[dict[str, Any]]]
    acts: Any
    extraction: dict[str, Any]
    generated: int
    seed: int
    side_effects: dict[str, Any] = field(default_factory=dict)

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def metric(self, name: str) -> Any:
        return next(m.metric for m in self.metrics if m.name == name)

    def higher_is_better(self) -> dict[str, bool]:
        return {m.name: bool(m.spec.higher_is_better) for m in self.metrics}

    def rows_of(self, condition: str, **where: Any) -> list[dict[str, Any]]:
        """Rows of one condition whose metadata matches ``where``."""
        return [r for r in self.rows.get(condition, [])
                if all(r.get("metadata", {}).get(k) == v for k, v in where.items())]

    def value(self, rows: Sequence[dict[str, Any]], name: str) -> float:
        """The metric's own aggregate over ``rows`` (NaN when there are none)."""
        if not rows:
            return float("nan")
        return float(self.metric(name).aggregate([r["scores"][name] for r in rows]))

    def aggregate(self, rows: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
        """Value and percentile bootstrap interval (run seed) of a metric over ``rows``."""
        from plurieval.stats import with_ci

        values = [r["scores"][name] for r in rows]
        if not values:
            return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
        stats = with_ci(values, self.metric(name).aggregate, seed=self.seed)
        return {k: (json_float(v) if k != "n" else v) for k, v in stats.items()}


def json_float(v: Any) -> float | None:
    """NaN/inf → None: JSON has no NaN, and an undefined aggregate should read as missing."""
    v = float(v)
    return v if math.isfinite(v) else None


def run_steering(ctx: Any, benchmark: SteeringBenchmark) -> dict[str, Any]:
    """Run ``benchmark``'s protocol with the run's method; returns the summary body."""
    loop = SteeringLoop(ctx, benchmark)
    parts = (ctx.sweep or {}).get("parts")
    if parts is not None:  # one part of a run split across processes (plurieval.sweep.split)
        return loop.run_parts(parts)
    outcome = loop.run()
    body = benchmark.summarize(outcome, ctx)
    if outcome.side_effects:
        body["side_effects"] = outcome.side_effects
    return body


class SteeringLoop:
    def __init__(self, ctx: Any, benchmark: SteeringBenchmark):
        self.ctx = ctx
        self.benchmark = benchmark
        self.bench_name = ctx.components.benchmark_spec.name
        method = ctx.components.method
        self.method_name = ctx.components.method_name or "(none)"
        if method is None:
            raise PluriError(f"{self.bench_name} evaluates a steering method; pass --method NAME")
        if not isinstance(method, SteeringMethod):
            raise PluriError(f"{self.bench_name}: method {self.method_name!r} is a {type(method).__name__}, not a "
                             "SteeringMethod (plurieval.api.SteeringMethod); it cannot take part in a steering benchmark")
        self.method: SteeringMethod = method
        self.plan = benchmark.plan(ctx)
        reason = method.unsupported(self.plan.task)
        if reason:
            raise NotApplicable(f"method {self.method_name!r} does not run on {self.bench_name}: {reason}")
        self.metrics = named_metrics(ctx.components.metrics(self.plan.metrics, self.plan.metric_params))
        if not self.metrics:
            raise PluriError(f"{self.bench_name}: no metrics to score with (RunConfig.metrics is empty)")

    # --- the one place progress is reported -----------------------------------------------------

    def progress(self, stage: str, items: Iterable[Any], total: int) -> Iterable[Any]:
        """A loop inside the current stage (the units), shown by the run's progress display."""
        return self.ctx.progress(items, total=total, desc=f"{self.bench_name} {self.method_name}: {stage}")

    def stage(self, name: str, total_rows: int | None = None, *, from_calls: bool = False) -> Any:
        """Start a stage of the run's progress (``ctx.progress``): extraction, baseline, each
        unit's selection, test and scoring. Rows are counted as the model computes them (every
        model call of ``ctx.inference`` reports its rows and each finished batch), so a stage
        started without ``total_rows`` totals what its calls announce; on a log each stage
        ends with one line: rows, time, rate, and the run's remaining time once one unit has
        shown how long a unit takes."""
        return self.ctx.progress.stage(name, total_rows, from_calls=from_calls)

    def _pending(self, groups: Sequence[Sequence[Condition]]) -> list[tuple[int, Condition, int]]:
        """The rows a test of ``groups`` still has to make: (group, condition, example index)
        for every row not recorded yet. A row two groups share (same condition and key) is
        made and recorded once, as when the groups were tested one after another."""
        todo, seen = [], set()
        for g, conds in enumerate(groups):
            for c in conds:
                for i, k in enumerate(c.keys):
                    if (c.name, k) not in seen and not self.file(c.name).done(k):
                        seen.add((c.name, k))
                        todo.append((g, c, i))
        return todo

    def _rows_to_test(self, conditions: Sequence[Condition]) -> tuple[int, int]:
        """(rows a test call generates, rows it scores) for ``conditions``: a (prompt,
        intervention) row that several conditions share, such as every target's unsteered
        baseline of one prompt, is generated once and scored for each."""
        todo = self._pending([conditions])
        return len({(id(c.intervention), c.examples[i].input) for _, c, i in todo}), len(todo)

    def plan_units(self, done: UnitResult, remaining: Sequence[SteeringUnit]) -> None:
        """After the first unit's selection: expect every remaining unit's selection to take as
        many rows, and the test stage as many rows per unit (the run's ETA)."""
        rows = {s.name: max(s.total or 0, s.rows) for s in self.ctx.progress.stages
                if s.name.startswith(f"{done.unit.name}: ")}
        planned = {f"{u.name}: {k.split(': ', 1)[1]}": v for u in remaining for k, v in rows.items()}
        unit_generated, unit_scored = self._rows_to_test(done.conditions)
        base_generated, base_scored = self._rows_to_test(self.plan.baseline)
        units = 1 + len(remaining)
        self.ctx.progress.plan({**planned, "test": base_generated + unit_generated * units,
                                "test: scoring": base_scored + unit_scored * units})

    # --- the loop -------------------------------------------------------------------------------

    def run(self) -> SteeringOutcome:
        plan, ctx = self.plan, self.ctx
        acts, extraction = self.extract()
        results = self.run_units(plan.units, acts, baseline=True)
        side = self.side_effects(results)
        ctx.progress.end_stage()
        conditions = list(plan.baseline) + [c for r in results.values() for c in r.conditions]
        rows: dict[str, list[dict[str, Any]]] = {}
        for cond in conditions:
            f = self.file(cond.name)
            rows.setdefault(cond.name, []).extend(f.get(k) for k in cond.keys)
        return SteeringOutcome(plan=plan, method_name=self.method_name, metrics=self.metrics, units=results,
                               rows=rows, acts=acts, extraction=extraction, generated=ctx.inference.rows_generated,
                               seed=ctx.config.seed, side_effects=side)

    def run_parts(self, parts: Sequence[str]) -> dict[str, Any]:
        """Only ``parts`` of the run (``"baseline"``: the activations and the unsteered
        baselines; a unit's name: that unit), recorded exactly as ``run`` records them. A run
        split across processes runs each part on its own and then the whole run on all their
        records, which resumes: nothing is generated again. Returns a partial summary body (no
        metrics) naming the plan's units."""
        names = [u.name for u in self.plan.units]
        unknown = [p for p in parts if p != "baseline" and p not in names]
        if unknown:
            raise PluriError(f"{self.bench_name}: no part {unknown[0]!r} in this run (parts: baseline, "
                             f"{', '.join(names)})")
        acts, _ = self.extract()
        self.run_units([u for u in self.plan.units if u.name in parts], acts, baseline="baseline" in parts)
        self.ctx.progress.end_stage()
        return {"metrics": {}, "parts": {"done": list(parts), "units": names}}

    def run_units(self, units: Sequence[SteeringUnit], acts: Any, *, baseline: bool) -> dict[str, UnitResult]:
        """Select every unit, then test them all (with the baselines, if ``baseline``) in one
        call, and merge: the records are those of testing unit by unit, in the same order."""
        chosen: list[UnitResult] = []
        for n, unit in enumerate(self.progress("units", units, len(units))):
            chosen.append(self.select_unit(unit, acts))
            if n == 0:
                self.plan_units(chosen[0], units[1:])
        groups = [(None, list(self.plan.baseline))] if baseline and self.plan.baseline else []
        groups += [(r.unit, r.conditions) for r in chosen]
        tested = self.test_groups(groups, label="test")
        if groups and groups[0][0] is None:
            self.merge_rows(tested.pop(0))
        for result, rows in zip(chosen, tested, strict=True):
            result.rows = rows
            self.merge(result)
        return {r.unit.name: r for r in chosen}

    def select_unit(self, unit: SteeringUnit, acts: Any) -> UnitResult:
        """Fit and select one unit, and record its choice (a resumed run does not select it
        again); the result carries the chosen candidate's test conditions, not yet run."""
        plan, ctx = self.plan, self.ctx
        state = self.method.prepare(acts, unit.contrast, plan.task)
        candidates = self.method.candidates(state, acts, unit.contrast, plan.task)
        if not candidates:
            raise PluriError(f"method {self.method_name!r} yielded no candidates for {unit.name!r}")
        selection, resumed = self.saved_selection(unit, candidates), True
        if selection is None:
            resumed = False
            with self.stage(f"{unit.name}: selection"), ctx.records.child_run(f"{plan.unit_label}={unit.name}"):
                selection = self.benchmark.select(unit, candidates, plan, ctx)
            if not 0 <= selection.index < len(candidates):
                raise PluriError(f"{self.bench_name}: selection chose candidate {selection.index} of {len(candidates)}")
        chosen = candidates[selection.index]
        result = UnitResult(unit, candidates, chosen, selection, self.benchmark.conditions(unit, chosen, plan, ctx),
                            resumed_choice=resumed)
        if not resumed:
            ctx.records.write_json(f"units/{unit.name}.json",
                                   {"unit": unit.name, "index": selection.index, "settings": chosen.settings,
                                    "card": selection.card, "table": selection.table}, kind="table")
        return result

    def merge(self, result: UnitResult) -> None:
        """Record a unit's rows and save its chosen intervention (its choice is recorded when
        it is made)."""
        self.save_intervention(result)
        self.merge_rows(result.rows)

    def merge_rows(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        for condition, new in rows.items():
            for row in new:
                key = row.pop("key")
                if condition == self.plan.headline:
                    self.ctx.records.record(key, row)
                else:
                    self.file(condition).record(key, row)

    def file(self, condition: str) -> Any:
        records = self.ctx.records
        return records.results if condition == self.plan.headline else records.condition(condition)

    def saved_selection(self, unit: SteeringUnit, candidates: list[Candidate]) -> Selection | None:
        path = self.ctx.run_dir / "units" / f"{unit.name}.json"
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            index = int(saved["index"])
            if 0 <= index < len(candidates) and candidates[index].settings == saved["settings"]:
                return Selection(index, list(saved.get("table") or []), dict(saved.get("card") or {}))
        except (ValueError, KeyError, TypeError):
            pass
        return None  # a choice that no longer matches the grid is made again

    def save_intervention(self, result: UnitResult) -> None:
        """The chosen setting as an artifact a user can re-apply (safetensors + card: method,
        settings, model, fit-data hash), hashed in the manifest. Prompt rewrites are not saved."""
        from plurieval.models.interventions import Intervention

        iv = result.chosen.intervention
        if not isinstance(iv, Intervention):
            return
        ctx, plan, unit = self.ctx, self.plan, result.unit
        folder = ctx.records.artifact_path(plan.artifact.format(unit=unit.name))
        contrast = unit.contrast
        data = {g: list(plan.task.groups[g]) for g in (*contrast.positive, *contrast.negative)}
        description = ctx.inference.model_description()
        iv.save(folder, card={"benchmark": self.bench_name, "method": self.method_name, "unit": unit.name,
                              **unit.metadata, **result.chosen.settings, **result.selection.card,
                              "model": description.get("id"), "model_weights_hash": description.get("weights_hash"),
                              "data_hash": content_hash(data)})
        ctx.provenance.add_intervention(plan.artifact_name.format(unit=unit.name), folder)

    # --- extraction -------------------------------------------------------------------------------

    def extract(self) -> tuple[Any, dict[str, Any]]:
        """The activation set the method asked for, extracted once, or reused from an earlier
        set of the same prompts, model and reading that holds at least what is asked (this
        process's memory, else the run's activation store)."""
        from pathlib import Path

        from plurieval.cache import model_identity
        from plurieval.steering.activations import FORMAT, ActivationSet, collect_activations, covers

        ctx, task = self.ctx, self.plan.task
        minimum = sum(len(v) for v in task.groups.values())
        request = self.method.needs(task)
        if request.empty:
            return None, {"this_run": 0, "minimum": minimum, "reused": False, "requested": []}
        layers = sorted(set(request.layers or task.layers))
        requested = [k for k in ("features", "tokens", "lape") if getattr(request, k)] + (
            [f"positions{list(request.positions)}"] if request.positions else [])
        model = ctx.inference.model
        base = content_hash({"model": model_identity(ctx.inference.model_description()),
                             "groups": {g: list(v) for g, v in sorted(task.groups.items())},
                             "reading": {"chat": task.reading.chat, "position": task.reading.position},
                             "max_tokens": task.max_tokens_per_group, "seed": task.seed,
                             "format": FORMAT}).split(":")[-1][:24]
        key = content_hash({"base": base, "layers": layers, "features": request.features, "tokens": request.tokens,
                            "positions": list(request.positions), "lape": request.lape}).split(":")[-1][:16]
        info = {"minimum": minimum, "key": f"{base}/{key}", "requested": requested}
        for found in _ACTIVATION_MEMO.get(base, []):
            if covers(found, request, layers):
                return found, {"this_run": 0, "reused": "memory", **info}
        store = (Path(self.plan.activation_store) if self.plan.activation_store
                 else Path(ctx.config.output_dir) / "activations") / base
        for card in sorted(store.glob("*.json")):
            path = card.with_suffix(".safetensors")
            try:
                acts = ActivationSet.load(path)
            except (ValueError, KeyError, OSError) as err:  # a damaged store is recomputed, never trusted
                logging.getLogger("plurieval").warning("activation store %s unreadable (%s); skipped", path, err)
                continue
            if covers(acts, request, layers):
                _ACTIVATION_MEMO.setdefault(base, []).append(acts)
                return acts, {"this_run": 0, "reused": "store", **info}
        bs, chat = ctx.config.batch_size, task.reading.chat

        def extract(batch: list[str], points: list[str]) -> dict[str, Any]:
            # Straight to the model: per-prompt caching of token-level activations would be
            # gigabytes; the reduced set is stored below instead.
            return model.extract(batch, points, reduce="all", chat=chat, batch_size=bs, progress=ctx.progress.advance)

        # Token activations of one chunk are held until reduced: 64 prompts at the requested
        # layers is tens of MB; LAPE's MLP activations at every layer are 30× wider.
        chunk = 16 if request.lape else 64
        with self.stage("extraction", total_rows=minimum):
            acts = collect_activations(
                extract, task.groups, layers, features=request.features, position=task.reading.position,
                positions=request.positions, tokens=request.tokens, lape=request.lape,
                num_model_layers=task.num_layers, max_tokens_per_group=task.max_tokens_per_group,
                chunk_size=chunk, seed=task.seed)
        path = store / f"{key}.safetensors"
        acts.save(path, card={"model": ctx.inference.model_description().get("id"), "layers": layers,
                              "requested": requested})
        ctx.records.artifact_written(path, "activations")
        _ACTIVATION_MEMO.setdefault(base, []).append(acts)
        return acts, {"this_run": acts.forward_passes, "reused": False, **info}

    # --- test conditions ----------------------------------------------------------------------------

    def _forget_rows_missing_scores(self, conditions: Sequence[Condition]) -> None:
        """A resumed run's recorded rows count only when they carry every metric the run scores
        now: a row recorded before a metric joined the benchmark is generated and scored again
        (with a warning), rather than failing the summary on the missing score."""
        names = [m.name for m in self.metrics]
        for cond in conditions:
            f = self.file(cond.name)
            stale = [k for k in cond.keys if f.done(k) and any(n not in (f.get(k).get("scores") or {}) for n in names)]
            if stale:
                missing = sorted({n for k in stale for n in names if n not in (f.get(k).get("scores") or {})})
                logging.getLogger("plurieval").warning(
                    "%s: %d recorded row(s) of condition %r lack the score(s) %s this run computes (recorded "
                    "by an older version); they are generated and scored again", f.path, len(stale), cond.name,
                    ", ".join(missing))
                f.forget(stale)

    def test(self, conditions: Sequence[Condition], unit: SteeringUnit | None,
             settings: Mapping[str, Any] | None = None, *, label: str = "test") -> dict[str, list[dict[str, Any]]]:
        """Generate (one ``generate_rows`` call) and score the rows of ``conditions`` that are not
        recorded yet, as progress stages ``label`` and ``label: scoring``; returns the new rows
        per condition (each with its ``key``)."""
        return self.test_groups([(unit, conditions)], settings, label=label)[0]

    def test_groups(self, groups: Sequence[tuple[SteeringUnit | None, Sequence[Condition]]],
                    settings: Mapping[str, Any] | None = None, *, label: str = "test") -> list[dict[str, list[dict[str, Any]]]]:
        """:meth:`test` for several ``(unit, conditions)`` groups at once: their rows share one
        ``generate_rows`` call; returns each group's new rows per condition."""
        for _, conditions in groups:
            self._forget_rows_missing_scores(conditions)
        todo = self._pending([conds for _, conds in groups])
        results: list[dict[str, list[dict[str, Any]]]] = [{} for _ in groups]
        if not todo:
            return results
        with self.stage(label, from_calls=True):  # the plan estimated it; the call knows
            gens = self.ctx.inference.generate_rows([c.examples[i].input for _, c, i in todo],
                                                    [c.intervention for _, c, i in todo],
                                                    **dict(settings if settings is not None else self.plan.settings))
        self.stage(f"{label}: scoring", total_rows=len(todo))
        for g, (unit, conditions) in enumerate(groups):
            results[g] = self._score_group(unit, conditions, [(j, c, i) for j, (h, c, i) in enumerate(todo) if h == g],
                                           gens)
        self.ctx.progress.end_stage()
        return results

    def _score_group(self, unit: SteeringUnit | None, conditions: Sequence[Condition],
                     todo: Sequence[tuple[int, Condition, int]], gens: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
        """Score one group's generated rows (``todo``: index into ``gens``, condition, example)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for cond in conditions:
            picked = [(j, i) for j, c, i in todo if c is cond]
            if not picked:
                continue
            examples = [cond.examples[i] for _, i in picked]
            texts = [gens[j].text for j, _ in picked]
            scored = score_rows(self.ctx, self.metrics, examples, texts, cond.intervention)
            rows = []
            for (_, i), ex, text, (scores, details) in zip(picked, examples, texts, scored, strict=True):
                row = {"key": cond.keys[i], "example_id": ex.id, "prediction": text, "reference": ex.target,
                       "metadata": {"method": self.method_name, "condition": cond.name,
                                    **(unit.metadata if unit else {}), **cond.metadata, **ex.metadata,
                                    **cond.settings},
                       "scores": scores}
                if details:
                    row["details"] = details
                rows.append(row)
            out[cond.name] = out.get(cond.name, []) + rows
            self.ctx.progress.advance(len(rows))
        return out

    # --- side effects -------------------------------------------------------------------------------

    def side_effects(self, results: Mapping[str, UnitResult]) -> dict[str, Any]:
        """Each unit's chosen intervention on other benchmarks' probe prompts vs no intervention:
        per metric the steered and unsteered aggregate and a paired bootstrap interval of their
        difference (the same resampled prompts for both)."""
        ctx = self.ctx
        out: dict[str, Any] = {}
        for i, _ in enumerate(ctx.config.side_effects or []):
            spec, cfg = ctx.components[f"side_effects.{i}"]
            other = spec.create(cfg)
            if not isinstance(other, SteeringBenchmark):
                raise PluriError(f"side_effects.{i}: {spec.name!r} is not a steering benchmark")
            probe = other.probe(ctx)
            metrics = named_metrics([(s, s.create(s.make_config({}))) for s in (ctx.host.get("metric", n)
                                                                              for n in probe.metrics)])
            name = f"side-{spec.name}"
            base = Condition(f"{name}-baseline", probe.examples, [e.id for e in probe.examples])
            steered = [Condition(name, probe.examples, [f"{u}|{e.id}" for e in probe.examples],
                                 intervention=r.chosen.intervention, settings=r.chosen.settings,
                                 metadata={"unit": u, **r.unit.metadata}) for u, r in results.items()]
            saved, self.metrics = self.metrics, metrics
            try:
                for cond in [base, *steered]:
                    self.merge_rows(self.test([cond], None, probe.settings, label=f"side effects: {cond.name}"))
            finally:
                self.metrics = saved
            base_rows = {r["example_id"]: r for r in (self.file(base.name).get(k) for k in base.keys)}
            report: dict[str, Any] = {"benchmark": spec.name, "examples": len(probe.examples), "units": {}}
            for cond in steered:
                rows = [self.file(name).get(k) for k in cond.keys]
                unit = cond.metadata["unit"]
                report["units"][unit] = {m.name: paired_difference(
                    [r["scores"][m.name] for r in rows], [base_rows[r["example_id"]]["scores"][m.name] for r in rows],
                    m.metric.aggregate, seed=ctx.config.seed) for m in metrics}
            out[spec.name] = report
        return out


def paired_difference(steered: Sequence[Any], unsteered: Sequence[Any], aggregate: Callable[[Sequence[Any]], float],
                      *, seed: int = 0) -> dict[str, Any]:
    """Aggregates of both and the percentile bootstrap interval of steered − unsteered,
    resampling the same examples for both."""
    from plurieval.stats import bootstrap_ci

    pairs = list(zip(steered, unsteered, strict=True))

    def diff(sample: Sequence[tuple[Any, Any]]) -> float:
        return float(aggregate([a for a, _ in sample])) - float(aggregate([b for _, b in sample]))

    low, high = bootstrap_ci(pairs, diff, seed=seed)
    return {"steered": json_float(aggregate(list(steered))), "unsteered": json_float(aggregate(list(unsteered))),
            "difference": json_float(diff(pairs)) if pairs else None, "ci_low": json_float(low),
            "ci_high": json_float(high), "n": len(pairs)}


def named_metrics(pairs: Sequence[tuple[Any, Any]]) -> list[NamedMetric]:
    """(spec, metric) pairs with unique names: a metric listed twice becomes ``name#2``."""
    seen: dict[str, int] = {}
    out = []
    for spec, metric in pairs:
        name = spec.name if spec.name not in seen else f"{spec.name}#{seen[spec.name] + 1}"
        seen[spec.name] = seen.get(spec.name, 0) + 1
        out.append(NamedMetric(name, spec, metric))
    return out


def score_rows(ctx: Any, metrics: Sequence[NamedMetric], examples: Sequence[Example], texts: Sequence[str],
               intervention: Any = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Score generated ``texts`` of ``examples`` with every metric: per row (scores, details).
    Each metric sees the examples, the intervention the texts were generated under and the
    metrics scored before it (``MetricContext.computed``)."""
    scores: list[dict[str, Any]] = [{} for _ in texts]
    details: list[dict[str, Any]] = [{} for _ in texts]
    computed: dict[str, tuple[Any, list[Any]]] = {}
    refs = [e.target for e in examples]
    for m in metrics:
        context = ctx.metric_context(m.spec, intervention=intervention, examples=list(examples), computed=computed)
        out = m.metric.score(list(texts), refs, context)
        if not isinstance(out, MetricOutput) or len(out.values) != len(texts):
            got = len(out.values) if isinstance(out, MetricOutput) else type(out).__name__
            raise PluriError(f"metric {m.name!r} ({m.spec.package}) returned {got} for {len(texts)} examples; "
                             "Metric.score must return a MetricOutput with one value per example")
        computed[m.spec.name] = (getattr(m.metric, "config", None), list(out.values))
        for i, (v, d) in enumerate(zip(out.values, out.details, strict=True)):
            scores[i][m.name] = _json_value(v)
            if d:
                details[i][m.name] = d
    return list(zip(scores, details, strict=True))


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item") and not isinstance(v, (list, dict)):
        return v.item()
    return v


# --- a method on its own ---------------------------------------------------------------------------

def fit_candidates(method: SteeringMethod, model: Any, groups: Mapping[str, Sequence[str]], contrast: Contrast, *,
                   kind: str = "language", application: str = "add", reading: Reading | None = None,
                   layers: Sequence[int] | None = None, extract: Callable[..., dict[str, Any]] | None = None,
                   seed: int = 0) -> list[Candidate]:
    """Fit ``method`` on ``contrast`` outside a benchmark and return its whole grid, exactly as
    the loop would: ``groups`` label → prompts; ``layers`` default to the middle layer;
    ``extract`` defaults to ``model.extract``."""
    from plurieval.steering.activations import collect_activations

    reading = reading or Reading()
    task = SteeringTask(benchmark="standalone", kind=kind, application=application,  # type: ignore[arg-type]
                        reading=reading, layers=tuple(layers or [model.num_layers // 2]), num_layers=model.num_layers,
                        groups={g: list(v) for g, v in groups.items()},
                        suffix_positions=post_instruction_positions(model, reading.chat), seed=seed)
    reason = method.unsupported(task)
    if reason:
        raise NotApplicable(f"{type(method).__name__}: {reason}")
    request = method.needs(task)
    acts = None
    if not request.empty:
        fn = extract or model.extract

        def run(batch: list[str], points: list[str]) -> dict[str, Any]:
            return fn(batch, points, reduce="all", chat=reading.chat)

        acts = collect_activations(run, task.groups, sorted(set(request.layers or task.layers)),
                                   features=request.features, position=reading.position,
                                   positions=request.positions, tokens=request.tokens, lape=request.lape,
                                   num_model_layers=model.num_layers, seed=seed)
    candidates = method.candidates(method.prepare(acts, contrast, task), acts, contrast, task)
    if not candidates:
        raise PluriError(f"{type(method).__name__} yielded no candidates")
    return candidates


def fit_standalone(method: SteeringMethod, model: Any, groups: Mapping[str, Sequence[str]], contrast: Contrast, *,
                   settings: Mapping[str, Any] | None = None, **kw: Any) -> Candidate:
    """The candidate of ``fit_candidates(...)`` whose settings include ``settings`` (the first
    one when none are given): a method fitted on its own, by the loop's code path."""
    candidates = fit_candidates(method, model, groups, contrast, **kw)
    wanted = dict(settings or {})
    for cand in candidates:
        if all(cand.settings.get(k) == v for k, v in wanted.items()):
            return cand
    raise PluriError(f"{type(method).__name__}: no candidate with settings {wanted} "
                     f"(have {[c.settings for c in candidates][:6]}...)")


_SENTINEL = "\u2063PLURIEVAL\u2063"


def post_instruction_positions(model: Any, chat: bool = True) -> int:
    """How many tokens the chat template puts after the user's text (at least 1: without a
    template the last prompt token is the only "post-instruction" position)."""
    if not chat:
        return 1
    text = model.format_prompt(_SENTINEL)
    _, sep, suffix = text.partition(_SENTINEL)
    if not sep or not suffix:
        return 1
    return max(1, len(model.tokenizer(suffix, add_special_tokens=False)["input_ids"]))


__all__ = ["NamedMetric", "SteeringLoop", "SteeringOutcome", "UnitResult", "fit_candidates", "fit_standalone",
           "json_float",
           "named_metrics", "paired_difference", "post_instruction_positions", "run_steering",
           "score_rows"]
